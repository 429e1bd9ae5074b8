// Opening a journal: creating a new one, or recovering an existing one (its
// pending names into memory; docs/journal-format.md, "Recovery"), and the
// background walk of the index that follows. Closing it.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <unordered_set>
#include <vector>

#include "common/log.h"
#include "journal/database.h"

namespace fsr::journal {
namespace {

namespace fs = std::filesystem;

std::string random_id() {
  std::random_device rd;
  char buf[33];
  std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

Status not_a_journal(const std::string& dir) {
  return {Status::Code::kInvalid, dir + " is a RocksDB database but not a journal"};
}

Status newer_format(const std::string& version) {
  return {Status::Code::kInvalid, "journal format version " + version + " is newer than this program's " +
                                      std::to_string(kFormatVersion)};
}

}  // namespace

// What recovery learns for the background walk: the highest body id at
// open. Every id at or below it that no index entry references is an orphan;
// ids above it are handed out to uploads from now on.
struct Journal::Recovery {
  uint64_t max_body_id = 0;
};

Journal::Journal(Options options) : options_(std::move(options)) {
  if (!options_.sync_file) options_.sync_file = [](int fd, const std::string&) { return ::fsync(fd); };
  if (!options_.sync_dir)
    options_.sync_dir = [](const std::string& dir) {
      int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return -1;
      int r = ::fsync(fd);
      ::close(fd);
      return r;
    };
}

int Journal::do_sync_file(int fd, const std::string& path) const { return options_.sync_file(fd, path); }

std::string Journal::body_path(uint64_t id) const { return options_.dir + "/bodies/" + body_file_name(id); }

Status Journal::open(Options options, std::unique_ptr<Journal>* out) {
  std::unique_ptr<Journal> j(new Journal(std::move(options)));
  Status s = j->recover();
  if (!s.ok()) return s;
  j->committer_ = std::thread([p = j.get()] { p->committer_loop(); });
  j->completer_ = std::thread([p = j.get()] { p->completer_loop(); });
  *out = std::move(j);
  return Status::Ok();
}

// Nothing is written into the directory before it is known to be a journal
// this program reads (or a new one).
Status Journal::recover() {
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count();
  };
  auto t0 = clock::now();
  bool fresh = false;
  Status s = check_directory(&fresh);
  if (s.ok() && !fresh) s = check_existing_journal();
  int64_t check_ms = ms_since(t0);
  auto t1 = clock::now();
  if (s.ok()) s = open_database(fresh);
  if (s.ok()) s = load_meta(fresh);
  if (!s.ok()) return s;
  int64_t open_ms = ms_since(t1);
  auto t2 = clock::now();

  Recovery recovery;
  const rocksdb::Snapshot* snapshot = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    restore_suspects();
    s = load_pending();
    if (!s.ok()) return s;
    restore_body_id_counter(&recovery);
    restore_backend_states();
    recompute_watermark_locked();
    recovered_ = true;
    // The walk counts the index as of now; every commit from here on adds
    // its own change to the totals.
    if (fresh) index_walked_ = walk_finished_ = true;
    else snapshot = db_->db->GetSnapshot();
    log_info("journal_recovered")
        .kv("dir", options_.dir)
        .kv("last_seq", last_seq_)
        .kv("applied_seq", applied_seq_)
        .kv("pending", unsettled_.size())
        .kv("check_ms", check_ms)
        .kv("open_ms", open_ms)
        .kv("pending_ms", ms_since(t2));
  }
  if (snapshot) walker_ = std::thread([this, max_id = recovery.max_body_id, snapshot] { walk_index(max_id, snapshot); });
  return Status::Ok();
}

// A missing or empty directory (or one holding only bodies/ or lost+found)
// makes a new journal; a directory with other files and no database is refused.
Status Journal::check_directory(bool* fresh) const {
  std::error_code ec;
  const std::string& dir = options_.dir;
  if (dir.empty()) return {Status::Code::kInvalid, "journal directory not set"};
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) return {Status::Code::kInvalid, dir + " is not a directory"};
  *fresh = !fs::exists(dir + "/CURRENT", ec);
  if (*fresh && fs::exists(dir, ec)) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string n = entry.path().filename().string();
      if (n != "bodies" && n != "lost+found")
        return {Status::Code::kInvalid, dir + " is not empty and holds no journal (found " + n + ")"};
    }
  }
  return Status::Ok();
}

