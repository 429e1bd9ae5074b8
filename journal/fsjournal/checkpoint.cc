// `fsjournal checkpoint DIR`: a consistent, usable copy of a journal, taken
// while the router keeps writing it.
//
// Why not rocksdb::Checkpoint: it needs the primary instance, which belongs
// to the running router. Run on a secondary instance (RocksDB 7.8 lets it,
// with log_size_for_flush = max; the default flushes, which a secondary must
// never do) it copies the MANIFEST as the secondary last read it and the WAL
// files as they are listed later; the router flushes and deletes WAL files in
// between, so such a copy can silently lack writes. Instead the copy is
// written from the secondary's view, which does not move between catch-ups:
// each column family is written into a fresh RocksDB database through an SST
// file and ingested. Body files are outside RocksDB: they are hard-linked (or
// copied, across file systems or with --copy) into the copy first, and when a
// body the view refers to was freed meanwhile by a newer write, the view is
// caught up and the missing bodies taken again, until the view and the
// bodies agree. The copy appears under DIR only once complete (it is built
// in a sibling directory and renamed).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/sst_file_writer.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "common/file_io.h"
#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"
#include "journal/fsjournal/runtime.h"

namespace fsr::journal::cli {
namespace {

namespace fs = std::filesystem;

int fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = ::fsync(fd);
  ::close(fd);
  return r;
}

// Copies a file; false with errno set. ENOENT: the source is gone.
bool copy_file(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return false;
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    int e = errno;
    ::close(in);
    errno = e;
    return false;
  }
  std::vector<char> buf(1 << 20);
  int err = 0;
  for (uint64_t offset = 0;;) {
    ssize_t n = fsr::pread_some(in, buf.data(), buf.size(), offset);
    if (n < 0) err = errno;
    if (n <= 0) break;
    if ((err = fsr::write_all(out, buf.data(), static_cast<size_t>(n))) != 0) break;
    offset += static_cast<uint64_t>(n);
  }
  if (err == 0 && ::fsync(out) != 0) err = errno;
  ::close(in);
  ::close(out);
  if (err != 0) errno = err;
  return err == 0;
}

struct Referenced {
  std::string name;
  uint64_t seq;
  bool operator==(const Referenced&) const = default;
};

class CheckpointWriter {
 public:
  CheckpointWriter(JournalReader& reader, std::string work_dir, bool copy, std::chrono::milliseconds retry_for)
      : reader_(reader), work_(std::move(work_dir)), copy_(copy), retry_for_(retry_for) {}

  Status run() {
    std::error_code ec;
    fs::create_directories(work_ + "/bodies", ec);
    if (ec) return {Status::Code::kIoError, "cannot create " + work_ + "/bodies: " + ec.message()};
    if (Status s = take_bodies(); !s.ok()) return s;
    if (Status s = write_database(); !s.ok()) return s;
    return settle_bodies();
  }

  uint64_t last_seq() const { return last_seq_; }
  uint64_t names() const { return names_; }
  uint64_t records() const { return records_; }
  uint64_t body_files() const { return taken_.size(); }
  uint64_t linked() const { return linked_; }
  int views() const { return views_; }
  const std::map<uint64_t, Referenced>& lost() const { return missing_; }

 private:
  // Links or copies every body file the current view refers to, each as soon
  // as the walk of the index meets it; catches up and tries again while some
  // were freed meanwhile, for up to retry_for after the first view (which
  // may take long on a big journal or with --copy). A body missing from two
  // views in a row is lost, not raced, so a second view is always taken.
  Status take_bodies() {
    std::map<uint64_t, Referenced> previous_missing;
    std::chrono::steady_clock::time_point give_up_at;
    for (int round = 0;; ++round) {
      if (Status s = reader_.catch_up(); !s.ok()) return s;
      referenced_.clear();
      missing_.clear();
      Status failed = Status::Ok();
      Status s = reader_.for_each_name([&](const NameRow& row) {
        if (!row.in_index || !row.decodable || row.entry.op != Op::kPut || row.entry.body.place != BodyPlace::kFile)
          return true;
        const uint64_t id = row.entry.body.id;
        referenced_[id] = {row.name, row.entry.seq};
        if (taken_.count(id)) return true;
        failed = take(id, row.name, row.entry.seq);
        return failed.ok();
      });
      if (!s.ok()) return s;
      if (!failed.ok()) return failed;
      views_ = round + 1;
      // Gone for good when the view still refers to the same missing bodies.
      if (missing_.empty() || missing_ == previous_missing) return Status::Ok();
      previous_missing = missing_;
      if (round == 0) give_up_at = std::chrono::steady_clock::now() + retry_for_;
      else if (std::chrono::steady_clock::now() >= give_up_at)
        return {Status::Code::kIoError, "the journal changes faster than its bodies can be copied (" +
                                            std::to_string(views_) + " views in " +
                                            std::to_string(retry_for_.count()) +
                                            " ms, --retry-ms); try again, or with a longer --retry-ms"};
    }
  }

