// common/file_io: the one write loop and the one memory-then-file buffer.
// Short writes and EINTR are hard to force from a test; what is checked here
// is that bytes round-trip, that SpillBuffer keeps a body in memory up to its
// limit and moves it to its file past the limit unchanged, and that a failed
// open is reported and stays reported.
#include "common/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace fsr {
namespace {

// A scratch file, removed at the end of the test.
class ScratchFile {
 public:
  ScratchFile() {
    const char* base = ::getenv("TMPDIR");
    path_ = std::string(base && *base ? base : "/tmp") + "/file-io-test-XXXXXX";
    fd_ = ::mkstemp(path_.data());
  }
  ~ScratchFile() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

std::string pattern(size_t size, char seed) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(seed + static_cast<char>(i * 7 % 251));
  return out;
}

std::string read_whole(int fd, size_t size) {
  std::string out(size + 16, '\0');  // room to notice extra bytes
  ssize_t n = pread_some(fd, out.data(), out.size(), 0);
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

TEST(FileIo, WriteAllThenPreadSomeReturnsTheSameBytesAndStopsAtTheEnd) {
  ScratchFile file;
  ASSERT_GE(file.fd(), 0);
  const std::string data = pattern(3 * 1024 * 1024 + 17, 'a');
  ASSERT_EQ(write_all(file.fd(), data.data(), data.size()), 0);
  EXPECT_EQ(read_whole(file.fd(), data.size()), data);

  char tail[64];
  EXPECT_EQ(pread_some(file.fd(), tail, sizeof tail, data.size() - 10), 10);
  EXPECT_EQ(std::string(tail, 10), data.substr(data.size() - 10));
}

TEST(FileIo, PwriteAllWritesAtTheOffsetAndLeavesTheFileOffsetAlone) {
  ScratchFile file;
  ASSERT_GE(file.fd(), 0);
  ASSERT_EQ(write_all(file.fd(), "0123456789", 10), 0);
  ASSERT_EQ(pwrite_all(file.fd(), "abc", 3, 4), 0);
  EXPECT_EQ(::lseek(file.fd(), 0, SEEK_CUR), 10);
  EXPECT_EQ(read_whole(file.fd(), 10), "0123abc789");
}

TEST(FileIo, WriteToABadDescriptorReturnsItsErrno) {
  EXPECT_EQ(write_all(-1, "x", 1), EBADF);
  EXPECT_EQ(pwrite_all(-1, "x", 1, 0), EBADF);
  char c;
  EXPECT_EQ(pread_some(-1, &c, 1, 0), -1);
  EXPECT_EQ(errno, EBADF);
}

struct OpenCounter {
  std::string dir;
  int opens = 0;
};

int open_counted(void* context) {
  auto* counter = static_cast<OpenCounter*>(context);
  ++counter->opens;
  return open_unlinked_temp(counter->dir);
}

std::string temp_dir() {
  const char* base = ::getenv("TMPDIR");
  return base && *base ? base : "/tmp";
}

TEST(SpillBuffer, StaysInMemoryUpToTheLimit) {
  OpenCounter counter{temp_dir()};
  SpillBuffer buffer(100, open_counted, &counter);
  const std::string data = pattern(100, 'k');
  ASSERT_EQ(buffer.append(data.data(), 60), 0);
  ASSERT_EQ(buffer.append(data.data() + 60, 40), 0);  // exactly the limit
  EXPECT_FALSE(buffer.spilled());
  EXPECT_EQ(buffer.fd(), -1);
  EXPECT_EQ(counter.opens, 0);
  EXPECT_EQ(buffer.size(), 100u);
  EXPECT_EQ(buffer.memory(), data);
  EXPECT_EQ(buffer.release_fd(), -1);
}

TEST(SpillBuffer, SpillsPastTheLimitWithTheSameBytes) {
  OpenCounter counter{temp_dir()};
  SpillBuffer buffer(100, open_counted, &counter);
  const std::string data = pattern(5000, 'q');
  ASSERT_EQ(buffer.append(data.data(), 70), 0);
  ASSERT_EQ(buffer.append(data.data() + 70, 31), 0);  // one byte past the limit
  EXPECT_TRUE(buffer.spilled());
  ASSERT_EQ(buffer.append(data.data() + 101, data.size() - 101), 0);
  EXPECT_EQ(counter.opens, 1);
  EXPECT_EQ(buffer.size(), data.size());
  EXPECT_TRUE(buffer.memory().empty());
  int fd = buffer.release_fd();
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(buffer.spilled());
  EXPECT_EQ(read_whole(fd, data.size()), data);
  ::close(fd);
}

TEST(SpillBuffer, AFailedOpenIsReportedAndEveryLaterAppendFailsTheSameWay) {
  OpenCounter counter{temp_dir() + "/no-such-directory-for-spill"};
  SpillBuffer buffer(8, open_counted, &counter);
  EXPECT_EQ(buffer.append("12345678", 8), 0);
  EXPECT_EQ(buffer.append("9", 1), ENOENT);
  EXPECT_FALSE(buffer.spilled());
  EXPECT_EQ(buffer.append("0", 1), ENOENT);  // latched: no second open
  EXPECT_EQ(counter.opens, 1);
}

TEST(OpenUnlinkedTemp, LeavesNoNameBehindAndFailsInAMissingDirectory) {
  int fd = open_unlinked_temp(temp_dir());
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  ::close(fd);
  EXPECT_EQ(open_unlinked_temp(temp_dir() + "/no-such-directory-for-spill"), -1);
}

}  // namespace
}  // namespace fsr
