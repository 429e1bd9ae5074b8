// fsrouter-supervisor: binds the router's listening sockets once and keeps
// them for its whole life, runs the router as its child with the sockets as
// fds 3.. (systemd's LISTEN_FDS convention, common/listen_fds.h), and starts
// a new child whenever the last one dies. While no child runs, connections
// wait in the kernel's accept queue instead of being refused.
//
// Signals (all handled in one thread, by sigtimedwait; no handlers run):
//   SIGTERM, SIGINT  forwarded to the child; once it exits the supervisor
//                    exits too (0 after a clean stop). SIGKILL after
//                    --stop-timeout-ms.
//   SIGHUP, SIGUSR2  upgrade: SIGTERM to the child, wait for it to exit (it
//                    finishes its requests in flight and releases the
//                    journal), then start a new child at once.
//   SIGCHLD          reap every exited process (the supervisor is a child
//                    subreaper, and PID 1 in a container, so orphans of the
//                    router are reparented to it); when it is the
//                    child, start the next one after the backoff
//                    (supervisor/restart_backoff.h).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/flags.h"
#include "common/log.h"
#include "supervisor/listen_sockets.h"
#include "supervisor/restart_backoff.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kFirstInheritedFd = 3;

std::string signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGKILL: return "SIGKILL";
    case SIGHUP: return "SIGHUP";
    case SIGUSR2: return "SIGUSR2";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGQUIT: return "SIGQUIT";
    default: {
      const char* text = ::sigabbrev_np(sig);
      return text ? std::string("SIG") + text : "signal " + std::to_string(sig);
    }
  }
}

long long ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

// Runs in the forked child before exec: the sockets at fds 3.., the
// LISTEN_* variables naming this process, FSROUTER_RESTARTS (children that
// died before this one; upgrades and the first start are not restarts), the
// signal state of a fresh program.
[[noreturn]] void exec_child(const std::vector<fsr::supervisor::ListenSocket>& sockets,
                             const std::vector<std::string>& command, pid_t supervisor_pid, long long restarts) {
  // The child dies with the supervisor (SIGKILLed itself, say): nothing
  // would restart or stop it any more, it would keep the port and the
  // journal's lock from the next supervisor, and a child that ignores or
  // takes long over SIGTERM would outlive it (a router drains for up to
  // --stop-timeout-ms). SIGKILL costs nothing the router's own death does
  // not: its journal is durable at every instant. The check after prctl
  // closes the race with a supervisor that died before it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != supervisor_pid) ::_exit(1);

  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);  // an ignored signal stays ignored across exec

  // Copy every socket above the target range first, so that placing one at
  // 3+i never overwrites another that still sits there.
  int count = static_cast<int>(sockets.size());
  std::vector<int> moved;
  for (const auto& socket : sockets) {
    int fd = ::fcntl(socket.fd, F_DUPFD_CLOEXEC, kFirstInheritedFd + count);
    if (fd < 0) ::_exit(126);
    moved.push_back(fd);
  }
  for (int i = 0; i < count; ++i) {
    if (::dup2(moved[i], kFirstInheritedFd + i) < 0) ::_exit(126);  // dup2 clears FD_CLOEXEC
  }
  for (int fd : moved) ::close(fd);

  ::setenv("LISTEN_FDS", std::to_string(count).c_str(), 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::unsetenv("LISTEN_FDNAMES");
  ::setenv("FSROUTER_RESTARTS", std::to_string(restarts).c_str(), 1);

  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  fsr::log_error("child_exec_failed").kv("command", command[0]).kv("error", std::strerror(errno));
  ::_exit(127);
}

class Supervisor {
 public:
  Supervisor(std::vector<fsr::supervisor::ListenSocket> sockets, std::vector<std::string> command,
             fsr::supervisor::RestartBackoff backoff, milliseconds stop_timeout)
      : sockets_(std::move(sockets)), command_(std::move(command)), backoff_(backoff), stop_timeout_(stop_timeout) {}

