// A seeded randomized torture test of the whole router: 3 to 5 stand-ins
// sharing one data directory, client threads doing random PUT, GET and
// DELETE on a few names, and a fault schedule drawn from the same seed
// (backends paused, killed and restarted, requests held past the router's
// timeout and run late, 429 at once, the router SIGKILLed and restarted).
//
// Two invariants, whatever the schedule:
// - reads: every GET answered during the run returned a state that was the
//   latest acknowledged one at some moment while it ran (the history checker
//   loadtest/consistency_model.h judges each answer);
// - the volume: once the faults stopped, everything resumed and the router
//   drained, every name's file equals the journal's latest state
//   (`fsjournal verify --volume`).
//
// Seeds: FSR_TORTURE_SEED=S runs seed S alone (a failure prints its seed and
// fault schedule; this replays it), FSR_TORTURE_SEEDS=N runs N consecutive
// seeds from FSR_TORTURE_SEED (default 1). The default count keeps the test
// around a minute. The schedule is drawn from the seed; the moments at which
// the processes act on it are not, so a replay runs the same faults on the
// same names, but not always the same interleaving.
//
// The "hard" faults are drawn too (FSR_TORTURE_HARD=0 leaves them out):
// those where time alone would order requests: a backend paused longer than
// the settle time, an abandoned request run after the settle time (after a
// newer state of its name may have been applied), the router killed while a
// backend holds requests. The volume converges there through the read-back
// and repair of suspect names (recovery/repairer.h), not the settle time.
// What the settle time alone keeps away is a wedge (spec: "a wedge"): a
// DELETE sent after the settle time beside an abandoned PUT or first GET of
// its name that started later still (router/upstream/name_guard.h says so).
// A backend found wedged after a hard fault (a DELETE holding the
// process-wide lock waits for its name, fileserver/fault_control.h) is
// restarted, as operations.md tells an operator to, and counted in the
// summary; both invariants must still hold. Any other backend that does not
// finish what it held, or a wedge without a hard fault, is a violation.
// Without them, every fault leaves the settle time true: a request the
// router gave up on runs (or dies) before the router sends the next one on
// its name.
//
// A failed seed's directory (logs, journal, volume) is copied to
// $TMPDIR/fsr-torture-seed-S for reading.
//
// Run on 2 shared cores (normal build, about 6 s a seed): without the hard
// faults, seeds 1 to 300 in 29 minutes, none failed. With them, before the
// suspect read-back and repair: seeds 1 to 100 in 19 minutes, 22 failed, every
// one on the volume (a PUT or DELETE held past the settle time ran after a
// newer state of its name was applied, in 4 of them across a router
// SIGKILL); with it: seeds 1 to 40 in 4.5 minutes, none failed, among them 8
// of those 22. The default 10 seeds take about a minute.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/checksum.h"
#include "loadtest/consistency_model.h"
#include "tests/journal/fsjournal/fsjournal_harness.h"
#include "tests/support/fault_backend.h"
#include "tests/support/stack.h"

namespace fsr::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The router's timings, short so that a seed takes seconds. The settle time
// is the bound the default faults keep: a request the router gave up on runs
// within it (kSettleMs - kMaxLatencyMs - margin after it was sent).
constexpr int kBackendTimeoutMs = 300;
constexpr int kSettleMs = 1500;
constexpr int kMinLatencyMs = 20;
constexpr int kMaxLatencyMs = 60;
const std::vector<std::string> kRouterFlags = {
    "--backend-timeout-ms", std::to_string(kBackendTimeoutMs), "--backend-timeout-max-ms", "600",
    "--abandon-settle-ms",  std::to_string(kSettleMs),         "--probe-interval-ms",      "100",
    "--probe-timeout-ms",   "400",                             "--marker-interval-ms",     "200",
    "--stall-timeout-ms",   "1000",                            "--read-wait-ms",           "1000"};

