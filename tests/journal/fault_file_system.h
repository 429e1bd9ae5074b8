// A RocksDB FileSystem for journal tests: it forwards to the real one and, for
// every write-ahead log file (`*.log`), counts the bytes appended and the bytes
// made durable by Sync/Fsync. It can also make WAL appends or syncs fail with
// "no space left on device".
//
// Why count instead of killing the process: SIGKILL keeps the page cache, so a
// kill test passes even if nothing is ever fsync'd. Counting synced bytes
// catches a missing sync directly.
//
// RangeSync is deliberately not counted as durable: it only starts writeback
// (sync_file_range), it does not wait for it nor flush the disk cache.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace fsr::journal::test {

class FaultFileSystem : public rocksdb::FileSystemWrapper {
 public:
  enum class WalFault {
    kNone,
    kAppendNoSpace,           // Append writes nothing and fails with NoSpace
    kAppendHalfThenNoSpace,   // Append writes half the bytes, then fails with NoSpace
    kSyncNoSpace,             // Append succeeds; Sync/Fsync fail with NoSpace
  };

  struct WalFile {
    uint64_t appended = 0;
    uint64_t synced = 0;  // appended bytes covered by the last successful Sync/Fsync
  };

  FaultFileSystem();
  static const char* kClassName() { return "FsrFaultFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;

  // Called (outside the file system's locks) with "wal_append" after each
  // successful WAL append, "wal_sync_start" before a WAL sync and "wal_sync"
  // after a successful one.
  void set_observer(std::function<void(const std::string& event)> observer);

  void set_wal_fault(WalFault fault) { fault_.store(fault); }
  WalFault wal_fault() const { return fault_.load(); }
  uint64_t injected_failures() const { return injected_.load(); }

  // Every WAL file ever opened through this file system, by path.
  std::map<std::string, WalFile> wal_files() const;
  // "" when every WAL byte appended so far is synced; otherwise which file lags.
  std::string unsynced_wal_bytes() const;

 private:
  class TrackedFile;
  friend class TrackedFile;
  void notify(const std::string& event);
  rocksdb::IOStatus wrap(const std::string& fname, rocksdb::IOStatus s,
                         std::unique_ptr<rocksdb::FSWritableFile>* result, uint64_t existing_size);

  mutable std::mutex mu_;
  std::map<std::string, WalFile> wal_files_;
  std::atomic<WalFault> fault_{WalFault::kNone};
  std::atomic<uint64_t> injected_{0};
  std::mutex observer_mu_;
  std::function<void(const std::string&)> observer_;
};

// A FaultFileSystem and the Env that routes RocksDB through it; keep it alive
// longer than any Journal opened with `env()`.
struct FaultEnv {
  FaultEnv();
  rocksdb::Env* env() const { return env_.get(); }
  std::shared_ptr<FaultFileSystem> fs;

 private:
  std::unique_ptr<rocksdb::Env> env_;
};

}  // namespace fsr::journal::test
