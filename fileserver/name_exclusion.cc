#include "fileserver/name_exclusion.h"

#include <chrono>
#include <random>
#include <thread>

namespace fsr::fileserver {
namespace {
// Between looks at a busy name: 1 to 10 ms, random so that pollers spread out.
std::chrono::microseconds poll_jitter() {
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> micros(1000, 10000);
  return std::chrono::microseconds(micros(rng));
}
}  // namespace

void NameHold::release() {
  if (owner_) owner_->release(name_);
  owner_ = nullptr;
}

NameHold NameExclusion::acquire(const std::string& name) {
  while (true) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (busy_.insert(name).second) return NameHold(this, name);
    }
    std::this_thread::sleep_for(poll_jitter());
  }
}

void NameExclusion::release(const std::string& name) {
  std::lock_guard<std::mutex> guard(mutex_);
  busy_.erase(name);
}

}  // namespace fsr::fileserver