constexpr int kLoadMs = 5000;       // how long clients and faults run
constexpr int kClients = 4;
constexpr int kNames = 8;
constexpr int kHoldWindowMs = 1500;  // how long a hold rule waits for a request to catch
constexpr int kDefaultSeeds = 10;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

std::string name_of(int i) { return "n" + std::to_string(i); }

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::string checksum_of(const std::string& body) {
  Checksum c;
  c.update(body);
  return c.hex();
}

// ------------------------------------------------------------- the schedule

enum class FaultKind {
  kPause,       // SIGSTOP a backend, SIGCONT it duration_ms later
  kKill,        // SIGKILL a backend, start it again duration_ms later
  kDelay,       // hold the next request on `name` at a backend, run it duration_ms after it is held
  kRefuse,      // a backend answers its next `count` requests 429 at once
  kRouterKill,  // SIGKILL the router and start it again
  kRouterKillWhileHeld,  // hard: hold a request on `name`, kill and restart the router, run it duration_ms later
};

struct Fault {
  int at_ms = 0;  // from the start of the load
  FaultKind kind = FaultKind::kPause;
  int backend = -1;
  int duration_ms = 0;
  std::string name;
  int count = 0;

  std::string describe() const {
    std::ostringstream s;
    s << "at " << at_ms << " ms: ";
    switch (kind) {
      case FaultKind::kPause:
        s << "pause backend " << backend << " for " << duration_ms << " ms";
        break;
      case FaultKind::kKill:
        s << "kill backend " << backend << ", start it " << duration_ms << " ms later";
        break;
      case FaultKind::kDelay:
        s << "hold the next request on " << name << " at backend " << backend << ", run it " << duration_ms
          << " ms after it is held" << (duration_ms > kSettleMs ? " (past the settle time)" : "");
        break;
      case FaultKind::kRefuse:
        s << "backend " << backend << " refuses its next " << count << " requests with 429";
        break;
      case FaultKind::kRouterKill:
        s << "SIGKILL the router and restart it";
        break;
      case FaultKind::kRouterKillWhileHeld:
        s << "hold the next request on " << name << " at backend " << backend
          << ", SIGKILL and restart the router once it is held, run it " << duration_ms << " ms later";
        break;
    }
    return s.str();
  }
};

struct SeedPlan {
  uint64_t seed = 0;
  bool hard = false;
  int backends = 3;
  int latency_ms = 20;
  std::vector<Fault> faults;

  // Whether a fault leaves the settle time false: a pause or a hold past it,
  // the router killed while a backend holds a request, or (drawn only in a
  // hard plan) a router kill that may fall inside a pause or a hold.
  bool has_hard_fault() const {
    if (!hard) return false;
    for (const auto& f : faults) {
      if (f.kind == FaultKind::kRouterKill || f.kind == FaultKind::kRouterKillWhileHeld) return true;
      if ((f.kind == FaultKind::kPause || f.kind == FaultKind::kDelay) && f.duration_ms > kSettleMs) return true;
    }
    return false;
  }

  std::string describe() const {
    std::ostringstream s;
    s << "torture seed=" << seed << " hard=" << (hard ? 1 : 0) << " backends=" << backends
      << " latency_ms=" << latency_ms << " load_ms=" << kLoadMs << " faults=" << faults.size() << "\n";
    for (const auto& f : faults) s << "  " << f.describe() << "\n";
    return s.str();
  }
};

