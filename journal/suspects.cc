// Suspect names: stored under `suspect/<address>/<name>` in the meta family,
// mirrored in memory (suspects_, under mu_), and kept out of the body cache.
// Body pins: names whose body a caller may still have to send (pins_).
#include <rocksdb/write_batch.h>

#include "common/log.h"
#include "journal/database.h"

namespace fsr::journal {

Status Journal::add_suspect(const std::string& name, const std::string& backend) {
  return add_suspects({Suspect{name, backend}});
}

Status Journal::add_suspects(const std::vector<Suspect>& suspects) {
  rocksdb::WriteBatch wb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Suspect& s : suspects) {
      auto it = suspects_.find(s.name);
      if (it == suspects_.end() || !it->second.count(s.backend)) wb.Put(db_->meta, suspect_key(s.backend, s.name), "");
    }
  }
  if (wb.Count() == 0) return Status::Ok();
  if (db_error_) return {Status::Code::kIoError, "a journal write failed; the next commit resumes the database"};
  rocksdb::WriteOptions wo;
  wo.sync = true;  // an abandoned request may land after a crash that follows
  rocksdb::Status rs = db_->db->Write(wo, &wb);
  if (!rs.ok()) return from_rocks(rs);
  // After an eviction under way (it may have checked the name before this
  // write): from here on none frees these bodies.
  std::lock_guard<std::mutex> evict_lock(evict_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  for (const Suspect& s : suspects) {
    suspects_[s.name].insert(s.backend);
    forget_evictable_locked(s.name);  // pinned until cleared
  }
  return Status::Ok();
}

Status Journal::clear_suspect(const std::string& name, const std::string& backend) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = suspects_.find(name);
    if (it == suspects_.end() || !it->second.count(backend)) return Status::Ok();
  }
  if (db_error_) return {Status::Code::kIoError, "a journal write failed; the next commit resumes the database"};
  // Not synced: a clear lost in a crash only means one more read-back.
  rocksdb::Status rs = db_->db->Delete(rocksdb::WriteOptions(), db_->meta, suspect_key(backend, name));
  if (!rs.ok()) return from_rocks(rs);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = suspects_.find(name);
  if (it == suspects_.end()) return Status::Ok();
  it->second.erase(backend);
  if (it->second.empty()) {
    suspects_.erase(it);
    release_body_hold_locked(name);
  }
  return Status::Ok();
}

void Journal::release_body_hold_locked(const std::string& name) {
  if (body_held_locked(name)) return;
  // Evictable again: a settled name joins the list (the eviction reads its
  // stored state and skips it if it holds no body); a pending one settles into it.
  auto e = index_.find(name);
  if (e == index_.end()) {
    if (!evictable_pos_.count(name)) {
      evictable_.push_back(name);
      evictable_pos_[name] = std::prev(evictable_.end());
    }
  } else if (!e->second.pending()) {
    make_evictable_locked(name, e->second);
  }
}

Journal::BodyPin Journal::pin_body(const std::string& name) {
  BodyPin pin(nullptr, name);  // allocates before the count goes up
  std::lock_guard<std::mutex> evict_lock(evict_mu_);  // an eviction under way ends first
  std::lock_guard<std::mutex> lock(mu_);
  ++pins_[name];
  forget_evictable_locked(name);
  pin.journal_ = this;
  return pin;
}

void Journal::unpin_body(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(name);
  if (it == pins_.end()) return;
  if (--it->second > 0) return;
  pins_.erase(it);
  release_body_hold_locked(name);
}

Journal::BodyPin& Journal::BodyPin::operator=(BodyPin&& other) noexcept {
  if (this != &other) {
    release();
    journal_ = std::exchange(other.journal_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

void Journal::BodyPin::release() {
  if (auto* journal = std::exchange(journal_, nullptr)) journal->unpin_body(name_);
}

std::vector<Journal::Suspect> Journal::suspects() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Suspect> out;
  for (const auto& [name, backends] : suspects_)
    for (const auto& b : backends) out.push_back({name, b});
  return out;
}

bool Journal::is_suspect(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return suspects_.count(name) > 0;
}

size_t Journal::suspect_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return suspects_.size();
}

std::vector<std::string> Journal::names_after(const std::string& after, size_t limit) const {
  std::vector<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), db_->index));
  if (after.empty()) it->SeekToFirst();
  else it->Seek(after);
  for (; it->Valid() && out.size() < limit; it->Next()) {
    std::string name = it->key().ToString();
    if (name == after) continue;
    out.push_back(std::move(name));
  }
  return out;
}

void Journal::restore_suspects() {
  std::string end = prefix_end(kMetaSuspectPrefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(ro, db_->meta));
  for (it->Seek(kMetaSuspectPrefix); it->Valid(); it->Next()) {
    std::string_view key = it->key().ToStringView();
    if (key.substr(0, std::string_view(kMetaSuspectPrefix).size()) != kMetaSuspectPrefix) break;
    auto suspect = suspect_of_key(key);
    if (!suspect) continue;
    suspects_[suspect->second].insert(suspect->first);
  }
}

}  // namespace fsr::journal
