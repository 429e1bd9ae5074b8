#include "tests/support/process.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fsr::test {

std::string program_path(const std::string& name) {
  for (const char* dir : {"fileserver", "router", "journal/fsjournal", "loadtest", "supervisor", "tests/supervisor"}) {
    std::string p = std::string(FSR_BUILD_DIR) + "/" + dir + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  throw std::runtime_error("program not built: " + name);
}

pid_t spawn_program(const std::vector<std::string>& argv, const SpawnOptions& options) {
  // Everything the child needs is built here, in the parent: posix_spawn's
  // child only opens, duplicates and execs.
  if (argv.empty()) throw std::invalid_argument("spawn_program: no program");
  auto key_of = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  // Like putenv in the child: KEY=VALUE replaces KEY (the last one given wins).
  std::map<std::string, std::string> extra;
  for (const auto& kv : options.extra_env) {
    if (kv.find('=') == std::string::npos) throw std::invalid_argument("spawn_program: not KEY=VALUE: " + kv);
    extra[key_of(kv)] = kv;
  }
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (!extra.count(key_of(*e))) env.emplace_back(*e);
  for (const auto& [key, kv] : extra) env.push_back(kv);
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& kv : env) envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  int flags = O_WRONLY | O_CREAT | (options.append ? O_APPEND : O_TRUNC);
  int err = 0;
  if (!options.stdout_path.empty())
    err = ::posix_spawn_file_actions_addopen(&actions, 1, options.stdout_path.c_str(), flags, 0644);
  if (err == 0 && !options.stderr_path.empty()) {
    if (options.stderr_path == options.stdout_path)
      err = ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
    else
      err = ::posix_spawn_file_actions_addopen(&actions, 2, options.stderr_path.c_str(), flags, 0644);
  }
  if (err == 0 && options.own_process_group) {
    err = ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    if (err == 0) err = ::posix_spawnattr_setpgroup(&attr, 0);
  }
  pid_t pid = -1;
  if (err == 0) err = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (err != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(err));
  return pid;
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log_path,
                           std::vector<std::string> extra_env)
    : log_path_(std::move(log_path)) {
  SpawnOptions options;
  options.stdout_path = options.stderr_path = log_path_;
  options.append = true;
  options.own_process_group = true;
  options.extra_env = std::move(extra_env);
  pid_ = spawn_program(argv, options);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGCONT);
    stop(SIGKILL, std::chrono::seconds(10));
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }
ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && running()) stop(SIGKILL);
    pid_ = other.pid_;
    status_ = other.status_;
    log_path_ = std::move(other.log_path_);
    other.pid_ = -1;
  }
  return *this;
}

bool ChildProcess::running() {
  if (pid_ <= 0 || status_ != -1) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    return false;
  }
  return r == 0;
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && status_ == -1) ::kill(pid_, sig);
}

int ChildProcess::wait(std::chrono::milliseconds patience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

int ChildProcess::stop(int sig, std::chrono::milliseconds patience) {
  if (!running()) return status_;
  signal(sig);
  int st = wait(patience);
  if (st == -1 && sig != SIGKILL) {
    signal(SIGKILL);
    st = wait(std::chrono::seconds(10));
  }
  return st;
}

std::string ChildProcess::read_log() const { return log_path_.empty() ? "" : read_file(log_path_); }

size_t ChildProcess::log_size() const {
  struct stat st {};
  return !log_path_.empty() && ::stat(log_path_.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}
TempDir::~TempDir() {
  if (std::getenv("FSR_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
// The port in one `event=listening` line, or 0.
int port_in_line(const std::string& line) {
  if (line.find("event=listening") == std::string::npos) return 0;
  size_t at = line.find(" port=");
  if (at != std::string::npos) return std::atoi(line.c_str() + at + 6);
  at = line.find(" listen=\"");
  if (at == std::string::npos) return 0;
  size_t end = line.find('"', at + 9);
  size_t colon = line.rfind(':', end);
  if (end == std::string::npos || colon == std::string::npos || colon < at) return 0;
  return std::atoi(line.c_str() + colon + 1);
}
}  // namespace

int listening_port(ChildProcess& program, size_t log_from, std::chrono::milliseconds patience) {
  int port = 0;
  bool exited = false;
  wait_until(
      [&] {
        std::string log = program.read_log();
        std::istringstream lines(log.size() > log_from ? log.substr(log_from) : "");
        for (std::string line; std::getline(lines, line);)
          if ((port = port_in_line(line)) > 0) return true;
        exited = !program.running();
        return exited;
      },
      patience);
  if (port > 0) return port;
  throw std::runtime_error(program.log_path() + (exited ? ": program exited" : ": no listening line in time") +
                           " before it logged its port:\n" + program.read_log());
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds patience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() > deadline) return cond();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

long peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string random_body(size_t size, unsigned seed) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = kAlphabet[rng() & 63];
  return out;
}

}  // namespace fsr::test
