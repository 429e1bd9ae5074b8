// A reader/writer lock in which a waiting writer blocks new readers.
//
// The backend the stand-in imitates guards its known-files set with such a
// lock (Go's sync.RWMutex): once a writer waits, readers that arrive later
// queue behind it. That property is what makes the backend's wedge possible
// (a DELETE holding the lock while waiting for a name blocks every later GET
// of a known name), so the stand-in cannot use glibc's std::shared_mutex,
// which lets new readers overtake waiting writers.
//
// Not recursive. lock_shared() by a thread that already holds the lock in
// either mode deadlocks once a writer waits, exactly like the original.
#pragma once

#include <condition_variable>
#include <mutex>

namespace fsr::fileserver {

class WriterPreferringLock {
 public:
  void lock();
  void unlock();
  void lock_shared();
  void unlock_shared();

  // For diagnostics and tests: writers blocked in lock() right now.
  int waiting_writers();

 private:
  std::mutex mutex_;
  std::condition_variable readers_may_enter_;
  std::condition_variable writer_may_enter_;
  int active_readers_ = 0;
  int waiting_writers_ = 0;
  bool writer_active_ = false;
};

// RAII holders; both may release early and are movable so that a streaming
// response can keep the lock after its handler has returned.
class ExclusiveHold {
 public:
  ExclusiveHold() = default;
  explicit ExclusiveHold(WriterPreferringLock& lock) : lock_(&lock) { lock_->lock(); }
  ~ExclusiveHold() { release(); }
  ExclusiveHold(ExclusiveHold&& other) noexcept : lock_(other.lock_) { other.lock_ = nullptr; }
  ExclusiveHold& operator=(ExclusiveHold&& other) noexcept {
    if (this != &other) {
      release();
      lock_ = other.lock_;
      other.lock_ = nullptr;
    }
    return *this;
  }
  void release() {
    if (lock_) lock_->unlock();
    lock_ = nullptr;
  }

 private:
  WriterPreferringLock* lock_ = nullptr;
};

class SharedHold {
 public:
  SharedHold() = default;
  explicit SharedHold(WriterPreferringLock& lock) : lock_(&lock) { lock_->lock_shared(); }
  ~SharedHold() { release(); }
  SharedHold(SharedHold&& other) noexcept : lock_(other.lock_) { other.lock_ = nullptr; }
  SharedHold& operator=(SharedHold&& other) noexcept {
    if (this != &other) {
      release();
      lock_ = other.lock_;
      other.lock_ = nullptr;
    }
    return *this;
  }
  void release() {
    if (lock_) lock_->unlock_shared();
    lock_ = nullptr;
  }

 private:
  WriterPreferringLock* lock_ = nullptr;
};

}  // namespace fsr::fileserver
