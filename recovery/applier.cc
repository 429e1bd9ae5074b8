#include "recovery/applier.h"

#include <random>

#include "common/log.h"
#include "recovery/retry_schedule.h"

namespace fsr::recovery {

using journal::Op;
using router::GuardOp;
using router::Outcome;

Applier::Applier(journal::Journal& journal, router::BackendPool& pool, router::NameGuard& guard,
                 ApplierOptions options, fsr::Clock& clock)
    : journal_(journal), pool_(pool), guard_(guard), options_(std::move(options)), clock_(clock) {}

Applier::~Applier() { stop(); }

void Applier::start() {
  auto pending = journal_.pending_entries();
  for (const auto& [name, entry] : pending) enqueue(name);
  log_info("replay_started").kv("pending", pending.size()).kv("applied_seq", journal_.applied_seq())
      .kv("last_seq", journal_.last_seq());
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

void Applier::stop() {
  {
    // A second call finds the workers already joined (joinable() is false).
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

void Applier::enqueue(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_.count(name)) {
      dirty_.insert(name);  // its worker looks again when done
      return;
    }
    if (!queued_.insert(name).second) return;
    ready_.push_back(name);
  }
  cv_.notify_one();
}

size_t Applier::queued() {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_.size() + in_flight_.size();
}

void Applier::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    auto now = clock_.now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      ready_.push_back(delayed_.begin()->second);
      delayed_.erase(delayed_.begin());
    }
    if (ready_.empty()) {
      if (delayed_.empty()) cv_.wait(lock);
      else {
        // A copy: another worker may erase this entry while we wait.
        Clock::time_point until = delayed_.begin()->first;
        clock_.wait_until(cv_, lock, until);
      }
      continue;
    }
    std::string name = std::move(ready_.front());
    ready_.pop_front();
    queued_.erase(name);
    in_flight_.insert(name);
    lock.unlock();
    auto again = apply_one(name);
    lock.lock();
    in_flight_.erase(name);
    // A record committed meanwhile is looked at now, unless a backoff is due.
    if (dirty_.erase(name) && !again) again = clock_.now();
    if (again) {
      queued_.insert(name);  // not queued while it was in flight
      if (*again <= clock_.now()) ready_.push_back(name);
      else delayed_.emplace(*again, name);
      cv_.notify_one();
    }
  }
}

router::BackendResult send_to_backend(router::BackendLease lease, const ApplyRequest& request) {
  switch (request.kind) {
    case ApplyRequest::Kind::kBarrierGet:
      return router::backend_get(std::move(lease), request.name, [](const char*, size_t) { return true; },
                                 request.timeout);
    case ApplyRequest::Kind::kReadBack:
      return router::backend_get(std::move(lease), request.name, *request.sink, request.timeout);
    case ApplyRequest::Kind::kPut:
      return router::backend_put(std::move(lease), request.name, request.size, *request.body, request.timeout);
    case ApplyRequest::Kind::kDelete:
      break;
  }
  return router::backend_delete(std::move(lease), request.name, request.timeout);
}

router::BackendResult Applier::send(router::BackendLease lease, const ApplyRequest& request) {
  if (options_.send) return options_.send(std::move(lease), request);
  return send_to_backend(std::move(lease), request);
}

