#include "router/server.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/http_server.h"
#include "common/listen_fds.h"
#include "common/log.h"
#include "journal/journal.h"
#include "recovery/applier.h"
#include "recovery/repairer.h"
#include "router/http/server.h"
#include "router/http_front.h"
#include "router/metrics.h"
#include "router/status_history.h"
#include "router/upstream/backend_monitor.h"
#include "router/upstream/backend_pool.h"
#include "router/upstream/name_guard.h"

namespace fsr::router {
namespace {

sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

RouterServer::RouterServer(RouterConfig config) : config_(std::move(config)) {}

RouterServer::~RouterServer() = default;

int RouterServer::start() {
  const RouterConfig& c = config_;
  set_log_level(c.log_level);
  // Signals are taken by one thread with sigwait; block them everywhere else.
  sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  open_files_ = raise_open_file_limit();
  status_history_ = std::make_unique<StatusHistory>();
  status_history_->observe_log();  // before anything logs an event it keeps

  std::string error;
  // Under fsrouter-supervisor the main listening socket is inherited, not
  // bound: it outlives this process (common/listen_fds.h). Sockets were
  // handed over but none is --listen's: refuse, rather than bind a second
  // socket the supervisor does not keep.
  std::vector<InheritedSocket> inherited;
  if (!take_inherited_sockets(&inherited, &error)) {
    std::cerr << "fsrouter: inherited sockets: " << error << "\n";
    log_error("inherited_sockets_invalid").kv("error", error);
    return 1;
  }
  int inherited_fd = -1;
  if (!inherited.empty()) {
    inherited_fd = find_inherited_socket(inherited, c.listen);
    std::string addresses;
    for (const InheritedSocket& socket : inherited) {
      addresses += (addresses.empty() ? "" : ",") + socket.address;
      if (socket.fd != inherited_fd) ::close(socket.fd);  // not ours to serve
    }
    if (inherited_fd < 0) {
      std::cerr << "fsrouter: no inherited socket is bound to --listen " << c.listen << " (inherited: " << addresses
                << ")\n";
      log_error("inherited_socket_missing").kv("listen", c.listen).kv("inherited", addresses);
      return 1;
    }
  }

  pool_ = BackendPool::create(c.backend_addresses, c.primary, c.backend_cap, c.abandon_settle, c.slot_grace, &error);
  if (!pool_) {
    std::cerr << "fsrouter: " << error << "\n";
    return 2;
  }

  journal::Options journal_options;
  journal_options.dir = c.journal_dir;
  journal_options.inline_body_max = static_cast<size_t>(c.inline_body_max);
  journal_options.record_retention_ms = std::chrono::milliseconds(c.record_retention).count();
  journal_options.body_cache_bytes = static_cast<uint64_t>(c.body_cache_mb) << 20;
  journal::Status s = journal::Journal::open(journal_options, &journal_);
  if (!s.ok()) {
    std::cerr << "fsrouter: " << s.message << "\n";
    log_error("journal_open_failed").kv("dir", c.journal_dir).kv("error", s.message);
    return 1;
  }
  // The primary role survives a restart: requests the last process left
  // running went to the primary it knew, not necessarily the designated one.
  {
    std::vector<std::string> addresses;
    for (Backend* b : pool_->all()) addresses.push_back(b->address());
    StartPrimary start = choose_start_primary(addresses, journal_->backend_states(), pool_->designated_primary());
    pool_->set_primary(start.id);
    log_info("primary_at_start").kv("primary", pool_->primary().address()).kv("reason", start.reason);
  }
  FrontOptions front_options;
  front_options.ack = c.ack;
  front_options.temp_dir = c.journal_dir + "/tmp";
  std::error_code ec;
  std::filesystem::create_directories(front_options.temp_dir, ec);
  front_options.read_wait = c.read_wait;
  front_options.backend_timeout = c.backend_timeout;
  front_options.read_memory_max = static_cast<size_t>(c.read_memory_max);

  guard_ = std::make_unique<NameGuard>(c.abandon_settle);
  recovery::ApplierOptions applier_options;
  applier_options.workers = c.apply_workers > 0 ? c.apply_workers : c.backend_cap;
  applier_options.timeout = c.backend_timeout;
  applier_options.timeout_max = std::max(c.backend_timeout_max, c.backend_timeout);
  applier_ = std::make_unique<recovery::Applier>(*journal_, *pool_, *guard_, applier_options);
  recovery::Applier* applier = applier_.get();
  journal_->set_commit_listener(
      [applier](const std::string& name, const journal::IndexEntry&) { applier->enqueue(name); });

  MonitorOptions monitor_options;
  monitor_options.probe_interval = c.probe_interval;
  monitor_options.probe_timeout = c.probe_timeout;
  monitor_options.marker_interval = c.marker_interval;
  monitor_options.stall_timeout = c.stall_timeout;
  monitor_options.failback = c.failback;
  monitor_ = std::make_unique<BackendMonitor>(*journal_, *pool_, *guard_, monitor_options);
  BackendMonitor* monitor = monitor_.get();
  pool_->set_refused_handler([monitor](Backend& b) { monitor->report_refused(b); });
  pool_->set_hung_handler([monitor](Backend& b) { monitor->report_hung(b); });

  recovery::RepairerOptions repairer_options;
  repairer_options.scrub_slots = c.scrub_slots;
  repairer_options.scrub_interval = c.scrub_interval;
  repairer_options.timeout = c.backend_timeout;
  repairer_ = std::make_unique<recovery::Repairer>(*journal_, *pool_, *guard_, repairer_options);
  front_options.add_status_fields = [repairer = repairer_.get(), history = status_history_.get()](nlohmann::json* j) {
    repairer->add_status_fields(j);
    history->add_status_fields(j);
  };

  front_ = std::make_unique<HttpFront>(*journal_, *pool_, *guard_, *applier_, front_options);
  metrics_ = std::make_unique<RouterMetrics>(restarts_from_environment(std::getenv("FSROUTER_RESTARTS")));
  front_->set_metrics_route([metrics = metrics_.get()](http::Response& res) { metrics->serve(res); });
  http::ServerOptions server_options;
  server_options.host = c.listen_host;
  server_options.port = c.listen_port;
  server_options.io_threads = c.io_threads;
  server_options.blocking_threads = c.threads;
  server_options.keep_alive = std::chrono::seconds(c.keep_alive_s);
  server_options.max_connections = c.max_connections;
  server_options.header_limit = static_cast<size_t>(c.max_header_bytes);
  server_options.max_body_bytes = static_cast<uint64_t>(c.max_body_bytes);
  server_options.header_timeout = c.header_timeout;
  server_options.body_idle_timeout = c.body_idle_timeout;
  server_options.io_timeout = c.write_timeout;
  server_options.inherited_fd = inherited_fd;
  server_options.observer = metrics_.get();
  server_ = std::make_unique<http::Server>(*front_, server_options);
  metrics_->set_sources({journal_.get(), pool_.get(), guard_.get(), applier_.get(), repairer_.get(), monitor_.get(),
                         front_.get(), server_.get(), c.scrub_slots});
  bound_port_ = server_->bind(&error);
  if (bound_port_ < 0) {
    std::cerr << "fsrouter: " << error << "\n";
    return 1;
  }
  http::ServerOptions admin_options;
  admin_options.host = c.admin_host;
  admin_options.port = c.admin_port;
  admin_options.io_threads = 1;
  admin_options.blocking_threads = 1;
  admin_options.max_connections = 64;
  admin_options.keep_alive = std::chrono::seconds(c.keep_alive_s);
  admin_server_ = std::make_unique<http::Server>(front_->admin(), admin_options);
  bound_admin_port_ = admin_server_->bind(&error);
  if (bound_admin_port_ < 0) {
    std::cerr << "fsrouter: admin: " << error << "\n";
    return 1;
  }
  // Requests the previous router process left running on the backends are
  // unknown outcomes: its pending names replay under the guard's rules for
  // abandoned operations (router/upstream/name_guard.h), on every backend.
  // It may also have left a PUT or first GET of any name running, so no
  // DELETE goes out before the settle time. Each such name is suspect on
  // every backend until read back (recovery/repairer.h).
  guard_->restarted();
  std::vector<journal::Journal::Suspect> suspects;
  for (const auto& [name, entry] : journal_->pending_entries())
    for (Backend* b : pool_->all()) {
      guard_->abandoned_before_start(name, b->id());
      suspects.push_back({name, b->address()});
    }
  if (journal::Status s = journal_->add_suspects(suspects); !s.ok())
    log_error("suspect_mark_failed").kv("names", suspects.size()).kv("error", s.message);  // the scrub still checks them
  applier_->start();
  repairer_->start();
  monitor_->start();
  server_->start();
  admin_server_->start();
  front_->set_ready(true);
  log_info("listening")
      .kv("listen", c.listen_host + ":" + std::to_string(bound_port_))
      .kv("inherited", inherited_fd >= 0)
      .kv("admin_listen", c.admin_host + ":" + std::to_string(bound_admin_port_))
      .kv("backends", c.backends)
      .kv("primary", pool_->primary().address())
      .kv("journal_dir", c.journal_dir)
      .kv("ack", c.ack_name)
      .kv("io_threads", c.io_threads)
      .kv("open_files", open_files_);
  return 0;
}

int RouterServer::run() {
  std::atomic<bool> stopping{false};
  std::thread signal_thread([this, &stopping] {
    sigset_t signals = stop_signals();
    int sig = 0;
    sigwait(&signals, &sig);
    if (stopping.exchange(true)) return;
    log_info("stopping").kv("signal", sig);
    server_->stop();  // graceful: returns once requests in flight are answered
    admin_server_->stop();
  });
  std::thread housekeeping([this, &stopping] {
    auto last_compaction = std::chrono::steady_clock::now();
    while (!stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (std::chrono::steady_clock::now() - last_compaction > std::chrono::minutes(1)) {
        journal_->compact_history();
        last_compaction = std::chrono::steady_clock::now();
      }
      status_history_->maybe_sample(journal_->last_seq(), journal_->applied_seq());
      for (auto* b : pool_->all()) {
        journal_->save_backend_state(b->address(), fsr::journal::BackendState{role_name(pool_->role_of(*b)),
                                                                               b->healthy.load(), b->watermark.load()});
      }
    }
  });

  signal_thread.join();
  housekeeping.join();
  front_->stop_reads();  // reads through still waiting end by their deadline
  monitor_->stop();
  repairer_->stop();
  applier_->stop();
  auto stats = journal_->stats();
  journal_.reset();
  log_info("stopped").kv("last_seq", stats.last_seq).kv("applied_seq", stats.applied_seq)
      .kv("pending", stats.pending_count);
  return 0;
}

}  // namespace fsr::router