// An existing database must have the journal's column families and a
// format_version this program reads; checked read-only, before RocksDB writes a byte.
Status Journal::check_existing_journal() const {
  const std::string& dir = options_.dir;
  std::vector<std::string> families;
  rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &families);
  if (!ls.ok()) return from_rocks(ls);
  for (const auto& f : column_family_names())
    if (std::find(families.begin(), families.end(), f) == families.end()) return not_a_journal(dir);

  // Only the meta family: a read-only open replays the write-ahead log, and
  // records for families not opened are skipped rather than loaded.
  rocksdb::Options db_options = Database::options(options_.env);
  std::vector<rocksdb::ColumnFamilyDescriptor> meta_only = {Database::column_families(db_options)[kMetaFamily]};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status ro = rocksdb::DB::OpenForReadOnly(db_options, dir, meta_only, &handles, &raw);
  if (!ro.ok()) return from_rocks(ro);
  std::string version;
  rocksdb::Status vs = raw->Get(rocksdb::ReadOptions(), handles[0], kMetaFormatVersion, &version);
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
  if (vs.IsNotFound()) return not_a_journal(dir);
  if (!vs.ok()) return from_rocks(vs);
  FormatVersionCheck check = check_format_version(version);
  if (check.verdict == FormatVersionCheck::Verdict::kUnreadable)
    return {Status::Code::kCorruption, "unreadable format_version " + version};
  if (check.verdict == FormatVersionCheck::Verdict::kNewer) return newer_format(version);
  return Status::Ok();
}

Status Journal::open_database(bool fresh) {
  const std::string& dir = options_.dir;
  std::error_code ec;
  fs::create_directories(dir + "/bodies", ec);
  if (ec) return {Status::Code::kIoError, "cannot create " + dir + "/bodies: " + ec.message()};
  rocksdb::Options db_options = Database::options(options_.env);
  db_options.create_if_missing = fresh;
  auto db = std::make_unique<Database>();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status rs = rocksdb::DB::Open(db_options, dir, Database::column_families(db_options), &db->handles, &raw);
  if (!rs.ok()) {
    Status s = from_rocks(rs);
    s.message = "cannot open journal " + dir + ": " + s.message;
    return s;
  }
  db->db.reset(raw);
  db->meta = db->handles[kMetaFamily];
  db->records = db->handles[kRecordsFamily];
  db->index = db->handles[kIndexFamily];
  db->applied = db->handles[kAppliedFamily];
  db->bodies = db->handles[kBodiesFamily];
  db_ = std::move(db);
  return Status::Ok();
}

