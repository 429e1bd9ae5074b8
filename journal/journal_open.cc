// Opening a journal: creating a new one, or recovering an existing one into
// memory (docs/journal-format.md, "Recovery"). Closing it.
#include <fcntl.h>
#include <unistd.h>

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <random>
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

// What recovery gathers while loading the index, for the orphan cleanup and
// the body id counter.
struct Journal::Recovery {
  uint64_t max_body_id = 0;
  std::vector<uint64_t> live_file_ids, live_inline_ids;  // sorted once the index is loaded
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
  *out = std::move(j);
  return Status::Ok();
}

// Nothing is written into the directory before it is known to be a journal
// this program reads (or a new one).
Status Journal::recover() {
  bool fresh = false;
  Status s = check_directory(&fresh);
  if (s.ok() && !fresh) s = check_existing_journal();
  if (s.ok()) s = open_database(fresh);
  if (s.ok()) s = load_meta(fresh);
  if (!s.ok()) return s;

  std::lock_guard<std::mutex> lock(mu_);
  Recovery recovery;
  restore_suspects();
  s = load_index(&recovery);
  if (!s.ok()) return s;
  remove_orphan_bodies(&recovery);
  restore_body_id_counter(&recovery);
  restore_backend_states();
  recompute_watermark_locked();
  recovered_ = true;
  log_info("journal_recovered")
      .kv("dir", options_.dir)
      .kv("last_seq", last_seq_)
      .kv("applied_seq", applied_seq_)
      .kv("names", index_.size())
      .kv("pending", unsettled_.size());
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

// Options for reading a whole column family once at open: large reads
// ahead, and nothing kept in the block cache that the router's reads want.
static rocksdb::ReadOptions full_scan_options() {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 4 << 20;
  return ro;
}

// The whole index into memory, overlaid with the applied marks; then the
// totals, the pending set and the body cache's order. Both families are
// keyed by name, so one merged walk reads each entry with its mark.
Status Journal::load_index(Recovery* recovery) {
  uint64_t estimated = 0;
  if (db_->db->GetIntProperty(db_->index, "rocksdb.estimate-num-keys", &estimated)) {
    index_.reserve(static_cast<size_t>(estimated));
    evictable_pos_.reserve(static_cast<size_t>(estimated));
  }
  rocksdb::ReadOptions ro = full_scan_options();
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(ro, db_->index));
  std::unique_ptr<rocksdb::Iterator> marks(db_->db->NewIterator(ro, db_->applied));
  marks->SeekToFirst();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto e = decode_index_entry(it->value().ToStringView());
    if (!e) return {Status::Code::kCorruption, "undecodable index entry for " + it->key().ToString()};
    rocksdb::Slice key = it->key();
    while (marks->Valid() && marks->key().compare(key) < 0) marks->Next();
    if (marks->Valid() && marks->key() == key)
      e->applied_seq = recovered_applied_seq(e->seq, e->applied_seq, decode_seq_key(marks->value().ToStringView()));
    auto [pos, inserted] = index_.emplace(std::string(key.data(), key.size()), std::move(*e));
    const std::string& name = pos->first;
    const IndexEntry& entry = pos->second;
    last_seq_ = std::max(last_seq_, entry.seq);
    if (entry.body.place == BodyPlace::kFile) recovery->live_file_ids.push_back(entry.body.id);
    if (entry.body.place == BodyPlace::kInline) recovery->live_inline_ids.push_back(entry.body.id);
    recovery->max_body_id = std::max(recovery->max_body_id, entry.body.id);
    if (entry.op == Op::kPut && entry.body.place != BodyPlace::kNone) body_bytes_ += entry.size;
    if (entry.pending()) {
      unsettled_.insert({entry.seq, name});
      if (entry.op == Op::kPut) pending_bytes_ += entry.size;
    } else {
      make_evictable_locked(name, entry);
    }
  }
  if (!it->status().ok()) return from_rocks(it->status());
  if (!marks->status().ok()) return from_rocks(marks->status());
  std::sort(recovery->live_file_ids.begin(), recovery->live_file_ids.end());
  std::sort(recovery->live_inline_ids.begin(), recovery->live_inline_ids.end());
  return Status::Ok();
}

// Orphans: bodies of uploads that never committed, or of records superseded
// just before a crash. Nothing in the index points at them.
void Journal::remove_orphan_bodies(Recovery* recovery) {
  auto live = [](const std::vector<uint64_t>& ids, uint64_t id) {
    return std::binary_search(ids.begin(), ids.end(), id);
  };
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.dir + "/bodies", ec)) {
    uint64_t id = std::strtoull(entry.path().filename().c_str(), nullptr, 16);
    recovery->max_body_id = std::max(recovery->max_body_id, id);
    if (!live(recovery->live_file_ids, id)) {
      fs::remove(entry.path(), ec);
      log_info("journal_orphan_removed").kv("file", entry.path().string());
    }
  }
  rocksdb::WriteBatch cleanup;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(full_scan_options(), db_->bodies));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t id = decode_seq_key(it->key().ToStringView());
    recovery->max_body_id = std::max(recovery->max_body_id, id);
    if (!live(recovery->live_inline_ids, id)) cleanup.Delete(db_->bodies, it->key());
  }
  if (cleanup.Count() > 0) db_->db->Write(rocksdb::WriteOptions(), &cleanup);
}

// Ids are never reused: the counter restarts past every id found and past
// the highest id ever committed (body_id_high), freed bodies included.
void Journal::restore_body_id_counter(Recovery* recovery) {
  std::string value;
  if (db_->db->Get(rocksdb::ReadOptions(), db_->meta, kMetaBodyIdHigh, &value).ok()) {
    max_committed_body_id_ = decode_seq_key(value);
    recovery->max_body_id = std::max(recovery->max_body_id, max_committed_body_id_);
  }
  next_body_id_ = recovery->max_body_id + 1;
}

void Journal::restore_backend_states() {
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), db_->meta));
  for (it->Seek(kMetaBackendPrefix); it->Valid(); it->Next()) {
    auto address = backend_address_of_key(it->key().ToStringView());
    if (!address) break;
    backend_states_[*address] = it->value().ToString();
  }
}

Journal::~Journal() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  if (db_ && recovered_) {
    std::lock_guard<std::mutex> lock(mu_);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    db_->db->Put(wo, db_->meta, kMetaAppliedSeq, encode_seq_key(applied_seq_));
  }
  db_.reset();
}

}  // namespace fsr::journal
