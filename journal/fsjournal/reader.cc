#include "journal/fsjournal/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/options.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/checksum.h"
#include "journal/database.h"
#include "journal/fsjournal/runtime.h"

namespace fsr::journal::cli {
namespace {

namespace fs = std::filesystem;

Status invalid(std::string message) { return {Status::Code::kInvalid, std::move(message)}; }

Status from_rocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  Status out;
  out.code = s.IsCorruption() ? Status::Code::kCorruption : Status::Code::kIoError;
  out.message = what + ": " + s.ToString();
  return out;
}

bool inside(const fs::path& child, const fs::path& parent) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(child, ec);
  fs::path p = fs::weakly_canonical(parent, ec);
  auto [pe, ce] = std::mismatch(p.begin(), p.end(), c.begin(), c.end());
  return pe == p.end();
}

// A fresh directory for the secondary instance, outside the journal.
Status make_temp_dir(std::string* out) {
  std::vector<std::string> bases;
  if (const char* t = std::getenv("TMPDIR"); t && *t) bases.push_back(t);
  for (const char* b : {"/tmp", "/dev/shm", "/var/tmp"}) bases.push_back(b);
  for (const auto& base : bases) {
    std::string tmpl = base + "/fsjournal-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data())) {
      *out = buf.data();
      return Status::Ok();
    }
  }
  return {Status::Code::kIoError,
          "cannot create a working directory for the RocksDB secondary instance under $TMPDIR, /tmp, /dev/shm or "
          "/var/tmp; pass --secondary-dir DIR (a writable directory outside the journal)"};
}

std::string u64_text(uint64_t v) { return std::to_string(v); }

}  // namespace

std::string default_secondary_parent() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

Status JournalReader::open(const ReaderOptions& options, std::unique_ptr<JournalReader>* out) {
  const std::string& dir = options.dir;
  if (dir.empty()) return invalid("no journal directory given: pass --journal-dir DIR or set FSJOURNAL_DIR");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return invalid(dir + " does not exist");
    return invalid("cannot read " + dir + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return invalid(dir + " is not a directory");
  if (::access(dir.c_str(), R_OK | X_OK) != 0) return invalid("cannot read " + dir + ": " + std::strerror(errno));
  if (::stat((dir + "/CURRENT").c_str(), &st) != 0)
    return invalid(dir + " is not a journal: it holds no RocksDB database (no CURRENT file)");

  // Read the list of column families first: it only reads the MANIFEST.
  std::vector<std::string> present;
  rocksdb::Status rs = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &present);
  if (!rs.ok()) return invalid(dir + " is not a readable journal: " + rs.ToString());
  for (const auto& cf : column_family_names()) {
    if (std::find(present.begin(), present.end(), cf) == present.end())
      return invalid(dir + " is a RocksDB database but not a journal (no column family '" + cf + "')");
  }

  std::unique_ptr<JournalReader> reader(new JournalReader());
  reader->dir_ = dir;
  if (options.secondary_dir.empty()) {
    Status s = make_temp_dir(&reader->secondary_dir_);
    if (!s.ok()) return s;
    reader->remove_secondary_dir_ = true;
    remember_temp_dir(reader->secondary_dir_);
  } else {
    if (inside(options.secondary_dir, dir))
      return invalid("--secondary-dir " + options.secondary_dir + " is inside the journal; pick a directory outside it");
    std::error_code ec;
    fs::create_directories(options.secondary_dir, ec);
    if (ec) return invalid("cannot create --secondary-dir " + options.secondary_dir + ": " + ec.message());
    reader->secondary_dir_ = options.secondary_dir;
  }

  rocksdb::Options db_options;
  db_options.create_if_missing = false;
  db_options.max_open_files = -1;  // keep every table open: the router may delete files we still read
  db_options.keep_log_file_num = 2;
  auto cfs = journal::column_family_descriptors(db_options, 16 << 20);
  rocksdb::DB* raw = nullptr;
  rs = rocksdb::DB::OpenAsSecondary(db_options, dir, reader->secondary_dir_, cfs, &reader->handles_, &raw);
  if (!rs.ok()) return invalid("cannot open journal " + dir + ": " + rs.ToString());
  reader->db_.reset(raw);
  reader->meta_cf_ = reader->handles_[kMetaFamily];
  reader->records_cf_ = reader->handles_[kRecordsFamily];
  reader->index_cf_ = reader->handles_[kIndexFamily];
  reader->applied_cf_ = reader->handles_[kAppliedFamily];
  reader->bodies_cf_ = reader->handles_[kBodiesFamily];

  std::string value;
  rs = reader->db_->Get(rocksdb::ReadOptions(), reader->meta_cf_, kMetaFormatVersion, &value);
  if (rs.IsNotFound()) return invalid(dir + " is a RocksDB database but not a journal (no format_version)");
  if (!rs.ok()) return invalid("cannot read " + dir + ": " + rs.ToString());
  FormatVersionCheck version = check_format_version(value);
  if (version.verdict == FormatVersionCheck::Verdict::kUnreadable)
    return invalid(dir + " has an unreadable format_version '" + value + "'");
  if (version.verdict == FormatVersionCheck::Verdict::kNewer)
    return invalid("journal format version " + value + " is newer than this fsjournal reads (up to " +
                   std::to_string(kFormatVersion) + "); use the fsjournal shipped with the router that wrote it");
  reader->format_version_ = static_cast<uint32_t>(version.version);
  *out = std::move(reader);
  return Status::Ok();
}

