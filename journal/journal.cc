#include "journal/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <random>

#include "common/checksum.h"
#include "common/log.h"

namespace fsr::journal {
namespace {

std::string random_id() {
  std::random_device rd;
  char buf[33];
  std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string u64_bytes(uint64_t v) { return encode_seq_key(v); }

Status from_rocks(const rocksdb::Status& s) {
  if (s.ok()) return Status::Ok();
  Status out;
  out.message = s.ToString();
  if (s.IsNoSpace() || s.subcode() == rocksdb::Status::kNoSpace) out.code = Status::Code::kNoSpace;
  else if (s.IsCorruption()) out.code = Status::Code::kCorruption;
  else out.code = Status::Code::kIoError;
  return out;
}

Status from_errno(int err, const std::string& what) {
  Status out;
  out.code = err == ENOSPC || err == EDQUOT ? Status::Code::kNoSpace : Status::Code::kIoError;
  out.message = what + ": " + std::strerror(err);
  return out;
}

// The journal resumes the database itself on its next commit; RocksDB's own
// background recovery would make that Resume() fail with Busy meanwhile.
class NoAutoRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

}  // namespace

const char* status_code_name(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kNoSpace: return "no_space";
    case Status::Code::kIoError: return "io_error";
    case Status::Code::kCorruption: return "corruption";
    case Status::Code::kInvalid: return "invalid";
    case Status::Code::kClosed: return "closed";
  }
  return "unknown";
}

// ---------------------------------------------------------------- bodies

struct BodyWriter::HashState {
  fsr::Checksum checksum;
};

BodyWriter::BodyWriter(Journal* journal, uint64_t id)
    : journal_(journal), id_(id), hash_(std::make_unique<HashState>()) {}

BodyWriter::~BodyWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !path_.empty()) ::unlink(path_.c_str());
}

