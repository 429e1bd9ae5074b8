#include "loadtest/load_run.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

namespace fsr::load {
namespace {

std::atomic<bool> g_interrupted{false};

std::string format_ms(int64_t micros) {
  char buf[32];
  if (micros < 10000)
    std::snprintf(buf, sizeof buf, "%.1fms", static_cast<double>(micros) / 1000.0);
  else
    std::snprintf(buf, sizeof buf, "%.0fms", static_cast<double>(micros) / 1000.0);
  return buf;
}

double ms(int64_t micros) { return std::round(static_cast<double>(micros) / 10.0) / 100.0; }

bool expected_status(Method method, long status) {
  switch (method) {
    case Method::kGet:
      return status == 200 || status == 404;
    case Method::kPut:
      return status == 201;
    case Method::kDelete:
      return status == 200;
  }
  return false;
}

nlohmann::json tally_json(const Tally& t) {
  return {{"issued", t.issued},
          {"completed", t.completed},
          {"successful", t.successful},
          {"status_2xx", t.status_2xx},
          {"status_3xx", t.status_3xx},
          {"status_4xx", t.status_4xx},
          {"status_404", t.status_404},
          {"status_429", t.status_429},
          {"status_5xx", t.status_5xx},
          {"status_other", t.status_other},
          {"timeouts", t.timeouts},
          {"connection_errors", t.connection_errors},
          {"unexpected_status", t.unexpected_status},
          {"failures", t.failures()},
          {"verified_reads", t.verified_reads},
          {"invalid", t.invalid},
          {"connections_opened", t.connections_opened}};
}

nlohmann::json latency_json(const LatencyHistogram& h) {
  return {{"count", h.count()},
          {"mean_ms", ms(static_cast<int64_t>(h.mean()))},
          {"p50_ms", ms(h.percentile(0.50))},
          {"p90_ms", ms(h.percentile(0.90))},
          {"p99_ms", ms(h.percentile(0.99))},
          {"p999_ms", ms(h.percentile(0.999))},
          {"max_ms", ms(h.max())}};
}

}  // namespace

void LoadRun::interrupt() { g_interrupted = true; }

// One thread: its own HttpClient, every n-th slot of the schedule.
class LoadRun::Worker {
 public:
  Worker(LoadRun& run, int index)
      : run_(run),
        client_({run.options_.url, run.options_.idle_connections, run.options_.connect_timeout_sec,
                 run.options_.close_with_reset}),
        cursor_(run.schedule_, index, static_cast<int>(run.options_.threads)) {}

  void loop() {
    const double duration = run_.options_.duration_sec;
    while (!run_.abandon_) {
      bool issuing = cursor_.due() < duration;
      if (issuing) {
        double now_sec = static_cast<double>(run_.now_ns()) / 1e9;
        // A bounded batch, so completions are handled even when far behind.
        for (int batch = 0; batch < 512 && cursor_.due() <= now_sec && cursor_.due() < duration; ++batch) {
          issue(cursor_.due());
          cursor_.advance();
        }
        issuing = cursor_.due() < duration;
      }
      if (!issuing && client_.in_flight() == 0) break;
      auto wait = std::chrono::microseconds(50000);
      if (issuing) {
        double gap = cursor_.due() - static_cast<double>(run_.now_ns()) / 1e9;
        wait = std::min(wait, std::chrono::microseconds(static_cast<int64_t>(std::max(0.0, gap) * 1e6)));
      }
      client_.poll(wait);
    }
    size_t dropped = client_.abandon_all();
    run_.in_flight_ -= static_cast<int64_t>(dropped);
    std::lock_guard<std::mutex> lock(run_.mu_);
    run_.abandoned_ += dropped;
  }

 private:
  void issue(double due_sec) {
    Op op;
    {
      std::lock_guard<std::mutex> lock(run_.mu_);
      auto scheduled = static_cast<int64_t>(due_sec * 1e9);
      op = run_.plan(due_sec, scheduled);
      int64_t now = run_.now_ns();
      run_.begin(op, now);
      run_.stats_.on_issue(op.method, scheduled, now);
    }
    submit(std::move(op));
  }

