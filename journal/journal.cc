// The journal's reads and the applied state: lookups, bodies, mark_applied
// and the watermark, stats. Opening is in journal_open.cc, writing in
// group_commit.cc, the body cache in body_cache.cc.
#include "journal/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/write_batch.h>

#include <algorithm>

#include "common/log.h"
#include "journal/database.h"

namespace fsr::journal {

const char* status_code_name(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kNoSpace: return "no_space";
    case Status::Code::kIoError: return "io_error";
    case Status::Code::kCorruption: return "corruption";
    case Status::Code::kInvalid: return "invalid";
    case Status::Code::kClosed: return "closed";
    case Status::Code::kPreconditionFailed: return "precondition_failed";
  }
  return "unknown";
}

// Memory first; a name not there from RocksDB, cached if it is settled and
// no commit or eviction changed an index entry meanwhile (one that did may
// have made what was read stale; the next lookup reads again). A commit's
// durable write is visible in RocksDB just before the memory copy changes:
// a read in between gets the new state, pending (not cached), never an
// older or a lost state.
std::optional<IndexEntry> Journal::lookup(const std::string& name) const {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(name);
    if (it != index_.end()) return it->second;
    generation = index_generation_;
  }
  std::optional<IndexEntry> e;
  if (!read_stored(name, &e).ok()) return std::nullopt;  // logged; the caller falls back as for an unknown name
  if (options_.after_stored_read) options_.after_stored_read(name);
  if (e && !e->pending()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (index_generation_ == generation) index_.try_emplace(name, *e);
  }
  return e;
}

Status Journal::read_stored(const std::string& name, std::optional<IndexEntry>* out) const {
  out->reset();
  std::string value;
  rocksdb::Status rs = db_->db->Get(rocksdb::ReadOptions(), db_->index, name, &value);
  if (rs.IsNotFound()) return Status::Ok();
  if (!rs.ok()) {
    log_error("journal_read_failed").kv("name", name).kv("error", rs.ToString());
    return from_rocks(rs);
  }
  auto e = decode_index_entry(value);
  if (!e) {
    log_error("journal_entry_undecodable").kv("name", name);
    return {Status::Code::kCorruption, "undecodable index entry for " + name};
  }
  std::string mark;
  rs = db_->db->Get(rocksdb::ReadOptions(), db_->applied, name, &mark);
  if (rs.ok()) {
    e->applied_seq = recovered_applied_seq(e->seq, e->applied_seq, decode_seq_key(mark));
  } else if (!rs.IsNotFound()) {
    log_error("journal_read_failed").kv("name", name).kv("error", rs.ToString());
    return from_rocks(rs);
  }
  *out = std::move(e);
  return Status::Ok();
}

std::shared_ptr<BodyReader> Journal::open_body(const IndexEntry& entry) const {
  if (entry.op != Op::kPut) return nullptr;
  if (entry.body.place == BodyPlace::kInline) {
    std::string bytes;
    if (!db_->db->Get(rocksdb::ReadOptions(), db_->bodies, encode_seq_key(entry.body.id), &bytes).ok()) return nullptr;
    if (bytes.size() != entry.size) return nullptr;
    return std::make_shared<BodyReader>(std::move(bytes));
  }
  if (entry.body.place == BodyPlace::kFile) {
    int fd = ::open(body_path(entry.body.id).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != entry.size) {
      ::close(fd);
      return nullptr;
    }
    return std::make_shared<BodyReader>(fd, entry.size);
  }
  return nullptr;
}

Status Journal::mark_applied(const std::string& name, uint64_t seq) {
  std::lock_guard<std::mutex> mark_lock(mark_mu_);
  uint64_t watermark;
  std::optional<uint64_t> settles;  // the pending record this mark settles
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A name not in memory is settled: every mark for it is in the past.
    auto it = index_.find(name);
    if (it == index_.end() || seq <= it->second.applied_seq) return Status::Ok();
    // The watermark once this mark takes effect (for tools and for the next
    // open, which walks records only past it; memory is the truth).
    const IndexEntry& e = it->second;
    if (e.pending() && seq >= e.seq) settles = e.seq;
    auto lowest = unsettled_.begin();
    if (e.pending() && seq >= e.seq && lowest != unsettled_.end() && *lowest == std::make_pair(e.seq, name)) ++lowest;
    watermark = applied_watermark(last_seq_, lowest == unsettled_.end() ? std::nullopt
                                                                        : std::optional<uint64_t>(lowest->first));
  }
  // Written before it takes effect: the body cache may free a settled name's
  // body, so a mark that only lived in memory would leave the name pending
  // with no body after a restart. Not synced: losing a written mark in a
  // crash means applying the record again (idempotent), and the synced index
  // write that frees a body carries the applied seq too.
  // Resuming is left to the committer (commit_batch): RocksDB keeps a failed
  // WAL after a Resume with nothing to flush, so every extra Resume while the
  // disk is still full brings the database closer to writing into a failed log.
  if (db_error_) return {Status::Code::kIoError, "a journal write failed; the next commit resumes the database"};
  rocksdb::WriteBatch wb;
  wb.Put(db_->applied, name, encode_seq_key(seq));
  wb.Put(db_->meta, kMetaAppliedSeq, encode_seq_key(watermark));
  if (settles) wb.Delete(db_->meta, pending_key(*settles));
  rocksdb::Status rs = db_->db->Write(rocksdb::WriteOptions(), &wb);
  if (!rs.ok()) {
    db_error_ = true;  // the database refuses writes until the committer resumes it
    return from_rocks(rs);
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(name);
  if (it == index_.end() || seq <= it->second.applied_seq) return Status::Ok();
  IndexEntry& e = it->second;
  bool was_pending = e.pending();
  e.applied_seq = capped_applied_seq(e.seq, seq);
  if (was_pending && !e.pending()) {
    unsettled_.erase({e.seq, name});
    if (e.op == Op::kPut) pending_bytes_ -= e.size;
    recompute_watermark_locked();
    make_evictable_locked(name, e);
  }
  return Status::Ok();
}

void Journal::recompute_watermark_locked() {
  applied_seq_ = applied_watermark(
      last_seq_, unsettled_.empty() ? std::nullopt : std::optional<uint64_t>(unsettled_.begin()->first));
}

std::vector<std::pair<std::string, IndexEntry>> Journal::pending_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, IndexEntry>> out;
  out.reserve(unsettled_.size());
  for (const auto& [seq, name] : unsettled_) out.emplace_back(name, index_.at(name));
  return out;
}

uint64_t Journal::last_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_seq_;
}

uint64_t Journal::applied_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_seq_;
}

JournalStats Journal::stats() const {
  uint64_t estimated_names = 0;
  bool walked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    walked = index_walked_;
  }
  if (!walked) db_->db->GetIntProperty(db_->index, "rocksdb.estimate-num-keys", &estimated_names);
  std::lock_guard<std::mutex> lock(mu_);
  JournalStats s;
  s.index_walked = index_walked_;
  s.last_seq = last_seq_;
  s.applied_seq = applied_seq_;
  s.pending_count = unsettled_.size();
  s.pending_bytes = pending_bytes_;
  s.names = index_walked_ ? names_ : estimated_names;
  s.body_bytes = index_walked_ ? body_bytes_ : 0;
  if (!unsettled_.empty()) {
    const IndexEntry& oldest = index_.at(unsettled_.begin()->second);
    s.oldest_pending_age_ms = std::max<int64_t>(0, now_ms() - oldest.time_ms);
  }
  return s;
}

void Journal::set_commit_listener(std::function<void(const std::string&, const IndexEntry&)> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

}  // namespace fsr::journal
