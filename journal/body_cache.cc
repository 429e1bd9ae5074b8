// The body cache: applied names' bodies are kept while they fit the budget
// (Options::body_cache_bytes) and freed least recently read first; the
// volume holds them. Pending bodies and suspect names' bodies are never freed.
#include <unistd.h>

#include <rocksdb/write_batch.h>

#include "common/log.h"
#include "journal/database.h"

namespace fsr::journal {

// The committer thread is the only writer of index entries, so an eviction
// can never race a newer record of the same name.
void Journal::evict_over_budget() {
  while (true) {
    std::string name;
    IndexEntry e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (body_bytes_ <= options_.body_cache_bytes || evictable_.empty()) return;
      name = evictable_.front();
      forget_evictable_locked(name);
      auto it = index_.find(name);
      if (it == index_.end() || it->second.pending() || it->second.body.place == BodyPlace::kNone) continue;
      if (suspects_.count(name)) continue;  // clear_suspect makes it evictable again
      e = it->second;
    }
    IndexEntry without = e;
    without.body = BodyRef{};
    rocksdb::WriteBatch wb;
    wb.Put(db_->index, name, encode_index_entry(without));
    if (e.body.place == BodyPlace::kInline) wb.Delete(db_->bodies, encode_seq_key(e.body.id));
    // Synced before the file goes: after a power loss the index must not
    // point at a body that is gone.
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (!db_->db->Write(wo, &wb).ok()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = index_.find(name);
      if (it != index_.end() && it->second.seq == e.seq) {
        it->second.body = BodyRef{};
        body_bytes_ -= e.size;
      }
    }
    if (e.body.place == BodyPlace::kFile) ::unlink(body_path(e.body.id).c_str());
    body_evictions_.fetch_add(1, std::memory_order_relaxed);
    body_evicted_bytes_.fetch_add(e.size, std::memory_order_relaxed);
    log_debug("body_evicted").kv("seq", e.seq).kv("name", name).kv("size", e.size);
  }
}

void Journal::make_evictable_locked(const std::string& name, const IndexEntry& e) {
  if (e.op != Op::kPut || e.body.place == BodyPlace::kNone || evictable_pos_.count(name)) return;
  if (suspects_.count(name)) return;  // pinned: a repair may have to send it again
  evictable_.push_back(name);
  evictable_pos_[name] = std::prev(evictable_.end());
}

void Journal::forget_evictable_locked(const std::string& name) {
  auto it = evictable_pos_.find(name);
  if (it == evictable_pos_.end()) return;
  evictable_.erase(it->second);
  evictable_pos_.erase(it);
}

BodyCacheCounters Journal::body_cache_counters() const {
  return {body_evictions_.load(std::memory_order_relaxed), body_evicted_bytes_.load(std::memory_order_relaxed)};
}

void Journal::touch(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = evictable_pos_.find(name);
  if (it != evictable_pos_.end()) evictable_.splice(evictable_.end(), evictable_, it->second);
}


}  // namespace fsr::journal
