#include "tests/journal/journal_test_util.h"

#include <sys/stat.h>

#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include <algorithm>
#include <filesystem>

namespace fsr::journal::test {
namespace {

// Reading must not leave a LOG file behind in the directory under test.
class SilentLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

}  // namespace

std::unique_ptr<Journal> open_journal(const Options& options) {
  std::unique_ptr<Journal> journal;
  Status s = Journal::open(options, &journal);
  EXPECT_TRUE(s.ok()) << status_code_name(s.code) << ": " << s.message;
  // Tests read the totals and the orphan cleanup of an open: wait for the walk.
  if (s.ok()) journal->wait_for_index_walk();
  return s.ok() ? std::move(journal) : nullptr;
}

Status put(Journal& journal, const std::string& name, const std::string& body, uint64_t* seq) {
  auto writer = journal.new_body();
  // Uneven chunks cross the inline limit mid-chunk as an upload would.
  size_t offset = 0, chunk = 1;
  while (offset < body.size()) {
    size_t n = std::min(chunk, body.size() - offset);
    Status s = writer->append(body.data() + offset, n);
    if (!s.ok()) return s;
    offset += n;
    chunk = chunk * 3 + 7;
    if (chunk > (256u << 10)) chunk = 1000;
  }
  return journal.commit_put(name, std::move(writer), seq);
}

uint64_t must_put(Journal& journal, const std::string& name, const std::string& body) {
  uint64_t seq = 0;
  Status s = put(journal, name, body, &seq);
  EXPECT_TRUE(s.ok()) << "PUT " << name << ": " << status_code_name(s.code) << ": " << s.message;
  return seq;
}

uint64_t must_delete(Journal& journal, const std::string& name) {
  uint64_t seq = 0;
  Status s = journal.commit_delete(name, &seq);
  EXPECT_TRUE(s.ok()) << "DELETE " << name << ": " << status_code_name(s.code) << ": " << s.message;
  return seq;
}

std::optional<std::string> read_body(const Journal& journal, const IndexEntry& entry) {
  auto reader = journal.open_body(entry);
  if (!reader) return std::nullopt;
  std::string out(reader->size(), '\0');
  uint64_t offset = 0;
  while (offset < out.size()) {
    long n = reader->read_at(offset, out.data() + offset, std::min<uint64_t>(out.size() - offset, 100000));
    if (n <= 0) return std::nullopt;
    offset += static_cast<uint64_t>(n);
  }
  char extra;
  if (reader->read_at(offset, &extra, 1) != 0) return std::nullopt;
  return out;
}

std::optional<std::string> read_latest(const Journal& journal, const std::string& name) {
  auto entry = journal.lookup(name);
  if (!entry) return std::nullopt;
  return read_body(journal, *entry);
}

std::vector<std::string> body_files(const std::string& journal_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(journal_dir + "/bodies", ec))
    out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

RawFamilies read_raw(const std::string& journal_dir) {
  RawFamilies out;
  rocksdb::DBOptions options;
  options.info_log = std::make_shared<SilentLogger>();
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, journal_dir, &names);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return out;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(options, journal_dir, descriptors, &handles, &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return out;
  std::unique_ptr<rocksdb::DB> db(raw);
  for (size_t i = 0; i < handles.size(); ++i) {
    auto& family = out[names[i]];
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) family[it->key().ToString()] = it->value().ToString();
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close();
  return out;
}

void put_raw(const std::string& journal_dir, const std::string& family, const std::string& key,
             const std::string& value) {
  change_raw(journal_dir, family, key, value);
}

void delete_raw(const std::string& journal_dir, const std::string& family, const std::string& key) {
  change_raw(journal_dir, family, key, std::nullopt);
}

void change_raw(const std::string& journal_dir, const std::string& family, const std::string& key,
                const std::optional<std::string>& value) {
  rocksdb::DBOptions options;
  options.info_log = std::make_shared<SilentLogger>();
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, journal_dir, &names);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::Open(options, journal_dir, descriptors, &handles, &raw);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<rocksdb::DB> db(raw);
  auto found = std::find(names.begin(), names.end(), family);
  EXPECT_NE(found, names.end()) << "no column family " << family;
  if (found != names.end()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = value ? db->Put(wo, handles[found - names.begin()], key, *value)
              : db->Delete(wo, handles[found - names.begin()], key);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close();
}

std::map<std::string, std::string> snapshot_tree(const std::string& dir) {
  std::map<std::string, std::string> out;
  auto describe = [](const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return std::string("?");
    return std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) +
           "." + std::to_string(st.st_mtim.tv_nsec);
  };
  out["."] = describe(dir);
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec))
    out[std::filesystem::relative(entry.path(), dir).string()] = describe(entry.path().string());
  return out;
}

}  // namespace fsr::journal::test