JournalReader::~JournalReader() {
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
    db_.reset();
  }
  if (remove_secondary_dir_) {
    std::error_code ec;
    fs::remove_all(secondary_dir_, ec);
    forget_temp_dir(secondary_dir_);
  }
}

Status JournalReader::catch_up() { return from_rocks(db_->TryCatchUpWithPrimary(), "catch up with the journal"); }

bool JournalReader::in_use() const {
  int fd = ::open((dir_ + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;
  bool held = ::fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

rocksdb::ReadOptions JournalReader::scan_options() const {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // one pass over everything: keep the cache for point lookups
  ro.readahead_size = 2 << 20;
  return ro;
}

std::optional<uint64_t> JournalReader::meta_u64(const char* key) const {
  std::string value;
  if (!db_->Get(rocksdb::ReadOptions(), meta_cf_, key, &value).ok() || value.size() != 8) return std::nullopt;
  return decode_seq_key(value);
}

std::optional<std::string> JournalReader::meta_text(const char* key) const {
  std::string value;
  if (!db_->Get(rocksdb::ReadOptions(), meta_cf_, key, &value).ok()) return std::nullopt;
  return value;
}

std::vector<BackendRow> JournalReader::backend_states() const {
  std::vector<BackendRow> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  for (it->Seek(kMetaBackendPrefix); it->Valid(); it->Next()) {
    auto address = backend_address_of_key(it->key().ToStringView());
    if (!address) break;
    BackendRow b;
    b.address = *address;
    b.raw = it->value().ToString();
    b.state = decode_backend_state(b.raw).value_or(BackendState{});
    out.push_back(std::move(b));
  }
  return out;
}

Status JournalReader::for_each_record(uint64_t from, uint64_t to, bool descending,
                                      const std::function<bool(const RecordRow&)>& fn) const {
  if (from > to) return Status::Ok();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(scan_options(), records_cf_));
  auto visit = [&]() {
    RecordRow row;
    row.seq = it->key().size() == 8 ? decode_seq_key(it->key().ToStringView()) : 0;
    row.record = decode_record(row.seq, it->value().ToStringView());
    return row;
  };
  if (descending) {
    for (it->SeekForPrev(encode_seq_key(to)); it->Valid(); it->Prev()) {
      RecordRow row = visit();
      if (row.seq < from || !fn(row)) break;
    }
  } else {
    for (it->Seek(encode_seq_key(from)); it->Valid(); it->Next()) {
      RecordRow row = visit();
      if (row.seq > to || !fn(row)) break;
    }
  }
  return from_rocks(it->status(), "read records");
}

std::optional<Record> JournalReader::record(uint64_t seq, Status* status) const {
  std::string value;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), records_cf_, encode_seq_key(seq), &value);
  if (rs.IsNotFound()) return std::nullopt;
  if (!rs.ok()) {
    *status = from_rocks(rs, "read record " + u64_text(seq));
    return std::nullopt;
  }
  auto r = decode_record(seq, value);
  if (!r) *status = {Status::Code::kCorruption, "record " + u64_text(seq) + " does not decode"};
  return r;
}

std::optional<uint64_t> JournalReader::first_record_seq() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), records_cf_));
  it->SeekToFirst();
  if (!it->Valid()) return std::nullopt;
  return decode_seq_key(it->key().ToStringView());
}

std::optional<uint64_t> JournalReader::last_record_seq() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), records_cf_));
  it->SeekToLast();
  if (!it->Valid()) return std::nullopt;
  return decode_seq_key(it->key().ToStringView());
}