std::optional<Applier::Clock::time_point> Applier::apply_one(const std::string& name) {
  auto entry = journal_.lookup(name);
  if (!entry || !entry->pending()) {
    std::lock_guard<std::mutex> lock(mu_);
    attempts_.erase(name);
    return std::nullopt;
  }
  router::Backend& primary = pool_.primary();
  int attempts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    attempts = attempts_[name];
  }

  // An earlier request on another backend (a former primary) may still land
  // on the shared volume: order it first with a barrier there (the guard's
  // drain_op), or wait until that backend is seen gone (a refused connection
  // clears its uncertainty).
  router::Backend* target = &primary;
  std::optional<GuardOp> barrier;
  for (router::Backend* b : pool_.all()) {
    if (b == &primary || !guard_.uncertain_on(name, b->id())) continue;
    if (!b->healthy) return clock_.now() + std::chrono::milliseconds(200);
    target = b;
    barrier = guard_.drain_op(name, b->id());
    break;
  }
  GuardOp op = entry->op == Op::kPut ? GuardOp::kPut : GuardOp::kDelete;
  // On the primary, an operation that could wedge against an abandoned one of
  // the other kind (router/upstream/name_guard.h) is ordered by a barrier of
  // the abandoned one's kind first: a GET before a DELETE, a DELETE before a PUT.
  if (!barrier) barrier = guard_.barrier_for(name, primary.id(), op);
  if (barrier) op = *barrier;
  Clock::time_point retry_at;
  auto ticket = guard_.try_begin(name, target->id(), op, &retry_at);
  if (!ticket) {
    log_debug("apply_wait_name").kv("seq", entry->seq).kv("name", name);
    return guard_retry_at(retry_at, clock_.now());
  }
  // The ticket is held: no other operation on the name starts until it ends,
  // so the state read now is the latest any backend will have been sent.
  // Look again before sending anything (this worker may have stalled since
  // its lookup); a state that needs another plan is planned afresh.
  auto latest_planned = [&] {
    auto latest = journal_.lookup(name);
    if (!latest || !latest->pending() || (!barrier && latest->op != entry->op)) return false;
    entry = latest;
    return true;
  };
  if (!latest_planned()) {
    guard_.cancel(*ticket);
    return clock_.now();
  }
  if (!barrier && entry->op == Op::kDelete) {
    bool moot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      moot = known_absent_.count(name) && !guard_.uncertain_anywhere(name);
    }
    if (moot) {
      bool marked = mark_applied(name, entry->seq);
      guard_.cancel(*ticket);
      if (!marked) return retry_mark(name);
      counters_.moot.fetch_add(1, std::memory_order_relaxed);
      log_info("apply_moot").kv("seq", entry->seq).kv("name", name).kv("op", "DELETE")
          .kv("reason", "volume does not hold the name");
      notify_applied();
      return clock_.now();
    }
  }
  auto lease = target->acquire(clock_.now() + std::chrono::seconds(1));
  if (!lease) {
    log_debug("apply_wait_slot").kv("seq", entry->seq).kv("name", name).kv("backend", target->address());
    guard_.cancel(*ticket);
    return clock_.now();
  }
  if (!latest_planned()) {  // committed while this worker waited for a slot
    lease.reset();
    guard_.cancel(*ticket);
    return clock_.now();
  }
  guard_.sending(*ticket);

  ApplyRequest request;
  request.name = name;
  request.timeout = attempt_timeout(attempts, options_.timeout, options_.timeout_max);
  auto started = clock_.now();
  router::BackendResult result;
  const char* op_text = !barrier ? journal::op_name(entry->op)
                        : *barrier == GuardOp::kDelete ? "DELETE(barrier)" : "GET(barrier)";
  if (barrier) {
    request.kind = *barrier == GuardOp::kDelete ? ApplyRequest::Kind::kDelete : ApplyRequest::Kind::kBarrierGet;
    result = send(std::move(*lease), request);
  } else if (entry->op == Op::kPut) {
    auto body = journal_.open_body(*entry);
    if (!body) {
      // Superseded between lookup and open: the newer record is queued too.
      lease->discard();
      guard_.cancel(*ticket);
      return clock_.now();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      known_absent_.erase(name);  // a PUT that may land counts as received
    }
    router::BodySource source = [&body](uint64_t offset, char* buf, size_t n) {
      return body->read_at(offset, buf, n);
    };
    request.kind = ApplyRequest::Kind::kPut;
    request.size = entry->size;
    request.body = &source;
    result = send(std::move(*lease), request);
  } else {
    request.kind = ApplyRequest::Kind::kDelete;
    result = send(std::move(*lease), request);
  }
  if (result.outcome == Outcome::kNotSent) pool_.report_refused(*target);
  guard_.end(*ticket, router::guard_outcome(result));
  // It may still land, at any time: the name is suspect there (a barrier GET
  // changes nothing on the volume).
  if (result.outcome == Outcome::kUnknown && request.kind != ApplyRequest::Kind::kBarrierGet)
    mark_suspect(journal_, name, entry->seq, *target);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - started).count();

  bool applied = !barrier && applies_record(entry->op, result);
  if (applied) {
    if (entry->op == Op::kDelete) {
      std::lock_guard<std::mutex> lock(mu_);
      known_absent_.insert(name);
    }
    if (!mark_applied(name, entry->seq)) return retry_mark(name);
    {
      std::lock_guard<std::mutex> lock(mu_);
      attempts_.erase(name);
    }
    counters_.applied.fetch_add(1, std::memory_order_relaxed);
    notify_applied();
    log_info("applied").kv("seq", entry->seq).kv("name", name).kv("op", op_text)
        .kv("backend", target->address()).kv("status", result.status).kv("ms", ms);
    return clock_.now();  // look again: a newer record may have arrived meanwhile
  }
  if (barrier && router::guard_outcome(result) == router::GuardOutcome::kDone) {
    log_info("apply_barrier").kv("seq", entry->seq).kv("name", name).kv("backend", target->address())
        .kv("status", result.status).kv("ms", ms);
    return clock_.now();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    attempts = ++attempts_[name];
  }
  thread_local std::mt19937_64 rng(std::random_device{}());
  auto backoff = draw_backoff(retry_backoff(result, attempts), rng);
  std::atomic<uint64_t>& retries = result.answered() ? (result.status == 429 ? counters_.retry_429 : counters_.retry_status)
                                   : result.outcome == Outcome::kNotSent ? counters_.retry_not_sent
                                                                          : counters_.retry_unknown;
  retries.fetch_add(1, std::memory_order_relaxed);
  auto line = log_warn("apply_retry");
  line.kv("seq", entry->seq).kv("name", name).kv("op", op_text).kv("backend", target->address())
      .kv("attempt", attempts).kv("ms", ms);
  if (result.answered()) line.kv("status", result.status);
  else line.kv("outcome", result.outcome == Outcome::kNotSent ? "not_sent" : "unknown").kv("error", result.error);
  return clock_.now() + backoff;
}

