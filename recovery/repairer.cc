#include "recovery/repairer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "common/checksum.h"
#include "common/log.h"
#include "recovery/retry_schedule.h"

namespace fsr::recovery {

using journal::Op;
using router::Backend;
using router::GuardOp;
using router::Outcome;

namespace {
constexpr size_t kScrubBatch = 64;                           // names read from the index at a time
constexpr std::chrono::milliseconds kSuspectPoll{200};      // new suspects are picked up within this
constexpr std::chrono::seconds kScrubPassPeriod{60};         // a pass starts at most this often
constexpr std::chrono::seconds kScrubRepairPatience{30};     // how long the scrub retries one repair
constexpr size_t kSuspectBatch = 8;                          // names read back per round of suspect checks
}  // namespace

Verdict compare_read(const journal::IndexEntry& latest, const router::BackendResult& result, uint64_t size,
                     const std::string& checksum) {
  if (!result.answered()) return Verdict::kUnreadable;
  if (latest.op == Op::kDelete) {
    if (result.status == 404) return Verdict::kClean;
    return result.status == 200 ? Verdict::kMismatch : Verdict::kUnreadable;
  }
  if (result.status == 200)
    return size == latest.size && checksum == latest.checksum ? Verdict::kClean : Verdict::kMismatch;
  return result.status == 404 ? Verdict::kMismatch : Verdict::kUnreadable;
}

Repairer::Repairer(journal::Journal& journal, router::BackendPool& pool, router::NameGuard& guard,
                   RepairerOptions options, fsr::Clock& clock)
    : journal_(journal), pool_(pool), guard_(guard), options_(std::move(options)), clock_(clock) {}

Repairer::~Repairer() { stop(); }

void Repairer::start() {
  threads_.emplace_back([this] { suspect_loop(); });
  for (int i = 0; i < options_.scrub_slots; ++i) threads_.emplace_back([this] { scrub_loop(); });
  log_info("repairer_started").kv("suspect_names", journal_.suspect_count()).kv("scrub_slots", options_.scrub_slots)
      .kv("scrub_interval_ms", options_.scrub_interval.count());
}

void Repairer::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Repairer::suspect_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto next = check_due_suspects();
    lock.lock();
    if (stopping_) break;
    clock_.wait_until(cv_, lock, std::min(next, clock_.now() + kSuspectPoll));
  }
}

void Repairer::scrub_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  auto pass_started = clock_.now();
  while (!stopping_) {
    lock.unlock();
    bool more = scrub_step();
    lock.lock();
    auto until = clock_.now() + options_.scrub_interval;
    if (!more) {
      // A small index is not read over and over.
      until = std::max(until, pass_started + kScrubPassPeriod);
      pass_started = until;
    }
    while (!stopping_ && clock_.now() < until) clock_.wait_until(cv_, lock, until);
  }
}

router::BackendResult Repairer::send(router::BackendLease lease, const ApplyRequest& request) {
  if (options_.send) return options_.send(std::move(lease), request);
  return send_to_backend(std::move(lease), request);
}

Backend* Repairer::backend_at(const std::string& address) {
  for (Backend* b : pool_.all())
    if (b->address() == address) return b;
  return nullptr;
}

