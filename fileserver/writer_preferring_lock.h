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
//
// Meets the standard Lockable and SharedLockable requirements: hold it with
// std::unique_lock (writers) and std::shared_lock (readers), which may also
// be moved so that a streaming response keeps the lock after its handler
// has returned.
#pragma once

#include <condition_variable>
#include <mutex>

namespace fsr::fileserver {

class WriterPreferringLock {
 public:
  void lock();
  // Takes the lock only if no one holds it in either mode.
  bool try_lock();
  void unlock();
  void lock_shared();
  // Joins the readers only if no writer holds the lock or waits for it.
  bool try_lock_shared();
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

}  // namespace fsr::fileserver