void mark_suspect(journal::Journal& journal, const std::string& name, uint64_t seq, const router::Backend& backend) {
  journal::Status s = journal.add_suspect(name, backend.address());
  if (s.ok()) {
    log_info("suspect").kv("seq", seq).kv("name", name).kv("backend", backend.address());
    return;
  }
  // Not kept: the rolling scrub still reads the name back in its turn.
  log_error("suspect_mark_failed").kv("seq", seq).kv("name", name).kv("backend", backend.address())
      .kv("error", s.message);
}

bool Applier::mark_applied(const std::string& name, uint64_t seq) {
  journal::Status s = journal_.mark_applied(name, seq);
  if (s.ok()) return true;
  log_error("apply_mark_failed").kv("seq", seq).kv("name", name).kv("error", s.message);
  return false;
}

// The volume holds the record but the journal does not know it yet: send it
// again after a backoff (idempotent), until the mark is written.
Applier::Clock::time_point Applier::retry_mark(const std::string& name) {
  counters_.retry_mark.fetch_add(1, std::memory_order_relaxed);
  int attempts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    attempts = ++attempts_[name];
  }
  thread_local std::mt19937_64 rng(std::random_device{}());
  return clock_.now() + draw_backoff(mark_retry_backoff(attempts), rng);
}

void Applier::notify_applied() {
  {
    std::lock_guard<std::mutex> lock(applied_mu_);
  }
  applied_cv_.notify_all();
}

bool Applier::wait_applied(const std::string& name, uint64_t seq, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(applied_mu_);
  auto done = [&] {
    auto e = journal_.lookup(name);
    return !e || e->applied_seq >= seq;
  };
  while (!done()) {
    if (clock_.wait_until(applied_cv_, lock, deadline) == std::cv_status::timeout) return done();
  }
  return true;
}

}  // namespace fsr::recovery
