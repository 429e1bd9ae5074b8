// The running fsrouter: owns its parts and the order they start and stop in.
//
// start(): backend pool (the list checked), journal opened (recovered), name
// guard, applier, monitor, HTTP front, listening socket bound; then the applier and the
// monitor run, the HTTP server (router/http/server.h) accepts, and /readyz
// turns ready. run(): serves until SIGTERM or
// SIGINT, with a housekeeping thread that compacts the journal's history
// and records each backend's role, health and watermark in it. The stop is
// graceful: connections the kernel already completed are still accepted and
// answered, new ones find the port closed, requests in flight finish, then
// the monitor and the applier stop and the journal closes.
//
// Under fsrouter-supervisor the main listening socket is inherited
// (common/listen_fds.h): start() adopts the one bound to --listen instead of
// binding, and returns 1 if sockets were inherited but none is --listen's.
// The stop then leaves the shared socket listening: no filter, only this
// process's fd is closed, and new connections queue for the next router.
//
// Log lines: `listening` once bound (inherited=true|false), `stopping` on the signal, `stopped`
// with the journal's last and applied sequence numbers.
#pragma once

#include <memory>

#include "router/options.h"

namespace fsr::router::http {
class Server;
}
namespace fsr::journal {
class Journal;
}
namespace fsr::recovery {
class Applier;
class Repairer;
}

namespace fsr::router {

class BackendPool;
class NameGuard;
class BackendMonitor;
class HttpFront;
class StatusHistory;
class RouterMetrics;

class RouterServer {
 public:
  explicit RouterServer(RouterConfig config);
  ~RouterServer();
  RouterServer(const RouterServer&) = delete;
  RouterServer& operator=(const RouterServer&) = delete;

  // Builds and starts everything, in the order above. Returns 0, or the
  // process exit code after reporting the reason on stderr: 2 for a
  // configuration the pool refuses (the backend list), 1 when the journal
  // cannot be opened, the address cannot be bound or no inherited socket
  // is --listen's. Blocks SIGTERM and SIGINT in the calling thread first, so
  // that every thread started here inherits the mask and only run() takes them.
  int start();

  // Serves until SIGTERM or SIGINT and stops as described above; returns
  // the exit code (0). Call once, after start() returned 0, from the same thread.
  int run();

 private:
  RouterConfig config_;
  // Declared in start order; destroyed in reverse.
  std::unique_ptr<StatusHistory> status_history_;  // recent_events, apply_history in /admin/status
  std::unique_ptr<BackendPool> pool_;
  std::unique_ptr<journal::Journal> journal_;
  std::unique_ptr<NameGuard> guard_;
  std::unique_ptr<recovery::Applier> applier_;
  std::unique_ptr<recovery::Repairer> repairer_;
  std::unique_ptr<BackendMonitor> monitor_;
  std::unique_ptr<HttpFront> front_;
  std::unique_ptr<RouterMetrics> metrics_;  // observes server_; destroyed after it
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Server> admin_server_;  // /admin/* on --admin-listen
  int bound_admin_port_ = 0;
  int bound_port_ = 0;
  long open_files_ = 0;
};

}  // namespace fsr::router