// format_version (written, synced, when the journal is new), last_seq, and
// the journal id (made at the first open that finds none).
Status Journal::load_meta(bool fresh) {
  rocksdb::WriteOptions synced;
  synced.sync = true;
  std::string value;
  rocksdb::Status rs = db_->db->Get(rocksdb::ReadOptions(), db_->meta, kMetaFormatVersion, &value);
  if (rs.IsNotFound()) {
    if (!fresh) return not_a_journal(options_.dir);
    Status s = from_rocks(db_->db->Put(synced, db_->meta, kMetaFormatVersion, format_version_text()));
    if (!s.ok()) return s;
  } else if (!rs.ok()) {
    return from_rocks(rs);
  } else if (check_format_version(value).verdict == FormatVersionCheck::Verdict::kNewer) {
    return newer_format(value);
  }
  if (db_->db->Get(rocksdb::ReadOptions(), db_->meta, kMetaLastSeq, &value).ok()) last_seq_ = decode_seq_key(value);
  if (db_->db->Get(rocksdb::ReadOptions(), db_->meta, kMetaJournalId, &value).ok()) {
    journal_id_ = value;
  } else {
    journal_id_ = random_id();
    Status s = from_rocks(db_->db->Put(synced, db_->meta, kMetaJournalId, journal_id_));
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// Options for reading a whole column family: large reads ahead, and nothing
// kept in the block cache that the router's reads want.
static rocksdb::ReadOptions full_scan_options() {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 4 << 20;
  return ro;
}

// The pending names into memory, without reading every name: the candidates
// are the names of the meta `pending/<seq>` keys (written with each record,
// deleted when it settles or is superseded), and of every record past
// max(applied_seq, pending_through): records a program that kept no such keys
// may have written (or all of them after a crash that lost applied_seq).
// Each candidate is checked against its stored state, so a stale key is
// harmless (and deleted); the keys for names found only by the record walk
// are added, and pending_through moved to last_seq, in one write.
Status Journal::load_pending() {
  auto meta_u64 = [&](const char* key) -> uint64_t {
    std::string value;
    return db_->db->Get(rocksdb::ReadOptions(), db_->meta, key, &value).ok() ? decode_seq_key(value) : 0;
  };
  uint64_t applied_mark = meta_u64(kMetaAppliedSeq);
  uint64_t through = meta_u64(kMetaPendingThrough);
  rocksdb::WriteBatch fix;
  auto add = [&](const std::string& name, const IndexEntry& e) {
    auto [pos, inserted] = index_.emplace(name, e);
    if (!inserted) return;
    unsettled_.insert({e.seq, name});
    if (e.op == Op::kPut) pending_bytes_ += e.size;
    last_seq_ = std::max(last_seq_, e.seq);
  };

  std::string end = prefix_end(kMetaPendingPrefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions keys_ro;
  keys_ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> keys(db_->db->NewIterator(keys_ro, db_->meta));
  size_t stale = 0;
  for (keys->Seek(kMetaPendingPrefix); keys->Valid(); keys->Next()) {
    auto seq = seq_of_pending_key(keys->key().ToStringView());
    std::string name = keys->value().ToString();
    std::optional<IndexEntry> e;
    // A read error fails the open: a key is deleted only once its name's
    // state is known not to need it.
    if (seq) {
      if (Status s = read_stored(name, &e); !s.ok()) return s;
    }
    if (e && e->seq == *seq && e->pending()) {
      add(name, *e);
    } else {
      fix.Delete(db_->meta, keys->key());
      ++stale;
    }
  }
  if (!keys->status().ok()) return from_rocks(keys->status());

  uint64_t from = std::max(applied_mark, through) + 1;
  size_t walked = 0;
  std::unordered_set<std::string> seen;
  std::unique_ptr<rocksdb::Iterator> records(db_->db->NewIterator(full_scan_options(), db_->records));
  for (records->Seek(encode_seq_key(from)); records->Valid(); records->Next()) {
    uint64_t seq = decode_seq_key(records->key().ToStringView());
    auto rec = decode_record(seq, records->value().ToStringView());
    if (!rec) return {Status::Code::kCorruption, "undecodable record " + std::to_string(seq)};
    ++walked;
    last_seq_ = std::max(last_seq_, seq);
    if (index_.count(rec->name) || !seen.insert(rec->name).second) continue;
    std::optional<IndexEntry> e;
    if (Status s = read_stored(rec->name, &e); !s.ok()) return s;
    if (!e) return {Status::Code::kCorruption, "record " + std::to_string(seq) + " of " + rec->name + " has no index entry"};
    if (!e->pending()) continue;
    add(rec->name, *e);
    fix.Put(db_->meta, pending_key(e->seq), rec->name);
  }
  if (!records->status().ok()) return from_rocks(records->status());
  if (walked > 0 || stale > 0 || through < last_seq_) {
    fix.Put(db_->meta, kMetaPendingThrough, encode_seq_key(last_seq_));
    // Not synced: lost in a crash, the next open walks the same records again.
    Status s = from_rocks(db_->db->Write(rocksdb::WriteOptions(), &fix));
    if (!s.ok()) return s;
  }
  if (walked > 0 || stale > 0)
    log_info("journal_pending_rebuilt").kv("records_walked", walked).kv("stale_keys", stale).kv("from_seq", from);
  return Status::Ok();
}

// Ids are never reused: the counter restarts past the highest id ever
// committed (body_id_high, freed bodies included), past every body file
// (uploads that never committed) and past the last inline body key.
void Journal::restore_body_id_counter(Recovery* recovery) {
  std::string value;
  if (db_->db->Get(rocksdb::ReadOptions(), db_->meta, kMetaBodyIdHigh, &value).ok()) {
    max_committed_body_id_ = decode_seq_key(value);
    recovery->max_body_id = std::max(recovery->max_body_id, max_committed_body_id_);
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.dir + "/bodies", ec))
    recovery->max_body_id =
        std::max<uint64_t>(recovery->max_body_id, std::strtoull(entry.path().filename().c_str(), nullptr, 16));
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), db_->bodies));
  it->SeekToLast();
  if (it->Valid()) recovery->max_body_id = std::max(recovery->max_body_id, decode_seq_key(it->key().ToStringView()));
  next_body_id_ = recovery->max_body_id + 1;
}

