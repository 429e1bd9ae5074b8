#include "common/file_io.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

namespace fsr {

int write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

int pwrite_all(int fd, const void* data, size_t n, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return 0;
}

ssize_t pread_some(int fd, void* data, size_t n, uint64_t offset) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

SpillBuffer::~SpillBuffer() {
  if (fd_ >= 0) ::close(fd_);
}

int SpillBuffer::append(const char* data, size_t n) {
  if (error_ != 0) return error_;
  size_ += n;
  if (fd_ < 0 && memory_.size() + n <= memory_max_) {
    memory_.append(data, n);
    return 0;
  }
  if (fd_ < 0) {
    fd_ = open_(context_);
    if (fd_ < 0) return error_ = (errno != 0 ? errno : EIO);
    if (int e = write_all(fd_, memory_.data(), memory_.size()); e != 0) return error_ = e;
    std::string().swap(memory_);
  }
  if (int e = write_all(fd_, data, n); e != 0) return error_ = e;
  return 0;
}

int SpillBuffer::release_fd() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

int open_unlinked_temp(const std::string& dir) {
  std::string path = dir + "/spill-XXXXXX";
  int fd = ::mkstemp(path.data());
  if (fd < 0) return -1;
  ::unlink(path.c_str());
  return fd;
}

}  // namespace fsr
