// POSIX file-descriptor I/O that finishes the job: the one place that loops
// over short writes and EINTR. Each returns 0 on success or the errno of the
// first failure (a descriptor that accepts no bytes counts as EIO), so the
// caller can name the file in its own error.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace fsr {

// Writes all n bytes at the file offset.
int write_all(int fd, const void* data, size_t n);
// Writes all n bytes at `offset` (pwrite), leaving the file offset alone.
int pwrite_all(int fd, const void* data, size_t n, uint64_t offset);
// Reads up to n bytes at `offset`: the count read (less only at the end of
// the file), or -1 with errno set.
ssize_t pread_some(int fd, void* data, size_t n, uint64_t offset);

// A body that stays in memory up to `memory_max` bytes and past that spills
// to a file, written as it arrives. Where the file goes is the owner's
// choice (`open_spill_file`: a named body file, or an unlinked temporary);
// the buffer only moves the bytes. Not thread-safe.
class SpillBuffer {
 public:
  // open_spill_file returns an open, writable descriptor or -1 with errno set.
  using OpenFile = int (*)(void* context);
  SpillBuffer(size_t memory_max, OpenFile open_spill_file, void* context)
      : memory_max_(memory_max), open_(open_spill_file), context_(context) {}
  ~SpillBuffer();
  SpillBuffer(const SpillBuffer&) = delete;
  SpillBuffer& operator=(const SpillBuffer&) = delete;

  // Returns 0 or the errno of the failed open or write; after a failure the
  // buffer keeps failing with the same error.
  int append(const char* data, size_t n);
  uint64_t size() const { return size_; }
  bool spilled() const { return fd_ >= 0; }
  std::string& memory() { return memory_; }  // the bytes, while not spilled
  int fd() const { return fd_; }
  // Hands the spill file's descriptor to the caller (-1 when in memory).
  int release_fd();

 private:
  size_t memory_max_;
  OpenFile open_;
  void* context_;
  std::string memory_;
  int fd_ = -1;
  uint64_t size_ = 0;
  int error_ = 0;
};

// Opens an unlinked temporary file in `dir` (for SpillBuffer): -1 on failure.
int open_unlinked_temp(const std::string& dir);

}  // namespace fsr