Status BodyWriter::spill() {
  path_ = journal_->body_path(id_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return from_errno(errno, "create body file " + path_);
  std::string buffered;
  buffered.swap(memory_);
  return append_raw_for_spill(buffered.data(), buffered.size());
}

Status BodyWriter::append(const char* data, size_t size) {
  if (!error_.ok()) return error_;
  Status s = append_unlatched(data, size);
  if (!s.ok()) error_ = s;
  return s;
}

Status BodyWriter::append_unlatched(const char* data, size_t size) {
  hash_->checksum.update(data, size);
  size_ += size;
  if (fd_ < 0 && memory_.size() + size <= journal_->options_.inline_body_max) {
    memory_.append(data, size);
    return Status::Ok();
  }
  if (fd_ < 0) {
    memory_.append(data, size);
    return spill();
  }
  return append_raw_for_spill(data, size);
}

Status BodyWriter::append_raw_for_spill(const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return from_errno(errno, "write body file " + path_);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string BodyWriter::checksum() { return hash_->checksum.hex(); }

Status BodyWriter::finish_file() {
  if (fd_ < 0) return Status::Ok();
  if (journal_->do_sync_file(fd_, path_) != 0) return from_errno(errno, "fsync body file " + path_);
  if (::close(fd_) != 0) {
    fd_ = -1;
    return from_errno(errno, "close body file " + path_);
  }
  fd_ = -1;
  return Status::Ok();
}

BodyReader::~BodyReader() {
  if (fd_ >= 0) ::close(fd_);
}

long BodyReader::read_at(uint64_t offset, char* buf, size_t n) const {
  if (offset >= size_) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  if (fd_ < 0) {
    std::memcpy(buf, bytes_.data() + offset, n);
    return static_cast<long>(n);
  }
  while (true) {
    ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    return static_cast<long>(r);
  }
}

// ---------------------------------------------------------------- journal

struct Journal::CommitRequest {
  std::string name;
  Op op = Op::kPut;
  std::unique_ptr<BodyWriter> body;
  uint64_t size = 0;
  std::string checksum;
  uint64_t seq = 0;
  Status status;
  std::promise<void> done;
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

Status Journal::recover() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string& dir = options_.dir;
  if (dir.empty()) return {Status::Code::kInvalid, "journal directory not set"};
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    return {Status::Code::kInvalid, dir + " is not a directory"};
  bool fresh = !fs::exists(dir + "/CURRENT", ec);
  if (fresh && fs::exists(dir, ec)) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string n = entry.path().filename().string();
      if (n != "bodies" && n != "lost+found")
        return {Status::Code::kInvalid, dir + " is not empty and holds no journal (found " + n + ")"};
    }
  }
  if (!fresh) {
    // Check it is a journal this program can read before RocksDB writes a byte.
    std::vector<std::string> families;
    rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &families);
    if (!ls.ok()) return from_rocks(ls);
    for (const auto& f : column_family_names())
      if (std::find(families.begin(), families.end(), f) == families.end())
        return {Status::Code::kInvalid, dir + " is a RocksDB database but not a journal"};
  }

  rocksdb::Options db_options;
  db_options.create_if_missing = fresh;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_open_files = 256;
  db_options.keep_log_file_num = 4;
  db_options.max_total_wal_size = 64 << 20;
  db_options.write_buffer_size = 16 << 20;
  if (options_.env) db_options.env = options_.env;
  db_options.listeners.push_back(std::make_shared<NoAutoRecovery>());
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(32 << 20);
  rocksdb::ColumnFamilyOptions cf_options(db_options);
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& name : column_family_names()) cfs.emplace_back(name, cf_options);
  rocksdb::DB* raw = nullptr;
  if (!fresh) {
    std::vector<rocksdb::ColumnFamilyHandle*> ro_handles;
    rocksdb::Status ro = rocksdb::DB::OpenForReadOnly(db_options, dir, cfs, &ro_handles, &raw);
    if (!ro.ok()) return from_rocks(ro);
    std::string version;
    rocksdb::Status vs = raw->Get(rocksdb::ReadOptions(), ro_handles[kMetaFamily], kMetaFormatVersion, &version);
    for (auto* h : ro_handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
    raw = nullptr;
    if (vs.IsNotFound()) return {Status::Code::kInvalid, dir + " is a RocksDB database but not a journal"};
    if (!vs.ok()) return from_rocks(vs);
    FormatVersionCheck check = check_format_version(version);
    if (check.verdict == FormatVersionCheck::Verdict::kUnreadable)
      return {Status::Code::kCorruption, "unreadable format_version " + version};
    if (check.verdict == FormatVersionCheck::Verdict::kNewer)
      return {Status::Code::kInvalid, "journal format version " + version + " is newer than this program's " +
                                          std::to_string(kFormatVersion)};
  }
  fs::create_directories(dir + "/bodies", ec);
  if (ec) return {Status::Code::kIoError, "cannot create " + dir + "/bodies: " + ec.message()};
  rocksdb::Status rs = rocksdb::DB::Open(db_options, dir, cfs, &handles_, &raw);
  if (!rs.ok()) {
    Status s = from_rocks(rs);
    s.message = "cannot open journal " + dir + ": " + s.message;
    return s;
  }
  db_.reset(raw);
  meta_cf_ = handles_[kMetaFamily];
  records_cf_ = handles_[kRecordsFamily];
  index_cf_ = handles_[kIndexFamily];
  applied_cf_ = handles_[kAppliedFamily];
  bodies_cf_ = handles_[kBodiesFamily];

  std::string value;
  rs = db_->Get(rocksdb::ReadOptions(), meta_cf_, kMetaFormatVersion, &value);
  if (rs.IsNotFound()) {
    if (!fresh) return {Status::Code::kInvalid, dir + " is a RocksDB database but not a journal"};
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Status s = from_rocks(db_->Put(wo, meta_cf_, kMetaFormatVersion, format_version_text()));
    if (!s.ok()) return s;
  } else if (!rs.ok()) {
    return from_rocks(rs);
  } else if (check_format_version(value).verdict == FormatVersionCheck::Verdict::kNewer) {
    return {Status::Code::kInvalid, "journal format version " + value + " is newer than this program's " +
                                        std::to_string(kFormatVersion)};
  }
  if (db_->Get(rocksdb::ReadOptions(), meta_cf_, kMetaLastSeq, &value).ok()) last_seq_ = decode_seq_key(value);
  if (db_->Get(rocksdb::ReadOptions(), meta_cf_, kMetaJournalId, &value).ok()) {
    journal_id_ = value;
  } else {
    journal_id_ = random_id();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Status s = from_rocks(db_->Put(wo, meta_cf_, kMetaJournalId, journal_id_));
    if (!s.ok()) return s;
  }

  std::lock_guard<std::mutex> lock(mu_);
  uint64_t max_body_id = 0;
  std::set<uint64_t> live_file_ids, live_inline_ids;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), index_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto e = decode_index_entry(it->value().ToStringView());
      if (!e) return {Status::Code::kCorruption, "undecodable index entry for " + it->key().ToString()};
      index_.emplace(it->key().ToString(), *e);
    }
    if (!it->status().ok()) return from_rocks(it->status());
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), applied_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto found = index_.find(it->key().ToString());
      if (found != index_.end())
        found->second.applied_seq = capped_applied_seq(found->second.seq, decode_seq_key(it->value().ToStringView()));
    }
  }
  for (auto& [name, e] : index_) {
    last_seq_ = std::max(last_seq_, e.seq);
    if (e.body.place == BodyPlace::kFile) live_file_ids.insert(e.body.id);
    if (e.body.place == BodyPlace::kInline) live_inline_ids.insert(e.body.id);
    max_body_id = std::max(max_body_id, e.body.id);
    if (e.op == Op::kPut && e.body.place != BodyPlace::kNone) body_bytes_ += e.size;
    if (e.pending()) {
      unsettled_.insert({e.seq, name});
      if (e.op == Op::kPut) pending_bytes_ += e.size;
    } else {
      make_evictable_locked(name, e);
    }
  }
  // Orphans: bodies of uploads that never committed, or of records superseded
  // just before a crash. Nothing in the index points at them.
  for (const auto& entry : fs::directory_iterator(dir + "/bodies", ec)) {
    uint64_t id = std::strtoull(entry.path().filename().c_str(), nullptr, 16);
    max_body_id = std::max(max_body_id, id);
    if (!live_file_ids.count(id)) {
      fs::remove(entry.path(), ec);
      log_info("journal_orphan_removed").kv("file", entry.path().string());
    }
  }
  {
    rocksdb::WriteBatch cleanup;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), bodies_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t id = decode_seq_key(it->key().ToStringView());
      max_body_id = std::max(max_body_id, id);
      if (!live_inline_ids.count(id)) cleanup.Delete(bodies_cf_, it->key());
    }
    if (cleanup.Count() > 0) db_->Write(rocksdb::WriteOptions(), &cleanup);
  }
  if (db_->Get(rocksdb::ReadOptions(), meta_cf_, kMetaBodyIdHigh, &value).ok()) {
    max_committed_body_id_ = decode_seq_key(value);
    max_body_id = std::max(max_body_id, max_committed_body_id_);
  }
  next_body_id_ = max_body_id + 1;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
    for (it->Seek(kMetaBackendPrefix); it->Valid(); it->Next()) {
      auto address = backend_address_of_key(it->key().ToStringView());
      if (!address) break;
      backend_states_[*address] = it->value().ToString();
    }
  }
  recompute_watermark_locked();
  recovered_ = true;
  log_info("journal_recovered")
      .kv("dir", dir)
      .kv("last_seq", last_seq_)
      .kv("applied_seq", applied_seq_)
      .kv("names", index_.size())
      .kv("pending", unsettled_.size());
  return Status::Ok();
}

