#include "fileserver/writer_preferring_lock.h"

namespace fsr::fileserver {

void WriterPreferringLock::lock() {
  std::unique_lock<std::mutex> guard(mutex_);
  ++waiting_writers_;
  writer_may_enter_.wait(guard, [this] { return !writer_active_ && active_readers_ == 0; });
  --waiting_writers_;
  writer_active_ = true;
}

bool WriterPreferringLock::try_lock() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (writer_active_ || active_readers_ > 0) return false;
  writer_active_ = true;
  return true;
}

void WriterPreferringLock::unlock() {
  std::lock_guard<std::mutex> guard(mutex_);
  writer_active_ = false;
  // Writers first: a waiting writer keeps new readers out anyway.
  if (waiting_writers_ > 0) {
    writer_may_enter_.notify_one();
  } else {
    readers_may_enter_.notify_all();
  }
}

void WriterPreferringLock::lock_shared() {
  std::unique_lock<std::mutex> guard(mutex_);
  readers_may_enter_.wait(guard, [this] { return !writer_active_ && waiting_writers_ == 0; });
  ++active_readers_;
}

bool WriterPreferringLock::try_lock_shared() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (writer_active_ || waiting_writers_ > 0) return false;
  ++active_readers_;
  return true;
}

void WriterPreferringLock::unlock_shared() {
  std::lock_guard<std::mutex> guard(mutex_);
  --active_readers_;
  if (active_readers_ == 0 && waiting_writers_ > 0) writer_may_enter_.notify_one();
}

int WriterPreferringLock::waiting_writers() {
  std::lock_guard<std::mutex> guard(mutex_);
  return waiting_writers_;
}

}  // namespace fsr::fileserver