  void submit(Op op) {
    HttpRequest request = run_.make_request(op);
    int64_t now_in_flight = ++run_.in_flight_;
    int64_t seen = run_.max_in_flight_.load();
    while (now_in_flight > seen && !run_.max_in_flight_.compare_exchange_weak(seen, now_in_flight)) {
    }
    client_.submit(std::move(request), [this, op = std::move(op)](HttpResult& result) {
      --run_.in_flight_;
      Op next;
      bool has_next;
      {
        std::lock_guard<std::mutex> lock(run_.mu_);
        int64_t now = run_.now_ns();
        has_next = run_.complete(op, result, now, &next);
        if (has_next) {
          run_.begin(next, now);
          run_.stats_.on_issue(next.method, next.scheduled_ns, now);
        }
      }
      if (has_next) submit(std::move(next));
    });
  }

  LoadRun& run_;
  HttpClient client_;
  SlotCursor cursor_;
};

LoadRun::LoadRun(RunOptions options, RateSchedule schedule)
    : options_(std::move(options)), schedule_(schedule), rng_(options_.seed) {
  options_.threads = std::max<int64_t>(1, options_.threads);
  tty_ = ::isatty(2) == 1;
}

int64_t LoadRun::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
}

std::string LoadRun::fresh_name() {
  for (;;) {
    std::string name = random_letters_name(rng_);
    if (!model_.knows(name) && !tracked_index_.count(name)) return name;
  }
}

uint64_t LoadRun::body_size_at(double sec) {
  ++uploads_;
  if (options_.huge_every > 0 && uploads_ % static_cast<uint64_t>(options_.huge_every) == 0)
    return static_cast<uint64_t>(options_.huge_size);
  double steps = std::floor(sec / std::max(0.001, options_.body_growth_sec));
  double max = std::min(static_cast<double>(options_.body_cap),
                        static_cast<double>(options_.body_start) * std::pow(options_.body_growth, steps));
  double min = std::min(static_cast<double>(std::max<int64_t>(0, options_.body_min)), max);
  double lo = std::log(min + 1), hi = std::log(max + 1);
  double pick = std::exp(std::uniform_real_distribution<double>(lo, hi)(rng_)) - 1;
  return static_cast<uint64_t>(std::clamp(std::floor(pick), min, max));
}

void LoadRun::track(const std::string& name) {
  if (tracked_index_.count(name)) return;
  tracked_index_[name] = tracked_.size();
  tracked_.push_back(name);
}

void LoadRun::untrack(const std::string& name) {
  auto it = tracked_index_.find(name);
  if (it == tracked_index_.end()) return;
  size_t index = it->second;
  tracked_index_.erase(it);
  if (index != tracked_.size() - 1) {
    tracked_[index] = std::move(tracked_.back());
    tracked_index_[tracked_[index]] = index;
  }
  tracked_.pop_back();
}