Repairer::Clock::time_point Repairer::check_due_suspects() {
  auto now = clock_.now();
  std::set<std::pair<std::string, std::string>> present;
  for (const auto& s : journal_.suspects()) {
    auto key = std::make_pair(s.name, s.backend);
    present.insert(key);
    if (tracked_.count(key)) continue;
    Backend* b = backend_at(s.backend);
    tracked_[key] = Tracked{b ? guard_.restarts(b->id()) : 0, now, std::chrono::milliseconds(0)};
  }
  std::erase_if(tracked_, [&](const auto& t) { return !present.count(t.first); });

  // The due names, those read clean the fewest times in a row first (a new
  // suspect, or one just repaired), then the most overdue: a backlog of old
  // suspects (say every pending name after a restart) never holds up a new
  // one for long. At most kSuspectBatch names per round, so new suspects are
  // picked up between rounds.
  std::map<std::string, std::pair<std::chrono::milliseconds, Clock::time_point>> due;
  for (const auto& [key, t] : tracked_) {
    if (t.next_check > now) continue;
    auto [d, fresh] = due.try_emplace(key.first, t.backoff, t.next_check);
    if (!fresh) d->second = std::min(d->second, std::make_pair(t.backoff, t.next_check));
  }
  std::vector<std::pair<std::pair<std::chrono::milliseconds, Clock::time_point>, std::string>> order;
  for (auto& [name, rank] : due) order.emplace_back(rank, name);
  std::sort(order.begin(), order.end());
  if (order.size() > kSuspectBatch) order.resize(kSuspectBatch);

  for (const auto& [rank, name] : order) {
    auto first = tracked_.lower_bound({name, ""});
    auto of_name = [&](auto t) { return t != tracked_.end() && t->first.first == name; };
    // What each backend's restart count was before the read-back was sent:
    // only a restart seen before it proves the read-back came after the end.
    std::map<std::string, uint64_t> restarts_before;
    for (auto t = first; of_name(t); ++t) {
      Backend* b = backend_at(t->first.second);
      restarts_before[t->first.second] = b ? guard_.restarts(b->id()) : 0;
    }
    Checked c = check_name(name, true);
    count(&suspect_counters_, c, true);
    auto checked_at = clock_.now();
    for (auto t = first; of_name(t); ++t) {
      const std::string& address = t->first.second;
      Tracked& tracked = t->second;
      if (c.verdict == Verdict::kClean && !c.repaired) {
        Backend* b = backend_at(address);
        if (!b || restarts_before[address] > tracked.restarts_at_mark) {
          journal::Status s = journal_.clear_suspect(name, address);
          if (s.ok()) {
            log_info("suspect_cleared").kv("name", name).kv("backend", address)
                .kv("reason", b ? "backend restarted, read back clean" : "backend not configured, read back clean");
            tracked.next_check = Clock::time_point::max();  // dropped at the next round
            continue;
          }
          log_error("suspect_clear_failed").kv("name", name).kv("backend", address).kv("error", s.message);
        }
      }
      if (c.verdict == Verdict::kPending || c.verdict == Verdict::kMismatch) {
        tracked.backoff = std::chrono::milliseconds(0);  // look again soon (after the repair, or once applied)
        tracked.next_check = checked_at + options_.recheck_min;
      } else {
        tracked.backoff = std::min(std::max(tracked.backoff * 2, options_.recheck_min), options_.recheck_max);
        tracked.next_check = checked_at + tracked.backoff;
      }
    }
  }
  auto next = now + options_.recheck_max;
  for (const auto& [key, tracked] : tracked_) next = std::min(next, tracked.next_check);
  return next;
}

void Repairer::count(RepairCounters* counters, const Checked& c, bool first_look) {
  if (c.verdict == Verdict::kPending || c.verdict == Verdict::kUnreadable) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (first_look) counters->checked++;
  if (first_look && c.verdict == Verdict::kMismatch) counters->mismatches++;
  if (c.repaired) counters->repaired++;
}

bool Repairer::scrub_step() {
  std::string name;
  bool retry = false;
  Clock::time_point retry_until;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (scrub_retry_ && clock_.now() < scrub_retry_->second) {
      name = std::move(scrub_retry_->first);
      retry_until = scrub_retry_->second;
      retry = true;
    }
    scrub_retry_.reset();
    if (!retry) {
      if (scrub_batch_.empty()) {
        scrub_batch_ = journal_.names_after(scrub_position_, kScrubBatch);
        std::reverse(scrub_batch_.begin(), scrub_batch_.end());
        if (scrub_batch_.empty()) {
          if (scrub_position_.empty()) return false;  // no names at all
          ++scrub_pass_;
          log_info("scrub_pass").kv("pass", scrub_pass_).kv("checked", scrub_counters_.checked)
              .kv("mismatches", scrub_counters_.mismatches).kv("repaired", scrub_counters_.repaired);
          scrub_position_.clear();
          return false;
        }
      }
      name = std::move(scrub_batch_.back());
      scrub_batch_.pop_back();
      scrub_position_ = name;
    }
  }
  Checked c = check_name(name, false);
  count(&scrub_counters_, c, !retry);
  if (c.verdict == Verdict::kMismatch && !c.repaired) {
    // The repair could not go now (the name busy, the guard's rules after an
    // abandoned operation or a restart, no slot): the next step tries again,
    // for a while, before the walk goes on.
    std::lock_guard<std::mutex> lock(mu_);
    scrub_retry_.emplace(name, retry ? retry_until : clock_.now() + kScrubRepairPatience);
  }
  return true;
}