Journal::~Journal() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  if (db_) {
    if (recovered_) {
      std::lock_guard<std::mutex> lock(mu_);
      rocksdb::WriteOptions wo;
      wo.sync = true;
      db_->Put(wo, meta_cf_, kMetaAppliedSeq, u64_bytes(applied_seq_));
    }
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

std::unique_ptr<BodyWriter> Journal::new_body() {
  return std::unique_ptr<BodyWriter>(new BodyWriter(this, next_body_id_.fetch_add(1)));
}

Status Journal::submit(CommitRequest* request) {
  auto done = request->done.get_future();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) return {Status::Code::kClosed, "journal is closing"};
    queue_.push_back(request);
  }
  queue_cv_.notify_one();
  done.wait();
  return request->status;
}

Status Journal::commit_put(const std::string& name, std::unique_ptr<BodyWriter> body, uint64_t* seq) {
  CommitRequest request;
  request.name = name;
  request.op = Op::kPut;
  if (!body->error_.ok()) return body->error_;
  request.size = body->size();
  request.checksum = body->checksum();
  Status s = body->finish_file();  // the body file's fsync happens here, in parallel across uploads
  if (!s.ok()) return s;
  request.body = std::move(body);
  s = submit(&request);
  if (s.ok()) *seq = request.seq;
  return s;
}