LoadRun::Op LoadRun::plan(double due_sec, int64_t scheduled_ns) {
  Op op;
  op.scheduled_ns = scheduled_ns;
  if (options_.connection == "close")
    op.close_connection = true;
  else if (options_.connection == "mixed")
    op.close_connection = (rng_() & 1) != 0;
  if (!options_.fixed_name.empty()) {
    op.purpose = Purpose::kFixedRead;
    op.name = options_.fixed_name;
    return op;
  }
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double early = options_.check_early_sec > 0 ? std::max(0.0, 1.0 - due_sec / options_.check_early_sec) : 0.0;
  double check_share = options_.check_share + (options_.check_share_early - options_.check_share) * early;
  if (check_share > 0 && unit(rng_) < check_share) {
    ++checks_started_;
    op.purpose = Purpose::kCheckPut;
    op.method = Method::kPut;
    op.name = fresh_name();
    op.body_seed = rng_();
    op.body_size = body_size_at(due_sec);
    return op;
  }
  bool any = !tracked_.empty();
  double get = any ? options_.weight_get : 0, put = any ? options_.weight_put : 0,
         del = any ? options_.weight_delete : 0,
         create = static_cast<int64_t>(tracked_.size()) < options_.max_files ? options_.weight_create : 0;
  double total = get + put + del + create;
  double pick = unit(rng_) * total;
  if (total <= 0 || pick >= get + put + del) {
    op.purpose = Purpose::kCreate;
    op.method = Method::kPut;
    op.name = fresh_name();
    op.body_seed = rng_();
    op.body_size = body_size_at(due_sec);
    return op;
  }
  op.name = tracked_[std::uniform_int_distribution<size_t>(0, tracked_.size() - 1)(rng_)];
  if (pick < get) {
    op.purpose = Purpose::kRead;
    op.method = Method::kGet;
  } else if (pick < get + put) {
    op.purpose = Purpose::kOverwrite;
    op.method = Method::kPut;
    op.body_seed = rng_();
    op.body_size = body_size_at(due_sec);
  } else {
    op.purpose = Purpose::kDelete;
    op.method = Method::kDelete;
  }
  return op;
}

void LoadRun::begin(Op& op, int64_t now) {
  switch (op.method) {
    case Method::kGet:
      if (op.purpose != Purpose::kFixedRead) op.model_id = model_.begin_read(op.name, now);
      break;
    case Method::kPut:
      op.model_id = model_.begin_write(op.name, now, std::nullopt);
      break;
    case Method::kDelete:
      op.model_id = model_.begin_write(op.name, now, ContentState::absent());
      // No further operations on a name once its DELETE is sent.
      if (op.purpose == Purpose::kDelete) untrack(op.name);
      break;
  }
}

HttpRequest LoadRun::make_request(const Op& op) {
  HttpRequest request;
  request.method = method_name(op.method);
  request.target = "/api/fileserver/" + op.name;
  request.timeout_sec = options_.timeout_sec;
  request.close_connection = op.close_connection;
  if (op.method == Method::kPut) {
    request.body = std::make_unique<RandomTextBody>(op.body_seed, op.body_size);
    std::string name = op.name;
    uint64_t id = op.model_id;
    request.on_body_complete = [this, name, id](uint64_t size, const std::string& checksum) {
      std::lock_guard<std::mutex> lock(mu_);
      model_.set_write_content(name, id, ContentState::with(size, checksum));
    };
  }
  return request;
}

void LoadRun::note_invalid(const Op& op, const ContentState& observed, const std::string& expected, int64_t now) {
  if (static_cast<int64_t>(invalid_examples_.size()) >= options_.show_invalid) return;
  double at = static_cast<double>(now) / 1e9;
  invalid_examples_.push_back({{"t", std::round(at * 1000) / 1000},
                               {"name", op.name},
                               {"observed", observed.describe()},
                               {"expected", expected}});
  std::ostringstream line;
  line << "fsload: invalid data at " << at << "s: GET " << op.name << " returned " << observed.describe()
       << ", expected " << expected << "\n";
  std::cerr << line.str();
}