Repairer::Checked Repairer::check_name(const std::string& name, bool suspects_too) {
  auto entry = journal_.lookup(name);
  if (!entry) return {Verdict::kClean, false};  // never written: nothing to hold
  if (entry->pending() || (!suspects_too && journal_.is_suspect(name))) return {Verdict::kPending, false};

  // Replicas first (their slots cost the applier nothing); a tombstone only
  // through the primary (see the header).
  Backend& primary = pool_.primary();
  std::vector<Backend*> candidates;
  if (entry->op == Op::kPut) {
    for (Backend* b : pool_.all())
      if (b != &primary && b->healthy && b->confirmed) candidates.push_back(b);
    std::sort(candidates.begin(), candidates.end(),
              [](Backend* a, Backend* b) { return a->in_flight() < b->in_flight(); });
  }
  if (primary.healthy) candidates.push_back(&primary);

  for (Backend* b : candidates) {
    // The scrub leaves the applier at least one free slot on the primary.
    if (b == &primary && !suspects_too && b->in_flight() + 1 >= b->cap()) continue;
    Clock::time_point retry_at;
    auto ticket = guard_.try_begin(name, b->id(), GuardOp::kRead, &retry_at);
    if (!ticket) continue;
    auto latest = journal_.lookup(name);  // under the ticket: nothing of ours runs on the name now
    if (!latest || latest->seq != entry->seq || latest->pending()) {
      guard_.cancel(*ticket);
      return {Verdict::kPending, false};
    }
    auto lease = b->acquire(clock_.now() + std::chrono::seconds(1));
    if (!lease) {
      guard_.cancel(*ticket);
      continue;
    }
    guard_.sending(*ticket);
    Checksum checksum;
    uint64_t size = 0;
    router::BodySink sink = [&](const char* data, size_t n) {
      checksum.update(data, n);
      size += n;
      return true;
    };
    ApplyRequest request;
    request.kind = ApplyRequest::Kind::kReadBack;
    request.name = name;
    request.sink = &sink;
    request.timeout = options_.timeout;
    auto result = send(std::move(*lease), request);
    guard_.end(*ticket, router::guard_outcome(result));
    if (result.outcome == Outcome::kNotSent) pool_.report_refused(*b);
    Verdict verdict = compare_read(*entry, result, size, checksum.hex());
    if (verdict == Verdict::kUnreadable) continue;
    bool repaired = false;
    if (verdict == Verdict::kMismatch) {
      int64_t found_size = result.status == 200 ? static_cast<int64_t>(size) : -1;
      repaired = repair(name, *entry, *b, found_size);
    }
    return {verdict, repaired};
  }
  return {Verdict::kUnreadable, false};
}