// The background walk: the whole index as of the snapshot taken at open,
// for the totals (names, retained body bytes) and the live body ids, then
// the orphan cleanup. At a low CPU priority: the router serves meanwhile.
void Journal::walk_index(uint64_t max_body_id, const rocksdb::Snapshot* snapshot) {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  if (options_.before_index_walk) options_.before_index_walk();
  auto started = std::chrono::steady_clock::now();
  uint64_t names = 0, body_bytes = 0;
  std::vector<uint64_t> live_files, live_inline;
  rocksdb::ReadOptions ro = full_scan_options();
  ro.snapshot = snapshot;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(ro, db_->index));
  bool ok = true;
  for (it->SeekToFirst(); it->Valid() && !closing_; it->Next()) {
    ++names;
    auto e = decode_index_entry(it->value().ToStringView());
    if (!e) {
      // Its body id is unknown: no orphan cleanup this time, and the totals stay estimates.
      log_error("journal_entry_undecodable").kv("name", it->key().ToString());
      ok = false;
      break;
    }
    if (e->op == Op::kPut && e->body.place != BodyPlace::kNone) body_bytes += e->size;
    if (e->body.place == BodyPlace::kFile) live_files.push_back(e->body.id);
    if (e->body.place == BodyPlace::kInline) live_inline.push_back(e->body.id);
  }
  if (!it->status().ok()) {
    ok = false;
    log_error("journal_index_walk_failed").kv("error", it->status().ToString());
  }
  it.reset();
  if (ok && !closing_) {
    std::sort(live_files.begin(), live_files.end());
    std::sort(live_inline.begin(), live_inline.end());
    remove_orphan_bodies(max_body_id, live_files, live_inline, snapshot);
  }
  db_->db->ReleaseSnapshot(snapshot);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ok && !closing_) {
      names_ += names;  // the commits since the snapshot have counted their own
      body_bytes_ += body_bytes;
      index_walked_ = true;
    }
    walk_finished_ = true;
  }
  walked_cv_.notify_all();
  if (ok && !closing_)
    log_info("journal_index_walked")
        .kv("names", names)
        .kv("body_bytes", body_bytes)
        .kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                      .count());
}

void Journal::wait_for_index_walk() const {
  std::unique_lock<std::mutex> lock(mu_);
  walked_cv_.wait(lock, [this] { return walk_finished_; });
}

// Orphans: bodies of uploads that never committed, or of records superseded
// or evicted just before a crash. Only ids at or below the highest id at open
// are considered: every later id belongs to an upload of this process.
void Journal::remove_orphan_bodies(uint64_t max_id, const std::vector<uint64_t>& live_files,
                                   const std::vector<uint64_t>& live_inline, const rocksdb::Snapshot* snapshot) {
  auto live = [](const std::vector<uint64_t>& ids, uint64_t id) {
    return std::binary_search(ids.begin(), ids.end(), id);
  };
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.dir + "/bodies", ec)) {
    uint64_t id = std::strtoull(entry.path().filename().c_str(), nullptr, 16);
    if (id <= max_id && !live(live_files, id)) {
      fs::remove(entry.path(), ec);
      log_info("journal_orphan_removed").kv("file", entry.path().string());
    }
  }
  rocksdb::WriteBatch cleanup;
  std::string upper_key = encode_seq_key(max_id + 1);
  rocksdb::Slice upper(upper_key);
  rocksdb::ReadOptions ro = full_scan_options();
  ro.snapshot = snapshot;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(ro, db_->bodies));
  for (it->SeekToFirst(); it->Valid() && !closing_; it->Next())
    if (!live(live_inline, decode_seq_key(it->key().ToStringView()))) cleanup.Delete(db_->bodies, it->key());
  if (cleanup.Count() > 0 && !closing_) db_->db->Write(rocksdb::WriteOptions(), &cleanup);
}

void Journal::restore_backend_states() {
  std::string end = prefix_end(kMetaBackendPrefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(ro, db_->meta));
  for (it->Seek(kMetaBackendPrefix); it->Valid(); it->Next()) {
    auto address = backend_address_of_key(it->key().ToStringView());
    if (!address) break;
    backend_states_[*address] = it->value().ToString();
  }
}

Journal::~Journal() {
  closing_ = true;
  if (walker_.joinable()) walker_.join();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  // After the committer: every durable batch it handed over is answered.
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    done_stopping_ = true;
  }
  done_cv_.notify_all();
  if (completer_.joinable()) completer_.join();
  if (db_ && recovered_) {
    std::lock_guard<std::mutex> lock(mu_);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    db_->db->Put(wo, db_->meta, kMetaAppliedSeq, encode_seq_key(applied_seq_));
    // The memtables into tables now, so the next open has no log to replay
    // (an upgrade's new process, or a restart after a clean stop).
    rocksdb::FlushOptions flush;
    db_->db->Flush(flush, db_->handles);
  }
  db_.reset();
}

}  // namespace fsr::journal
