#include "router/options.h"

#include <algorithm>
#include <thread>

#include "common/flags.h"

namespace fsr::router {
namespace {

const char* kSummary =
    "Routes PUT/GET/DELETE /api/fileserver/{name} to backend file servers. Every write is\n"
    "recorded durably in a RocksDB journal before it is acknowledged, then applied to the\n"
    "primary backend in the background; reads are served from the journal or, for names\n"
    "the router never wrote, read through from a backend.";

CLI::Validator host_and_port() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        std::string host;
        int port = 0;
        if (split_host_port(input, &host, &port, /*allow_port_zero=*/true)) return {};
        return "must be HOST:PORT with a port from 0 to 65535, got '" + input + "'";
      },
      "HOST:PORT");
}

}  // namespace

int parse_router_config(int argc, char** argv, RouterConfig* config) {
  RouterConfig& c = *config;
  // Durations are flags in whole milliseconds or seconds; the defaults come from RouterConfig.
  int64_t backend_timeout_ms = c.backend_timeout.count();
  int64_t backend_timeout_max_ms = c.backend_timeout_max.count();
  int64_t abandon_settle_ms = c.abandon_settle.count();
  int64_t slot_grace_ms = c.slot_grace.count();
  int64_t read_wait_ms = c.read_wait.count();
  int64_t record_retention_s = c.record_retention.count();
  int64_t probe_interval_ms = c.probe_interval.count();
  int64_t probe_timeout_ms = c.probe_timeout.count();
  int64_t marker_interval_ms = c.marker_interval.count();
  int64_t stall_timeout_ms = c.stall_timeout.count();
  int64_t scrub_interval_ms = c.scrub_interval.count();
  int64_t header_timeout_ms = c.header_timeout.count();
  int64_t body_idle_timeout_ms = c.body_idle_timeout.count();
  int64_t write_timeout_ms = c.write_timeout.count();

  CLI::App app{kSummary, "fsrouter"};
  use_flag_conventions(app, "fsrouter [flags]");
  add_env_option(app, "listen", "FSROUTER_LISTEN", &c.listen,
                 "address to serve clients on, HOST:PORT (port 0: any free one, logged in event=listening)")
      ->check(host_and_port());
  add_env_option(app, "admin-listen", "FSROUTER_ADMIN_LISTEN", &c.admin_listen,
                 "address of /admin/* (not served on --listen), HOST:PORT (port 0: any free one, logged in "
                 "event=listening as admin_listen)")
      ->check(host_and_port());
  add_env_option(app, "backends", "FSROUTER_BACKENDS", &c.backends, "backend file servers, HOST:PORT,... (1 to 5)");
  add_env_option(app, "primary", "FSROUTER_PRIMARY", &c.primary,
                 "the designated primary backend, HOST:PORT (empty: the first backend)");
  add_env_option(app, "journal-dir", "FSROUTER_JOURNAL_DIR", &c.journal_dir, "journal directory (created if missing)");
  add_env_option(app, "backend-cap", "FSROUTER_BACKEND_CAP", &c.backend_cap,
                 "most connections and requests in flight to one backend, probes and retries included")
      ->check(at_least(1));
  add_env_option(app, "ack", "FSROUTER_ACK", &c.ack_name,
                 "when to acknowledge writes: 'journal' (durable in the journal) or 'backend' (applied to the primary)")
      ->check(one_of({"journal", "backend"}));
  add_env_option(app, "io-threads", "FSROUTER_IO_THREADS", &c.io_threads,
                 "event-loop threads serving client connections (0: the core count)")
      ->check(at_least(0));
  add_env_option(app, "threads", "FSROUTER_THREADS", &c.threads,
                 "threads for request work that blocks: the waits of --ack backend, the digests clients ask for "
                 "(0: 1024 with --ack backend, else 16; reads through from a backend have threads of their own)")
      ->check(CLI::Validator(
          [](std::string& input) -> std::string {
            double value = 0;
            if (!CLI::detail::lexical_cast(input, value)) return "'" + input + "' is not a number";
            if (value != 0 && value < 4) return "must be 0 (automatic) or at least 4, got " + input;
            return {};
          },
          "0 or at least 4"));
  add_env_option(app, "apply-workers", "FSROUTER_APPLY_WORKERS", &c.apply_workers,
                 "threads sending journal records to the primary (0: the backend cap)")
      ->check(at_least(0));
  add_env_option(app, "backend-timeout-ms", "FSROUTER_BACKEND_TIMEOUT_MS", &backend_timeout_ms,
                 "timeout of a backend request's first attempt; doubled per unknown outcome")
      ->check(at_least(1));
  add_env_option(app, "backend-timeout-max-ms", "FSROUTER_BACKEND_TIMEOUT_MAX_MS", &backend_timeout_max_ms,
                 "largest backend request timeout after doubling")
      ->check(at_least(1));
  add_env_option(app, "abandon-settle-ms", "FSROUTER_ABANDON_SETTLE_MS", &abandon_settle_ms,
                 "after giving up on a backend request: wait this long before the next request on that name "
                 "(more than the backend's latency), and keep its slot counted this long")
      ->check(at_least(0));
  add_env_option(app, "slot-grace-ms", "FSROUTER_SLOT_GRACE_MS", &slot_grace_ms,
                 "an answered backend request keeps its slot this much longer (the backend counts it out only "
                 "after sending the answer; without it the next request may meet a 429)")
      ->check(at_least(0));
  add_env_option(app, "read-wait-ms", "FSROUTER_READ_WAIT_MS", &read_wait_ms,
                 "how long a read of a name the router never wrote may wait for a backend before 503")
      ->check(at_least(0));
  add_env_option(app, "inline-body-max", "FSROUTER_INLINE_BODY_MAX", &c.inline_body_max,
                 "bodies up to this many bytes are stored inside RocksDB, larger ones in their own files")
      ->check(at_least(0));
  add_env_option(app, "read-memory-max", "FSROUTER_READ_MEMORY_MAX", &c.read_memory_max,
                 "bodies read through from a backend above this many bytes are buffered on disk, not in memory")
      ->check(at_least(0));
  add_env_option(app, "record-retention-s", "FSROUTER_RECORD_RETENTION_S", &record_retention_s,
                 "applied journal records older than this are compacted away (the index is kept)")
      ->check(at_least(0));
  add_env_option(app, "keep-alive-s", "FSROUTER_KEEP_ALIVE_S", &c.keep_alive_s,
                 "idle client keep-alive connections are closed after this many seconds")
      ->check(at_least(0));
  add_env_option(app, "max-connections", "FSROUTER_MAX_CONNECTIONS", &c.max_connections,
                 "most client connections open at once; past it new ones wait in the accept queue")
      ->check(at_least(1));
  add_env_option(app, "max-header-bytes", "FSROUTER_MAX_HEADER_BYTES", &c.max_header_bytes,
                 "largest request line and header fields in all, bytes (431, or 414 for the request line)")
      ->check(between(256, 1 << 24));
  add_env_option(app, "max-body-bytes", "FSROUTER_MAX_BODY_BYTES", &c.max_body_bytes,
                 "largest request body, bytes (413, nothing stored)")
      ->check(at_least(0));
  add_env_option(app, "header-timeout-ms", "FSROUTER_HEADER_TIMEOUT_MS", &header_timeout_ms,
                 "a request head not complete this long after its first byte gets 408 and the connection closes")
      ->check(at_least(1));
  add_env_option(app, "body-idle-timeout-ms", "FSROUTER_BODY_IDLE_TIMEOUT_MS", &body_idle_timeout_ms,
                 "a request body that does not move for this long gets 408, nothing stored")
      ->check(at_least(1));
  add_env_option(app, "write-timeout-ms", "FSROUTER_WRITE_TIMEOUT_MS", &write_timeout_ms,
                 "a reply (or a 64 KiB part of a streamed one) the client does not take within this closes the "
                 "connection at once")
      ->check(at_least(1));
  // The budget in bytes must fit in 64 bits.
  add_env_option(app, "body-cache-mb", "FSROUTER_BODY_CACHE_MB", &c.body_cache_mb,
                 "disk budget (MiB) for bodies of applied files kept in the journal to serve reads; past it the "
                 "least recently read are freed and read from the backends (pending bodies are always kept)")
      ->check(between(0, double(int64_t{1} << 43)));
  add_env_option(app, "probe-interval-ms", "FSROUTER_PROBE_INTERVAL_MS", &probe_interval_ms,
                 "how often each backend is probed (a GET of the marker file, through one of its slots)")
      ->check(at_least(1));
  add_env_option(app, "probe-timeout-ms", "FSROUTER_PROBE_TIMEOUT_MS", &probe_timeout_ms,
                 "a probe not answered within this marks the backend unhealthy (hung)")
      ->check(at_least(1));
  add_env_option(app, "marker-interval-ms", "FSROUTER_MARKER_INTERVAL_MS", &marker_interval_ms,
                 "how often the applied watermark is written to the marker file through the primary")
      ->check(at_least(1));
  add_env_option(app, "stall-timeout-ms", "FSROUTER_STALL_TIMEOUT_MS", &stall_timeout_ms,
                 "a backend that for this long answers only 429 while the router holds fewer than the cap there "
                 "(wedged), or finishes nothing while the router holds every slot (saturated), is unhealthy; a "
                 "primary is failed over")
      ->check(at_least(1));
  add_env_option(app, "scrub-slots", "FSROUTER_SCRUB_SLOTS", &c.scrub_slots,
                 "backend slots the rolling scrub may use at once to read every name back from the volume and "
                 "repair it (0: no scrub; suspect names are always read back)")
      ->check(between(0, 64));
  add_env_option(app, "scrub-interval-ms", "FSROUTER_SCRUB_INTERVAL_MS", &scrub_interval_ms,
                 "pause of each scrub slot between two names")
      ->check(at_least(1));
  add_env_switch(app, "failback", "FSROUTER_FAILBACK", &c.failback,
                 "give the primary role back to the designated primary once it is healthy and confirmed");
  add_env_option(app, "log-level", "FSROUTER_LOG_LEVEL", &c.log_level_name, "debug, info, warn or error")
      ->check(one_of({"debug", "info", "warn", "error"}));
  if (int code = parse_command_line(app, argc, argv); code >= 0) return code;

  // Conversions of values the checks above accepted.
  split_host_port(c.listen, &c.listen_host, &c.listen_port, /*allow_port_zero=*/true);
  split_host_port(c.admin_listen, &c.admin_host, &c.admin_port, /*allow_port_zero=*/true);
  c.backend_addresses = split_list(c.backends);
  if (c.io_threads == 0) c.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  c.ack = c.ack_name == "backend" ? AckMode::kBackend : AckMode::kJournal;
  // With --ack backend each write waits on a thread for the applier; with
  // --ack journal nothing waits on one, and they only compute digests.
  if (c.threads == 0) c.threads = c.ack == AckMode::kBackend ? 1024 : 16;
  parse_log_level(c.log_level_name, &c.log_level);
  c.backend_timeout = std::chrono::milliseconds(backend_timeout_ms);
  c.backend_timeout_max = std::chrono::milliseconds(backend_timeout_max_ms);
  c.abandon_settle = std::chrono::milliseconds(abandon_settle_ms);
  c.slot_grace = std::chrono::milliseconds(slot_grace_ms);
  c.read_wait = std::chrono::milliseconds(read_wait_ms);
  c.record_retention = std::chrono::seconds(record_retention_s);
  c.probe_interval = std::chrono::milliseconds(probe_interval_ms);
  c.probe_timeout = std::chrono::milliseconds(probe_timeout_ms);
  c.marker_interval = std::chrono::milliseconds(marker_interval_ms);
  c.stall_timeout = std::chrono::milliseconds(stall_timeout_ms);
  c.scrub_interval = std::chrono::milliseconds(scrub_interval_ms);
  c.header_timeout = std::chrono::milliseconds(header_timeout_ms);
  c.write_timeout = std::chrono::milliseconds(write_timeout_ms);
  c.body_idle_timeout = std::chrono::milliseconds(body_idle_timeout_ms);
  return -1;
}

}  // namespace fsr::router
