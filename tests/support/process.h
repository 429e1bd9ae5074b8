// Test support: run the project's programs as real child processes.
//
// A ChildProcess is started with argv and an optional log file (stdout and
// stderr both go there), and is killed (SIGKILL) when destroyed unless it
// already exited. Tests use it to run `fileserver` and `fsrouter` on loopback
// and to kill, stop or continue them at chosen moments.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace fsr::test {

// Absolute path of a program built by this project, e.g. program_path("fileserver").
std::string program_path(const std::string& name);

// How spawn_program starts a child.
struct SpawnOptions {
  std::string stdout_path;           // empty: inherited
  std::string stderr_path;           // empty: inherited; may equal stdout_path (one file for both)
  bool append = false;               // append to the files instead of truncating them
  bool own_process_group = false;    // the child leads a new process group
  std::vector<std::string> extra_env;  // "KEY=VALUE", replacing the parent's KEY
};

// Starts argv[0] (an absolute path) with argv. Safe while other threads of
// the test allocate: nothing runs in the child between the fork and the exec
// that could wait for a lock another thread held (posix_spawn). Throws when
// the program cannot be started.
pid_t spawn_program(const std::vector<std::string>& argv, const SpawnOptions& options = {});

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(std::vector<std::string> argv, std::string log_path,
               std::vector<std::string> extra_env = {});
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Sends sig and waits for exit; returns the wait status (or -1).
  int stop(int sig, std::chrono::milliseconds patience = std::chrono::seconds(30));
  // Waits for exit up to patience; returns the wait status, or -1 if still running.
  int wait(std::chrono::milliseconds patience);
  const std::string& log_path() const { return log_path_; }
  std::string read_log() const;
  // Bytes in the log so far (0 when there is none).
  size_t log_size() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "fsr-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& child) const { return path_ + "/" + child; }

 private:
  std::string path_;
};

// The port a program started with port 0 bound: read from its log line
// `event=listening` (the router's `listen="HOST:PORT"`, the fileserver's
// `port=N`) written after byte `log_from` of its log, polling until the
// deadline. Throws with the log when the line does not come or the program exits.
int listening_port(ChildProcess& program, size_t log_from = 0,
                   std::chrono::milliseconds patience = std::chrono::seconds(30));

// Polls cond every 10 ms until it holds or the deadline passes; returns its last value.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds patience);

// Peak resident set size (VmHWM) of a live process, in KiB; -1 if unknown.
long peak_rss_kib(pid_t pid);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);
bool file_exists(const std::string& path);

// Random printable payload of the given size, reproducible from the seed.
std::string random_body(size_t size, unsigned seed);

}  // namespace fsr::test