Status Journal::commit_delete(const std::string& name, uint64_t* seq) {
  CommitRequest request;
  request.name = name;
  request.op = Op::kDelete;
  Status s = submit(&request);
  if (s.ok()) *seq = request.seq;
  return s;
}

void Journal::committer_loop() {
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
      e = it->second;
    }
    IndexEntry without = e;
    without.body = BodyRef{};
    rocksdb::WriteBatch wb;
    wb.Put(index_cf_, name, encode_index_entry(without));
    if (e.body.place == BodyPlace::kInline) wb.Delete(bodies_cf_, u64_bytes(e.body.id));
    // Synced before the file goes: after a power loss the index must not
    // point at a body that is gone.
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (!db_->Write(wo, &wb).ok()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = index_.find(name);
      if (it != index_.end() && it->second.seq == e.seq) {
        it->second.body = BodyRef{};
        body_bytes_ -= e.size;
      }
    }
    if (e.body.place == BodyPlace::kFile) ::unlink(body_path(e.body.id).c_str());
    log_debug("body_evicted").kv("seq", e.seq).kv("name", name).kv("size", e.size);
  }
}

void Journal::make_evictable_locked(const std::string& name, const IndexEntry& e) {
  if (e.op != Op::kPut || e.body.place == BodyPlace::kNone || evictable_pos_.count(name)) return;
  evictable_.push_back(name);
  evictable_pos_[name] = std::prev(evictable_.end());
}

void Journal::forget_evictable_locked(const std::string& name) {
  auto it = evictable_pos_.find(name);
  if (it == evictable_pos_.end()) return;
  evictable_.erase(it->second);
  evictable_pos_.erase(it);
}

void Journal::commit_batch(std::vector<CommitRequest*>& batch) {
  auto fail_all = [&](const Status& s) {
    for (auto* r : batch) {
      r->status = s;
      r->done.set_value();
    }
  };
  if (db_error_) {
    // A previous write failed (e.g. the disk was full): the database refuses
    // writes until resumed. Resume once space is back.
    rocksdb::Status rs = db_->Resume();
    if (!rs.ok()) {
      fail_all(from_rocks(rs));
      return;
    }
    db_error_ = false;
    log_info("journal_resumed");
  }
  bool any_file = false;
  for (auto* r : batch) any_file |= r->body && !r->body->path_.empty();
  if (any_file && options_.sync_dir(options_.dir + "/bodies") != 0) {
    fail_all(from_errno(errno, "fsync bodies directory"));
    return;
  }

  rocksdb::WriteBatch wb;
  int64_t time = now_ms();
  std::unordered_map<std::string, IndexEntry> latest;  // this batch's view of each name it touches
  std::vector<uint64_t> freed_files;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = last_seq_;
  }
  for (auto* r : batch) {
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
      if (r->body->path_.empty()) {
        rec.body.place = BodyPlace::kInline;
        wb.Put(bodies_cf_, u64_bytes(rec.body.id), r->body->memory_);
      } else {
        rec.body.place = BodyPlace::kFile;
      }
    }
    wb.Put(records_cf_, encode_seq_key(rec.seq), encode_record(rec));

    IndexEntry old;
    bool had_old = false;
    if (auto it = latest.find(r->name); it != latest.end()) {
      old = it->second;
      had_old = true;
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto found = index_.find(r->name); found != index_.end()) {
        old = found->second;
        had_old = true;
      }
    }
    if (had_old && old.body.place == BodyPlace::kInline) wb.Delete(bodies_cf_, u64_bytes(old.body.id));
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
  for (auto& [name, e] : latest) wb.Put(index_cf_, name, encode_index_entry(e));
  uint64_t max_body_id = max_committed_body_id_;
  for (auto* r : batch)
    if (r->body) max_body_id = std::max(max_body_id, r->body->id_);
  wb.Put(meta_cf_, kMetaBodyIdHigh, u64_bytes(max_body_id));
  wb.Put(meta_cf_, kMetaLastSeq, u64_bytes(seq));

  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status rs = db_->Write(wo, &wb);
  if (!rs.ok()) {
    db_error_ = true;
    Status s = from_rocks(rs);
    log_error("journal_write_failed").kv("first_seq", batch.front()->seq).kv("records", batch.size()).kv("error", s.message);
    fail_all(s);
    return;
  }

  std::vector<std::pair<std::string, IndexEntry>> notify;
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
        if (old.body.place != BodyPlace::kNone) body_bytes_ -= old.size;
        old = e;
      }
      unsettled_.insert({e.seq, name});
      if (e.op == Op::kPut) {
        pending_bytes_ += e.size;
        body_bytes_ += e.size;
      }
    }
    last_seq_ = seq;
    max_committed_body_id_ = max_body_id;
    recompute_watermark_locked();
    for (auto* r : batch) {
      if (r->body) r->body->committed_ = true;  // its file now belongs to the journal
      r->body.reset();
    }
  }
  for (auto id : freed_files) ::unlink(body_path(id).c_str());
  std::function<void(const std::string&, const IndexEntry&)> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = listener_;
  }
  for (auto* r : batch) {
    // Tell the applier before waking the client: once woken, the request
    // (which lives on the client's stack) is gone.
    const IndexEntry& e = latest[r->name];
    if (listener && e.seq == r->seq) listener(r->name, e);
    r->status = Status::Ok();
    r->done.set_value();
  }
}

