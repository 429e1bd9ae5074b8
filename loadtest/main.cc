// fsload: load generator and edge-case suite for /api/fileserver/{name}.
//   fsload run  --url http://HOST:PORT [flags]   open-loop load with verification
//   fsload edge --url http://HOST:PORT [flags]   named edge cases, pass/fail table
#include <malloc.h>

#include <csignal>
#include <functional>
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
    "Open-loop load with verification against PUT/GET/DELETE /api/fileserver/{name}.\n"
    "Requests are issued on schedule whether or not earlier ones finished, every answer is\n"
    "verified against the last acknowledged state of its name, and the run is summarised\n"
    "(table, --json, --html).\n"
    "\n"
    "Exit status: 0 clean; 2 usage error; 3 invalid data (a read returned something other than an\n"
    "acknowledged state); 5 the failure budget ended the run; 4 the server answered 429 or 5XX;\n"
    "6 timeouts, connection errors or unexpected statuses; 1 internal error. When several apply,\n"
    "the first in this order wins: 3, 5, 4, 6.";

const char* kUsage =
    "fsload run  --url http://HOST:PORT [flags]   open-loop load with verification\n"
    "       fsload edge --url http://HOST:PORT [flags]   edge cases with expected outcomes";

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

extern "C" void on_interrupt(int) { LoadRun::interrupt(); }

// `fsload run`'s flags; the values land in options and the schedule fields.
struct RunFlags {
  RunOptions o;
  std::string ramp = "constant", mix = "75:1:1:10", json_path, html_path;
  double rate = 100, rate_start = 1, rate_end = 100, ramp_step = 1, ramp_accel = 1.7;
  int64_t seed = 0;
  bool quiet = false;
};

void add_run_flags(CLI::App& run, RunFlags* f) {
  RunOptions& o = f->o;
  use_flag_conventions(run, "fsload run --url http://HOST:PORT [flags]");
  add_env_option(run, "url", "FSLOAD_URL", &o.url, "base URL of the server under test")
      ->check(CLI::Validator(
          [](std::string& url) {
            return url.rfind("http://", 0) == 0 ? std::string() : "must start with http://, got '" + url + "'";
          },
          "http://..."));
  add_env_option(run, "ramp", "FSLOAD_RAMP", &f->ramp,
                 "schedule: constant (--rate), linear (--rate-start to --rate-end over --duration) or challenge "
                 "(the live test's accelerating ramp: from --rate-start, +--ramp-step/s each second, the step "
                 "multiplied by --ramp-accel each minute; defaults pass 1,000/s after five minutes)")
      ->check(one_of({"constant", "linear", "challenge"}));
  add_env_option(run, "rate", "FSLOAD_RATE", &f->rate, "requests per second of the constant schedule")
      ->check(at_least(0));
  add_env_option(run, "rate-start", "FSLOAD_RATE_START", &f->rate_start, "first rate of the linear and challenge ramps")
      ->check(at_least(0));
  add_env_option(run, "rate-end", "FSLOAD_RATE_END", &f->rate_end, "last rate of the linear ramp")->check(at_least(0));
  add_env_option(run, "ramp-step", "FSLOAD_RAMP_STEP", &f->ramp_step, "challenge ramp: rate added each second in minute 0")
      ->check(at_least(0));
  add_env_option(run, "ramp-accel", "FSLOAD_RAMP_ACCEL", &f->ramp_accel, "challenge ramp: growth of the step each minute")
      ->check(more_than(0));
  add_env_option(run, "duration", "FSLOAD_DURATION", &o.duration_sec, "seconds of scheduled requests")
      ->check(more_than(0));
  add_env_option(run, "max-failures", "FSLOAD_MAX_FAILURES", &o.max_failures,
                 "end the run once this many requests failed (429, 5XX, timeout, connection error, unexpected "
                 "status), like the live test; 0 = never");
  add_env_option(run, "mix", "FSLOAD_MIX", &f->mix,
                 "weights GET:PUT:DELETE:CREATE; the first three act on tracked names, CREATE uploads a new name "
                 "(only while fewer than --max-files are tracked)")
      ->check(CLI::Validator(
          [](std::string& mix) {
            RunOptions parsed;
            return parse_mix(mix, &parsed) ? std::string()
                                           : "wants four non-negative weights GET:PUT:DELETE:CREATE, got '" + mix + "'";
          },
          "GET:PUT:DELETE:CREATE"));
  add_env_option(run, "max-files", "FSLOAD_MAX_FILES", &o.max_files, "most names tracked at once");
  add_env_option(run, "check-share", "FSLOAD_CHECK_SHARE", &o.check_share,
                 "share of slots starting a consistency check (PUT new, GET, DELETE, GET) after the early phase");
  add_env_option(run, "check-share-early", "FSLOAD_CHECK_SHARE_EARLY", &o.check_share_early,
                 "share of consistency checks at the start, falling linearly to --check-share");
  add_env_option(run, "check-early-seconds", "FSLOAD_CHECK_EARLY_SECONDS", &o.check_early_sec,
                 "length of the early phase with more consistency checks");
  add_env_option(run, "body-start", "FSLOAD_BODY_START", &o.body_start, "largest body size (bytes) at the start")
      ->check(at_least(0));
  add_env_option(run, "body-growth", "FSLOAD_BODY_GROWTH", &o.body_growth, "factor applied to the largest size ...")
      ->check(more_than(0));
  add_env_option(run, "body-growth-seconds", "FSLOAD_BODY_GROWTH_SECONDS", &o.body_growth_sec,
                 "... every this many seconds");
  add_env_option(run, "body-min", "FSLOAD_BODY_MIN", &o.body_min, "smallest body size; sizes are log-uniform (most small)")
      ->check(at_least(0));
  add_env_option(run, "body-cap", "FSLOAD_BODY_CAP", &o.body_cap, "the largest size never grows past this")
      ->check(at_least(0));
  add_env_option(run, "huge-every", "FSLOAD_HUGE_EVERY", &o.huge_every, "every N-th upload is huge; 0 = never")
      ->check(at_least(0));
  add_env_option(run, "huge-size", "FSLOAD_HUGE_SIZE", &o.huge_size, "bytes of a huge upload (streamed, never held)")
      ->check(at_least(0));
  add_env_option(run, "connection", "FSLOAD_CONNECTION", &o.connection,
                 "close (Connection: close on every request), keepalive, or mixed (each request picks)")
      ->check(one_of({"close", "keepalive", "mixed"}));
  add_env_option(run, "idle-connections", "FSLOAD_IDLE_CONNECTIONS", &o.idle_connections,
                 "idle keep-alive connections kept for reuse, per thread (the live test reuses only a couple); "
                 "while more than 64 requests are in flight a thread spreads them over extra connection pools");
  add_env_switch(run, "close-with-reset", "FSLOAD_CLOSE_WITH_RESET", &o.close_with_reset,
                 "close connections with a TCP reset (SO_LINGER 0) instead of FIN, leaving no TIME_WAIT sockets "
                 "on this side; for long runs at thousands of new connections a second on one machine");
  add_env_option(run, "timeout", "FSLOAD_TIMEOUT", &o.timeout_sec, "client timeout per request, seconds")
      ->check(more_than(0));
  add_env_option(run, "connect-timeout", "FSLOAD_CONNECT_TIMEOUT", &o.connect_timeout_sec,
                 "TCP connect timeout, seconds")
      ->check(more_than(0));
  add_env_option(run, "threads", "FSLOAD_THREADS", &o.threads, "event-loop threads, each with its own connections")
      ->check(between(1, 64));
  add_env_option(run, "seed", "FSLOAD_SEED", &f->seed, "random seed for names, bodies and choices; 0 = from the clock");
  add_env_option(run, "fixed-name", "FSLOAD_FIXED_NAME", &o.fixed_name,
                 "benchmark mode: every request is a GET of this existing name, its content not verified");
  add_env_option(run, "json", "FSLOAD_JSON", &f->json_path, "write the result document (JSON) here");
  add_env_option(run, "html", "FSLOAD_HTML", &f->html_path, "write a self-contained HTML report with charts here");
  add_env_option(run, "show-invalid", "FSLOAD_SHOW_INVALID", &o.show_invalid,
                 "invalid reads printed and kept as examples");
  add_env_option(run, "progress-interval-s", "FSLOAD_PROGRESS_INTERVAL_S", &o.progress_interval_s,
                 "progress on stderr: on a terminal one line redrawn every second, otherwise a line every this "
                 "many seconds (rates, successes, failures by class, p50/p99 of the interval); 0: none")
      ->check(between(0, 86400));
  add_env_switch(run, "quiet", "FSLOAD_QUIET", &f->quiet, "no progress (as --progress-interval-s 0)");
}