// Sends the latest state again, to the primary (the only backend that takes
// writes), under the NameGuard. When an abandoned operation there forbids it,
// the barrier the guard names goes first, and the next check repairs.
bool Repairer::repair(const std::string& name, const journal::IndexEntry& seen, Backend& read_from,
                      int64_t found_size) {
  Backend& primary = pool_.primary();
  const int64_t expected_size = seen.op == Op::kPut ? static_cast<int64_t>(seen.size) : -1;
  auto line = log_warn("repair");
  line.kv("seq", seen.seq).kv("name", name).kv("backend", read_from.address()).kv("found_size", found_size)
      .kv("expected_size", expected_size).kv("op", journal::op_name(seen.op)).kv("primary", primary.address());
  if (!primary.healthy) {
    line.kv("result", "primary unhealthy");
    return false;
  }
  GuardOp op = seen.op == Op::kPut ? GuardOp::kPut : GuardOp::kDelete;
  auto barrier = guard_.barrier_for(name, primary.id(), op);
  Clock::time_point retry_at;
  auto ticket = guard_.try_begin(name, primary.id(), barrier ? *barrier : op, &retry_at);
  if (!ticket) {
    line.kv("result", "name busy");
    return false;
  }
  // The body stays until this repair's outcome is recorded: one whose
  // outcome is unknown makes the name suspect, and the next repair of it
  // must find the body to send again. Pinned before the body is looked up.
  journal::Journal::BodyPin pin;
  if (!barrier && seen.op == Op::kPut) pin = journal_.pin_body(name);
  auto latest = journal_.lookup(name);
  if (!latest || latest->seq != seen.seq || latest->pending()) {
    guard_.cancel(*ticket);
    line.kv("result", "superseded");
    return false;
  }
  std::shared_ptr<journal::BodyReader> body;
  if (!barrier && seen.op == Op::kPut) {
    body = journal_.open_body(*latest);
    if (!body) {
      guard_.cancel(*ticket);
      line.kv("result", "body not kept by the journal");
      return false;
    }
  }
  auto lease = primary.acquire(clock_.now() + std::chrono::seconds(1));
  if (!lease) {
    guard_.cancel(*ticket);
    line.kv("result", "no slot");
    return false;
  }
  guard_.sending(*ticket);
  ApplyRequest request;
  request.name = name;
  request.timeout = options_.timeout;
  router::BodySource source = [&body](uint64_t offset, char* buf, size_t n) { return body->read_at(offset, buf, n); };
  if (barrier) {
    request.kind = *barrier == GuardOp::kDelete ? ApplyRequest::Kind::kDelete : ApplyRequest::Kind::kBarrierGet;
  } else if (seen.op == Op::kPut) {
    request.kind = ApplyRequest::Kind::kPut;
    request.size = seen.size;
    request.body = &source;
  } else {
    request.kind = ApplyRequest::Kind::kDelete;
  }
  auto result = send(std::move(*lease), request);
  guard_.end(*ticket, router::guard_outcome(result));
  if (result.outcome == Outcome::kNotSent) pool_.report_refused(primary);
  if (result.outcome == Outcome::kUnknown && request.kind != ApplyRequest::Kind::kBarrierGet)
    mark_suspect(journal_, name, seen.seq, primary);
  bool repaired = !barrier && applies_record(seen.op, result);
  if (barrier) line.kv("sent", *barrier == GuardOp::kDelete ? "DELETE(barrier)" : "GET(barrier)");
  if (result.answered()) line.kv("status", result.status);
  else line.kv("error", result.error);
  line.kv("result", repaired ? "repaired" : "not repaired");
  return repaired;
}

RepairCounters Repairer::suspect_counters() {
  std::lock_guard<std::mutex> lock(mu_);
  return suspect_counters_;
}

uint64_t Repairer::scrub_passes() {
  std::lock_guard<std::mutex> lock(mu_);
  return scrub_pass_;
}

RepairCounters Repairer::scrub_counters() {
  std::lock_guard<std::mutex> lock(mu_);
  return scrub_counters_;
}

void Repairer::add_status_fields(nlohmann::json* status) {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json& j = *status;
  j["scrub"] = {{"slots", options_.scrub_slots},       {"pass", scrub_pass_},
                {"checked", scrub_counters_.checked},  {"mismatches", scrub_counters_.mismatches},
                {"repaired", scrub_counters_.repaired}, {"position", scrub_position_}};
  j["suspect_names"] = journal_.suspect_count();
  j["suspect_checks"] = {{"checked", suspect_counters_.checked},
                         {"mismatches", suspect_counters_.mismatches},
                         {"repaired", suspect_counters_.repaired}};
}

}  // namespace fsr::recovery
