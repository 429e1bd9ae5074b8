#include "router/upstream/name_guard.h"

#include <algorithm>

namespace fsr::router {

std::optional<NameGuard::Ticket> NameGuard::try_begin(const std::string& name, int backend, GuardOp op,
                                                      Clock::time_point* retry_at) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_.now();
  State& s = names_[name];
  if (s.busy) {
    *retry_at = now + std::chrono::milliseconds(20);
    return std::nullopt;
  }
  for (const auto& [b, sent_at] : s.abandoned) {
    if (b != backend) continue;
    if (op == GuardOp::kDelete) {
      *retry_at = Clock::time_point::max();  // the caller must send a PUT or GET first
      return std::nullopt;
    }
    if (now < sent_at + settle_) {
      *retry_at = sent_at + settle_;
      return std::nullopt;
    }
  }
  s.busy = true;
  return Ticket{name, backend, now};
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

void NameGuard::end(const Ticket& ticket, bool answered) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(ticket.name);
    if (it == names_.end()) return;
    State& s = it->second;
    s.busy = false;
    if (answered) {
      // This op was sent at least `settle` after any abandoned op on this
      // backend (try_begin saw to it) and the backend's per-name exclusion ran
      // them in order: every earlier op on this name there has finished.
      std::erase_if(s.abandoned, [&](const auto& a) { return a.first == ticket.backend && a.second < ticket.sent_at; });
    } else {
      s.abandoned.emplace_back(ticket.backend, ticket.sent_at);
    }
    if (s.abandoned.empty()) names_.erase(it);
  }
  cv_.notify_all();
}

void NameGuard::cancel(const Ticket& ticket) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(ticket.name);
    if (it == names_.end()) return;
    it->second.busy = false;
    if (it->second.abandoned.empty()) names_.erase(it);
  }
  cv_.notify_all();
}

bool NameGuard::uncertain_on(const std::string& name, int backend) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find(name);
  if (it == names_.end()) return false;
  return std::any_of(it->second.abandoned.begin(), it->second.abandoned.end(),
                     [&](const auto& a) { return a.first == backend; });
}

bool NameGuard::uncertain_anywhere(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find(name);
  return it != names_.end() && !it->second.abandoned.empty();
}

void NameGuard::backend_restarted(int backend) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = names_.begin(); it != names_.end();) {
      std::erase_if(it->second.abandoned, [&](const auto& a) { return a.first == backend; });
      if (!it->second.busy && it->second.abandoned.empty()) it = names_.erase(it);
      else ++it;
    }
  }
  cv_.notify_all();
}

size_t NameGuard::uncertain_count() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& [name, s] : names_) n += !s.abandoned.empty();
  return n;
}

}  // namespace fsr::router
