#include "tests/journal/fsjournal/fsjournal_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/db.h>

#include <filesystem>
#include <stdexcept>
#include <thread>

#include "common/file_io.h"

namespace fsr::test {

nlohmann::json RunResult::json() const { return nlohmann::json::parse(out, nullptr, false); }

std::vector<nlohmann::json> RunResult::ndjson() const {
  std::vector<nlohmann::json> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    if (end > start) lines.push_back(nlohmann::json::parse(out.substr(start, end - start), nullptr, false));
    start = end + 1;
  }
  return lines;
}

RunResult run_fsjournal(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
                        std::chrono::milliseconds patience) {
  TempDir capture("fsjournal-run");
  std::string out_path = capture / "stdout", err_path = capture / "stderr";
  std::vector<std::string> argv = {program_path("fsjournal")};
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions options;
  options.stdout_path = out_path;
  options.stderr_path = err_path;
  options.extra_env = extra_env;
  pid_t pid = spawn_program(argv, options);
  RunResult result;
  int status = 0;
  bool done = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, patience);
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

JournalBuilder::JournalBuilder(std::string dir, size_t inline_body_max) : dir_(std::move(dir)) {
  journal::Options options;
  options.dir = dir_;
  options.inline_body_max = inline_body_max;
  journal::Status s = journal::Journal::open(options, &journal_);
  if (!s.ok()) throw std::runtime_error("cannot open journal: " + s.message);
  journal_->wait_for_index_walk();
}

JournalBuilder::~JournalBuilder() = default;

uint64_t JournalBuilder::put(const std::string& name, const std::string& body) {
  auto writer = journal_->new_body();
  if (!writer->append(body.data(), body.size()).ok()) throw std::runtime_error("body append failed");
  uint64_t seq = 0;
  journal::Status s = journal_->commit_put(name, std::move(writer), &seq);
  if (!s.ok()) throw std::runtime_error("commit_put failed: " + s.message);
  return seq;
}

uint64_t JournalBuilder::del(const std::string& name) {
  uint64_t seq = 0;
  journal::Status s = journal_->commit_delete(name, &seq);
  if (!s.ok()) throw std::runtime_error("commit_delete failed: " + s.message);
  return seq;
}

std::map<std::string, std::string> dir_listing(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    out[e.path().string()] = std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                             std::to_string(st.st_mtim.tv_nsec);
  }
  return out;
}

void flip_byte(const std::string& path, long offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  char c = 0;
  bool read = pread_some(fd, &c, 1, static_cast<uint64_t>(offset)) == 1;
  c = static_cast<char>(~c);
  bool written = read && pwrite_all(fd, &c, 1, static_cast<uint64_t>(offset)) == 0;
  ::close(fd);
  if (!written) throw std::runtime_error((read ? "cannot write " : "cannot read ") + path);
}

void rocks_put(const std::string& dir, const std::string& column_family, const std::string& key,
               const std::optional<std::string>& value) {
  rocksdb::Options options;
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(options, dir, &names).ok()) throw std::runtime_error("not a database");
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(options, dir, cfs, &handles, &db).ok()) throw std::runtime_error("cannot open " + dir);
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == column_family) {
      if (value) db->Put(rocksdb::WriteOptions(), handles[i], key, *value);
      else db->Delete(rocksdb::WriteOptions(), handles[i], key);
    }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close();
  delete db;
}

std::string base64_decode(const std::string& text) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    auto v = alphabet.find(c);
    if (v == std::string::npos) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace fsr::test