// Draws the stack's shape and the fault schedule from the seed. At most one
// fault acts on a backend at a time. Without `hard`, every fault keeps the
// router's settle time true: pauses and delays end well within it, and the
// router is killed only when no backend has been paused or held a request
// for a while (what the dead router left running there ends within the
// stand-in's latency).
SeedPlan draw_plan(uint64_t seed, bool hard) {
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  SeedPlan plan;
  plan.seed = seed;
  plan.hard = hard;
  plan.backends = uniform(3, 5);
  plan.latency_ms = uniform(kMinLatencyMs, kMaxLatencyMs);
  // The longest a default fault may keep a request the router gave up on.
  const int safe_ms = kSettleMs - kMaxLatencyMs - 400;

  std::vector<int> busy_until(plan.backends, 0);
  // [from, to) intervals in which a backend was paused or held requests,
  // widened by a second: no default router kill falls inside one.
  std::vector<std::pair<int, int>> holding;
  auto holding_at = [&](int t) {
    for (auto [from, to] : holding)
      if (t >= from - 1000 && t < to + 1000) return true;
    return false;
  };
  for (int t = uniform(100, 400); t < kLoadMs - 300; t += uniform(150, 700)) {
    Fault f;
    f.at_ms = t;
    int roll = uniform(0, 99);
    if (roll < 8 || (hard && roll < 14)) {
      f.kind = hard && roll >= 8 ? FaultKind::kRouterKillWhileHeld : FaultKind::kRouterKill;
    } else if (roll < 35) {
      f.kind = FaultKind::kPause;
    } else if (roll < 55) {
      f.kind = FaultKind::kKill;
    } else if (roll < 85) {
      f.kind = FaultKind::kDelay;
    } else {
      f.kind = FaultKind::kRefuse;
    }
    if (f.kind == FaultKind::kRouterKill) {
      if (!hard && holding_at(t)) continue;
      plan.faults.push_back(f);
      t += 500;  // what the dead router left running ends before a backend is paused or held
      continue;
    }
    std::vector<int> free;
    for (int b = 0; b < plan.backends; ++b)
      if (busy_until[b] <= t) free.push_back(b);
    if (free.empty()) continue;
    f.backend = free[uniform(0, static_cast<int>(free.size()) - 1)];
    int until = t;
    switch (f.kind) {
      case FaultKind::kPause:
        f.duration_ms = hard && uniform(0, 1) ? uniform(kSettleMs + 200, 2 * kSettleMs) : uniform(150, safe_ms);
        until = t + f.duration_ms;
        holding.push_back({t, until});
        break;
      case FaultKind::kKill:
        f.duration_ms = uniform(100, 1500);
        until = t + f.duration_ms + 500;  // the restart takes a moment
        break;
      case FaultKind::kDelay:
        f.name = name_of(uniform(0, kNames - 1));
        f.duration_ms = hard && uniform(0, 1) ? uniform(kSettleMs + 500, 2 * kSettleMs + 1000)
                                              : uniform(kBackendTimeoutMs + 50, safe_ms);
        until = t + kHoldWindowMs + f.duration_ms;
        holding.push_back({t, until});
        break;
      case FaultKind::kRefuse:
        f.count = uniform(1, 6);
        until = t + 50;
        break;
      case FaultKind::kRouterKillWhileHeld:
        f.name = name_of(uniform(0, kNames - 1));
        f.duration_ms = uniform(0, 2 * kSettleMs);
        until = t + kHoldWindowMs + f.duration_ms + 1000;
        holding.push_back({t, until});
        break;
      case FaultKind::kRouterKill:
        break;
    }
    busy_until[f.backend] = until;
    plan.faults.push_back(f);
  }
  return plan;
}

// ------------------------------------------------------------- one seed

class SeedRun {
 public:
  explicit SeedRun(const SeedPlan& plan) : plan_(plan), start_(Clock::now()) {}

  // Runs the seed; returns what broke (empty when nothing did).
  std::vector<std::string> run();

