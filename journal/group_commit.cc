// Group commit: commits queue up for the single committer thread, which
// writes them as one synced RocksDB batch and only then updates the pending
// names in memory; the completer thread then tells the listener and wakes
// the committers, batch after batch in order, while the committer writes
// the next batch (docs/journal-format.md, "Commit order").
#include <pthread.h>
#include <unistd.h>

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <unordered_map>

#include "common/log.h"
#include "journal/database.h"

namespace fsr::journal {

struct Journal::CommitRequest {
  std::string name;
  Op op = Op::kPut;
  std::unique_ptr<BodyWriter> body;
  uint64_t size = 0;
  std::string checksum;
  uint64_t seq = 0;
  Status status;  // not Ok before the batch: failed already (a broken body), never written
  CommitCallback done;
  WritePrecondition precondition;
};

struct Journal::Completion {
  std::vector<CommitRequest*> written;   // answered Ok, in seq order
  std::vector<CommitRequest*> rejected;  // answered with their own status (a failed precondition)
  std::unordered_map<std::string, IndexEntry> latest;
  std::function<void(const std::string&, const IndexEntry&)> listener;
};

bool WritePrecondition::holds(const IndexEntry* latest) const {
  bool present = latest && latest->op == Op::kPut;
  auto named = [&](const std::vector<uint64_t>& seqs) {
    return present && std::find(seqs.begin(), seqs.end(), latest->seq) != seqs.end();
  };
  if (if_match && !(present && (if_match_any || named(if_match_seqs)))) return false;
  if (if_none_match && present && (if_none_match_any || named(if_none_match_seqs))) return false;
  return true;
}

std::unique_ptr<BodyWriter> Journal::new_body() {
  return std::unique_ptr<BodyWriter>(new BodyWriter(this, next_body_id_.fetch_add(1)));
}

void Journal::complete(CommitRequest* request) {
  std::unique_ptr<CommitRequest> owned(request);
  owned->body.reset();  // an uncommitted body's file goes before the caller hears
  if (owned->done) owned->done(owned->status, owned->status.ok() ? owned->seq : 0);
}

void Journal::submit(CommitRequest* request) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!stopping_) {
      queue_.push_back(request);
      request = nullptr;
    }
  }
  if (request) {
    // The committer may be gone: the only place left to run the callback.
    request->status = {Status::Code::kClosed, "journal is closing"};
    complete(request);
    return;
  }
  queue_cv_.notify_one();
}

void Journal::commit_put_async(const std::string& name, std::unique_ptr<BodyWriter> body, CommitCallback done,
                               WritePrecondition precondition) {
  auto* request = new CommitRequest;
  request->name = name;
  request->op = Op::kPut;
  request->done = std::move(done);
  request->precondition = std::move(precondition);
  if (!body) {
    request->status = {Status::Code::kInvalid, "commit_put without a body"};
  } else if (!body->error_.ok()) {
    request->status = body->error_;
  } else {
    request->size = body->size();
    request->checksum = body->checksum();
    request->body = std::move(body);
  }
  submit(request);
}

void Journal::commit_delete_async(const std::string& name, CommitCallback done, WritePrecondition precondition) {
  auto* request = new CommitRequest;
  request->name = name;
  request->op = Op::kDelete;
  request->done = std::move(done);
  request->precondition = std::move(precondition);
  submit(request);
}

namespace {

// Waits for a queued commit's callback. The promise is shared with the
// callback, so it outlives the committer's set_value.
struct CommitWait {
  std::shared_ptr<std::promise<std::pair<Status, uint64_t>>> promise =
      std::make_shared<std::promise<std::pair<Status, uint64_t>>>();
  CommitCallback callback() {
    return [p = promise](Status s, uint64_t seq) { p->set_value({std::move(s), seq}); };
  }
  Status wait(uint64_t* seq) {
    auto [s, committed_seq] = promise->get_future().get();
    if (s.ok()) *seq = committed_seq;
    return s;
  }
};

}  // namespace

Status Journal::commit_put(const std::string& name, std::unique_ptr<BodyWriter> body, uint64_t* seq,
                           const WritePrecondition& precondition) {
  if (!body) return {Status::Code::kInvalid, "commit_put without a body"};
  // The body file's fsync happens here, in parallel across uploads, not on
  // the committer thread.
  Status s = body->finish();
  if (!s.ok()) return s;
  CommitWait wait;
  commit_put_async(name, std::move(body), wait.callback(), precondition);
  return wait.wait(seq);
}