// Runs `fsload run` with parsed, checked flags; returns the exit status.
int run_load(RunFlags& f) {
  RunOptions& o = f.o;
  parse_mix(f.mix, &o);  // checked when parsed
  RateSchedule schedule = RateSchedule::constant(f.rate);
  if (f.ramp == "linear")
    schedule = RateSchedule::linear(f.rate_start, f.rate_end, o.duration_sec);
  else if (f.ramp == "challenge")
    schedule = RateSchedule::challenge(f.rate_start, f.ramp_step, f.ramp_accel);
  o.seed = f.seed != 0 ? static_cast<uint64_t>(f.seed) : std::random_device{}();
  if (f.quiet) o.progress_interval_s = 0;

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
  if (!f.json_path.empty() && !write_text_file(f.json_path, result.dump(2) + "\n")) code = kExitInternalError;
  if (!f.html_path.empty() && !write_text_file(f.html_path, run_report_html(result))) code = kExitInternalError;
  return code;
}

}  // namespace
}  // namespace fsr::load

int main(int argc, char** argv) {
  using namespace fsr::load;
  CLI::App app{"", "fsload"};
  fsr::use_flag_conventions(app, kUsage);
  app.require_subcommand(1);
  RunFlags run_flags;
  add_run_flags(*app.add_subcommand("run", kRunSummary), &run_flags);
  std::function<int()> run_edge = add_edge_subcommand(app);
  if (argc >= 2 && argv[1][0] != '-') {
    std::string command = argv[1];
    if (command == "help") {  // `fsload help`, as `fsload --help`
      std::cout << app.help();
      return 0;
    }
    if (command != "run" && command != "edge") {
      std::cerr << "fsload: unknown subcommand '" << command << "' (see fsload --help)\n";
      return kExitUsage;
    }
  }
  if (int code = fsr::parse_command_line(app, argc, argv); code >= 0) return code;
  if (app.got_subcommand("edge")) return run_edge();
  return run_load(run_flags);
}