  // Runs until a stop signal ends the child; returns the exit code.
  int run(const sigset_t& signals) {
    next_start_ = Clock::now();
    while (true) {
      auto now = Clock::now();
      if (child_ < 0 && stopping_) return stop_exit_code_;
      if (child_ < 0 && next_start_ && now >= *next_start_) start_child();
      if (child_ > 0 && kill_at_ && now >= *kill_at_) kill_child();

      std::optional<Clock::time_point> wake;
      if (child_ < 0 && next_start_) wake = next_start_;
      if (child_ > 0 && kill_at_) wake = kill_at_;
      timespec timeout{};
      timespec* timeout_ptr = nullptr;
      if (wake) {
        long long ms = std::max<long long>(0, ms_between(Clock::now(), *wake));
        timeout.tv_sec = ms / 1000;
        timeout.tv_nsec = (ms % 1000) * 1000000 + 1000000;  // round up: wake after the point, not before
        if (timeout.tv_nsec >= 1000000000) {
          timeout.tv_sec += 1;
          timeout.tv_nsec -= 1000000000;
        }
        timeout_ptr = &timeout;
      }
      int sig = timeout_ptr ? ::sigtimedwait(&signals, nullptr, timeout_ptr) : ::sigwaitinfo(&signals, nullptr);
      if (sig < 0) continue;  // timeout or EINTR: the loop's checks above act on it
      switch (sig) {
        case SIGCHLD: reap(); break;
        case SIGTERM:
        case SIGINT: stop(sig); break;
        case SIGHUP:
        case SIGUSR2: upgrade(sig); break;
        default: break;
      }
    }
  }

