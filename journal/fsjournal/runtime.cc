#include "journal/fsjournal/runtime.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

namespace fsr::journal::cli {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_interruptible{false};
std::mutex g_mu;
std::set<std::string>& temp_dirs() {
  static std::set<std::string> dirs;
  return dirs;
}

}  // namespace

void install_stop_signals() {
  static std::once_flag once;
  std::call_once(once, [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // A closed pipe (`fsjournal export | head`) ends the output loops through
    // a failed stream instead of killing the process before it cleans up.
    ::signal(SIGPIPE, SIG_IGN);
    std::thread([set] {
      int sig = 0;
      // An interruptible command gets one signal to return on its own; a
      // second one ends the process like any other.
      do {
        sigwait(&set, &sig);
      } while (!g_stop.exchange(true) && g_interruptible);
      {
        std::lock_guard<std::mutex> lock(g_mu);
        std::error_code ec;
        for (const auto& dir : temp_dirs()) std::filesystem::remove_all(dir, ec);
      }
      ::_exit(128 + sig);
    }).detach();
  });
}

void set_interruptible(bool interruptible) { g_interruptible = interruptible; }
bool stop_requested() { return g_stop; }

void remember_temp_dir(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mu);
  temp_dirs().insert(path);
}

void forget_temp_dir(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mu);
  temp_dirs().erase(path);
}

}  // namespace fsr::journal::cli
