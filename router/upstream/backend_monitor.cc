#include "router/upstream/backend_monitor.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "common/log.h"
#include "router/upstream/backend_call.h"

namespace fsr::router {

std::string marker_body(const std::string& journal_id, uint64_t seq) {
  return "fsrouter-marker v1 " + journal_id + " " + std::to_string(seq) + " end\n";
}

std::optional<uint64_t> parse_marker(const std::string& body, const std::string& journal_id) {
  std::istringstream in(body);
  std::string magic, version, id, seq_text, end, extra;
  if (!(in >> magic >> version >> id >> seq_text >> end) || (in >> extra)) return std::nullopt;
  if (magic != "fsrouter-marker" || version != "v1" || id != journal_id || end != "end") return std::nullopt;
  if (body.back() != '\n' || seq_text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  try {
    return std::stoull(seq_text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<int> choose_primary(const std::vector<PrimaryCandidate>& backends, int current, int designated,
                                  bool failback) {
  const PrimaryCandidate* now = nullptr;
  for (const auto& b : backends)
    if (b.id == current) now = &b;
  if (!now) return std::nullopt;
  if (!now->healthy) {
    const PrimaryCandidate* target = nullptr;
    for (const auto& b : backends)
      if (b.id != current && b.healthy && b.confirmed && (!target || b.watermark > target->watermark)) target = &b;
    if (target) return target->id;
    return std::nullopt;
  }
  if (failback && current != designated) {
    for (const auto& b : backends)
      if (b.id == designated && b.healthy && b.confirmed) return b.id;
  }
  return std::nullopt;
}

StartPrimary choose_start_primary(const std::vector<std::string>& addresses,
                                  const std::map<std::string, journal::BackendState>& saved, int designated) {
  std::optional<int> best;
  uint64_t best_watermark = 0;
  std::string unknown;  // a saved primary that is not a backend now
  for (const auto& [address, state] : saved) {
    if (state.role != role_name(Role::kPrimary)) continue;
    auto it = std::find(addresses.begin(), addresses.end(), address);
    if (it == addresses.end()) {
      unknown = address;
      continue;
    }
    int id = static_cast<int>(it - addresses.begin());
    bool better = !best || state.watermark > best_watermark ||
                  (state.watermark == best_watermark && (id == designated || (*best != designated && id < *best)));
    if (better) {
      best = id;
      best_watermark = state.watermark;
    }
  }
  if (best) return {*best, "saved role in the journal"};
  if (!unknown.empty()) return {designated, "designated: the saved primary " + unknown + " is not a backend now"};
  return {designated, "designated: no primary saved in the journal"};
}

BackendMonitor::BackendMonitor(journal::Journal& journal, BackendPool& pool, NameGuard& guard,
                               MonitorOptions options, fsr::Clock& clock)
    : journal_(journal), pool_(pool), guard_(guard), options_(options), clock_(clock) {}

BackendMonitor::~BackendMonitor() { stop(); }

void BackendMonitor::start() {
  for (Backend* b : pool_.all()) threads_.emplace_back([this, b] { probe_loop(b); });
  threads_.emplace_back([this] { marker_loop(); });
}

void BackendMonitor::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void BackendMonitor::nap(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(stop_mu_);
  auto until = clock_.now() + d;
  while (!stopping_ && clock_.now() < until) clock_.wait_until(stop_cv_, lock, until);
}

void BackendMonitor::probe_loop(Backend* b) {
  while (!stopping_) {
    probe(*b);
    nap(options_.probe_interval);
  }
}

void BackendMonitor::probe(Backend& b) {
  uint64_t epoch = b.health_epoch.load();
  auto lease = b.acquire(clock_.now() + options_.probe_timeout);
  if (!lease) {
    check_progress(b);  // every slot busy: healthy only while answers arrive
    return;
  }
  std::string body;
  auto result = backend_get(
      std::move(*lease), kMarkerName,
      [&](const char* d, size_t n) {
        if (body.size() + n > 4096) return false;
        body.append(d, n);
        return true;
      },
      options_.probe_timeout);
  if (!result.answered()) {
    mark_unhealthy(b, result.error, result.outcome == Outcome::kNotSent);
    return;
  }
  if (result.status == 429) {
    check_progress(b);  // refused at admission: proves neither health nor failure
    return;
  }
  bool marker_read = false;
  uint64_t seq = 0;
  if (auto parsed = result.status == 200 ? parse_marker(body, journal_.journal_id()) : std::nullopt) {
    marker_read = true;
    seq = *parsed;
  }
  {
    std::lock_guard<std::mutex> lock(role_mu_);
    // Failed or demoted since this probe was sent: its answer says nothing
    // of the backend now (a demoted primary confirms only by a marker read
    // made as a replica). The next probe decides.
    if (b.health_epoch.load() != epoch) return;
    mark_healthy(b);
    if (marker_read && pool_.role_of(b) == Role::kReplica) {
      if (seq > b.watermark.load()) b.watermark = seq;
      if (!b.confirmed.exchange(true))
        log_info("replica_confirmed").kv("backend", b.address()).kv("watermark", seq);
    }
  }
  maybe_fail_over();
}

void BackendMonitor::check_progress(Backend& b) {
  Stall stall = b.stall(options_.stall_timeout);
  if (stall != Stall::kNone) mark_unhealthy(b, stall_name(stall), false);
}

void BackendMonitor::report_refused(Backend& b) { mark_unhealthy(b, "connection refused", true); }

void BackendMonitor::report_hung(Backend& b) {
  if (pool_.role_of(b) == Role::kReplica) mark_unhealthy(b, "read timed out", false);
}

void BackendMonitor::mark_healthy(Backend& b) {
  b.set_down_reason("");
  if (!b.healthy.exchange(true)) log_info("backend_up").kv("backend", b.address()).kv("role", role_name(pool_.role_of(b)));
}

void BackendMonitor::mark_unhealthy(Backend& b, const std::string& why, bool refused) {
  if (refused) guard_.backend_restarted(b.id());  // its abandoned requests died with the process
  {
    std::lock_guard<std::mutex> lock(role_mu_);
    b.health_epoch++;
    if (pool_.role_of(b) == Role::kReplica) {
      b.watermark = 0;
      b.confirmed = false;
    }
    b.set_down_reason(why);
    if (b.healthy.exchange(false))
      log_warn("backend_down").kv("backend", b.address()).kv("role", role_name(pool_.role_of(b))).kv("reason", why);
  }
  maybe_fail_over();
}

void BackendMonitor::maybe_fail_over() {
  std::lock_guard<std::mutex> lock(role_mu_);
  Backend& current = pool_.primary();
  std::vector<PrimaryCandidate> candidates;
  for (Backend* b : pool_.all()) candidates.push_back({b->id(), b->healthy, b->confirmed, b->watermark});
  auto chosen = choose_primary(candidates, current.id(), pool_.designated_primary(), options_.failback);
  if (!chosen) return;
  Backend* target = pool_.all()[*chosen];
  uint64_t applied = journal_.applied_seq();
  log_warn("primary_changed")
      .kv("from", current.address())
      .kv("to", target->address())
      .kv("reason", current.healthy ? "failback" : "primary unhealthy")
      .kv("applied_seq", applied)
      .kv("last_seq", journal_.last_seq())
      .kv("new_primary_watermark", target->watermark.load());
  (current.healthy ? failbacks_ : failovers_).fetch_add(1, std::memory_order_relaxed);
  pool_.set_primary(target->id());
  current.health_epoch++;  // as a replica it must confirm again, by a read made after this
  current.watermark = 0;
  current.confirmed = false;
  target->watermark = applied;
  target->confirmed = true;
}

void BackendMonitor::marker_loop() {
  std::optional<uint64_t> written;
  while (!stopping_) {
    nap(options_.marker_interval);
    uint64_t applied = journal_.applied_seq();
    Backend* current = nullptr;
    {
      // Under the role lock: a backend demoted meanwhile is not confirmed here.
      std::lock_guard<std::mutex> lock(role_mu_);
      current = &pool_.primary();
      current->watermark = std::max(current->watermark.load(), applied);
      current->confirmed = true;
    }
    Backend& primary = *current;
    if (written == applied || !primary.healthy) continue;
    auto lease = primary.acquire(clock_.now() + options_.probe_timeout);
    if (!lease) continue;
    std::string body = marker_body(journal_.journal_id(), applied);
    auto result = backend_put(
        std::move(*lease), kMarkerName, body.size(),
        [&](uint64_t offset, char* buf, size_t n) {
          size_t k = std::min<size_t>(n, body.size() - offset);
          std::memcpy(buf, body.data() + offset, k);
          return static_cast<long>(k);
        },
        options_.probe_timeout);
    if (result.success()) {
      written = applied;
      log_debug("marker_written").kv("backend", primary.address()).kv("seq", applied);
    } else if (result.outcome == Outcome::kNotSent) {
      report_refused(primary);
    }
  }
}

}  // namespace fsr::router
