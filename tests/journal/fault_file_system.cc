#include "tests/journal/fault_file_system.h"

#include <sstream>

namespace fsr::journal::test {
namespace {

bool is_wal(const std::string& fname) {
  return fname.size() > 4 && fname.compare(fname.size() - 4, 4, ".log") == 0;
}

}  // namespace

class FaultFileSystem::TrackedFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(FaultFileSystem* fs, std::string fname, std::unique_ptr<rocksdb::FSWritableFile> file)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), fname_(std::move(fname)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    return append(data, [&](const rocksdb::Slice& d) { return target()->Append(d, options, dbg); });
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info, rocksdb::IODebugContext* dbg) override {
    // A half write cannot carry the whole buffer's checksum: drop it.
    return append(data, [&](const rocksdb::Slice& d) {
      return d.size() == data.size() ? target()->Append(d, options, info, dbg) : target()->Append(d, options, dbg);
    });
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return sync([&] { return target()->Sync(options, dbg); });
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    return sync([&] { return target()->Fsync(options, dbg); });
  }

 private:
  template <typename Forward>
  rocksdb::IOStatus append(const rocksdb::Slice& data, Forward forward) {
    WalFault fault = fs_->wal_fault();
    if (fault == WalFault::kAppendNoSpace) {
      ++fs_->injected_;
      return rocksdb::IOStatus::NoSpace("injected: WAL append");
    }
    if (fault == WalFault::kAppendHalfThenNoSpace) {
      rocksdb::Slice half(data.data(), data.size() / 2);
      rocksdb::IOStatus s = forward(half);
      if (s.ok()) add_appended(half.size());
      ++fs_->injected_;
      return rocksdb::IOStatus::NoSpace("injected: WAL append after half");
    }
    rocksdb::IOStatus s = forward(data);
    if (s.ok()) {
      add_appended(data.size());
      fs_->notify("wal_append");
    }
    return s;
  }

  template <typename Forward>
  rocksdb::IOStatus sync(Forward forward) {
    fs_->notify("wal_sync_start");
    if (fs_->wal_fault() == WalFault::kSyncNoSpace) {
      ++fs_->injected_;
      return rocksdb::IOStatus::NoSpace("injected: WAL sync");
    }
    rocksdb::IOStatus s;
    {
      std::lock_guard<std::mutex> lock(fs_->mu_);
      // Bytes appended before the sync starts are the ones it makes durable.
      uint64_t covered = fs_->wal_files_[fname_].appended;
      s = forward();
      if (s.ok()) {
        auto& f = fs_->wal_files_[fname_];
        f.synced = std::max(f.synced, covered);
      }
    }
    if (s.ok()) fs_->notify("wal_sync");
    return s;
  }

  void add_appended(uint64_t n) {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    fs_->wal_files_[fname_].appended += n;
  }

  FaultFileSystem* fs_;
  std::string fname_;
};

FaultFileSystem::FaultFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

void FaultFileSystem::set_observer(std::function<void(const std::string&)> observer) {
  std::lock_guard<std::mutex> lock(observer_mu_);
  observer_ = std::move(observer);
}

void FaultFileSystem::notify(const std::string& event) {
  std::function<void(const std::string&)> observer;
  {
    std::lock_guard<std::mutex> lock(observer_mu_);
    observer = observer_;
  }
  if (observer) observer(event);
}

rocksdb::IOStatus FaultFileSystem::wrap(const std::string& fname, rocksdb::IOStatus s,
                                        std::unique_ptr<rocksdb::FSWritableFile>* result, uint64_t existing_size) {
  if (!s.ok() || !is_wal(fname)) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Bytes already in a reopened file were written (and synced) before.
    wal_files_[fname] = WalFile{existing_size, existing_size};
  }
  *result = std::make_unique<TrackedFile>(this, fname, std::move(*result));
  return s;
}

rocksdb::IOStatus FaultFileSystem::NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                                   std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                   rocksdb::IODebugContext* dbg) {
  return wrap(fname, target()->NewWritableFile(fname, options, result, dbg), result, 0);
}

rocksdb::IOStatus FaultFileSystem::ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                      rocksdb::IODebugContext* dbg) {
  uint64_t size = 0;
  if (!target()->GetFileSize(fname, rocksdb::IOOptions(), &size, dbg).ok()) size = 0;
  return wrap(fname, target()->ReopenWritableFile(fname, options, result, dbg), result, size);
}

rocksdb::IOStatus FaultFileSystem::ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                                     const rocksdb::FileOptions& options,
                                                     std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                     rocksdb::IODebugContext* dbg) {
  return wrap(fname, target()->ReuseWritableFile(fname, old_fname, options, result, dbg), result, 0);
}

std::map<std::string, FaultFileSystem::WalFile> FaultFileSystem::wal_files() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wal_files_;
}

std::string FaultFileSystem::unsynced_wal_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  for (const auto& [name, f] : wal_files_)
    if (f.synced < f.appended) out << name << ": appended " << f.appended << ", synced " << f.synced << "; ";
  return out.str();
}

FaultEnv::FaultEnv() : fs(std::make_shared<FaultFileSystem>()), env_(rocksdb::NewCompositeEnv(fs)) {}

}  // namespace fsr::journal::test