 private:
  void start_child() {
    next_start_.reset();
    pid_t supervisor_pid = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
      milliseconds delay = backoff_.after_exit(milliseconds(0));
      fsr::log_error("child_fork_failed").kv("error", std::strerror(errno)).kv("next_start_in_ms",
                                                                                 static_cast<long long>(delay.count()));
      next_start_ = Clock::now() + delay;
      return;
    }
    if (pid == 0) exec_child(sockets_, command_, supervisor_pid, restarts_);
    child_ = pid;
    child_started_ = Clock::now();
    ++starts_;
    fsr::log_info("child_started")
        .kv("pid", static_cast<long long>(pid))
        .kv("start", starts_)
        .kv("restarts", restarts_)
        .kv("listen_fds", static_cast<long long>(sockets_.size()))
        .kv("command", command_[0]);
  }

  void kill_child() {
    fsr::log_warn("child_stop_timeout")
        .kv("pid", static_cast<long long>(child_))
        .kv("stop_timeout_ms", static_cast<long long>(stop_timeout_.count()))
        .kv("action", "SIGKILL");
    ::kill(child_, SIGKILL);
    forced_kill_ = true;
    kill_at_.reset();
  }

  void reap() {
    while (true) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;
      if (pid != child_) {
        fsr::log_debug("orphan_reaped").kv("pid", static_cast<long long>(pid));
        continue;
      }
      child_exited(status);
    }
  }

  void child_exited(int status) {
    auto now = Clock::now();
    milliseconds uptime = std::chrono::duration_cast<milliseconds>(now - child_started_);
    pid_t pid = child_;
    child_ = -1;
    kill_at_.reset();

    long long next_in_ms = -1;  // -1: no next child (the supervisor is stopping)
    const char* reason = "died";
    if (stopping_) {
      reason = "stopped";
      bool clean = !forced_kill_ && ((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                                     (WIFSIGNALED(status) && WTERMSIG(status) == stop_signal_));
      stop_exit_code_ = clean ? 0 : 1;
    } else if (upgrading_) {
      reason = "upgrade";
      upgrading_ = false;
      next_in_ms = 0;
      next_start_ = now;
    } else {
      ++restarts_;
      milliseconds delay = backoff_.after_exit(uptime);
      next_in_ms = delay.count();
      next_start_ = now + delay;
    }
    forced_kill_ = false;
    auto line = fsr::log_info("child_exited");
    line.kv("pid", static_cast<long long>(pid));
    if (WIFEXITED(status)) line.kv("status", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) line.kv("signal", signal_name(WTERMSIG(status)));
    line.kv("uptime_ms", static_cast<long long>(uptime.count()))
        .kv("reason", reason)
        .kv("next_start_in_ms", next_in_ms);
  }

  void stop(int sig) {
    if (!stopping_) {
      fsr::log_info("stop_requested")
          .kv("signal", signal_name(sig))
          .kv("child_pid", static_cast<long long>(child_))
          .kv("stop_timeout_ms", static_cast<long long>(stop_timeout_.count()));
    }
    stopping_ = true;
    upgrading_ = false;
    next_start_.reset();
    if (child_ < 0) return;
    stop_signal_ = sig;
    ::kill(child_, sig);
    if (!kill_at_) kill_at_ = Clock::now() + stop_timeout_;
  }

  void upgrade(int sig) {
    if (stopping_ || upgrading_) {
      fsr::log_info("upgrade_ignored").kv("signal", signal_name(sig)).kv("reason", stopping_ ? "stopping" : "upgrading");
      return;
    }
    fsr::log_info("upgrade_requested").kv("signal", signal_name(sig)).kv("old_pid", static_cast<long long>(child_));
    if (child_ < 0) {  // waiting out a backoff: start the new child now
      next_start_ = Clock::now();
      return;
    }
    upgrading_ = true;
    ::kill(child_, SIGTERM);
    kill_at_ = Clock::now() + stop_timeout_;
  }

  std::vector<fsr::supervisor::ListenSocket> sockets_;
  std::vector<std::string> command_;
  fsr::supervisor::RestartBackoff backoff_;
  milliseconds stop_timeout_;

  pid_t child_ = -1;
  Clock::time_point child_started_;
  long long starts_ = 0;
  long long restarts_ = 0;  // children that died (not stopped, not upgraded): the next one's FSROUTER_RESTARTS
  std::optional<Clock::time_point> next_start_;  // when no child runs: when the next one starts
  std::optional<Clock::time_point> kill_at_;     // when a stopping child gets SIGKILL
  bool stopping_ = false;
  bool upgrading_ = false;
  bool forced_kill_ = false;
  int stop_signal_ = SIGTERM;
  int stop_exit_code_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> listen = {"0.0.0.0:8080"};
  int64_t backlog = 4096;
  int64_t backoff_min_ms = 100;
  int64_t backoff_max_ms = 10000;
  int64_t stable_after_ms = 10000;
  int64_t stop_timeout_ms = 30000;
  std::string log_level = "info";
  std::vector<std::string> command;

  CLI::App app{"Keeps the router's listening sockets across router restarts: binds them once, runs the command\n"
               "after -- as its child with the sockets as fds 3.. (LISTEN_FDS, LISTEN_PID), restarts the child\n"
               "when it dies (at once, then with backoff while it keeps dying quickly). SIGTERM/SIGINT: stop\n"
               "the child and exit. SIGHUP or SIGUSR2: upgrade (stop the child, then start a new one at once).",
               "fsrouter-supervisor"};
  fsr::use_flag_conventions(app, "fsrouter-supervisor [flags] -- COMMAND [ARGS...]");
  fsr::add_env_option(app, "listen", "FSROUTER_SUPERVISOR_LISTEN", &listen,
                      "addresses to listen on, HOST:PORT, repeatable or comma-separated; the child gets them as fds "
                      "3.. in this order (port 0: any free one, logged in event=listening)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->delimiter(',')
      ->default_str("0.0.0.0:8080");
  fsr::add_env_option(app, "backlog", "FSROUTER_SUPERVISOR_BACKLOG", &backlog,
                      "accept queue length of each socket: connections that wait while no child runs (the kernel "
                      "caps it at net.core.somaxconn)")
      ->check(fsr::at_least(1));
  fsr::add_env_option(app, "restart-backoff-min-ms", "FSROUTER_SUPERVISOR_RESTART_BACKOFF_MIN_MS", &backoff_min_ms,
                      "wait before the second quick restart in a row; doubled for each further one (the first "
                      "restart is immediate)")
      ->check(fsr::at_least(1));
  fsr::add_env_option(app, "restart-backoff-max-ms", "FSROUTER_SUPERVISOR_RESTART_BACKOFF_MAX_MS", &backoff_max_ms,
                      "longest wait between restarts")
      ->check(fsr::at_least(1));
  fsr::add_env_option(app, "stable-after-ms", "FSROUTER_SUPERVISOR_STABLE_AFTER_MS", &stable_after_ms,
                      "a child that lived this long resets the backoff")
      ->check(fsr::at_least(0));
  fsr::add_env_option(app, "stop-timeout-ms", "FSROUTER_SUPERVISOR_STOP_TIMEOUT_MS", &stop_timeout_ms,
                      "after SIGTERM (stop or upgrade), SIGKILL the child if it has not exited within this long")
      ->check(fsr::at_least(1));
  fsr::add_env_option(app, "log-level", "FSROUTER_SUPERVISOR_LOG_LEVEL", &log_level, "debug, info, warn or error")
      ->check(fsr::one_of({"debug", "info", "warn", "error"}));
  app.add_option("command", command, "the child's command line, after --")->multi_option_policy(
      CLI::MultiOptionPolicy::TakeAll);
  // Everything after the first -- is the child's, taken as it is: CLI11
  // would otherwise read the child's flags (the router's --listen above
  // all) as the supervisor's own.
  int own_argc = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      own_argc = i;
      break;
    }
  if (int code = fsr::parse_command_line(app, own_argc, argv); code >= 0) return code;
  for (int i = own_argc + 1; i < argc; ++i) command.push_back(argv[i]);
  if (command.empty()) {
    std::fprintf(stderr, "fsrouter-supervisor: no command after -- (see fsrouter-supervisor --help)\n");
    return 2;
  }
  if (backoff_max_ms < backoff_min_ms) {
    std::fprintf(stderr, "--restart-backoff-max-ms: must be at least --restart-backoff-min-ms (%lld)\n",
                 static_cast<long long>(backoff_min_ms));
    return 2;
  }

  fsr::LogLevel level = fsr::LogLevel::kInfo;
  fsr::parse_log_level(log_level, &level);
  fsr::set_log_level(level);

  // Block the signals the loop waits for before anything else can receive
  // them; the child unblocks them before exec.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR2}) sigaddset(&signals, sig);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Processes the router leaves behind are reparented here, not to an init
  // elsewhere, and reaped by the loop.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  std::vector<fsr::supervisor::ListenSocket> sockets;
  std::string error;
  if (!fsr::supervisor::bind_listen_sockets(listen, static_cast<int>(backlog), &sockets, &error)) {
    fsr::log_error("bind_failed").kv("error", error);
    return 1;
  }
  for (size_t i = 0; i < sockets.size(); ++i) {
    fsr::log_info("listening")
        .kv("listen", sockets[i].address)
        .kv("requested", sockets[i].requested)
        .kv("child_fd", static_cast<long long>(kFirstInheritedFd + i))
        .kv("backlog", backlog);
  }

  Supervisor supervisor(std::move(sockets), command,
                        fsr::supervisor::RestartBackoff(milliseconds(backoff_min_ms), milliseconds(backoff_max_ms),
                                                        milliseconds(stable_after_ms)),
                        milliseconds(stop_timeout_ms));
  int code = supervisor.run(signals);
  fsr::log_info("stopped").kv("exit_code", code);
  return code;
}