bool LoadRun::complete(const Op& op, const HttpResult& result, int64_t now, Op* next) {
  Completion c;
  bool response = result.outcome == HttpResult::Outcome::kResponse;
  long status = result.status;
  if (result.outcome == HttpResult::Outcome::kTimeout)
    c.kind = Completion::Kind::kTimeout;
  else if (!response)
    c.kind = Completion::Kind::kConnectionError;
  c.status = status;
  c.new_connection = result.new_connection;
  c.unexpected_status = response && status != 429 && status < 500 && !expected_status(op.method, status);

  if (op.method == Method::kGet) {
    if (op.purpose != Purpose::kFixedRead) {
      std::optional<ContentState> observed;
      if (response && status == 200) observed = ContentState::with(result.body_bytes, result.body_checksum);
      if (response && status == 404) observed = ContentState::absent();
      auto verdict = model_.end_read(op.name, op.model_id, now, observed ? &*observed : nullptr);
      c.verified = verdict.checked;
      c.invalid = verdict.checked && !verdict.valid;
      if (c.invalid) note_invalid(op, *observed, verdict.expected, now);
    }
  } else {
    WriteOutcome outcome = WriteOutcome::kUnknown;
    if (response && status >= 200 && status < 300) outcome = WriteOutcome::kAcknowledged;
    if (response && status >= 400 && status < 500) outcome = WriteOutcome::kRefused;
    model_.end_write(op.name, op.model_id, now, outcome);
    if (op.purpose == Purpose::kCreate && outcome == WriteOutcome::kAcknowledged) track(op.name);
  }
  stats_.on_complete(op.method, op.scheduled_ns, now, c);

  if (options_.max_failures > 0 && !abandon_ &&
      stats_.total().failures() >= static_cast<uint64_t>(options_.max_failures)) {
    abandon_ = true;
    ended_by_ = "failure_budget";
    end_ns_ = now;
  }

  // Consistency checks go on step by step while the run lasts.
  Purpose following;
  bool step_ok;
  switch (op.purpose) {
    case Purpose::kCheckPut:
      step_ok = response && status == 201;
      following = Purpose::kCheckGet;
      break;
    case Purpose::kCheckGet:
      step_ok = response && status == 200 && !c.invalid;
      following = Purpose::kCheckDelete;
      break;
    case Purpose::kCheckDelete:
      step_ok = response && status == 200;
      following = Purpose::kCheckGetGone;
      break;
    case Purpose::kCheckGetGone:
      // Checks neither passed nor failed count as aborted at the end.
      if (response && status == 404 && !c.invalid)
        ++checks_passed_;
      else if (c.invalid || c.unexpected_status)
        ++checks_failed_;
      return false;
    default:
      return false;
  }
  if (!step_ok) {
    if (c.invalid || c.unexpected_status || (response && status >= 200 && status < 300)) ++checks_failed_;
    return false;
  }
  if (abandon_) return false;
  next->purpose = following;
  next->method = following == Purpose::kCheckDelete ? Method::kDelete : Method::kGet;
  next->name = op.name;
  next->scheduled_ns = now;
  next->close_connection = op.close_connection;
  return true;
}

void LoadRun::print_progress(int64_t second, bool final_line) {
  // Caller holds mu_. A terminal gets the last second, redrawn in place;
  // a file or pipe a line per interval, each covering what the previous
  // did not, so the lines' "ok" add up to the run's successful requests.
  int64_t every = tty_ ? 1 : options_.progress_interval_s;
  if (!final_line && (second + 1) % every != 0) return;
  int64_t now = std::max(now_ns(), progress_from_ns_ + 1000000);
  double from_sec = static_cast<double>(progress_from_ns_) / 1e9;
  double to_sec = static_cast<double>(now) / 1e9;
  // The last line may cover a few milliseconds: rates over at least a second.
  double span = std::max(1.0, to_sec - from_sec);
  progress_from_ns_ = now;
  IntervalStats interval = stats_.take_interval();
  const Tally& t = interval.tally;
  int64_t slots = schedule_.slots_before(std::min(to_sec, options_.duration_sec)) -
                  schedule_.slots_before(std::min(from_sec, options_.duration_sec));
  const Tally& total = stats_.total();
  std::ostringstream line;
  if (tty_) {
    int width = 20;
    double done = std::min(1.0, static_cast<double>(second + 1) / std::max(1.0, options_.duration_sec));
    int filled = static_cast<int>(done * width);
    line << "\r\033[K[" << std::string(static_cast<size_t>(filled), '#')
         << std::string(static_cast<size_t>(width - filled), '.') << "] ";
  }
  char head[160];
  // target: the schedule's slots; offered: requests sent (a consistency
  // check's later steps are requests without a slot); achieved: successful.
  std::snprintf(head, sizeof head, "%4llds target %.0f/s offered %.0f/s achieved %.0f/s | ok %llu fail %llu",
                static_cast<long long>(second + 1), static_cast<double>(slots) / span,
                static_cast<double>(t.issued) / span, static_cast<double>(t.successful) / span,
                static_cast<unsigned long long>(t.successful), static_cast<unsigned long long>(t.failures()));
  line << head << " (429 " << t.status_429 << " 5xx " << t.status_5xx << " timeout " << t.timeouts << " conn "
       << t.connection_errors << " other " << t.unexpected_status << ") invalid " << t.invalid << " | p50 "
       << format_ms(interval.latency.percentile(0.50)) << " p99 " << format_ms(interval.latency.percentile(0.99))
       << " | in-flight " << in_flight_.load() << " | total ok " << total.successful << " fail " << total.failures()
       << " invalid " << total.invalid;
  if (!tty_ || final_line) line << "\n";
  std::cerr << line.str() << std::flush;
}