Status Journal::commit_delete(const std::string& name, uint64_t* seq, const WritePrecondition& precondition) {
  CommitWait wait;
  commit_delete_async(name, wait.callback(), precondition);
  return wait.wait(seq);
}

void Journal::committer_loop() {
  // Named for top -H and perf: the one thread every write passes through.
  pthread_setname_np(pthread_self(), "fsr-commit");
  std::vector<CommitRequest*> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      if (queue_.empty()) {
        lock.unlock();
        evict_over_budget();
        continue;
      }
      while (!queue_.empty() && batch.size() < 4096) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    commit_batch(batch);
    batch.clear();
    evict_over_budget();
  }
}

// Writes the batch as one synced RocksDB write, then updates the index, tells
// the commit listener and runs each request's callback, in that order.
void Journal::commit_batch(std::vector<CommitRequest*>& batch) {
  // Requests that cannot be written fail alone: a broken body, or a body
  // file whose fsync (left to the committer by commit_put_async) fails.
  size_t kept = 0;
  for (auto* r : batch) {
    if (r->status.ok() && r->body) r->status = r->body->finish();
    if (r->status.ok()) {
      batch[kept++] = r;
    } else {
      complete(r);  // the caller logs it, as for any failed commit
    }
  }
  batch.resize(kept);
  if (batch.empty()) return;
  auto fail_all = [&](const Status& s) {
    for (auto* r : batch) {
      r->status = s;
      complete(r);
    }
  };
  if (db_error_) {
    // A previous write failed (e.g. the disk was full): the database refuses
    // writes until resumed. Resume once space is back.
    rocksdb::Status rs = db_->db->Resume();
    if (!rs.ok()) {
      fail_all(from_rocks(rs));
      return;
    }
    db_error_ = false;
    log_info("journal_resumed");
  }
  bool any_file = false;
  for (auto* r : batch) any_file |= r->body && r->body->in_file();
  if (any_file && options_.sync_dir(options_.dir + "/bodies") != 0) {
    fail_all(from_errno(errno, "fsync bodies directory"));
    return;
  }

  // The batch's writes go to RocksDB grouped by column family, each group
  // in key order, puts before deletes: a memtable insert next to the last
  // one is cheap, one that jumps across the skip list searches it from the
  // top (interleaving a record's body put, at the end of the bodies, with
  // its predecessor's body delete, in the middle, cost a search for each).
  // No key is both put and deleted in one batch except a body or pending
  // key put by an earlier record of the batch and deleted by a later one,
  // which puts-before-deletes keeps in order.
  std::vector<std::pair<uint64_t, const std::string*>> body_puts;  // (body id, inline bytes)
  std::vector<std::pair<uint64_t, std::string>> record_puts;       // (seq, encoded record)
  std::vector<uint64_t> body_deletes;                               // inline bodies superseded
  int64_t time = now_ms();
  std::unordered_map<std::string, IndexEntry> latest;  // this batch's view of each name it touches
  // Each touched name's state before the batch (nullopt: a new name), read
  // once: from memory, else from RocksDB (a settled name; this thread is the
  // only writer of index entries, so it cannot change meanwhile).
  std::unordered_map<std::string, std::optional<IndexEntry>> before;
  std::vector<uint64_t> freed_files;
  // Writes whose precondition failed: they take no seq and are answered
  // once the batch's outcome is known (their verdict may rest on a record
  // earlier in this batch).
  std::vector<CommitRequest*> rejected;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = last_seq_;
  }
  kept = 0;
  for (auto* r : batch) {
    IndexEntry old;
    bool had_old = false;
    if (auto it = latest.find(r->name); it != latest.end()) {
      old = it->second;
      had_old = true;
    } else if (auto b = before.find(r->name); b != before.end()) {
      // Every earlier commit of this name in the batch failed its precondition.
      if (b->second) {
        old = *b->second;
        had_old = true;
      }
    } else {
      std::optional<IndexEntry> found;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = index_.find(r->name); it != index_.end()) found = it->second;
      }
      if (!found) {
        if (Status read = read_stored(r->name, &found); !read.ok()) {
          // The name's state is unknown: it cannot be written over (its
          // old body and a precondition would be misjudged).
          r->status = read;
          rejected.push_back(r);
          continue;
        }
      }
      if (found) {
        old = *found;
        had_old = true;
      }
      before.emplace(r->name, std::move(found));
    }
    if (!r->precondition.empty() && !r->precondition.holds(had_old ? &old : nullptr)) {
      r->status = {Status::Code::kPreconditionFailed, "precondition failed"};
      rejected.push_back(r);
      continue;
    }
    batch[kept++] = r;
    r->seq = ++seq;
    Record rec;
    rec.seq = r->seq;
    rec.op = r->op;
    rec.time_ms = time;
    rec.name = r->name;
    if (r->op == Op::kPut) {
      rec.size = r->size;
      rec.checksum = r->checksum;
      rec.body.id = r->body->id_;
      if (!r->body->in_file()) {
        rec.body.place = BodyPlace::kInline;
        body_puts.emplace_back(rec.body.id, &r->body->inline_bytes());
      } else {
        rec.body.place = BodyPlace::kFile;
      }
    }
    record_puts.emplace_back(rec.seq, encode_record(rec));

    if (had_old && old.body.place == BodyPlace::kInline) body_deletes.push_back(old.body.id);
    if (had_old && old.body.place == BodyPlace::kFile) freed_files.push_back(old.body.id);

    IndexEntry e;
    e.seq = rec.seq;
    e.op = rec.op;
    e.size = rec.size;
    e.checksum = rec.checksum;
    e.body = rec.body;
    e.time_ms = time;
    e.applied_seq = had_old ? old.applied_seq : 0;
    latest[r->name] = e;
  }
  batch.resize(kept);
  if (batch.empty()) {
    // Answered after the batches before it, like every answer of a batch
    // that was not refused by the database.
    auto* done = new Completion;
    done->rejected = std::move(rejected);
    hand_to_completer(done);
    return;
  }
  // The pending keys (format.h): one per name's new latest record, and the
  // previous latest record's key goes if it was pending. Totals change by
  // the difference between each name's state before and after the batch.
  uint64_t new_names = 0;
  int64_t body_bytes_change = 0;
  std::vector<const std::pair<const std::string, IndexEntry>*> names;  // sorted below
  std::vector<std::pair<uint64_t, const std::string*>> pending_puts;   // (seq, name)
  std::vector<uint64_t> pending_deletes;
  names.reserve(latest.size());
  for (auto& entry : latest) {
    const auto& [name, e] = entry;
    names.push_back(&entry);
    pending_puts.emplace_back(e.seq, &name);
    const std::optional<IndexEntry>& b = before[name];
    if (!b) ++new_names;
    else if (b->op == Op::kPut && b->body.place != BodyPlace::kNone) body_bytes_change -= static_cast<int64_t>(b->size);
    if (b && b->pending()) pending_deletes.push_back(b->seq);
    if (e.op == Op::kPut) body_bytes_change += static_cast<int64_t>(e.size);
  }
  std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::sort(pending_puts.begin(), pending_puts.end());
  std::sort(body_deletes.begin(), body_deletes.end());
  std::sort(pending_deletes.begin(), pending_deletes.end());
  // record_puts rise with seq already; body ids were drawn when each upload
  // began, so not in the batch's order.
  std::sort(body_puts.begin(), body_puts.end());
  // The batch's bytes, reserved at once: grown by doubling, a batch of
  // hundreds of 1 KiB bodies was copied a dozen times on its way up.
  size_t reserve = 256;
  for (const auto& [id, bytes] : body_puts) reserve += bytes->size() + 24;
  for (const auto& [rec_seq, value] : record_puts) reserve += value.size() + 24;
  for (const auto* entry : names) reserve += 2 * entry->first.size() + 160;
  reserve += 24 * (body_deletes.size() + pending_deletes.size());
  rocksdb::WriteBatch wb(reserve);
  for (const auto& [id, bytes] : body_puts) wb.Put(db_->bodies, encode_seq_key(id), *bytes);
  for (const auto& [rec_seq, value] : record_puts) wb.Put(db_->records, encode_seq_key(rec_seq), value);
  for (const auto* entry : names) wb.Put(db_->index, entry->first, encode_index_entry(entry->second));
  for (const auto& [pending_seq, name] : pending_puts) wb.Put(db_->meta, pending_key(pending_seq), *name);
  wb.Put(db_->meta, kMetaPendingThrough, encode_seq_key(seq));
  uint64_t max_body_id = max_committed_body_id_;
  for (auto* r : batch)
    if (r->body) max_body_id = std::max(max_body_id, r->body->id_);
  wb.Put(db_->meta, kMetaBodyIdHigh, encode_seq_key(max_body_id));
  wb.Put(db_->meta, kMetaLastSeq, encode_seq_key(seq));
  for (uint64_t id : body_deletes) wb.Delete(db_->bodies, encode_seq_key(id));
  for (uint64_t pending_seq : pending_deletes) wb.Delete(db_->meta, pending_key(pending_seq));

  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status rs = db_->db->Write(wo, &wb);
  if (!rs.ok()) {
    db_error_ = true;
    Status s = from_rocks(rs);
    log_error("journal_write_failed").kv("first_seq", batch.front()->seq).kv("records", batch.size()).kv("error", s.message);
    fail_all(s);
    // A refused precondition may rest on a record of this batch that was
    // never written: those commits fail with the batch.
    for (auto* r : rejected) {
      r->status = s;
      complete(r);
    }
    return;
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, e] : latest) {
      forget_evictable_locked(name);
      auto [it, inserted] = index_.try_emplace(name, e);
      if (!inserted) {
        IndexEntry& old = it->second;
        // mark_applied may have moved the name on since this batch read it.
        e.applied_seq = std::max(e.applied_seq, old.applied_seq);
        if (old.pending()) {
          unsettled_.erase({old.seq, name});
          if (old.op == Op::kPut) pending_bytes_ -= old.size;
        }
        old = e;
      }
      unsettled_.insert({e.seq, name});
      if (e.op == Op::kPut) pending_bytes_ += e.size;
    }
    ++index_generation_;
    names_ += new_names;
    body_bytes_ += static_cast<uint64_t>(body_bytes_change);  // modulo 2^64: before the walk, a change to its base
    last_seq_ = seq;
    max_committed_body_id_ = max_body_id;
    recompute_watermark_locked();
    for (auto* r : batch)
      if (r->body) r->body->committed_ = true;  // its file now belongs to the journal (freed by the completer)
  }
  for (auto id : freed_files) ::unlink(body_path(id).c_str());
  // The batch is durable and in the index: its notifications, answers and
  // frees go to the completer thread, and this thread takes the next batch.
  auto* done = new Completion;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done->listener = listener_;
  }
  done->written = std::move(batch);
  batch.clear();
  done->rejected = std::move(rejected);
  done->latest = std::move(latest);
  hand_to_completer(done);
}