std::optional<IndexEntry> Journal::lookup(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

void Journal::touch(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = evictable_pos_.find(name);
  if (it != evictable_pos_.end()) evictable_.splice(evictable_.end(), evictable_, it->second);
}

std::shared_ptr<BodyReader> Journal::open_body(const IndexEntry& entry) const {
  if (entry.op != Op::kPut) return nullptr;
  if (entry.body.place == BodyPlace::kInline) {
    std::string bytes;
    if (!db_->Get(rocksdb::ReadOptions(), bodies_cf_, u64_bytes(entry.body.id), &bytes).ok()) return nullptr;
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

void Journal::mark_applied(const std::string& name, uint64_t seq) {
  uint64_t watermark;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(name);
    if (it == index_.end() || seq <= it->second.applied_seq) return;
    IndexEntry& e = it->second;
    bool was_pending = e.pending();
    e.applied_seq = capped_applied_seq(e.seq, seq);
    if (was_pending && !e.pending()) {
      unsettled_.erase({e.seq, name});
      if (e.op == Op::kPut) pending_bytes_ -= e.size;
      recompute_watermark_locked();
      make_evictable_locked(name, e);
    }
    watermark = applied_seq_;
  }
  // Not synced: losing it in a crash only means applying the record again,
  // which is idempotent.
  rocksdb::WriteBatch wb;
  wb.Put(applied_cf_, name, u64_bytes(seq));
  wb.Put(meta_cf_, kMetaAppliedSeq, u64_bytes(watermark));
  db_->Write(rocksdb::WriteOptions(), &wb);
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
  std::lock_guard<std::mutex> lock(mu_);
  JournalStats s;
  s.last_seq = last_seq_;
  s.applied_seq = applied_seq_;
  s.pending_count = unsettled_.size();
  s.pending_bytes = pending_bytes_;
  s.names = index_.size();
  s.body_bytes = body_bytes_;
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

void Journal::save_backend_state(const std::string& address, const BackendState& state) {
  std::string json = encode_backend_state(state);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = backend_states_.find(address);
    if (it != backend_states_.end() && it->second == json) return;
    backend_states_[address] = json;
  }
  db_->Put(rocksdb::WriteOptions(), meta_cf_, backend_state_key(address), json);
}

void Journal::save_backend_state(const std::string& address, const std::string& json) {
  if (auto state = decode_backend_state(json)) save_backend_state(address, *state);
}

std::map<std::string, BackendState> Journal::backend_states() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, BackendState> out;
  for (const auto& [address, json] : backend_states_)
    if (auto state = decode_backend_state(json)) out.emplace(address, *state);
  return out;
}

void Journal::compact_history() {
  uint64_t watermark = applied_seq();
  int64_t cutoff_time = now_ms() - options_.record_retention_ms;
  uint64_t first_kept = 0;
  uint64_t first = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), records_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t seq = decode_seq_key(it->key().ToStringView());
    if (first == 0) first = seq;
    auto rec = decode_record(seq, it->value().ToStringView());
    if (seq > watermark || !rec || rec->time_ms >= cutoff_time) {
      first_kept = seq;
      break;
    }
    first_kept = seq + 1;
  }
  if (first == 0 || first_kept <= first) return;
  db_->DeleteRange(rocksdb::WriteOptions(), records_cf_, encode_seq_key(first), encode_seq_key(first_kept));
  log_info("journal_compacted").kv("first_seq", first).kv("last_seq", first_kept - 1);
}

}  // namespace fsr::journal