 private:
  int elapsed_ms() const {
    return static_cast<int>(std::chrono::duration_cast<milliseconds>(Clock::now() - start_).count());
  }
  void note(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::to_string(elapsed_ms()) + " ms: " + event);
  }
  void violation(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    violations_.push_back(what);
  }

  void client_loop(int client);
  void do_write(httplib::Client& c, const std::string& name, bool put, int client, int write);
  void do_read(httplib::Client& c, const std::string& name);
  void run_fault(const Fault& f);
  // Holds the next request on name at backend b; returns whether one was
  // held within the window (it stays held until release).
  bool hold_one(FaultBackend& faults, const Fault& f);
  void restart_router(const std::string& why);
  void resume_everything();
  void check_volume();

  const SeedPlan& plan_;
  const Clock::time_point start_;
  TempDir dir_{"fsr-torture"};
  std::unique_ptr<Stack> stack_;
  int router_port_ = 0;
  std::mutex stack_mu_;  // one process operation at a time

  std::mutex mu_;  // guards everything below
  load::ConsistencyModel model_;
  std::vector<std::string> violations_;
  std::vector<std::string> events_;
  // What each write's body says, by checksum: names the state a bad read saw.
  std::map<std::string, std::string> write_labels_;
  int acked_ = 0, unknown_ = 0, refused_ = 0, reads_checked_ = 0, reads_unanswered_ = 0;
  int backends_wedged_ = 0;  // by a hard fault, found and restarted after the load
  std::atomic<bool> load_running_{true};
  std::atomic<int> requests_held_{0};  // holds that caught a request
};

void SeedRun::do_write(httplib::Client& c, const std::string& name, bool put, int client, int write) {
  std::string body;
  std::optional<load::ContentState> content = load::ContentState::absent();
  std::string label = (put ? "PUT " : "DELETE ") + name + " client=" + std::to_string(client) +
                      " write=" + std::to_string(write);
  if (put) {
    std::mt19937 rng(static_cast<unsigned>(plan_.seed * 1000003 + client * 10007 + write));
    body = "torture seed=" + std::to_string(plan_.seed) + " " + label + "\n";
    body += random_body(std::uniform_int_distribution<size_t>(0, 3000)(rng), rng());
    content = load::ContentState::with(body.size(), checksum_of(body));
  }
  load::ConsistencyModel::WriteId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (put) write_labels_[content->checksum] = label;
    id = model_.begin_write(name, now_ns(), content);
  }
  auto r = put ? c.Put(api(name), body, "application/octet-stream") : c.Delete(api(name));
  auto outcome = load::WriteOutcome::kUnknown;  // no answer, or 5XX: it may have been journaled
  if (r && (r->status == 200 || r->status == 201)) outcome = load::WriteOutcome::kAcknowledged;
  if (r && r->status >= 400 && r->status < 500) outcome = load::WriteOutcome::kRefused;
  std::lock_guard<std::mutex> lock(mu_);
  model_.end_write(name, id, now_ns(), outcome);
  if (outcome == load::WriteOutcome::kAcknowledged) ++acked_;
  if (outcome == load::WriteOutcome::kUnknown) ++unknown_;
  if (outcome == load::WriteOutcome::kRefused) {
    ++refused_;
    violations_.push_back(label + " refused: HTTP " + std::to_string(r->status) + " " + r->body);
  }
}

void SeedRun::do_read(httplib::Client& c, const std::string& name) {
  load::ConsistencyModel::ReadId id;
  int64_t started;
  {
    std::lock_guard<std::mutex> lock(mu_);
    started = now_ns();
    id = model_.begin_read(name, started);
  }
  auto r = c.Get(api(name));
  std::optional<load::ContentState> observed;
  if (r && r->status == 200) observed = load::ContentState::with(r->body.size(), checksum_of(r->body));
  if (r && r->status == 404) observed = load::ContentState::absent();
  std::lock_guard<std::mutex> lock(mu_);
  int64_t ended = now_ns();
  auto verdict = model_.end_read(name, id, ended, observed ? &*observed : nullptr);
  if (!observed) {
    ++reads_unanswered_;
    if (r && r->status != 503)
      violations_.push_back("GET " + name + ": HTTP " + std::to_string(r->status) + " " + r->body);
    return;
  }
  ++reads_checked_;
  if (!verdict.checked) violations_.push_back("GET " + name + ": the model did not judge it");
  if (verdict.checked && !verdict.valid) {
    auto label = observed->present ? write_labels_.find(observed->checksum) : write_labels_.end();
    std::ostringstream s;
    s << "GET " << name << " from " << (started - start_.time_since_epoch().count()) / 1000000 << " ms to "
      << (ended - start_.time_since_epoch().count()) / 1000000 << " ms returned " << observed->describe()
      << (label != write_labels_.end() ? " (" + label->second + ")" : std::string(observed->present ? " (no write of it)" : ""))
      << ", but the state current during it was " << verdict.expected;
    violations_.push_back(s.str());
  }
}

