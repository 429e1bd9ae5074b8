// fsrouter's configuration: every flag of `fsrouter --help` (and of the
// README's table), parsed from the command line, then the FSROUTER_*
// environment, then the defaults below.
//
// A RouterConfig that parse_router_config filled is valid: numbers are in
// range, --listen is HOST:PORT, --ack and --log-level are known words.
// The backend list is checked where the pool is built from it
// (BackendPool::create), its one home.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/log.h"
#include "router/http_front.h"

namespace fsr::router {

struct RouterConfig {
  std::string listen = "0.0.0.0:8080";  // as given, for the log
  std::string admin_listen = "127.0.0.1:8081";  // as given, for the log
  std::string admin_host = "127.0.0.1";
  int admin_port = 8081;
  std::string listen_host = "0.0.0.0";
  int listen_port = 8080;
  std::string backends = "127.0.0.1:1234";  // as given, for the log
  std::vector<std::string> backend_addresses = {"127.0.0.1:1234"};
  std::string primary;  // empty: the first backend
  std::string journal_dir = "./fsrouter-journal";
  int backend_cap = 10;
  std::string ack_name = "journal";
  AckMode ack = AckMode::kJournal;
  int threads = 0;  // 0: 1024 with --ack backend, else 16
  int io_threads = 0;  // 0: the core count
  int apply_workers = 0;  // 0: backend_cap
  std::chrono::milliseconds backend_timeout{5000};
  std::chrono::milliseconds backend_timeout_max{60000};
  std::chrono::milliseconds abandon_settle{3000};
  std::chrono::milliseconds slot_grace{10};
  std::chrono::milliseconds read_wait{4000};
  int64_t inline_body_max = 64 * 1024;
  int64_t read_memory_max = 1 << 20;
  std::chrono::seconds record_retention{24 * 3600};
  int keep_alive_s = 75;
  int max_connections = 10000;
  int64_t max_header_bytes = 16 * 1024;
  int64_t max_body_bytes = int64_t{1} << 40;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_idle_timeout{30000};
  std::chrono::milliseconds write_timeout{30000};
  int64_t body_cache_mb = 2048;
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds probe_timeout{3000};
  std::chrono::milliseconds marker_interval{500};
  std::chrono::milliseconds stall_timeout{30000};
  int scrub_slots = 1;
  std::chrono::milliseconds scrub_interval{100};
  bool failback = false;
  std::string log_level_name = "info";
  LogLevel log_level = LogLevel::kInfo;
};

// Parses argv[1..] into *config. Returns -1 to go on, or the exit code:
// 0 after -h/--help (help on stdout), 2 after a usage error (one line on
// stderr naming the flag).
int parse_router_config(int argc, char** argv, RouterConfig* config);

}  // namespace fsr::router
