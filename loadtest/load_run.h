// `fsload run`: an open-loop load run against /api/fileserver/{name}.
//
// Slots come from a RateSchedule and are issued on time whether or not
// earlier requests finished. Each slot becomes one operation: a GET, PUT
// (overwrite) or DELETE of a tracked name, the creation of a new name, or
// the first step of a consistency check (PUT a fresh name, GET it, DELETE
// it, GET it again; each step issued as soon as the previous one answered).
// Every response is judged by the ConsistencyModel and counted in RunStats.
//
// Worker threads each drive one HttpClient and take every n-th slot; all
// decisions and counters live under one lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "loadtest/consistency_model.h"
#include "loadtest/http_client.h"
#include "loadtest/run_stats.h"
#include "loadtest/schedule.h"

namespace fsr::load {

// Exit codes of `fsload run`, most serious first when several apply.
inline constexpr int kExitClean = 0;
inline constexpr int kExitInternalError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInvalidData = 3;
inline constexpr int kExitErrorAnswers = 4;  // 429 or 5XX answers
inline constexpr int kExitFailureBudget = 5;
inline constexpr int kExitRequestErrors = 6;  // timeouts, connection errors, unexpected statuses

struct RunOptions {
  std::string url = "http://127.0.0.1:8080";
  double duration_sec = 60;
  int64_t max_failures = 0;  // 0: never end early
  // Operation weights among tracked names; creation only while tracked < max_files.
  double weight_get = 75, weight_put = 1, weight_delete = 1, weight_create = 10;
  int64_t max_files = 3000;
  // Share of slots that start a consistency check: `check_share_early` at
  // the start, falling linearly to `check_share` after `check_early_sec`.
  double check_share = 0.02, check_share_early = 0.25, check_early_sec = 30;
  // Body sizes: log-uniform between body_min and a maximum that starts at
  // body_start and is multiplied by body_growth every body_growth_sec, up to body_cap.
  int64_t body_start = 1024, body_min = 16, body_cap = 16 << 20;
  double body_growth = 1.5, body_growth_sec = 15;
  int64_t huge_every = 0, huge_size = 200 << 20;
  std::string connection = "mixed";  // close | keepalive | mixed
  int64_t idle_connections = 2;
  bool close_with_reset = false;
  double timeout_sec = 5, connect_timeout_sec = 5;
  int64_t threads = 1;
  uint64_t seed = 1;
  std::string fixed_name;  // GET only this existing name, content not verified
  // Progress on stderr: on a terminal one line redrawn every second; else a
  // line every progress_interval_s seconds. 0: none.
  int64_t progress_interval_s = 10;
  int64_t show_invalid = 10;
};

class LoadRun {
 public:
  LoadRun(RunOptions options, RateSchedule schedule);
  // Runs to the end (duration, failure budget or `interrupt`) and returns the
  // result document (see docs/loadtest.md for its fields).
  nlohmann::json execute();
  // Safe from a signal handler: ends the run as soon as possible.
  static void interrupt();

 private:
  enum class Purpose { kRead, kCreate, kOverwrite, kDelete, kCheckPut, kCheckGet, kCheckDelete, kCheckGetGone, kFixedRead };
  struct Op {
    Purpose purpose = Purpose::kRead;
    Method method = Method::kGet;
    std::string name;
    int64_t scheduled_ns = 0;
    uint64_t model_id = 0;
    uint64_t body_seed = 0, body_size = 0;
    bool close_connection = false;
  };
  class Worker;

  int64_t now_ns() const;
  // Under mu_:
  Op plan(double due_sec, int64_t scheduled_ns);
  void begin(Op& op, int64_t now);
  bool complete(const Op& op, const HttpResult& result, int64_t now, Op* next);
  std::string fresh_name();
  uint64_t body_size_at(double sec);
  void track(const std::string& name);
  void untrack(const std::string& name);
  void note_invalid(const Op& op, const ContentState& observed, const std::string& expected, int64_t now);

  HttpRequest make_request(const Op& op);
  // Called as each second of the run ends (`second`, from 0); prints when
  // the interval is due or on the final line.
  void print_progress(int64_t second, bool final_line);
  nlohmann::json result_document();

  RunOptions options_;
  RateSchedule schedule_;
  Clock::time_point start_;
  bool tty_ = false;
  int64_t progress_from_ns_ = 0;  // start of the interval the next progress line covers

  std::mutex mu_;
  ConsistencyModel model_;
  RunStats stats_;
  std::mt19937_64 rng_;
  std::vector<std::string> tracked_;
  std::unordered_map<std::string, size_t> tracked_index_;
  uint64_t uploads_ = 0;
  uint64_t checks_started_ = 0, checks_passed_ = 0, checks_failed_ = 0, checks_aborted_ = 0;
  nlohmann::json invalid_examples_ = nlohmann::json::array();
  std::string ended_by_ = "duration";
  int64_t end_ns_ = -1;   // when scheduling stopped (duration, budget or interrupt)
  int64_t wall_ns_ = 0;   // when the last request finished or was abandoned
  uint64_t abandoned_ = 0;

  std::atomic<bool> abandon_{false};
  std::atomic<int64_t> in_flight_{0}, max_in_flight_{0};
  std::atomic<int> workers_running_{0};
};

}  // namespace fsr::load
