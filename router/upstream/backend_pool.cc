#include "router/upstream/backend_pool.h"

#include <algorithm>

#include "common/flags.h"

namespace fsr::router {

const char* role_name(Role role) { return role == Role::kPrimary ? "primary" : "replica"; }

const char* stall_name(Stall stall) {
  switch (stall) {
    case Stall::kWedged:
      return "wedged";
    case Stall::kSaturated:
      return "saturated";
    case Stall::kNone:
      break;
  }
  return "";
}

void ProgressWatch::evidence(time_point now, Stall kind) {
  if (!stalled_since_) stalled_since_ = now;
  kind_ = kind;
}

void ProgressWatch::answered(time_point now, int status, int in_flight, int cap) {
  if (status != 429) {
    stalled_since_.reset();
    kind_ = Stall::kNone;
  } else if (in_flight < cap) {
    evidence(now, Stall::kWedged);
  } else {
    occupancy(now, in_flight, cap);
  }
}

void ProgressWatch::occupancy(time_point now, int in_flight, int cap) {
  if (in_flight >= cap) evidence(now, Stall::kSaturated);
}

Stall ProgressWatch::stalled(time_point now, std::chrono::milliseconds bound) const {
  if (!stalled_since_ || now - *stalled_since_ < bound) return Stall::kNone;
  return kind_;
}

BackendLease::BackendLease(Backend* backend, std::unique_ptr<httplib::Client> client)
    : backend_(backend), client_(std::move(client)) {}

BackendLease::BackendLease(BackendLease&& other) noexcept { *this = std::move(other); }

BackendLease& BackendLease::operator=(BackendLease&& other) noexcept {
  if (this != &other) {
    release();
    backend_ = other.backend_;
    client_ = std::move(other.client_);
    other.backend_ = nullptr;
  }
  return *this;
}

BackendLease::~BackendLease() { release(); }

void BackendLease::release() {
  if (!backend_) return;
  backend_->release(std::move(client_), /*keep_connection=*/true, /*hold=*/false);
  backend_ = nullptr;
}

void BackendLease::abandon() {
  if (!backend_) return;
  backend_->counters().abandoned++;
  backend_->release(std::move(client_), false, true);
  backend_ = nullptr;
}

void BackendLease::discard() {
  if (!backend_) return;
  backend_->release(std::move(client_), false, false);
  backend_ = nullptr;
}

void BackendLease::unused() {
  if (!backend_) return;
  backend_->release(std::move(client_), /*keep_connection=*/true, /*hold=*/false, /*grace=*/false);
  backend_ = nullptr;
}

Backend::Backend(int id, std::string host, int port, int cap, std::chrono::milliseconds abandon_hold,
                 std::chrono::milliseconds slot_grace, fsr::Clock& clock)
    : id_(id), host_(std::move(host)), port_(port), address_(host_ + ":" + std::to_string(port)), cap_(cap),
      abandon_hold_(abandon_hold), slot_grace_(slot_grace), clock_(clock) {}

std::unique_ptr<httplib::Client> Backend::new_client() {
  auto c = std::make_unique<httplib::Client>(host_, port_);
  c->set_url_encode(false);  // names are encoded by fsr::backend_path
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(2, 0);
  return c;
}

void Backend::purge_holds_locked(Clock::time_point now) {
  auto expired = std::remove_if(holds_.begin(), holds_.end(), [now](auto t) { return t <= now; });
  in_use_ -= static_cast<int>(holds_.end() - expired);
  holds_.erase(expired, holds_.end());
}

Backend::~Backend() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  waiters_cv_.notify_all();
  if (waiter_thread_.joinable()) waiter_thread_.join();
}

std::unique_ptr<httplib::Client> Backend::take_slot_locked(Clock::time_point now) {
  ++in_use_;
  progress_.occupancy(now, in_use_, cap_);
  std::unique_ptr<httplib::Client> client;
  if (!idle_.empty()) {
    client = std::move(idle_.back());
    idle_.pop_back();
  }
  return client;
}

