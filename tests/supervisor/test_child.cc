// supervisor_test_child: the child the supervisor tests run. It takes its
// inherited listening socket (common/listen_fds.h), logs event=child_ready,
// and answers each connection, one at a time, with
//   pid=P fd=F listen=HOST:PORT listen_fds_env=unset|set cloexec=1|0 restarts=N|unset
// (restarts: its FSROUTER_RESTARTS)
// GET /exit answers, then exits with 3; GET /crash answers, then aborts;
// GET /slow answers after 700 ms. GET /orphan leaves an orphan behind: a
// process whose parent exits at once, which lives 100 ms more; the answer
// names it (orphan=PID). After SIGTERM it finishes the request in
// hand, logs event=child_got_sigterm and exits 0 without accepting again.
//   --quick-exits N --counter-file PATH  the first N starts (counted in PATH) exit 1 at once
//   --ignore-sigterm                     ignore SIGTERM
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "common/flags.h"
#include "common/listen_fds.h"
#include "common/log.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_sigterm(int) { g_stop = 1; }

void sleep_ms(long ms) {
  timespec left{ms / 1000, (ms % 1000) * 1000000};
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

std::string read_request(int fd) {
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    request.append(buffer, static_cast<size_t>(got));
  }
  return request;
}

void write_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// Forks a process that forks the orphan and exits at once; returns the
// orphan's pid (sent up a pipe), or -1.
long leave_orphan() {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  pid_t parent = ::fork();
  if (parent == 0) {
    pid_t orphan = ::fork();
    if (orphan == 0) {
      sleep_ms(100);
      ::_exit(0);
    }
    long pid = orphan;
    ssize_t ignored = ::write(fds[1], &pid, sizeof pid);
    (void)ignored;
    ::_exit(0);
  }
  long pid = -1;
  if (::read(fds[0], &pid, sizeof pid) != sizeof pid) pid = -1;
  ::close(fds[0]);
  ::close(fds[1]);
  ::waitpid(parent, nullptr, 0);
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t quick_exits = 0;
  std::string counter_file;
  bool ignore_sigterm = false;
  CLI::App app{"Test child of fsrouter-supervisor", "supervisor_test_child"};
  fsr::use_flag_conventions(app, "supervisor_test_child [flags]");
  fsr::add_env_option(app, "quick-exits", "", &quick_exits, "the first N starts exit 1 at once");
  fsr::add_env_option(app, "counter-file", "", &counter_file, "where starts are counted");
  fsr::add_env_switch(app, "ignore-sigterm", "", &ignore_sigterm, "ignore SIGTERM");
  if (int code = fsr::parse_command_line(app, argc, argv); code >= 0) return code;

  if (!counter_file.empty()) {
    long starts = 0;
    std::ifstream(counter_file) >> starts;
    std::ofstream(counter_file, std::ios::trunc) << ++starts;
    if (starts <= quick_exits) {
      fsr::log_info("child_quick_exit").kv("pid", static_cast<long long>(::getpid())).kv("start", starts);
      return 1;
    }
  }

  bool env_before = std::getenv("LISTEN_FDS") != nullptr && std::getenv("LISTEN_PID") != nullptr;
  std::vector<fsr::InheritedSocket> sockets;
  std::string error;
  if (!fsr::take_inherited_sockets(&sockets, &error) || sockets.empty()) {
    fsr::log_error("child_no_socket").kv("error", error).kv("env_before", env_before);
    return 2;
  }
  bool env_after = std::getenv("LISTEN_FDS") != nullptr || std::getenv("LISTEN_PID") != nullptr;
  const char* restarts_env = std::getenv("FSROUTER_RESTARTS");
  std::string restarts = restarts_env ? restarts_env : "unset";
  int listen_fd = sockets[0].fd;
  bool cloexec = (::fcntl(listen_fd, F_GETFD) & FD_CLOEXEC) != 0;

  if (ignore_sigterm) {
    ::signal(SIGTERM, SIG_IGN);
  } else {
    struct sigaction action {};
    action.sa_handler = on_sigterm;  // no SA_RESTART: accept() returns EINTR
    ::sigaction(SIGTERM, &action, nullptr);
  }
  fsr::log_info("child_ready").kv("pid", static_cast<long long>(::getpid())).kv("listen", sockets[0].address);

  while (true) {
    if (g_stop) {
      fsr::log_info("child_got_sigterm").kv("pid", static_cast<long long>(::getpid()));
      return 0;
    }
    int connection = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    std::string request = read_request(connection);
    std::string path;
    if (auto space = request.find(' '); space != std::string::npos)
      path = request.substr(space + 1, request.find(' ', space + 1) - space - 1);
    fsr::log_info("child_request").kv("pid", static_cast<long long>(::getpid())).kv("path", path);
    if (path == "/slow") sleep_ms(700);
    std::string orphan;
    if (path == "/orphan") orphan = " orphan=" + std::to_string(leave_orphan());
    std::string body = "pid=" + std::to_string(::getpid()) + orphan + " fd=" + std::to_string(listen_fd) +
                       " listen=" + sockets[0].address + " listen_fds_env=" + (env_after ? "set" : "unset") +
                       " cloexec=" + (cloexec ? "1" : "0") + " restarts=" + restarts + "\n";
    write_all(connection, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\nConnection: close\r\n\r\n" + body);
    ::close(connection);
    if (path == "/exit") return 3;
    if (path == "/crash") std::abort();
  }
}
