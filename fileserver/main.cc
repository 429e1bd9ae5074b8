// fileserver: a faithful stand-in for the slow, connection-capped backend
// file server the router fronts (spec/backend-fileserver.md). Defaults equal
// the real server's; every hazard, the wedge included, is kept on purpose.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/flags.h"
#include "common/http_server.h"
#include "common/log.h"
#include "fileserver/file_service.h"

#if defined(__SANITIZE_THREAD__)
// A wedged instance exits on SIGTERM without joining its stuck worker
// threads (see watch_signals); that is by design, not a leak to report.
extern "C" const char* __tsan_default_options() { return "report_thread_leaks=0"; }
#endif

namespace {

// After SIGTERM/SIGINT the server stops accepting and waits for requests in
// flight; a wedged request never finishes, so after this long the process
// exits anyway.
constexpr auto kShutdownGrace = std::chrono::seconds(3);

struct ShutdownState {
  std::mutex mutex;
  std::condition_variable finished_cv;
  bool finished = false;
};

// Waits for SIGTERM or SIGINT (blocked in every thread), stops the server,
// and ends the process with 0 if the server does not finish in time.
void watch_signals(sigset_t signals, httplib::Server* server, ShutdownState* state) {
  int sig = 0;
  if (::sigwait(&signals, &sig) != 0) return;
  fsr::log_info("stopping").kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  auto deadline = std::chrono::steady_clock::now() + kShutdownGrace;
  // A signal may arrive before the accept loop runs; stop() only acts on a running server.
  while (!server->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::unique_lock<std::mutex> lock(state->mutex);
    if (state->finished) return;
    state->finished_cv.wait_for(lock, std::chrono::milliseconds(10));
  }
  server->stop();
  std::unique_lock<std::mutex> lock(state->mutex);
  if (!state->finished_cv.wait_until(lock, deadline, [state] { return state->finished; })) {
    fsr::log_warn("stop_forced").kv("reason", "requests still in flight after the grace period");
    ::_exit(0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "0.0.0.0";
  int64_t port = 1234;
  std::string data_dir = "./fileserver-data";
  int64_t latency_ms = 333;
  int64_t max_inflight = 10;
  int64_t threads = 64;
  std::string log_level = "info";
  bool fault_control = false;

  CLI::App app{"Stand-in for the backend file server: GET/PUT/DELETE /api/fileserver/{name} over one data\n"
               "directory, with the original's latency, in-flight cap, per-name exclusion, process-wide lock\n"
               "and wedge. Logs one line per request on stderr.",
               "fileserver"};
  fsr::use_flag_conventions(app, "fileserver [flags]");
  fsr::add_env_option(app, "host", "FILESERVER_HOST", &host, "address to listen on (the original: all interfaces)");
  fsr::add_env_option(app, "port", "FILESERVER_PORT", &port, "TCP port to listen on (0 picks a free one)")
      ->check(fsr::between(0, 65535));
  fsr::add_env_option(app, "data-dir", "FILESERVER_DATA_DIR", &data_dir,
                      "directory holding the files, shared by every instance; created if missing")
      ->check(CLI::Validator(
          [](std::string& dir) { return dir.empty() ? std::string("must not be empty") : std::string(); }, ""));
  fsr::add_env_option(app, "latency-ms", "FILESERVER_LATENCY_MS", &latency_ms,
                      "sleep before handling each admitted request, holding its in-flight slot")
      ->check(fsr::at_least(0));
  fsr::add_env_option(app, "max-inflight", "FILESERVER_MAX_INFLIGHT", &max_inflight,
                      "requests handled at once; one more is answered 429 at once")
      ->check(fsr::at_least(1));
  fsr::add_env_option(app, "threads", "FILESERVER_THREADS", &threads,
                      "worker threads; keep well above --max-inflight so refusals stay immediate")
      ->check(fsr::at_least(1));
  fsr::add_env_option(app, "log-level", "FILESERVER_LOG_LEVEL", &log_level, "debug, info, warn or error")
      ->check(fsr::one_of({"debug", "info", "warn", "error"}));
  fsr::add_env_switch(app, "fault-control", "FILESERVER_FAULT_CONTROL", &fault_control,
                      "serve the /_fault/ routes that hold, release and refuse requests on demand (tests only)");
  if (int code = fsr::parse_command_line(app, argc, argv); code >= 0) return code;

  fsr::LogLevel level = fsr::LogLevel::kInfo;
  fsr::parse_log_level(log_level, &level);
  fsr::set_log_level(level);
  if (threads <= max_inflight) {
    fsr::log_warn("few_threads").kv("threads", threads).kv("max_inflight", max_inflight).kv(
        "effect", "requests beyond the cap wait for a thread instead of getting 429 at once");
  }
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec || !std::filesystem::is_directory(data_dir)) {
    fsr::log_error("data_dir_unusable").kv("data_dir", data_dir).kv("error", ec.message());
    return 1;
  }
  fsr::raise_open_file_limit();

  // Block the stop signals before any thread starts so that only the
  // watcher receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  fsr::fileserver::FileServiceOptions options;
  options.data_dir = data_dir;
  options.latency = std::chrono::milliseconds(latency_ms);
  options.max_inflight = static_cast<int>(max_inflight);
  options.fault_control = fault_control;
  fsr::fileserver::FileService service(options);

  httplib::Server server;
  fsr::HttpServerOptions server_options;
  server_options.threads = static_cast<int>(threads);
  fsr::configure_server(server, server_options);
  service.install(server);

  std::string error;
  int bound = fsr::bind_server(server, host, static_cast<int>(port), &error);
  if (bound < 0) {
    fsr::log_error("bind_failed").kv("error", error);
    return 1;
  }
  fsr::log_info("listening")
      .kv("host", host)
      .kv("port", bound)
      .kv("data_dir", data_dir)
      .kv("latency_ms", latency_ms)
      .kv("max_inflight", max_inflight)
      .kv("threads", threads)
      .kv("fault_control", fault_control);

  ShutdownState shutdown;
  std::thread watcher(watch_signals, stop_signals, &server, &shutdown);
  bool listened = server.listen_after_bind();
  {
    std::lock_guard<std::mutex> lock(shutdown.mutex);
    shutdown.finished = true;
  }
  shutdown.finished_cv.notify_all();
  if (!listened) {
    // Not stopped by a signal: the accept loop failed. The watcher still
    // waits in sigwait and cannot be joined.
    fsr::log_error("listen_failed");
    watcher.detach();
    ::_exit(1);
  }
  watcher.join();
  fsr::log_info("stopped");
  return 0;
}
