#include "router/upstream/name_guard.h"

#include <algorithm>

namespace fsr::router {

namespace {

// The backend's DELETE takes the process-wide lock before the name; a PUT or
// GET takes the name first.
bool lock_first(GuardOp op) { return op == GuardOp::kDelete; }

// Whether `op` can run beside `abandoned` on one backend without a wedge: both
// take the name first, or both the lock first. An unknown one may be either,
// and only a DELETE is safe beside what a dead router left (see the header).
bool may_follow(std::optional<GuardOp> abandoned, GuardOp op) {
  if (!abandoned) return op == GuardOp::kDelete;
  return lock_first(*abandoned) == lock_first(op);
}

// A PUT after an abandoned GET needs no order (the GET changes nothing);
// anything else that may follow is sent `settle` later, so that the backend
// has admitted the abandoned one first and its exclusion orders the two.
bool waits_settle(std::optional<GuardOp> abandoned, GuardOp op) {
  return !(abandoned == GuardOp::kRead && op == GuardOp::kPut);
}

bool may_change_volume(std::optional<GuardOp> abandoned) { return abandoned != GuardOp::kRead; }

}  // namespace

GuardOutcome guard_outcome(const BackendResult& result) {
  switch (result.outcome) {
    case Outcome::kUnknown:
      return GuardOutcome::kUnknown;
    case Outcome::kNotSent:
      return GuardOutcome::kRefused;
    case Outcome::kAnswered:
      break;
  }
  // The backend answers 429 at admission, before its latency and exclusion.
  return result.status == 429 ? GuardOutcome::kRefused : GuardOutcome::kDone;
}

std::optional<NameGuard::Ticket> NameGuard::try_begin(const std::string& name, int backend, GuardOp op,
                                                      Clock::time_point* retry_at) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_.now();
  State& s = names_[name];
  if (s.busy) {
    *retry_at = now + std::chrono::milliseconds(20);
    return std::nullopt;
  }
  Clock::time_point settled = now;
  if (op == GuardOp::kDelete) settled = std::max(settled, deletes_not_before_);
  for (const Abandoned& a : s.abandoned) {
    if (a.backend != backend) continue;
    if (!may_follow(a.op, op)) {
      *retry_at = Clock::time_point::max();  // only barrier_for's operation, or a restart, unblocks it
      return std::nullopt;
    }
    if (waits_settle(a.op, op)) settled = std::max(settled, a.sent_at + settle_);
  }
  if (now < settled) {
    *retry_at = settled;
    return std::nullopt;
  }
  s.busy = true;
  return Ticket{name, backend, op, now};
}

std::optional<NameGuard::Ticket> NameGuard::begin(const std::string& name, int backend, GuardOp op,
                                                  Clock::time_point deadline) {
  while (true) {
    Clock::time_point retry_at;
    if (auto t = try_begin(name, backend, op, &retry_at)) return t;
    if (retry_at >= deadline) return std::nullopt;
    std::unique_lock<std::mutex> lock(mu_);
    clock_.wait_until(cv_, lock, std::min(retry_at + std::chrono::milliseconds(200), deadline));
    if (clock_.now() >= deadline) return std::nullopt;
  }
}

void NameGuard::end(const Ticket& ticket, GuardOutcome outcome) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(ticket.name);
    if (it == names_.end()) return;
    State& s = it->second;
    s.busy = false;
    if (outcome == GuardOutcome::kDone) {
      // It went through the backend's per-name exclusion, and every abandoned
      // operation there it may follow had been admitted `settle` before it:
      // the backend ran those first.
      std::erase_if(s.abandoned, [&](const Abandoned& a) {
        return a.backend == ticket.backend && may_follow(a.op, ticket.op) && a.sent_at + settle_ <= ticket.sent_at;
      });
    } else if (outcome == GuardOutcome::kUnknown) {
      s.abandoned.push_back({ticket.backend, ticket.op, ticket.sent_at});
    }
    if (s.abandoned.empty()) names_.erase(it);
  }
  cv_.notify_all();
}

void NameGuard::cancel(const Ticket& ticket) { end(ticket, GuardOutcome::kRefused); }

std::optional<GuardOp> NameGuard::barrier_for(const std::string& name, int backend, GuardOp op) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  for (const Abandoned& a : it->second.abandoned)
    if (a.backend == backend && !may_follow(a.op, op)) return lock_first(op) ? GuardOp::kRead : GuardOp::kDelete;
  return std::nullopt;
}

GuardOp NameGuard::drain_op(const std::string& name, int backend) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find(name);
  if (it == names_.end()) return GuardOp::kRead;
  for (const Abandoned& a : it->second.abandoned)
    if (a.backend == backend && !may_follow(a.op, GuardOp::kRead)) return GuardOp::kDelete;
  return GuardOp::kRead;
}

void NameGuard::sending(Ticket& ticket) { ticket.sent_at = clock_.now(); }

void NameGuard::restarted() {
  std::lock_guard<std::mutex> lock(mu_);
  deletes_not_before_ = clock_.now() + settle_;
}

void NameGuard::abandoned_before_start(const std::string& name, int backend) {
  std::lock_guard<std::mutex> lock(mu_);
  names_[name].abandoned.push_back({backend, std::nullopt, clock_.now()});
}

bool NameGuard::uncertain_on(const std::string& name, int backend) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find(name);
  if (it == names_.end()) return false;
  return std::any_of(it->second.abandoned.begin(), it->second.abandoned.end(),
                     [&](const Abandoned& a) { return a.backend == backend && may_change_volume(a.op); });
}

bool NameGuard::uncertain_anywhere(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find(name);
  if (it == names_.end()) return false;
  return std::any_of(it->second.abandoned.begin(), it->second.abandoned.end(),
                     [](const Abandoned& a) { return may_change_volume(a.op); });
}

void NameGuard::backend_restarted(int backend) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    restarts_[backend]++;
    for (auto it = names_.begin(); it != names_.end();) {
      std::erase_if(it->second.abandoned, [&](const Abandoned& a) { return a.backend == backend; });
      if (!it->second.busy && it->second.abandoned.empty()) it = names_.erase(it);
      else ++it;
    }
  }
  cv_.notify_all();
}

uint64_t NameGuard::restarts(int backend) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = restarts_.find(backend);
  return it == restarts_.end() ? 0 : it->second;
}

size_t NameGuard::uncertain_count() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& [name, s] : names_)
    n += std::any_of(s.abandoned.begin(), s.abandoned.end(), [](const Abandoned& a) { return may_change_volume(a.op); });
  return n;
}

}  // namespace fsr::router
