// The write-ahead journal: every accepted PUT and DELETE, durable before the
// client hears success, with strictly increasing sequence numbers.
//
// Contract:
// - commit_put / commit_delete return only once the record (and a PUT's whole
//   body) is on stable storage: body files are fsync'd, their directory is
//   fsync'd, then the record goes into RocksDB with a synced WAL write.
//   Sequence numbers are assigned by the single committer thread in commit
//   order, so of two acknowledged writes of one name the higher seq is later.
//   Concurrent commits share one synced write (group commit).
// - commit_put_async / commit_delete_async queue the same commit and return
//   at once; their callback runs exactly once, on a journal thread (the
//   completer, in commit order, for a commit written or refused by its
//   precondition; the committer for one that failed), after
//   the record is durable, the index holds it and the commit listener has
//   seen it (a read after the callback sees the write), or after the commit
//   failed (nothing indexed, no seq used). Submissions are committed in the
//   order they were queued. A journal being destroyed still commits what was
//   queued before; a commit queued once closing has begun fails with kClosed,
//   its callback then running at once on the calling thread.
// - The index (name -> latest state) lives in RocksDB's `index` family.
//   Opening reads only the pending set into memory (meta `pending/` keys),
//   not every name; a settled name is read from the `index` and `applied`
//   families the first time, then from memory. The memory copy changes only
//   after the write is durable, so a reader never sees a state that could be
//   lost.
// - Opening returns once the pending set is loaded; a background walk of the
//   index then counts names and retained body bytes (stats) and removes
//   orphan bodies. The body cache frees nothing until it has finished.
// - A body is freed when a newer record of its name commits; only the latest
//   state of each name keeps its body.
// - mark_applied() records that the volume holds a name's state up to a seq;
//   the applied watermark is the highest seq at or below which every record is
//   applied or moot (coalesced away by a newer record of its name).
// Errors are returned as a Status, never thrown across this interface.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/file_io.h"
#include "journal/format.h"
#include "journal/record.h"

namespace rocksdb {
class Env;
class Snapshot;
}  // namespace rocksdb

namespace fsr::journal {

struct Status {
  enum class Code { kOk, kNoSpace, kIoError, kCorruption, kInvalid, kClosed, kPreconditionFailed };
  Code code = Code::kOk;
  std::string message;
  bool ok() const { return code == Code::kOk; }
  static Status Ok() { return {}; }
};

struct Options {
  std::string dir;
  size_t inline_body_max = 64 * 1024;  // bodies up to this size live inside RocksDB
  int64_t record_retention_ms = 24LL * 3600 * 1000;  // applied records older than this are compacted
  // Disk budget for the bodies of applied names: past it, the least recently
  // read are freed (the backends hold them). Pending bodies are never freed.
  uint64_t body_cache_bytes = UINT64_MAX;
  // Test seams for the sync-before-ack order; the defaults call fsync(2).
  std::function<int(int fd, const std::string& path)> sync_file;
  std::function<int(const std::string& dir)> sync_dir;
  // Test seam: runs on the background index walk's thread before it reads
  // anything (a test holds it there to show that nothing waits for it).
  std::function<void()> before_index_walk;
  // Test seam: runs in lookup() between reading a name from RocksDB and
  // keeping it in memory (a test lets an eviction land in between).
  std::function<void(const std::string& name)> after_stored_read;
  // Test seam: runs on the committer thread once an eviction has chosen a
  // name, before its last check of it (a test pins the name there).
  std::function<void(const std::string& name)> before_eviction_check;
  rocksdb::Env* env = nullptr;  // a custom RocksDB Env (tests), or the default
};

// A body being received. Small bodies stay in memory; past
// Options::inline_body_max it spills to its own file, written as it arrives.
class BodyWriter {
 public:
  ~BodyWriter();
  Status append(const char* data, size_t size);
  uint64_t size() const { return buffer_.size(); }
  std::string checksum();  // of everything appended; call once, after the last append
  // Makes a spilled body's file durable (fsync, close); blocks on the disk.
  // Call after the last append. Optional: the commit does it when the caller
  // did not, commit_put on the calling thread, commit_put_async on the
  // committer thread (where it delays the other commits). Idempotent; a
  // failure sticks, and such a body can never be committed.
  Status finish();

