// Per-name exclusion inside one process: one operation per name at a time.
//
// Like the backend it imitates, a waiting operation does not queue: it polls
// the set of busy names, sleeping a small random jitter between looks, so
// waiters on one name are served in no particular order. Nothing
// coordinates two processes.
#pragma once

#include <mutex>
#include <string>
#include <unordered_set>

namespace fsr::fileserver {

class NameExclusion;

// Holds a name until destroyed or released; movable so that a streaming
// response can keep the name after its handler has returned.
class NameHold {
 public:
  NameHold() = default;
  NameHold(NameExclusion* owner, std::string name) : owner_(owner), name_(std::move(name)) {}
  ~NameHold() { release(); }
  NameHold(NameHold&& other) noexcept : owner_(other.owner_), name_(std::move(other.name_)) {
    other.owner_ = nullptr;
  }
  NameHold& operator=(NameHold&& other) noexcept {
    if (this != &other) {
      release();
      owner_ = other.owner_;
      name_ = std::move(other.name_);
      other.owner_ = nullptr;
    }
    return *this;
  }
  void release();

 private:
  NameExclusion* owner_ = nullptr;
  std::string name_;
};

class NameExclusion {
 public:
  // Blocks (polling) until no other operation of this process holds name.
  NameHold acquire(const std::string& name);

 private:
  friend class NameHold;
  void release(const std::string& name);

  std::mutex mutex_;
  std::unordered_set<std::string> busy_;
};

}  // namespace fsr::fileserver