// At most kMaxCompletions batches wait for the completer: past that the
// committer waits too, so a slow listener or callback slows the commits
// instead of piling up requests to answer (and their bodies) in memory.
void Journal::hand_to_completer(Completion* c) {
  constexpr size_t kMaxCompletions = 8;
  {
    std::unique_lock<std::mutex> lock(done_mu_);
    done_space_cv_.wait(lock, [this] { return done_queue_.size() < kMaxCompletions; });
    done_queue_.push_back(c);
  }
  done_cv_.notify_one();
}

void Journal::run_completion(Completion* c) {
  std::unique_ptr<Completion> owned(c);
  for (auto* r : c->written) {
    // Tell the applier before the caller hears: a write acknowledged to a
    // client is one the applier knows about.
    const IndexEntry& e = c->latest[r->name];
    if (c->listener && e.seq == r->seq) c->listener(r->name, e);
    r->status = Status::Ok();
    complete(r);
  }
  for (auto* r : c->rejected) complete(r);
}

void Journal::completer_loop() {
  pthread_setname_np(pthread_self(), "fsr-complete");
  while (true) {
    Completion* c = nullptr;
    {
      std::unique_lock<std::mutex> lock(done_mu_);
      done_cv_.wait(lock, [this] { return done_stopping_ || !done_queue_.empty(); });
      if (done_queue_.empty()) return;  // stopping, and everything answered
      c = done_queue_.front();
      done_queue_.pop_front();
    }
    done_space_cv_.notify_one();
    run_completion(c);
  }
}

}  // namespace fsr::journal