 private:
  friend class Journal;
  BodyWriter(class Journal* journal, uint64_t id);
  static int open_body_file(void* writer);  // the SpillBuffer's spill: creates bodies/<id>
  bool in_file() const { return !path_.empty(); }
  std::string& inline_bytes() { return buffer_.memory(); }
  Journal* journal_;
  uint64_t id_;
  SpillBuffer buffer_;
  std::string path_;  // set once the body spilled to its file
  bool committed_ = false;
  Status error_;  // the first failed append; a failed body can never be committed
  struct HashState;
  std::unique_ptr<HashState> hash_;
};

// A committed body to read. Holds the file open (or the inline bytes), so a
// body freed meanwhile stays readable through this object.
class BodyReader {
 public:
  BodyReader(std::string bytes) : bytes_(std::move(bytes)), size_(bytes_.size()) {}
  BodyReader(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~BodyReader();
  BodyReader(const BodyReader&) = delete;
  BodyReader& operator=(const BodyReader&) = delete;
  uint64_t size() const { return size_; }
  // Reads up to n bytes at offset; returns the count, 0 at the end, -1 on error.
  long read_at(uint64_t offset, char* buf, size_t n) const;

 private:
  std::string bytes_;
  int fd_ = -1;
  uint64_t size_;
};

struct JournalStats {
  bool index_walked = false;  // names and body_bytes are exact (else names is RocksDB's estimate, body_bytes 0)
  uint64_t last_seq = 0;
  uint64_t applied_seq = 0;  // the watermark
  uint64_t pending_count = 0;
  uint64_t pending_bytes = 0;
  int64_t oldest_pending_age_ms = 0;
  uint64_t names = 0;
  uint64_t body_bytes = 0;  // bytes of retained bodies (inline and files)
};

// A condition on a name's latest state that a write needs to commit (the
// HTTP If-Match and If-None-Match of a PUT or DELETE). The committer thread
// evaluates it against the latest committed state of the name, or against
// an earlier record of the same batch, right before it assigns the seq, so
// of two writes conditioned on the same state at most one commits; a failed
// one commits nothing and ends with kPreconditionFailed. A name that is
// absent or deleted has no current state: If-Match fails on it and
// If-None-Match `*` holds. States are named by their seq.
struct WritePrecondition {
  bool if_match = false;       // If-Match was sent
  bool if_match_any = false;   // If-Match: *
  std::vector<uint64_t> if_match_seqs;
  bool if_none_match = false;  // If-None-Match was sent
  bool if_none_match_any = false;  // If-None-Match: *
  std::vector<uint64_t> if_none_match_seqs;
  bool empty() const { return !if_match && !if_none_match; }
  // latest: the name's latest state, nullptr when the index has none.
  bool holds(const IndexEntry* latest) const;
};

// The body cache since the journal opened: bodies of applied names freed to
// stay within Options::body_cache_bytes, and their bytes.
struct BodyCacheCounters {
  uint64_t evictions = 0;
  uint64_t evicted_bytes = 0;
};

// The journal's footprint: bytes of every file under its directory (RocksDB
// and body files), and the free and total bytes of the filesystem holding it.
struct JournalDiskUsage {
  uint64_t journal_bytes = 0;
  uint64_t filesystem_free_bytes = 0;  // available to this process (statvfs f_bavail)
  uint64_t filesystem_size_bytes = 0;
};

// The outcome of a queued commit: Ok with the record's seq, or the failure
// (seq 0). Runs on a journal thread (the completer, or the committer for a
// failed commit) and must not block.
using CommitCallback = std::function<void(Status, uint64_t seq)>;

class Journal {
 public:
  static Status open(Options options, std::unique_ptr<Journal>* out);
  ~Journal();  // drains queued commits, then closes the database

  std::unique_ptr<BodyWriter> new_body();
  // Durable commit; *seq gets the record's sequence number.
  // With a precondition that does not hold, nothing commits: kPreconditionFailed.
  Status commit_put(const std::string& name, std::unique_ptr<BodyWriter> body, uint64_t* seq,
                    const WritePrecondition& precondition = {});
  Status commit_delete(const std::string& name, uint64_t* seq, const WritePrecondition& precondition = {});
  // Queues a durable commit and returns at once. done runs exactly once, on
  // a journal thread, after the record is durable (or the commit failed);
  // it must not block. Same ordering and sequence rules as commit_put.
  // A spilled body not yet finish()ed is fsync'd on the committer thread.
  // Once the journal is closing, done runs at once here with kClosed.
  void commit_put_async(const std::string& name, std::unique_ptr<BodyWriter> body, CommitCallback done,
                        WritePrecondition precondition = {});
  void commit_delete_async(const std::string& name, CommitCallback done, WritePrecondition precondition = {});

  std::optional<IndexEntry> lookup(const std::string& name) const;
  // nullptr when the entry has no body (DELETE, or freed).
  std::shared_ptr<BodyReader> open_body(const IndexEntry& entry) const;
  // A read of name's body: moves it to the back of the body cache's
  // least-recently-used order.
  void touch(const std::string& name);