void SeedRun::client_loop(int client) {
  std::mt19937_64 rng(plan_.seed * 7919 + static_cast<uint64_t>(client));
  auto uniform = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int write = 0; load_running_; ++write) {
    // A fresh connection per request: the router may have been restarted.
    httplib::Client c("127.0.0.1", router_port_);
    c.set_url_encode(false);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(10, 0);
    c.set_write_timeout(10, 0);
    std::string name = name_of(uniform(0, kNames - 1));
    int roll = uniform(0, 99);
    if (roll < 40)
      do_write(c, name, /*put=*/true, client, write);
    else if (roll < 55)
      do_write(c, name, /*put=*/false, client, write);
    else
      do_read(c, name);
    // Pacing, so that four clients leave the machine's two cores to the stack.
    std::this_thread::sleep_for(milliseconds(uniform(2, 25)));
  }
}

void SeedRun::restart_router(const std::string& why) {
  std::lock_guard<std::mutex> lock(stack_mu_);
  stack_->stop_router(SIGKILL);
  note("router killed (" + why + ")");
  try {
    stack_->start_router();
    note("router restarted");
  } catch (const std::exception& e) {
    violation(std::string("the router did not restart: ") + e.what());
  }
}

bool SeedRun::hold_one(FaultBackend& faults, const Fault& f) {
  if (faults.hold("", f.name, "before", 1) == 0) {
    note("backend " + std::to_string(f.backend) + " took no hold rule");
    return false;
  }
  bool caught = wait_until([&] { return !faults.held().empty(); }, milliseconds(kHoldWindowMs));
  faults.clear();  // an unused rule catches nothing more
  caught = caught || !faults.held().empty();
  if (caught) ++requests_held_;
  note(std::string(caught ? "holding a request on " : "no request to hold on ") + f.name + " at backend " +
       std::to_string(f.backend));
  return caught;
}

void SeedRun::run_fault(const Fault& f) {
  std::this_thread::sleep_until(start_ + milliseconds(f.at_ms));
  note(f.describe().substr(f.describe().find(": ") + 2));
  FaultBackend faults(f.backend >= 0 ? stack_->backend_port(f.backend) : 0);
  switch (f.kind) {
    case FaultKind::kPause:
      stack_->backend(f.backend).signal(SIGSTOP);
      std::this_thread::sleep_for(milliseconds(f.duration_ms));
      stack_->backend(f.backend).signal(SIGCONT);
      note("backend " + std::to_string(f.backend) + " resumed");
      break;
    case FaultKind::kKill: {
      {
        std::lock_guard<std::mutex> lock(stack_mu_);
        stack_->kill_backend(f.backend, SIGKILL);
      }
      std::this_thread::sleep_for(milliseconds(f.duration_ms));
      std::lock_guard<std::mutex> lock(stack_mu_);
      try {
        stack_->start_backend(f.backend);
        note("backend " + std::to_string(f.backend) + " restarted");
      } catch (const std::exception& e) {
        violation("backend " + std::to_string(f.backend) + " did not restart: " + e.what());
      }
      break;
    }
    case FaultKind::kDelay:
      if (hold_one(faults, f)) {
        std::this_thread::sleep_for(milliseconds(f.duration_ms));
        note("released " + std::to_string(faults.release_all()) + " held request(s) at backend " +
             std::to_string(f.backend));
      }
      break;
    case FaultKind::kRefuse:
      if (!faults.reject(f.count)) note("backend " + std::to_string(f.backend) + " took no refusal");
      break;
    case FaultKind::kRouterKill:
      restart_router("scheduled");
      break;
    case FaultKind::kRouterKillWhileHeld: {
      bool caught = hold_one(faults, f);
      restart_router(caught ? "a backend holds its request" : "nothing was held");
      if (caught) {
        std::this_thread::sleep_for(milliseconds(f.duration_ms));
        note("released " + std::to_string(faults.release_all()) + " held request(s) at backend " +
             std::to_string(f.backend));
      }
      break;
    }
  }
}