BackendLease Backend::lease(std::unique_ptr<httplib::Client> client) {
  if (!client) client = new_client();
  return BackendLease(this, std::move(client));
}

std::optional<BackendLease> Backend::acquire(Clock::time_point deadline) {
  // Through the same line as acquire_async, so a blocking caller (applier,
  // prober, repairer) neither jumps ahead of reads waiting there nor falls
  // behind ones that came after it.
  struct Handover {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<BackendLease> lease;
  };
  auto handover = std::make_shared<Handover>();
  acquire_async(deadline, [handover](std::optional<BackendLease> lease) {
    std::lock_guard<std::mutex> lock(handover->mu);
    handover->lease = std::move(lease);
    handover->done = true;
    handover->cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(handover->mu);
  handover->cv.wait(lock, [&] { return handover->done; });  // the waiter thread keeps the deadline
  return std::move(handover->lease);
}

std::optional<BackendLease> Backend::try_acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  auto now = clock_.now();
  purge_holds_locked(now);
  if (in_use_ >= cap_ || !waiters_.empty()) {
    progress_.occupancy(now, in_use_, cap_);
    return std::nullopt;
  }
  auto client = take_slot_locked(now);
  lock.unlock();
  return lease(std::move(client));
}

void Backend::acquire_async(Clock::time_point deadline, LeaseCallback done, std::optional<Clock::time_point> since) {
  std::unique_lock<std::mutex> lock(mu_);
  auto now = clock_.now();
  purge_holds_locked(now);
  if (!stopping_ && waiters_.empty() && in_use_ < cap_) {
    auto client = take_slot_locked(now);
    lock.unlock();
    done(lease(std::move(client)));
    return;
  }
  progress_.occupancy(now, in_use_, cap_);
  if (now >= deadline || stopping_) {
    lock.unlock();
    done(std::nullopt);
    return;
  }
  if (!waiter_thread_.joinable()) waiter_thread_ = std::thread([this] { serve_waiters(); });  // before the line holds anyone
  Clock::time_point place = since.value_or(now);
  auto at = std::upper_bound(waiters_.begin(), waiters_.end(), place,
                             [](Clock::time_point t, const Waiter& w) { return t < w.since; });
  waiters_.insert(at, Waiter{place, deadline, std::move(done)});
  lock.unlock();
  waiters_cv_.notify_all();
}

int Backend::load() {
  std::lock_guard<std::mutex> lock(mu_);
  purge_holds_locked(clock_.now());
  return in_use_ + static_cast<int>(waiters_.size());
}

int Backend::async_waiters() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(waiters_.size());
}

void Backend::serve_waiters() {
  struct Grant {
    LeaseCallback done;
    bool granted = false;
    std::unique_ptr<httplib::Client> client;
  };
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (waiters_.empty()) {
      // Idle: a plain wait, not one on the clock, so that a test's
      // ManualClock counts this thread only while someone waits here.
      waiters_cv_.wait(lock);
      continue;
    }
    auto now = clock_.now();
    purge_holds_locked(now);
    std::vector<Grant> grants;
    // Past their deadline first: a slot goes only to someone still waiting.
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->deadline > now) {
        ++it;
        continue;
      }
      grants.push_back(Grant{std::move(it->done), false, nullptr});
      it = waiters_.erase(it);
    }
    while (!waiters_.empty() && in_use_ < cap_) {
      grants.push_back(Grant{std::move(waiters_.front().done), true, take_slot_locked(now)});
      waiters_.pop_front();
    }
    if (!grants.empty()) {
      lock.unlock();
      for (auto& g : grants) {
        if (g.granted) g.done(lease(std::move(g.client)));
        else g.done(std::nullopt);
      }
      grants.clear();  // callbacks and their captures go before the lock is taken again
      lock.lock();
      continue;
    }
    if (in_use_ >= cap_) progress_.occupancy(now, in_use_, cap_);
    auto wake = waiters_.front().deadline;
    for (const auto& w : waiters_) wake = std::min(wake, w.deadline);
    if (!holds_.empty()) wake = std::min(wake, *std::min_element(holds_.begin(), holds_.end()));
    clock_.wait_until(waiters_cv_, lock, wake);
  }
  // Stopping: no slot is handed out any more.
  std::deque<Waiter> left;
  left.swap(waiters_);
  lock.unlock();
  for (auto& w : left) w.done(std::nullopt);
}