nlohmann::json LoadRun::execute() {
  // A short head start lets the workers set up before the first slot.
  start_ = Clock::now() + std::chrono::milliseconds(20);
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < options_.threads; ++i) workers.push_back(std::make_unique<Worker>(*this, i));
  workers_running_ = static_cast<int>(options_.threads);
  std::mutex done_mu;
  std::condition_variable done_cv;
  for (auto& w : workers) {
    threads.emplace_back([&, worker = w.get()] {
      worker->loop();
      std::lock_guard<std::mutex> lock(done_mu);
      --workers_running_;
      done_cv.notify_all();
    });
  }
  for (int64_t second = 1;; ++second) {
    {
      std::unique_lock<std::mutex> lock(done_mu);
      done_cv.wait_until(lock, start_ + std::chrono::seconds(second), [&] {
        return workers_running_ == 0 || g_interrupted.load();
      });
    }
    bool finished = workers_running_ == 0;
    if (g_interrupted && !abandon_) {
      std::lock_guard<std::mutex> lock(mu_);
      abandon_ = true;
      ended_by_ = "interrupted";
      end_ns_ = now_ns();
    }
    std::lock_guard<std::mutex> lock(mu_);
    int64_t ended = second - 1;
    double second_start = static_cast<double>(ended);
    if (second_start < options_.duration_sec)
      stats_.set_target(ended, schedule_.slots_before(std::min(second_start + 1, options_.duration_sec)) -
                                   schedule_.slots_before(second_start));
    stats_.set_in_flight(ended, in_flight_.load());
    stats_.summarise_before(ended - 1);
    if (options_.progress_interval_s > 0 && (Clock::now() >= start_ + std::chrono::seconds(second) || finished))
      print_progress(ended, finished || abandon_);
    if (finished || abandon_) break;
  }
  for (auto& t : threads) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  wall_ns_ = now_ns();
  if (end_ns_ < 0) end_ns_ = static_cast<int64_t>(options_.duration_sec * 1e9);
  // A check that neither passed nor failed was cut short: a step met a
  // failure (429, 5XX, timeout...) or was abandoned at the end.
  checks_aborted_ = checks_started_ - checks_passed_ - checks_failed_;
  stats_.summarise_before(static_cast<int64_t>(stats_.seconds().size()));
  return result_document();
}

