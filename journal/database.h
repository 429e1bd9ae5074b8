// The journal's RocksDB database, private to the journal library: the one
// header of the library's sources that includes RocksDB, so journal.h (and
// everything above the journal) does not.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "journal/format.h"
#include "journal/journal.h"

namespace fsr::journal {

// The open database and its column families (format.h's order). Closing it
// destroys the handles first, as RocksDB requires.
struct Journal::Database {
  ~Database();

  // How the journal opens RocksDB: tuned for a small, write-heavy store, with
  // RocksDB's own error recovery off (the journal resumes it itself).
  static rocksdb::Options options(rocksdb::Env* env);
  static std::vector<rocksdb::ColumnFamilyDescriptor> column_families(const rocksdb::Options& options);

  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* records = nullptr;
  rocksdb::ColumnFamilyHandle* index = nullptr;
  rocksdb::ColumnFamilyHandle* applied = nullptr;
  rocksdb::ColumnFamilyHandle* bodies = nullptr;
};

// The column families of format.h, in its order, each with a block cache of
// `block_cache_bytes` over `options`: how the router and fsjournal both open
// the database.
std::vector<rocksdb::ColumnFamilyDescriptor> column_family_descriptors(const rocksdb::Options& options,
                                                                      size_t block_cache_bytes);

// RocksDB's and the system's errors as a journal Status (a full disk is kNoSpace).
Status from_rocks(const rocksdb::Status& s);
Status from_errno(int err, const std::string& what);

// Wall clock, ms since the epoch: record times and pending ages.
int64_t now_ms();

}  // namespace fsr::journal