  // Links (or copies) one body file into the copy; a body already freed is
  // noted in missing_.
  Status take(uint64_t id, const std::string& name, uint64_t seq) {
    std::string from = reader_.body_path(id);
    std::string to = work_ + "/bodies/" + body_file_name(id);
    bool done = false;
    errno = 0;
    if (!copy_) {
      done = ::link(from.c_str(), to.c_str()) == 0;
      if (done) ++linked_;
      else if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOENT)
        return {Status::Code::kIoError, "cannot link " + from + ": " + std::strerror(errno)};
    }
    if (!done && errno != ENOENT) done = copy_file(from, to);
    if (done) {
      taken_.insert(id);
    } else if (errno == ENOENT) {
      missing_[id] = {name, seq};
    } else {
      return {Status::Code::kIoError, "cannot copy " + from + ": " + std::strerror(errno)};
    }
    return Status::Ok();
  }

  // Writes each column family of the current view into a fresh database.
  Status write_database() {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    options.error_if_exists = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& cf : column_family_names()) cfs.emplace_back(cf, rocksdb::ColumnFamilyOptions(options));
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status rs = rocksdb::DB::Open(options, work_, cfs, &handles, &raw);
    if (!rs.ok()) return {Status::Code::kIoError, "cannot create the copy: " + rs.ToString()};
    std::unique_ptr<rocksdb::DB> db(raw);
    Status result = Status::Ok();
    const auto& source = reader_.column_families();
    for (size_t i = 0; i < source.size() && result.ok(); ++i) result = copy_family(db.get(), source[i], handles[i], i);
    if (result.ok()) {
      rocksdb::FlushOptions flush;
      rs = db->Flush(flush, handles);
      if (!rs.ok()) result = {Status::Code::kIoError, "flush the copy: " + rs.ToString()};
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    rs = db->Close();
    if (result.ok() && !rs.ok()) result = {Status::Code::kIoError, "close the copy: " + rs.ToString()};
    return result;
  }

  Status copy_family(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* from, rocksdb::ColumnFamilyHandle* to, size_t index) {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    ro.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> it(reader_.db()->NewIterator(ro, from));
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), rocksdb::Options(), to);
    std::string file = work_ + "/ingest-" + std::to_string(index) + ".sst";
    uint64_t count = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (count == 0) {
        rocksdb::Status rs = writer.Open(file);
        if (!rs.ok()) return {Status::Code::kIoError, "write " + file + ": " + rs.ToString()};
      }
      rocksdb::Status rs = writer.Put(it->key(), it->value());
      if (!rs.ok()) return {Status::Code::kIoError, "write " + file + ": " + rs.ToString()};
      ++count;
      if (index == kMetaFamily && it->key() == rocksdb::Slice(kMetaLastSeq) && it->value().size() == 8)
        last_seq_ = decode_seq_key(it->value().ToStringView());
      if (index == kIndexFamily) ++names_;
      if (index == kRecordsFamily) ++records_;
    }
    if (!it->status().ok()) return {Status::Code::kIoError, "read the journal: " + it->status().ToString()};
    if (count == 0) return Status::Ok();
    rocksdb::Status rs = writer.Finish();
    if (!rs.ok()) return {Status::Code::kIoError, "write " + file + ": " + rs.ToString()};
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;
    rs = db->IngestExternalFile(to, {file}, ingest);
    if (!rs.ok()) return {Status::Code::kIoError, "ingest " + file + ": " + rs.ToString()};
    std::error_code ec;
    fs::remove(file, ec);
    return Status::Ok();
  }

  // Drops bodies taken in an earlier round that the final view no longer
  // refers to, and makes the body files durable.
  Status settle_bodies() {
    for (auto it = taken_.begin(); it != taken_.end();) {
      if (referenced_.count(*it)) {
        ++it;
        continue;
      }
      ::unlink((work_ + "/bodies/" + body_file_name(*it)).c_str());
      it = taken_.erase(it);
    }
    for (uint64_t id : taken_) {
      std::string path = work_ + "/bodies/" + body_file_name(id);
      if (fsync_path(path, O_RDONLY) != 0)
        return {Status::Code::kIoError, "fsync " + path + ": " + std::strerror(errno)};
    }
    if (fsync_path(work_ + "/bodies", O_RDONLY | O_DIRECTORY) != 0)
      return {Status::Code::kIoError, std::string("fsync the bodies directory: ") + std::strerror(errno)};
    return Status::Ok();
  }

  JournalReader& reader_;
  std::string work_;
  bool copy_;
  std::chrono::milliseconds retry_for_;
  int views_ = 0;
  std::map<uint64_t, Referenced> referenced_;
  std::map<uint64_t, Referenced> missing_;
  std::set<uint64_t> taken_;
  uint64_t linked_ = 0;
  uint64_t last_seq_ = 0, names_ = 0, records_ = 0;
};

constexpr int64_t kRetryMsMax = 24LL * 3600 * 1000;  // a day

struct CheckpointOptions {
  std::string out_dir;
  bool copy = false;
  int64_t retry_ms = 60000;
};