nlohmann::json LoadRun::result_document() {
  const Tally& total = stats_.total();
  double elapsed = static_cast<double>(end_ns_) / 1e9;
  elapsed = std::min(elapsed, options_.duration_sec);
  uint64_t max_successful = 0;
  nlohmann::json timeline = nlohmann::json::array();
  const auto& seconds = stats_.seconds();
  for (size_t i = 0; i < seconds.size(); ++i) {
    const SecondStats& s = seconds[i];
    max_successful = std::max(max_successful, s.tally.successful);
    timeline.push_back({{"t", i},
                        {"target", s.target},
                        {"issued", s.tally.issued},
                        {"completed", s.tally.completed},
                        {"successful", s.tally.successful},
                        {"status_2xx", s.tally.status_2xx},
                        {"status_4xx", s.tally.status_4xx},
                        {"status_404", s.tally.status_404},
                        {"status_429", s.tally.status_429},
                        {"status_5xx", s.tally.status_5xx},
                        {"timeouts", s.tally.timeouts},
                        {"connection_errors", s.tally.connection_errors},
                        {"unexpected_status", s.tally.unexpected_status},
                        {"invalid", s.tally.invalid},
                        {"in_flight", s.in_flight},
                        {"p50_ms", ms(s.p50_us)},
                        {"p90_ms", ms(s.p90_us)},
                        {"p99_ms", ms(s.p99_us)},
                        {"max_ms", ms(s.max_us)},
                        {"issue_lag_max_ms", ms(s.max_issue_lag_us)}});
  }
  double consistency =
      total.verified_reads ? static_cast<double>(total.verified_reads - total.invalid) / total.verified_reads : 1.0;
  double success = total.completed ? static_cast<double>(total.successful) / total.completed : 1.0;
  double minutes = elapsed / 60.0;
  double score = static_cast<double>(max_successful) * minutes * consistency * success;
  double wall = std::max(elapsed, static_cast<double>(wall_ns_) / 1e9);
  double active_seconds = std::max(1.0, wall);

  int exit_code = kExitClean;
  if (total.invalid > 0)
    exit_code = kExitInvalidData;
  else if (ended_by_ == "failure_budget")
    exit_code = kExitFailureBudget;
  else if (total.status_429 + total.status_5xx > 0)
    exit_code = kExitErrorAnswers;
  else if (total.timeouts + total.connection_errors + total.unexpected_status > 0)
    exit_code = kExitRequestErrors;

  nlohmann::json ops = nlohmann::json::object();
  for (int m = 0; m < kMethodCount; ++m) {
    auto method = static_cast<Method>(m);
    nlohmann::json entry = tally_json(stats_.by_method(method));
    entry["latency"] = latency_json(stats_.latency(method));
    ops[method_name(method)] = entry;
  }
  auto scheduled = static_cast<uint64_t>(schedule_.slots_before(elapsed));

  return {
      {"mode", "run"},
      {"url", options_.url},
      {"schedule", schedule_.describe()},
      {"duration_s", options_.duration_sec},
      {"elapsed_s", std::round(elapsed * 1000) / 1000},
      {"wall_s", std::round(wall * 1000) / 1000},
      {"ended_by", ended_by_},
      {"threads", options_.threads},
      {"connection", options_.connection},
      {"timeout_s", options_.timeout_sec},
      {"seed", options_.seed},
      {"requests",
       {{"scheduled", scheduled},
        {"issued", total.issued},
        {"completed", total.completed},
        {"abandoned", abandoned_},
        {"max_in_flight", max_in_flight_.load()}}},
      {"totals", tally_json(total)},
      {"ops", ops},
      {"checks",
       {{"started", checks_started_},
        {"passed", checks_passed_},
        {"failed", checks_failed_},
        {"aborted", checks_aborted_}}},
      {"invalid_examples", invalid_examples_},
      {"tracked_names", tracked_.size()},
      {"throughput",
       {{"max_successful_per_s", max_successful},
        {"mean_target_per_s", static_cast<double>(scheduled) / std::max(1.0, elapsed)},
        {"mean_completed_per_s", static_cast<double>(total.completed) / active_seconds},
        {"mean_successful_per_s", static_cast<double>(total.successful) / active_seconds},
        {"max_issue_lag_ms", ms(stats_.max_issue_lag_us())}}},
      {"score",
       {{"max_successful_per_s", max_successful},
        {"minutes_survived", minutes},
        {"consistency_rate", consistency},
        {"success_rate", success},
        {"score", score}}},
      {"timeline", timeline},
      {"exit_code", exit_code},
  };
}

}  // namespace fsr::load