  // Keeps name's body from being freed while the pin lives (the repairer
  // holds one while it may have to send the body, and until the outcome of
  // sending it is recorded). An eviction of the name already under way
  // finishes first: look the body up after pinning. Pins nest; the name is
  // evictable again once the last one goes and it is not suspect.
  class BodyPin {
   public:
    BodyPin() = default;
    BodyPin(BodyPin&& other) noexcept : journal_(std::exchange(other.journal_, nullptr)), name_(std::move(other.name_)) {}
    BodyPin& operator=(BodyPin&& other) noexcept;
    ~BodyPin() { release(); }
    void release();

   private:
    friend class Journal;
    BodyPin(Journal* journal, std::string name) : journal_(journal), name_(std::move(name)) {}
    Journal* journal_ = nullptr;
    std::string name_;
  };
  [[nodiscard]] BodyPin pin_body(const std::string& name);

  // A random identifier of this journal, made when it was created; the
  // router writes it into its marker file so replicas on another volume
  // never confirm.
  const std::string& journal_id() const { return journal_id_; }

  // The volume now holds `name` as of record `seq` (or a state that makes
  // every record of name up to seq moot). Idempotent; a lower seq is ignored.
  // The mark is written first and takes effect (the name settles, its body
  // may be freed) only once written: on an error nothing changes and the
  // caller tries again later. After a failed write of the database the next
  // commit resumes it; marks fail until then.
  Status mark_applied(const std::string& name, uint64_t seq);

  // Names whose latest record is not applied yet, oldest first.
  std::vector<std::pair<std::string, IndexEntry>> pending_entries() const;

  uint64_t last_seq() const;
  uint64_t applied_seq() const;
  JournalStats stats() const;
  BodyCacheCounters body_cache_counters() const;
  uint64_t body_cache_budget() const { return options_.body_cache_bytes; }
  // Walks the directory (a few ms per thousand files): for a scrape, not a request.
  JournalDiskUsage disk_usage() const;

  // Blocks until the background index walk of open() has finished: the
  // names and body-byte totals are exact and orphan bodies are gone.
  void wait_for_index_walk() const;

  // Called by the committer after each durable commit (outside its locks).
  void set_commit_listener(std::function<void(const std::string& name, const IndexEntry& entry)> listener);

  // Operator facts kept for after a crash: per backend, its role, health and
  // watermark (format.h). Written without sync; last value wins.
  void save_backend_state(const std::string& address, const BackendState& state);
  std::map<std::string, BackendState> backend_states() const;

  // Deletes applied records older than the retention (never the index).
  void compact_history();

  const std::string& dir() const { return options_.dir; }

  // Suspect names (suspects.cc). A name is suspect on a backend while an
  // operation on it may still run there (abandoned, or left by a previous
  // router process), so the volume may differ from its latest state; the
  // repairer (recovery/repairer.h) reads it back, repairs it and clears it.
  // - The set is stored in the meta family (format.h `suspect/...`), synced
  //   before add_suspect returns, so a restart keeps it.
  // - While a name is suspect on any backend, its latest body is never freed
  //   by the body cache: a repair can always send it again. A suspicion
  //   recorded while an eviction is already freeing the body comes too late
  //   for it: a caller that marks a settled name suspect holds a BodyPin
  //   (above), taken before it looked the body up, until add_suspect returns.
  //   (Pending names' bodies are never freed.)
  // - Idempotent; an error (Status) changes nothing and the caller retries.
  struct Suspect {
    std::string name;
    std::string backend;  // the backend's address
    bool operator==(const Suspect&) const = default;
  };
  Status add_suspect(const std::string& name, const std::string& backend);
  Status add_suspects(const std::vector<Suspect>& suspects);  // in one synced write
  Status clear_suspect(const std::string& name, const std::string& backend);
  std::vector<Suspect> suspects() const;  // by name, then backend
  bool is_suspect(const std::string& name) const;
  size_t suspect_count() const;  // suspect names (a name counts once)
  // Up to `limit` names of the index after `after` in byte order ("" starts
  // at the first): the scrub's walk, resumable by its last name.
  std::vector<std::string> names_after(const std::string& after, size_t limit) const;

 private:
  void restore_suspects();  // journal_open.cc, at open
  std::map<std::string, std::set<std::string>> suspects_;  // name -> backend addresses; under mu_
  std::unordered_map<std::string, int> pins_;              // name -> live BodyPins; under mu_
  void unpin_body(const std::string& name);
  // Makes a settled name evictable again once nothing holds its body (no
  // suspicion, no pin); under mu_.
  void release_body_hold_locked(const std::string& name);
  // A suspicion or a pin keeps name's body; under mu_.
  bool body_held_locked(const std::string& name) const { return suspects_.count(name) || pins_.count(name); }
  // Held by an eviction from its last check of a name to the body's
  // removal, and by pin_body and add_suspects while they take hold of a
  // name: the check and the removal are one step for them. Before mu_.
  std::mutex evict_mu_;

