// fsrouter: the single entry point in front of 1 to 5 backend file servers.
// See docs/architecture.md for the request path, the journal and recovery.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/flags.h"
#include "common/http_server.h"
#include "common/log.h"
#include "journal/journal.h"
#include "recovery/applier.h"
#include "router/upstream/backend_monitor.h"
#include "router/upstream/backend_pool.h"
#include "router/http_front.h"
#include "router/upstream/name_guard.h"

using namespace fsr;

int main(int argc, char** argv) {
  std::string listen = "0.0.0.0:8080";
  std::string backends = "127.0.0.1:1234";
  std::string primary;
  std::string journal_dir = "./fsrouter-journal";
  std::string ack = "journal";
  std::string log_level = "info";
  int64_t backend_cap = 10;
  int64_t threads = 1024;
  int64_t apply_workers = 0;
  int64_t backend_timeout_ms = 5000;
  int64_t backend_timeout_max_ms = 60000;
  int64_t abandon_settle_ms = 3000;
  int64_t slot_grace_ms = 10;
  int64_t read_wait_ms = 4000;
  int64_t inline_body_max = 64 * 1024;
  int64_t read_memory_max = 1 << 20;
  int64_t record_retention_s = 24 * 3600;
  int64_t keep_alive_s = 5;
  int64_t probe_interval_ms = 1000;
  int64_t probe_timeout_ms = 3000;
  int64_t marker_interval_ms = 500;
  int64_t body_cache_mb = 2048;
  bool failback = false;

  Flags flags("fsrouter", "fsrouter [flags]",
              "Routes PUT/GET/DELETE /api/fileserver/{name} to backend file servers. Every write is\n"
              "recorded durably in a RocksDB journal before it is acknowledged, then applied to the\n"
              "primary backend in the background; reads are served from the journal or, for names\n"
              "the router never wrote, read through from a backend.");
  flags.add_string("listen", "FSROUTER_LISTEN", &listen, "address to serve clients on, HOST:PORT");
  flags.add_string("backends", "FSROUTER_BACKENDS", &backends, "backend file servers, HOST:PORT,... (1 to 5)");
  flags.add_string("primary", "FSROUTER_PRIMARY", &primary,
                   "the designated primary backend, HOST:PORT (empty: the first backend)");
  flags.add_string("journal-dir", "FSROUTER_JOURNAL_DIR", &journal_dir, "journal directory (created if missing)");
  flags.add_int("backend-cap", "FSROUTER_BACKEND_CAP", &backend_cap,
                "most connections and requests in flight to one backend, probes and retries included");
  flags.add_string("ack", "FSROUTER_ACK", &ack,
                   "when to acknowledge writes: 'journal' (durable in the journal) or 'backend' (applied to the primary)");
  flags.add_int("threads", "FSROUTER_THREADS", &threads,
                "HTTP worker threads (one per open client connection)");
  flags.add_int("apply-workers", "FSROUTER_APPLY_WORKERS", &apply_workers,
                "threads sending journal records to the primary (0: the backend cap)");
  flags.add_int("backend-timeout-ms", "FSROUTER_BACKEND_TIMEOUT_MS", &backend_timeout_ms,
                "timeout of a backend request's first attempt; doubled per unknown outcome");
  flags.add_int("backend-timeout-max-ms", "FSROUTER_BACKEND_TIMEOUT_MAX_MS", &backend_timeout_max_ms,
                "largest backend request timeout after doubling");
  flags.add_int("abandon-settle-ms", "FSROUTER_ABANDON_SETTLE_MS", &abandon_settle_ms,
                "after giving up on a backend request: wait this long before the next request on that name "
                "(more than the backend's latency), and keep its slot counted this long");
  flags.add_int("slot-grace-ms", "FSROUTER_SLOT_GRACE_MS", &slot_grace_ms,
                "an answered backend request keeps its slot this much longer (the backend counts it out only "
                "after sending the answer; without it the next request may meet a 429)");
  flags.add_int("read-wait-ms", "FSROUTER_READ_WAIT_MS", &read_wait_ms,
                "how long a read of a name the router never wrote may wait for a backend before 503");
  flags.add_int("inline-body-max", "FSROUTER_INLINE_BODY_MAX", &inline_body_max,
                "bodies up to this many bytes are stored inside RocksDB, larger ones in their own files");
  flags.add_int("read-memory-max", "FSROUTER_READ_MEMORY_MAX", &read_memory_max,
                "bodies read through from a backend above this many bytes are buffered on disk, not in memory");
  flags.add_int("record-retention-s", "FSROUTER_RECORD_RETENTION_S", &record_retention_s,
                "applied journal records older than this are compacted away (the index is kept)");
  flags.add_int("keep-alive-s", "FSROUTER_KEEP_ALIVE_S", &keep_alive_s,
                "idle client keep-alive connections are closed after this many seconds");
  flags.add_int("body-cache-mb", "FSROUTER_BODY_CACHE_MB", &body_cache_mb,
                "disk budget (MiB) for bodies of applied files kept in the journal to serve reads; past it the "
                "least recently read are freed and read from the backends (pending bodies are always kept)");
  flags.add_int("probe-interval-ms", "FSROUTER_PROBE_INTERVAL_MS", &probe_interval_ms,
                "how often each backend is probed (a GET of the marker file, through one of its slots)");
  flags.add_int("probe-timeout-ms", "FSROUTER_PROBE_TIMEOUT_MS", &probe_timeout_ms,
                "a probe not answered within this marks the backend unhealthy (hung)");
  flags.add_int("marker-interval-ms", "FSROUTER_MARKER_INTERVAL_MS", &marker_interval_ms,
                "how often the applied watermark is written to the marker file through the primary");
  flags.add_bool("failback", "FSROUTER_FAILBACK", &failback,
                 "give the primary role back to the designated primary once it is healthy and confirmed");
  flags.add_string("log-level", "FSROUTER_LOG_LEVEL", &log_level, "debug, info, warn or error");
  if (int rc = flags.parse(argc, argv); rc >= 0) return rc;
  if (!flags.positional().empty()) {
    std::cerr << "fsrouter: unexpected argument " << flags.positional()[0] << " (see --help)\n";
    return 2;
  }
  LogLevel level;
  if (!parse_log_level(log_level, &level)) {
    std::cerr << "fsrouter: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  set_log_level(level);
  router::FrontOptions front_options;
  if (ack == "journal") front_options.ack = router::AckMode::kJournal;
  else if (ack == "backend") front_options.ack = router::AckMode::kBackend;
  else {
    std::cerr << "fsrouter: --ack must be 'journal' or 'backend'\n";
    return 2;
  }
  std::string listen_host;
  int listen_port = 0;
  if (!split_host_port(listen, &listen_host, &listen_port)) {
    std::cerr << "fsrouter: --listen must be HOST:PORT, got " << listen << "\n";
    return 2;
  }
  if (threads < 4 || backend_cap < 1 || backend_timeout_ms < 1 || abandon_settle_ms < 0) {
    std::cerr << "fsrouter: --threads must be >= 4, --backend-cap >= 1, --backend-timeout-ms >= 1\n";
    return 2;
  }

  // Signals are taken by one thread with sigwait; block them everywhere else.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  long nofile = raise_open_file_limit();

  std::string error;
  auto pool = router::BackendPool::create(split_list(backends), primary, static_cast<int>(backend_cap),
                                          std::chrono::milliseconds(abandon_settle_ms),
                                          std::chrono::milliseconds(std::max<int64_t>(0, slot_grace_ms)), &error);
  if (!pool) {
    std::cerr << "fsrouter: " << error << "\n";
    return 2;
  }

  journal::Options journal_options;
  journal_options.dir = journal_dir;
  journal_options.inline_body_max = static_cast<size_t>(inline_body_max);
  journal_options.record_retention_ms = record_retention_s * 1000;
  journal_options.body_cache_bytes = static_cast<uint64_t>(std::max<int64_t>(0, body_cache_mb)) << 20;
  std::unique_ptr<journal::Journal> journal;
  journal::Status s = journal::Journal::open(journal_options, &journal);
  if (!s.ok()) {
    std::cerr << "fsrouter: " << s.message << "\n";
    log_error("journal_open_failed").kv("dir", journal_dir).kv("error", s.message);
    return 1;
  }
  std::error_code ec;
  front_options.temp_dir = journal_dir + "/tmp";
  std::filesystem::create_directories(front_options.temp_dir, ec);
  front_options.read_wait = std::chrono::milliseconds(read_wait_ms);
  front_options.backend_timeout = std::chrono::milliseconds(backend_timeout_ms);
  front_options.read_memory_max = static_cast<size_t>(read_memory_max);

  router::NameGuard guard{std::chrono::milliseconds(abandon_settle_ms)};
  recovery::ApplierOptions applier_options;
  applier_options.workers = static_cast<int>(apply_workers > 0 ? apply_workers : backend_cap);
  applier_options.timeout = std::chrono::milliseconds(backend_timeout_ms);
  applier_options.timeout_max = std::chrono::milliseconds(std::max(backend_timeout_max_ms, backend_timeout_ms));
  recovery::Applier applier(*journal, *pool, guard, applier_options);
  journal->set_commit_listener([&applier](const std::string& name, const journal::IndexEntry&) { applier.enqueue(name); });

  router::MonitorOptions monitor_options;
  monitor_options.probe_interval = std::chrono::milliseconds(probe_interval_ms);
  monitor_options.probe_timeout = std::chrono::milliseconds(probe_timeout_ms);
  monitor_options.marker_interval = std::chrono::milliseconds(marker_interval_ms);
  monitor_options.failback = failback;
  router::BackendMonitor monitor(*journal, *pool, guard, monitor_options);
  pool->set_refused_handler([&monitor](router::Backend& b) { monitor.report_refused(b); });
  pool->set_hung_handler([&monitor](router::Backend& b) { monitor.report_hung(b); });

  router::HttpFront front(*journal, *pool, guard, applier, front_options);
  httplib::Server server;
  HttpServerOptions server_options;
  server_options.threads = static_cast<int>(threads);
  server_options.keep_alive_timeout_sec = static_cast<int>(keep_alive_s);
  configure_server(server, server_options);
  front.install(server);
  int listen_fd = -1;
  int port = bind_server(server, listen_host, listen_port, &error, &listen_fd);
  if (port < 0) {
    std::cerr << "fsrouter: " << error << "\n";
    return 1;
  }
  applier.start();
  monitor.start();
  front.set_ready(true);
  log_info("listening")
      .kv("listen", listen_host + ":" + std::to_string(port))
      .kv("backends", backends)
      .kv("primary", pool->primary().address())
      .kv("journal_dir", journal_dir)
      .kv("ack", ack)
      .kv("open_files", nofile);

  std::atomic<bool> stopping{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (stopping.exchange(true)) return;
    log_info("stopping").kv("signal", sig);
    // Let connections already completed by the kernel be accepted and
    // answered; new ones are dropped and find the port closed.
    refuse_new_connections(listen_fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server.stop();
  });
  std::thread housekeeping([&] {
    auto last_compaction = std::chrono::steady_clock::now();
    while (!stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (std::chrono::steady_clock::now() - last_compaction > std::chrono::minutes(1)) {
        journal->compact_history();
        last_compaction = std::chrono::steady_clock::now();
      }
      for (auto* b : pool->all()) {
        journal->save_backend_state(b->address(), std::string("{\"role\":\"") + router::role_name(pool->role_of(*b)) +
                                                      "\",\"healthy\":" + (b->healthy ? "true" : "false") +
                                                      ",\"watermark\":" + std::to_string(b->watermark.load()) + "}");
      }
    }
  });

  server.listen_after_bind();  // returns after stop(), once in-flight requests are answered
  if (!stopping.exchange(true)) {
    // listen failed on its own; wake the signal thread
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  housekeeping.join();
  monitor.stop();
  applier.stop();
  auto stats = journal->stats();
  journal.reset();
  log_info("stopped").kv("last_seq", stats.last_seq).kv("applied_seq", stats.applied_seq)
      .kv("pending", stats.pending_count);
  return 0;
}
