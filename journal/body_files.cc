// Bodies on their way in (BodyWriter) and out (BodyReader). A body stays in
// memory up to Options::inline_body_max and past that spills to its file
// bodies/<id>, written as it arrives; finish() makes the file durable.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/checksum.h"
#include "journal/database.h"

namespace fsr::journal {

struct BodyWriter::HashState {
  fsr::Checksum checksum;
};

BodyWriter::BodyWriter(Journal* journal, uint64_t id)
    : journal_(journal),
      id_(id),
      buffer_(journal->options_.inline_body_max, &BodyWriter::open_body_file, this),
      hash_(std::make_unique<HashState>()) {}

BodyWriter::~BodyWriter() {
  if (!committed_ && !path_.empty()) ::unlink(path_.c_str());
}

int BodyWriter::open_body_file(void* context) {
  auto* self = static_cast<BodyWriter*>(context);
  self->path_ = self->journal_->body_path(self->id_);
  return ::open(self->path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

Status BodyWriter::append(const char* data, size_t size) {
  if (!error_.ok()) return error_;
  hash_->checksum.update(data, size);
  bool was_in_file = buffer_.spilled();
  if (int err = buffer_.append(data, size); err != 0) {
    // The spill opens the file and writes what was buffered: a failure there
    // before the file exists is a failed create.
    bool created = was_in_file || buffer_.spilled();
    error_ = from_errno(err, (created ? "write body file " : "create body file ") + path_);
  }
  return error_;
}

std::string BodyWriter::checksum() { return hash_->checksum.hex(); }

Status BodyWriter::finish() {
  if (!error_.ok()) return error_;
  int fd = buffer_.release_fd();
  if (fd < 0) return Status::Ok();  // in memory, or already finished
  if (journal_->do_sync_file(fd, path_) != 0) {
    error_ = from_errno(errno, "fsync body file " + path_);
    ::close(fd);
    return error_;
  }
  if (::close(fd) != 0) error_ = from_errno(errno, "close body file " + path_);
  return error_;
}

BodyReader::~BodyReader() {
  if (fd_ >= 0) ::close(fd_);
}

long BodyReader::read_at(uint64_t offset, char* buf, size_t n) const {
  if (offset >= size_) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  if (fd_ < 0) {
    std::memcpy(buf, bytes_.data() + offset, n);
    return static_cast<long>(n);
  }
  return static_cast<long>(pread_some(fd_, buf, n, offset));
}

}  // namespace fsr::journal