int run_checkpoint(const CommonOptions& common, const CheckpointOptions& options) {
  const bool copy = options.copy;
  if (options.retry_ms < 0 || options.retry_ms > kRetryMsMax) {
    complain("--retry-ms must be 0 to " + std::to_string(kRetryMsMax) + " (milliseconds)");
    return kExitUsage;
  }
  std::string out = options.out_dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  std::error_code ec;
  if (fs::exists(out, ec)) {
    complain(out + " already exists; a checkpoint goes into a new directory");
    return kExitUsage;
  }
  fs::path parent = fs::absolute(out, ec).parent_path();
  if (!fs::is_directory(parent, ec)) {
    complain("the parent directory " + parent.string() + " does not exist");
    return kExitUsage;
  }
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  {
    fs::path j = fs::weakly_canonical(reader->dir(), ec), p = fs::weakly_canonical(parent, ec);
    auto [je, pe] = std::mismatch(j.begin(), j.end(), p.begin(), p.end());
    if (je == j.end()) {
      complain("OUT_DIR must be outside the journal directory");
      return kExitUsage;
    }
  }
  ::setpriority(PRIO_PROCESS, 0, 10);
  std::string tmpl = out + ".partial-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    complain("cannot create " + tmpl + ": " + std::strerror(errno));
    return kExitFound;
  }
  std::string work = buf.data();
  remember_temp_dir(work);
  CheckpointWriter writer(*reader, work, copy, std::chrono::milliseconds(options.retry_ms));
  Status st;
  try {
    st = writer.run();
  } catch (const std::exception& e) {  // the partial copy is removed below, not left behind
    st = {Status::Code::kIoError, e.what()};
  }
  if (st.ok() && ::rename(work.c_str(), out.c_str()) != 0)
    st = {Status::Code::kIoError, "cannot rename " + work + " to " + out + ": " + std::strerror(errno)};
  if (!st.ok()) {
    fs::remove_all(work, ec);
    forget_temp_dir(work);
    complain("checkpoint failed: " + st.message);
    return kExitFound;
  }
  forget_temp_dir(work);
  fsync_path(parent.string(), O_RDONLY | O_DIRECTORY);

  const auto& lost = writer.lost();
  if (common.json) {
    nlohmann::ordered_json j;
    j["checkpoint_dir"] = out;
    j["journal_dir"] = reader->dir();
    j["last_seq"] = writer.last_seq();
    j["records"] = writer.records();
    j["names"] = writer.names();
    j["body_files"] = writer.body_files();
    j["body_files_linked"] = writer.linked();
    j["views"] = writer.views();
    nlohmann::ordered_json missing = nlohmann::ordered_json::array();
    for (const auto& [id, ref] : lost)
      missing.push_back({{"seq", ref.seq}, {"name", ref.name}, {"file", "bodies/" + body_file_name(id)}});
    j["missing_bodies"] = missing;
    std::cout << json_pretty(j) << "\n";
  } else {
    std::cout << "checkpoint of " << reader->dir() << " written to " << out << "\n"
              << "  last_seq " << writer.last_seq() << ", " << writer.records() << " records, " << writer.names()
              << " names, " << writer.body_files() << " body files (" << writer.linked() << " hard-linked, "
              << writer.body_files() - writer.linked() << " copied)\n";
    for (const auto& [id, ref] : lost)
      std::cout << "  missing in the journal too: bodies/" << body_file_name(id) << " (seq " << ref.seq << ", "
                << ref.name << "): run verify\n";
  }
  return lost.empty() ? kExitOk : kExitFound;
}

}  // namespace

Subcommand add_checkpoint_command(CLI::App& program, CommonOptions* common) {
  auto options = std::make_shared<CheckpointOptions>();
  CLI::App* sub = add_subcommand(
      program, "checkpoint", "fsjournal --journal-dir DIR checkpoint OUT_DIR [--copy] [--retry-ms MS] [--json]",
      "a consistent, usable copy of the journal, taken while the router runs\n\n"
      "Writes a consistent copy of the journal into OUT_DIR (which must not exist), usable by fsrouter\n"
      "and fsjournal, while the router keeps running. The database is written afresh from one view\n"
      "of the journal; body files are hard-linked into the copy (copied across file systems or with\n"
      "--copy); bodies freed by newer writes during the copy are re-taken from a newer view. The\n"
      "journal is never written; runs at a lower CPU priority (nice 10).");
  sub->add_option("OUT_DIR", options->out_dir, "the new directory of the copy")->required();
  add_json_flag(*sub, common);
  add_env_switch(*sub, "copy", "", &options->copy, "copy body files instead of hard-linking them");
  add_env_option(*sub, "retry-ms", "", &options->retry_ms,
                 "how long to keep taking a newer view while the router frees bodies faster than they are "
                 "taken, before giving up (exit 1)");
  return {sub, [common, options] { return run_checkpoint(*common, *options); }};
}

}  // namespace fsr::journal::cli