// After the faults: every backend runs, answers, and has run what it held.
void SeedRun::resume_everything() {
  std::lock_guard<std::mutex> lock(stack_mu_);
  for (int b = 0; b < plan_.backends; ++b) {
    if (!stack_->backend(b).running()) {
      try {
        stack_->start_backend(b);
      } catch (const std::exception& e) {
        violations_.push_back("backend " + std::to_string(b) + " did not start: " + e.what());
        continue;
      }
    }
    stack_->backend(b).signal(SIGCONT);
    FaultBackend faults(stack_->backend_port(b));
    faults.clear();
    faults.reject(0);
    faults.release_all();
    if (faults.wait_released_finished(std::chrono::seconds(20))) continue;
    // Still running after 20 s. A DELETE that holds the process-wide lock
    // and waits for its name is the wedge: after a hard fault, the one
    // outcome the settle time alone was keeping away (see the top). The
    // backend is restarted, as operations.md tells an operator to.
    const int deletes_waiting = faults.deletes_waiting_for_name();
    const std::string what = "backend " + std::to_string(b) + " did not finish the requests it held (" +
                             std::to_string(faults.released_running()) + " still running, " +
                             std::to_string(deletes_waiting) + " DELETE(s) holding the lock wait for their name)";
    if (!plan_.has_hard_fault() || deletes_waiting <= 0) {
      violations_.push_back(what);
      continue;
    }
    ++backends_wedged_;
    const std::string event = what + ": wedged by a hard fault, restarted";
    note(event);
    std::cout << "  " << event << std::endl;
    try {
      stack_->kill_backend(b, SIGKILL);
      stack_->start_backend(b);
    } catch (const std::exception& e) {
      violations_.push_back("backend " + std::to_string(b) + " did not restart after its wedge: " + e.what());
    }
  }
}

// The volume equals the journal's latest state of every name. A router that
// repairs may still be at it just after the drain: polled with a deadline.
void SeedRun::check_volume() {
  RunResult verify;
  bool clean = wait_until(
      [&] {
        verify = run_fsjournal({"--journal-dir", stack_->journal_dir(), "verify", "--volume", stack_->data_dir()});
        return verify.exit_code == 0;
      },
      std::chrono::seconds(20));
  if (!clean)
    violations_.push_back("after the drain the volume differs from the journal (fsjournal verify --volume, exit " +
                          std::to_string(verify.exit_code) + "):\n" + verify.out + verify.err);
}