void Backend::release(std::unique_ptr<httplib::Client> client, bool keep_connection, bool hold, bool grace) {
  bool line = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    line = !waiters_.empty();
    if (hold) {
      holds_.push_back(clock_.now() + abandon_hold_);
    } else if (grace && slot_grace_.count() > 0) {
      // The backend counts a request out only after it has sent the answer:
      // a new request sent the instant this one was answered could still
      // find it counted and be refused with 429.
      holds_.push_back(clock_.now() + slot_grace_);
    } else {
      --in_use_;
    }
    if (keep_connection && client) {
      idle_.push_back(std::move(client));
    }
  }
  client.reset();  // closes the connection when not kept
  // The waiter thread, if anyone waits: a slot is free, or a hold now ends
  // sooner than it waits for.
  if (line) waiters_cv_.notify_one();
}

int Backend::in_flight() {
  std::lock_guard<std::mutex> lock(mu_);
  purge_holds_locked(clock_.now());
  return in_use_;
}

void Backend::note_answer(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_.now();
  purge_holds_locked(now);
  progress_.answered(now, status, in_use_, cap_);
}

Stall Backend::stall(std::chrono::milliseconds bound) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_.now();
  purge_holds_locked(now);
  progress_.occupancy(now, in_use_, cap_);
  return progress_.stalled(now, bound);
}

std::string Backend::down_reason() {
  std::lock_guard<std::mutex> lock(mu_);
  return down_reason_;
}

void Backend::set_down_reason(std::string reason) {
  std::lock_guard<std::mutex> lock(mu_);
  down_reason_ = std::move(reason);
}

int Backend::idle_connections() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(idle_.size());
}

std::unique_ptr<BackendPool> BackendPool::create(const std::vector<std::string>& addresses,
                                                 const std::string& primary, int cap,
                                                 std::chrono::milliseconds abandon_hold,
                                                 std::chrono::milliseconds slot_grace, std::string* error,
                                                 fsr::Clock& clock) {
  auto pool = std::unique_ptr<BackendPool>(new BackendPool());
  if (addresses.empty() || addresses.size() > 5) {
    *error = "between 1 and 5 backends are needed, got " + std::to_string(addresses.size());
    return nullptr;
  }
  if (cap < 1) {
    *error = "the backend cap must be at least 1";
    return nullptr;
  }
  int primary_index = primary.empty() ? 0 : -1;
  for (size_t i = 0; i < addresses.size(); ++i) {
    std::string host;
    int port = 0;
    if (!split_host_port(addresses[i], &host, &port)) {
      *error = "backend address is not HOST:PORT: " + addresses[i];
      return nullptr;
    }
    auto b = std::make_unique<Backend>(static_cast<int>(i), host, port, cap, abandon_hold, slot_grace, clock);
    for (auto& other : pool->backends_)
      if (other->address() == b->address()) {
        *error = "backend listed twice: " + b->address();
        return nullptr;
      }
    if (!primary.empty() && (addresses[i] == primary || b->address() == primary)) primary_index = static_cast<int>(i);
    pool->backends_.push_back(std::move(b));
  }
  if (primary_index < 0) {
    *error = "the primary " + primary + " is not one of the backends";
    return nullptr;
  }
  pool->primary_ = primary_index;
  pool->designated_ = primary_index;
  return pool;
}

Backend& BackendPool::primary() { return *backends_[primary_.load()]; }

std::vector<Backend*> BackendPool::all() {
  std::vector<Backend*> out;
  for (auto& b : backends_) out.push_back(b.get());
  return out;
}

Role BackendPool::role_of(const Backend& b) { return b.id() == primary_.load() ? Role::kPrimary : Role::kReplica; }

}  // namespace fsr::router
