// take_inherited_sockets reads the process's own fds 3.. and environment, so
// each scenario runs in a forked child (a GoogleTest death test) that sets
// them up, checks, and exits 0 only when every check held.
#include "common/listen_fds.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace fsr {
namespace {

// A listening TCP socket on 127.0.0.1 at a free port, placed at fd target.
int listen_at(int target, int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 16) != 0) return -1;
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  if (fd != target) {
    if (::dup2(fd, target) < 0) return -1;
    ::close(fd);
  }
  return target;
}

// Ends the forked child: 0 when ok, else prints why and exits 1.
void finish(bool ok, const std::string& why) {
  if (!ok) {
    std::fprintf(stderr, "check failed: %s\n", why.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }
  std::fprintf(stderr, "all checks held\n");
  std::fflush(stderr);
  std::_Exit(0);
}

void two_sockets_announced_for_this_process() {
  int first_port = 0, second_port = 0;
  // Move whatever the test runner holds at 3 and 4 out of the way.
  for (int fd : {3, 4}) ::close(fd);
  if (listen_at(3, &first_port) != 3 || listen_at(4, &second_port) != 4) finish(false, "cannot set up fds 3 and 4");
  ::setenv("LISTEN_FDS", "2", 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDNAMES", "a:b", 1);
  std::vector<InheritedSocket> sockets;
  std::string error;
  if (!take_inherited_sockets(&sockets, &error)) finish(false, "rejected: " + error);
  if (sockets.size() != 2) finish(false, "sockets: " + std::to_string(sockets.size()));
  if (sockets[0].fd != 3 || sockets[1].fd != 4) finish(false, "fds are not 3 and 4");
  if (sockets[0].address != "127.0.0.1:" + std::to_string(first_port)) finish(false, "address " + sockets[0].address);
  if (sockets[1].host != "127.0.0.1" || sockets[1].port != second_port) finish(false, "second socket's address");
  for (int fd : {3, 4})
    if ((::fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0) finish(false, "fd " + std::to_string(fd) + " not close-on-exec");
  if (std::getenv("LISTEN_FDS") || std::getenv("LISTEN_PID") || std::getenv("LISTEN_FDNAMES"))
    finish(false, "variables still set");
  if (find_inherited_socket(sockets, "127.0.0.1:" + std::to_string(second_port)) != 4) finish(false, "find by port");
  finish(true, "");
}

void sockets_announced_for_another_process() {
  int port = 0;
  ::close(3);
  if (listen_at(3, &port) != 3) finish(false, "cannot set up fd 3");
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", std::to_string(::getppid()).c_str(), 1);
  std::vector<InheritedSocket> sockets;
  std::string error;
  if (!take_inherited_sockets(&sockets, &error)) finish(false, "rejected: " + error);
  if (!sockets.empty()) finish(false, "took sockets meant for another process");
  if ((::fcntl(3, F_GETFD) & FD_CLOEXEC) != 0) finish(false, "touched fd 3");
  if (std::getenv("LISTEN_FDS") || std::getenv("LISTEN_PID")) finish(false, "variables still set");
  finish(true, "");
}

void announced_fd_that_is_not_a_socket() {
  ::close(3);
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) finish(false, "pipe");
  if (pipe_fds[0] != 3 && ::dup2(pipe_fds[0], 3) < 0) finish(false, "dup2");
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  std::vector<InheritedSocket> sockets;
  std::string error;
  bool taken = take_inherited_sockets(&sockets, &error);
  finish(!taken && sockets.empty() && error.find("not a socket") != std::string::npos, "accepted a pipe: " + error);
}

void malformed_count() {
  ::setenv("LISTEN_FDS", "two", 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  std::vector<InheritedSocket> sockets;
  std::string error;
  bool taken = take_inherited_sockets(&sockets, &error);
  finish(!taken && error.find("LISTEN_FDS") != std::string::npos, "accepted LISTEN_FDS=two");
}

TEST(ListenFds, SocketsAnnouncedForThisProcessAreReturnedWithTheirAddressesCloseOnExecAndTheVariablesUnset) {
  EXPECT_EXIT(two_sockets_announced_for_this_process(), ::testing::ExitedWithCode(0), "all checks held");
}

TEST(ListenFds, SocketsAnnouncedForAnotherProcessAreLeftAloneAndTheVariablesUnset) {
  EXPECT_EXIT(sockets_announced_for_another_process(), ::testing::ExitedWithCode(0), "all checks held");
}

TEST(ListenFds, AnAnnouncedFdThatIsNotASocketIsAnError) {
  EXPECT_EXIT(announced_fd_that_is_not_a_socket(), ::testing::ExitedWithCode(0), "all checks held");
}

TEST(ListenFds, AMalformedCountIsAnError) {
  EXPECT_EXIT(malformed_count(), ::testing::ExitedWithCode(0), "all checks held");
}

TEST(ListenFds, NoVariablesMeansNoSockets) {
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  std::vector<InheritedSocket> sockets{InheritedSocket{}};
  std::string error;
  EXPECT_TRUE(take_inherited_sockets(&sockets, &error)) << error;
  EXPECT_TRUE(sockets.empty());
}

TEST(ListenFds, FindMatchesHostAndPortAndPortZeroMatchesAnyPortOnThatHost) {
  std::vector<InheritedSocket> sockets = {
      {3, "0.0.0.0", 8080, "0.0.0.0:8080"},
      {4, "127.0.0.1", 9090, "127.0.0.1:9090"},
      {5, "::", 8080, "[::]:8080"},
  };
  EXPECT_EQ(find_inherited_socket(sockets, "0.0.0.0:8080"), 3);
  EXPECT_EQ(find_inherited_socket(sockets, ":8080"), 3);  // empty host is 0.0.0.0
  EXPECT_EQ(find_inherited_socket(sockets, "127.0.0.1:9090"), 4);
  EXPECT_EQ(find_inherited_socket(sockets, "127.0.0.1:0"), 4);
  EXPECT_EQ(find_inherited_socket(sockets, "[::]:8080"), 5);
  EXPECT_EQ(find_inherited_socket(sockets, "[0:0::0]:8080"), 5);  // compared in canonical form
  EXPECT_EQ(find_inherited_socket(sockets, "127.0.0.1:8080"), -1);
  EXPECT_EQ(find_inherited_socket(sockets, "0.0.0.0:9090"), -1);
  EXPECT_EQ(find_inherited_socket(sockets, "localhost:9090"), -1);  // numeric hosts only
  EXPECT_EQ(find_inherited_socket(sockets, "not-an-address"), -1);
  EXPECT_EQ(find_inherited_socket({}, "0.0.0.0:8080"), -1);
}

}  // namespace
}  // namespace fsr