std::vector<std::string> SeedRun::run() {
  stack_ = std::make_unique<Stack>(dir_);
  stack_->set_backend_fault_control(true);
  stack_->start_backends(plan_.backends, plan_.latency_ms);
  stack_->start_router(kRouterFlags);
  router_port_ = stack_->router_port();

  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) threads.emplace_back([this, c] { client_loop(c); });
  std::vector<std::thread> fault_threads;
  for (const auto& f : plan_.faults) fault_threads.emplace_back([this, &f] { run_fault(f); });
  std::this_thread::sleep_until(start_ + milliseconds(kLoadMs));
  load_running_ = false;
  for (auto& t : threads) t.join();
  for (auto& t : fault_threads) t.join();
  note("load and faults over");

  resume_everything();
  if (!stack_->router_running()) restart_router("it was not running");
  if (!stack_->wait_drained(std::chrono::seconds(60))) {
    violations_.push_back("the router did not drain within 60 s: " + stack_->status().dump());
  } else {
    note("drained");
    check_volume();
    // Read your writes, after the drain: every name's last state.
    httplib::Client c("127.0.0.1", router_port_);
    c.set_url_encode(false);
    for (int i = 0; i < kNames; ++i) do_read(c, name_of(i));
  }

  if (reads_checked_ == 0) violations_.push_back("no GET was answered: the read rule was never checked");

  std::ostringstream summary;
  summary << "torture seed=" << plan_.seed << " done in " << elapsed_ms() << " ms: " << acked_
          << " writes acknowledged, " << unknown_ << " unknown, " << refused_ << " refused; " << reads_checked_
          << " reads checked, " << reads_unanswered_ << " unanswered; " << plan_.faults.size() << " faults, "
          << requests_held_ << " requests held; " << backends_wedged_ << " backend(s) wedged by a hard fault; "
          << violations_.size() << " violation(s)";
  std::cout << summary.str() << std::endl;

  if (!violations_.empty()) {
    std::ostringstream s;
    s << "fault events:\n";
    for (const auto& e : events_) s << "  " << e << "\n";
    std::string keep = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                       "/fsr-torture-seed-" + std::to_string(plan_.seed);
    std::error_code ec;
    std::filesystem::remove_all(keep, ec);
    std::filesystem::copy(dir_.path(), keep, std::filesystem::copy_options::recursive, ec);
    s << "logs, journal and volume copied to " << keep << (ec ? " (failed: " + ec.message() + ")" : "") << "\n";
    violations_.push_back(s.str());
  }
  return violations_;
}

TEST(Torture, EverySeedEndsWithTheVolumeEqualToTheJournalAndEveryAnsweredReadWasCurrentDuringIt) {
  const bool hard = env_int("FSR_TORTURE_HARD", 1) == 1;
  const bool one_seed = std::getenv("FSR_TORTURE_SEED") != nullptr;
  const uint64_t first = static_cast<uint64_t>(env_int("FSR_TORTURE_SEED", 1));
  const int count = env_int("FSR_TORTURE_SEEDS", one_seed ? 1 : kDefaultSeeds);
  ASSERT_GE(count, 1);
  std::vector<uint64_t> failed;
  for (uint64_t seed = first; seed < first + static_cast<uint64_t>(count); ++seed) {
    SeedPlan plan = draw_plan(seed, hard);
    std::cout << plan.describe() << std::flush;
    std::vector<std::string> violations;
    try {
      violations = SeedRun(plan).run();
    } catch (const std::exception& e) {
      violations.push_back(std::string("the stack failed: ") + e.what());
    }
    if (violations.empty()) continue;
    failed.push_back(seed);
    std::ostringstream s;
    s << "torture seed=" << seed << " FAILED (replay: FSR_TORTURE_SEED=" << seed
      << (hard ? "" : " FSR_TORTURE_HARD=0") << ")\n"
      << plan.describe();
    size_t shown = 0;
    for (const auto& v : violations)
      if (++shown <= 20 || &v == &violations.back()) s << "- " << v << "\n";
    if (violations.size() > 21) s << "(" << violations.size() - 21 << " more violations not shown)\n";
    ADD_FAILURE() << s.str();
  }
  std::string list;
  for (auto s : failed) list += " " + std::to_string(s);
  std::cout << "torture: " << count << " seed(s) from " << first << (hard ? " (hard)" : "") << ", "
            << failed.size() << " failed" << (failed.empty() ? "" : ":" + list) << std::endl;
}

}  // namespace
}  // namespace fsr::test
