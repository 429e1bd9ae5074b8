// The body cache: applied names' bodies are kept while they fit the budget
// (Options::body_cache_bytes) and freed least recently read first; the
// volume holds them. Pending bodies, suspect names' and pinned names' bodies
// (Journal::pin_body) are never freed.
#include <unistd.h>

#include <rocksdb/write_batch.h>

#include <optional>

#include "common/log.h"
#include "journal/database.h"

namespace fsr::journal {

// The committer thread is the only writer of index entries, so an eviction
// can never race a newer record of the same name. Nothing is freed before
// the background walk has counted the retained bytes. Bodies nobody has read
// (or seen settle) since the open go first, in name order, found by walking
// the index; then the least recently used of the names this process has
// seen settle or read.
void Journal::evict_over_budget() {
  while (true) {
    std::string name;
    std::optional<IndexEntry> found;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!index_walked_ || body_bytes_ <= options_.body_cache_bytes) return;
    }
    if (!evict_walk_done_) name = next_unlisted_body();
    bool walked_name = !name.empty();
    if (name.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (evictable_.empty()) return;
      {
        name = evictable_.front();
        forget_evictable_locked(name);
        if (body_held_locked(name)) continue;  // made evictable again when released
        if (auto it = index_.find(name); it != index_.end()) {
          if (it->second.pending()) continue;  // settles into the list again
          found = it->second;
        }
      }
    }
    if (!found && !read_stored(name, &found).ok()) return;  // logged; tried again after the next batch
    if (!found || found->pending() || found->op != Op::kPut || found->body.place == BodyPlace::kNone) continue;
    if (options_.before_eviction_check) options_.before_eviction_check(name);
    // From the last check to the body's removal, no pin or suspicion can
    // take hold of the name (pin_body and add_suspects wait for evict_mu_).
    std::lock_guard<std::mutex> evict_lock(evict_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (body_held_locked(name)) continue;  // made evictable again when released
    }
    IndexEntry e = *found;
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
      if (it != index_.end() && it->second.seq == e.seq) it->second.body = BodyRef{};
      ++index_generation_;  // a lookup that read the entry with its body must not cache it
      body_bytes_ -= e.size;
    }
    if (e.body.place == BodyPlace::kFile) ::unlink(body_path(e.body.id).c_str());
    if (walked_name) evict_pass_found_ = true;
    body_evictions_.fetch_add(1, std::memory_order_relaxed);
    body_evicted_bytes_.fetch_add(e.size, std::memory_order_relaxed);
    log_debug("body_evicted").kv("seq", e.seq).kv("name", name).kv("size", e.size);
  }
}

// The next name after evict_cursor_ that holds a body and is neither
// pending, in the least-recently-used list, nor suspect; "" when a
// whole pass over the index found none (then only the list feeds evictions:
// every name that settles or is read from now on joins it).
std::string Journal::next_unlisted_body() {
  if (evict_walk_done_) return "";
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), db_->index));
  for (int passes = 0; passes < 2; ++passes) {
    if (evict_cursor_.empty()) {
      it->SeekToFirst();
      evict_pass_found_ = false;
    } else {
      it->Seek(evict_cursor_);
      if (it->Valid() && it->key() == rocksdb::Slice(evict_cursor_)) it->Next();
    }
    for (; it->Valid(); it->Next()) {
      auto e = decode_index_entry(it->value().ToStringView());
      if (!e || e->op != Op::kPut || e->body.place == BodyPlace::kNone) continue;
      std::string name = it->key().ToString();
      std::lock_guard<std::mutex> lock(mu_);
      auto held = index_.find(name);
      if ((held != index_.end() && held->second.pending()) || evictable_pos_.count(name) || body_held_locked(name))
        continue;
      evict_cursor_ = name;
      return name;
    }
    if (!it->status().ok()) return "";
    evict_cursor_.clear();
    if (!evict_pass_found_) {
      // A whole pass (possibly begun in an earlier call) freed nothing.
      evict_walk_done_ = true;
      return "";
    }
  }
  return "";
}

void Journal::make_evictable_locked(const std::string& name, const IndexEntry& e) {
  if (e.op != Op::kPut || e.body.place == BodyPlace::kNone || evictable_pos_.count(name)) return;
  if (body_held_locked(name)) return;  // held: a repair may have to send it again
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

// A read of a body: the name moves to the back of the list, or joins it (a
// settled name read for the first time since the open).
void Journal::touch(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = evictable_pos_.find(name);
  if (it != evictable_pos_.end()) {
    evictable_.splice(evictable_.end(), evictable_, it->second);
    return;
  }
  auto held = index_.find(name);
  if ((held != index_.end() && held->second.pending()) || body_held_locked(name)) return;  // pending, or held
  evictable_.push_back(name);
  evictable_pos_[name] = std::prev(evictable_.end());
}


}  // namespace fsr::journal