namespace {

void settle_applied(NameRow* row) {
  if (row->in_index && row->decodable && row->applied_mark)
    row->entry.applied_seq = recovered_applied_seq(row->entry.seq, row->entry.applied_seq, *row->applied_mark);
}

}  // namespace

Status JournalReader::for_each_name(const std::function<bool(const NameRow&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> index(db_->NewIterator(scan_options(), index_cf_));
  std::unique_ptr<rocksdb::Iterator> applied(db_->NewIterator(scan_options(), applied_cf_));
  index->SeekToFirst();
  applied->SeekToFirst();
  while (index->Valid() || applied->Valid()) {
    int order = !index->Valid() ? 1 : !applied->Valid() ? -1 : index->key().compare(applied->key());
    NameRow row;
    if (order <= 0) {
      row.name = index->key().ToString();
      row.in_index = true;
      auto e = decode_index_entry(index->value().ToStringView());
      row.decodable = e.has_value();
      if (e) row.entry = *e;
    } else {
      row.name = applied->key().ToString();
    }
    if (order >= 0) row.applied_mark = decode_seq_key(applied->value().ToStringView());
    settle_applied(&row);
    if (order <= 0) index->Next();
    if (order >= 0) applied->Next();
    if (!fn(row)) break;
  }
  Status s = from_rocks(index->status(), "read the index");
  if (!s.ok()) return s;
  return from_rocks(applied->status(), "read the applied marks");
}

std::optional<NameRow> JournalReader::name(const std::string& name, Status* status) const {
  NameRow row;
  row.name = name;
  std::string value;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), index_cf_, name, &value);
  if (rs.ok()) {
    row.in_index = true;
    auto e = decode_index_entry(value);
    row.decodable = e.has_value();
    if (e) row.entry = *e;
  } else if (!rs.IsNotFound()) {
    *status = from_rocks(rs, "read the index");
    return std::nullopt;
  }
  rs = db_->Get(rocksdb::ReadOptions(), applied_cf_, name, &value);
  if (rs.ok()) row.applied_mark = decode_seq_key(value);
  else if (!rs.IsNotFound()) {
    *status = from_rocks(rs, "read the applied marks");
    return std::nullopt;
  }
  if (!row.in_index && !row.applied_mark) return std::nullopt;
  settle_applied(&row);
  return row;
}

BodyLookup JournalReader::open_body(const BodyRef& ref) const {
  BodyLookup out;
  if (ref.place == BodyPlace::kInline) {
    out.where = "inline body " + u64_text(ref.id);
    std::string bytes;
    rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), bodies_cf_, encode_seq_key(ref.id), &bytes);
    if (rs.IsNotFound()) {
      out.state = BodyLookup::State::kMissing;
    } else if (!rs.ok()) {
      out.state = BodyLookup::State::kUnreadable;
      out.detail = rs.ToString();
    } else {
      out.state = BodyLookup::State::kOk;
      out.reader = std::make_unique<BodyReader>(std::move(bytes));
    }
    return out;
  }
  if (ref.place == BodyPlace::kFile) {
    out.where = "bodies/" + body_file_name(ref.id);
    std::string path = body_path(ref.id);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      out.state = errno == ENOENT ? BodyLookup::State::kMissing : BodyLookup::State::kUnreadable;
      out.detail = std::strerror(errno);
      return out;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      out.state = BodyLookup::State::kUnreadable;
      out.detail = std::strerror(errno);
      ::close(fd);
      return out;
    }
    out.state = BodyLookup::State::kOk;
    out.reader = std::make_unique<BodyReader>(fd, static_cast<uint64_t>(st.st_size));
    return out;
  }
  out.state = BodyLookup::State::kNone;
  return out;
}

Status JournalReader::for_each_inline_body(const std::function<bool(uint64_t id, std::string_view bytes)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(scan_options(), bodies_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    if (!fn(decode_seq_key(it->key().ToStringView()), it->value().ToStringView())) break;
  return from_rocks(it->status(), "read inline bodies");
}

bool checksum_body(const BodyReader& reader, std::string* hex, std::string* error) {
  fsr::Checksum sum;
  // One buffer for every call: verify checksums hundreds of thousands of bodies.
  thread_local std::unique_ptr<char[]> buf(new char[1 << 20]);
  uint64_t offset = 0;
  while (offset < reader.size()) {
    long n = reader.read_at(offset, buf.get(), 1 << 20);
    if (n <= 0) {
      *error = n < 0 ? std::string("read failed: ") + std::strerror(errno) : "shorter than its size";
      return false;
    }
    sum.update(buf.get(), static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  *hex = sum.hex();
  return true;
}

}  // namespace fsr::journal::cli
