// fsload: load generator and edge-case suite for /api/fileserver/{name}.
//   fsload run  --url http://HOST:PORT [flags]   open-loop load with verification
//   fsload edge --url http://HOST:PORT [flags]   named edge cases, pass/fail table
#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "common/flags.h"
#include "common/http_server.h"
#include "loadtest/edge_suite.h"
#include "loadtest/load_run.h"
#include "loadtest/run_report.h"

namespace fsr::load {
namespace {

const char* kRunSummary =
    "Open-loop load against PUT/GET/DELETE /api/fileserver/{name}: requests are issued on schedule\n"
    "whether or not earlier ones finished, every answer is verified against the last acknowledged\n"
    "state of its name, and the run is summarised (table, --json, --html).\n"
    "\n"
    "Exit status: 0 clean; 2 usage error; 3 invalid data (a read returned something other than an\n"
    "acknowledged state); 5 the failure budget ended the run; 4 the server answered 429 or 5XX;\n"
    "6 timeouts, connection errors or unexpected statuses; 1 internal error. When several apply,\n"
    "the first in this order wins: 3, 5, 4, 6.";

bool parse_mix(const std::string& text, RunOptions* options) {
  double w[4];
  char tail;
  if (std::sscanf(text.c_str(), "%lf:%lf:%lf:%lf%c", &w[0], &w[1], &w[2], &w[3], &tail) != 4) return false;
  for (double v : w)
    if (v < 0) return false;
  options->weight_get = w[0];
  options->weight_put = w[1];
  options->weight_delete = w[2];
  options->weight_create = w[3];
  return true;
}

int usage_error(const std::string& message) {
  std::cerr << "fsload run: " << message << " (see fsload run --help)\n";
  return kExitUsage;
}

extern "C" void on_interrupt(int) { LoadRun::interrupt(); }

int run_main(int argc, char** argv) {
  RunOptions o;
  std::string ramp = "constant", mix = "75:1:1:10", json_path, html_path;
  double rate = 100, rate_start = 1, rate_end = 100, ramp_step = 1, ramp_accel = 1.7;
  int64_t seed = 0;
  bool quiet = false;
  Flags flags("fsload run", "fsload run --url http://HOST:PORT [flags]", kRunSummary);
  flags.add_string("url", "FSLOAD_URL", &o.url, "base URL of the server under test");
  flags.add_string("ramp", "FSLOAD_RAMP", &ramp,
                   "schedule: constant (--rate), linear (--rate-start to --rate-end over --duration) or challenge "
                   "(the live test's accelerating ramp: from --rate-start, +--ramp-step/s each second, the step "
                   "multiplied by --ramp-accel each minute; defaults pass 1,000/s after five minutes)");
  flags.add_double("rate", "FSLOAD_RATE", &rate, "requests per second of the constant schedule");
  flags.add_double("rate-start", "FSLOAD_RATE_START", &rate_start, "first rate of the linear and challenge ramps");
  flags.add_double("rate-end", "FSLOAD_RATE_END", &rate_end, "last rate of the linear ramp");
  flags.add_double("ramp-step", "FSLOAD_RAMP_STEP", &ramp_step, "challenge ramp: rate added each second in minute 0");
  flags.add_double("ramp-accel", "FSLOAD_RAMP_ACCEL", &ramp_accel, "challenge ramp: growth of the step each minute");
  flags.add_double("duration", "FSLOAD_DURATION", &o.duration_sec, "seconds of scheduled requests");
  flags.add_int("max-failures", "FSLOAD_MAX_FAILURES", &o.max_failures,
                "end the run once this many requests failed (429, 5XX, timeout, connection error, unexpected "
                "status), like the live test; 0 = never");
  flags.add_string("mix", "FSLOAD_MIX", &mix,
                   "weights GET:PUT:DELETE:CREATE; the first three act on tracked names, CREATE uploads a new name "
                   "(only while fewer than --max-files are tracked)");
  flags.add_int("max-files", "FSLOAD_MAX_FILES", &o.max_files, "most names tracked at once");
  flags.add_double("check-share", "FSLOAD_CHECK_SHARE", &o.check_share,
                   "share of slots starting a consistency check (PUT new, GET, DELETE, GET) after the early phase");
  flags.add_double("check-share-early", "FSLOAD_CHECK_SHARE_EARLY", &o.check_share_early,
                   "share of consistency checks at the start, falling linearly to --check-share");
  flags.add_double("check-early-seconds", "FSLOAD_CHECK_EARLY_SECONDS", &o.check_early_sec,
                   "length of the early phase with more consistency checks");
  flags.add_int("body-start", "FSLOAD_BODY_START", &o.body_start, "largest body size (bytes) at the start");
  flags.add_double("body-growth", "FSLOAD_BODY_GROWTH", &o.body_growth, "factor applied to the largest size ...");
  flags.add_double("body-growth-seconds", "FSLOAD_BODY_GROWTH_SECONDS", &o.body_growth_sec, "... every this many seconds");
  flags.add_int("body-min", "FSLOAD_BODY_MIN", &o.body_min, "smallest body size; sizes are log-uniform (most small)");
  flags.add_int("body-cap", "FSLOAD_BODY_CAP", &o.body_cap, "the largest size never grows past this");
  flags.add_int("huge-every", "FSLOAD_HUGE_EVERY", &o.huge_every, "every N-th upload is huge; 0 = never");
  flags.add_int("huge-size", "FSLOAD_HUGE_SIZE", &o.huge_size, "bytes of a huge upload (streamed, never held)");
  flags.add_string("connection", "FSLOAD_CONNECTION", &o.connection,
                   "close (Connection: close on every request), keepalive, or mixed (each request picks)");
  flags.add_int("idle-connections", "FSLOAD_IDLE_CONNECTIONS", &o.idle_connections,
                "idle keep-alive connections kept for reuse, per thread (the live test reuses only a couple); "
                "while more than 64 requests are in flight a thread spreads them over extra connection pools");
  flags.add_bool("close-with-reset", "FSLOAD_CLOSE_WITH_RESET", &o.close_with_reset,
                 "close connections with a TCP reset (SO_LINGER 0) instead of FIN, leaving no TIME_WAIT sockets "
                 "on this side; for long runs at thousands of new connections a second on one machine");
  flags.add_double("timeout", "FSLOAD_TIMEOUT", &o.timeout_sec, "client timeout per request, seconds");
  flags.add_double("connect-timeout", "FSLOAD_CONNECT_TIMEOUT", &o.connect_timeout_sec, "TCP connect timeout, seconds");
  flags.add_int("threads", "FSLOAD_THREADS", &o.threads, "event-loop threads, each with its own connections");
  flags.add_int("seed", "FSLOAD_SEED", &seed, "random seed for names, bodies and choices; 0 = from the clock");
  flags.add_string("fixed-name", "FSLOAD_FIXED_NAME", &o.fixed_name,
                   "benchmark mode: every request is a GET of this existing name, its content not verified");
  flags.add_string("json", "FSLOAD_JSON", &json_path, "write the result document (JSON) here");
  flags.add_string("html", "FSLOAD_HTML", &html_path, "write a self-contained HTML report with charts here");
  flags.add_int("show-invalid", "FSLOAD_SHOW_INVALID", &o.show_invalid, "invalid reads printed and kept as examples");
  flags.add_bool("quiet", "FSLOAD_QUIET", &quiet, "no per-second progress line");
  int parsed = flags.parse(argc, argv, 2);
  if (parsed >= 0) return parsed;
  if (!flags.positional().empty()) return usage_error("unexpected argument '" + flags.positional()[0] + "'");
  if (!parse_mix(mix, &o)) return usage_error("--mix wants four non-negative weights GET:PUT:DELETE:CREATE");
  if (o.url.rfind("http://", 0) != 0) return usage_error("--url must start with http://");
  if (o.duration_sec <= 0) return usage_error("--duration must be positive");
  if (o.connection != "close" && o.connection != "keepalive" && o.connection != "mixed")
    return usage_error("--connection must be close, keepalive or mixed");
  if (o.threads < 1 || o.threads > 64) return usage_error("--threads must be 1..64");
  if (o.timeout_sec <= 0 || o.connect_timeout_sec <= 0) return usage_error("timeouts must be positive");
  if (rate < 0 || rate_start < 0 || rate_end < 0 || ramp_step < 0 || ramp_accel <= 0)
    return usage_error("rates must not be negative");
  if (o.body_min < 0 || o.body_start < 0 || o.body_cap < 0 || o.huge_size < 0 || o.huge_every < 0 ||
      o.body_growth <= 0)
    return usage_error("sizes must not be negative");
  RateSchedule schedule = RateSchedule::constant(rate);
  if (ramp == "linear")
    schedule = RateSchedule::linear(rate_start, rate_end, o.duration_sec);
  else if (ramp == "challenge")
    schedule = RateSchedule::challenge(rate_start, ramp_step, ramp_accel);
  else if (ramp != "constant")
    return usage_error("--ramp must be constant, linear or challenge");
  o.seed = seed != 0 ? static_cast<uint64_t>(seed) : std::random_device{}();
  o.progress = !quiet;

  raise_open_file_limit();
  // Transfers allocate and free buffers of tens of KiB all the time; keep
  // freed memory in the process instead of growing and trimming the heap.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  std::signal(SIGPIPE, SIG_IGN);
  LoadRun run(o, schedule);
  nlohmann::json result = run.execute();
  print_run_summary(result, std::cout);
  int code = result["exit_code"].get<int>();
  if (!json_path.empty() && !write_text_file(json_path, result.dump(2) + "\n")) code = kExitInternalError;
  if (!html_path.empty() && !write_text_file(html_path, run_report_html(result))) code = kExitInternalError;
  return code;
}

void print_usage(std::ostream& out) {
  out << "Usage: fsload run  --url http://HOST:PORT [flags]   open-loop load with verification\n"
         "       fsload edge --url http://HOST:PORT [flags]   edge cases with expected outcomes\n"
         "       fsload SUBCOMMAND --help                     flags of a subcommand\n";
}

}  // namespace
}  // namespace fsr::load

int main(int argc, char** argv) {
  using namespace fsr::load;
  if (argc < 2) {
    print_usage(std::cerr);
    return kExitUsage;
  }
  std::string command = argv[1];
  if (command == "run") return run_main(argc, argv);
  if (command == "edge") return edge_main(argc, argv);
  if (command == "--help" || command == "-h" || command == "help") {
    print_usage(std::cout);
    return 0;
  }
  std::cerr << "fsload: unknown subcommand '" << command << "'\n";
  print_usage(std::cerr);
  return kExitUsage;
}
