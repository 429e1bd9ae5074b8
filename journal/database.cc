#include "journal/database.h"

#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/table.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace fsr::journal {
namespace {

// The journal resumes the database itself on its next commit; RocksDB's own
// background recovery would make that Resume() fail with Busy meanwhile.
class NoAutoRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

}  // namespace

Journal::Database::~Database() {
  if (!db) return;
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close();
}

rocksdb::Options Journal::Database::options(rocksdb::Env* env) {
  rocksdb::Options db_options;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_open_files = 256;
  db_options.keep_log_file_num = 4;
  db_options.max_total_wal_size = 64 << 20;
  db_options.write_buffer_size = 16 << 20;
  if (env) db_options.env = env;
  db_options.listeners.push_back(std::make_shared<NoAutoRecovery>());
  return db_options;
}

std::vector<rocksdb::ColumnFamilyDescriptor> Journal::Database::column_families(const rocksdb::Options& options) {
  return column_family_descriptors(options, 32 << 20);
}

std::vector<rocksdb::ColumnFamilyDescriptor> column_family_descriptors(const rocksdb::Options& options,
                                                                      size_t block_cache_bytes) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(block_cache_bytes);
  // Settled names are point reads of the index and applied families: a
  // bloom filter answers most reads of names never written without a block.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options(options);
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& name : column_family_names()) cfs.emplace_back(name, cf_options);
  return cfs;
}

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

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace fsr::journal