 private:
  friend class BodyWriter;
  struct CommitRequest;
  struct Database;  // the RocksDB handles (journal/database.h, private to the library)
  struct Recovery;
  explicit Journal(Options options);
  // Opening, in order (journal_open.cc): see recover() for the steps.
  Status recover();
  Status check_directory(bool* fresh) const;
  Status check_existing_journal() const;
  Status open_database(bool fresh);
  Status load_meta(bool fresh);
  Status load_pending();
  void restore_body_id_counter(Recovery* recovery);
  void walk_index(uint64_t max_body_id, const rocksdb::Snapshot* snapshot);  // the background walk
  void remove_orphan_bodies(uint64_t max_id, const std::vector<uint64_t>& live_files,
                            const std::vector<uint64_t>& live_inline, const rocksdb::Snapshot* snapshot);
  // A settled name's stored state (index entry overlaid with its applied mark).
  // *out is nullopt when the name was never written; a read error or an
  // entry that does not decode is an error, never taken for an absent name.
  Status read_stored(const std::string& name, std::optional<IndexEntry>* out) const;
  void restore_backend_states();
  void committer_loop();
  // A durable batch's notifications and answers, run by the completer
  // thread in batch order (group_commit.cc), so that the committer starts
  // the next batch instead.
  struct Completion;
  void completer_loop();
  void run_completion(Completion* c);
  void hand_to_completer(Completion* c);
  void commit_batch(std::vector<CommitRequest*>& batch);
  void submit(CommitRequest* request);  // takes ownership; complete() deletes it after its callback
  static void complete(CommitRequest* request);  // runs the callback and deletes the request
  int do_sync_file(int fd, const std::string& path) const;
  void recompute_watermark_locked();
  void make_evictable_locked(const std::string& name, const IndexEntry& e);
  void forget_evictable_locked(const std::string& name);
  void evict_over_budget();  // committer thread only
  std::string next_unlisted_body();  // committer thread only
  std::string body_path(uint64_t id) const;

  Options options_;
  std::unique_ptr<Database> db_;
  std::atomic<uint64_t> next_body_id_{1};
  uint64_t max_committed_body_id_ = 0;  // committer thread only
  bool recovered_ = false;              // recover() succeeded: the destructor may write

  mutable std::mutex mu_;  // guards everything below
  // Every pending name (loaded at open), and the settled names this process
  // has committed or read since (a lookup caches what it read from RocksDB);
  // every other name is read from RocksDB.
  mutable std::unordered_map<std::string, IndexEntry> index_;  // mutable: a const lookup caches what it read
  // Moves on with every change a commit or an eviction makes to index
  // entries: a lookup caches what it read only if nothing changed meanwhile.
  uint64_t index_generation_ = 0;
  uint64_t names_ = 0;  // names in the index family: counted by commits, plus the walk's count once walked
  bool index_walked_ = false;   // the walk succeeded: names_ and body_bytes_ are exact
  bool walk_finished_ = false;  // the walk ended (or never had to run)
  mutable std::condition_variable walked_cv_;
  std::set<std::pair<uint64_t, std::string>> unsettled_;  // (seq, name) of pending latest records
  uint64_t last_seq_ = 0;
  uint64_t applied_seq_ = 0;
  uint64_t pending_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  std::map<std::string, std::string> backend_states_;  // address -> stored JSON text
  // Applied names whose bodies may be freed, least recently used first.
  std::list<std::string> evictable_;
  std::unordered_map<std::string, std::list<std::string>::iterator> evictable_pos_;
  uint64_t evictable_bytes_ = 0;
  std::string journal_id_;
  std::function<void(const std::string&, const IndexEntry&)> listener_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<CommitRequest*> queue_;  // owned; empty once the committer has stopped
  bool stopping_ = false;
  std::atomic<bool> db_error_{false};
  std::atomic<uint64_t> body_evictions_{0};
  std::atomic<uint64_t> body_evicted_bytes_{0};  // a write failed; Resume() before the next one
  std::mutex mark_mu_;  // one mark_applied at a time: marks are stored in the order they take effect
  std::thread committer_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::condition_variable done_space_cv_;  // the committer waits here while the queue is full
  std::deque<Completion*> done_queue_;  // owned; drained before the completer stops
  bool done_stopping_ = false;
  std::thread completer_;
  std::thread walker_;  // the background index walk; joined before the database closes
  std::atomic<bool> closing_{false};
  std::string evict_cursor_;     // committer thread: where the eviction's walk of the index resumes
  bool evict_pass_found_ = false;  // committer thread: the current pass freed a body
  bool evict_walk_done_ = false;   // committer thread: a whole pass found nothing to free
};

const char* status_code_name(Status::Code code);

}  // namespace fsr::journal
