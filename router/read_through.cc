// Read-through from the backends without a thread per waiting read.
//
// A read of a name the journal cannot answer runs as a chain of short steps
// on the front's read threads (HttpFront::ReadThreads). A step looks at the
// journal, picks an eligible backend, takes the name's guard ticket and a
// slot, and either sends the GET or ends by arranging the next step:
// - a backend slot: Backend::acquire_async hands one over when it frees up
//   (or the read looks again after kLineSlice, keeping its place in line:
//   it stands where its start time puts it);
// - a resting backend, no eligible one, or another operation on the name:
//   a timer;
// so a waiting read is a small object in a queue, not a blocked thread. Only
// the GET itself blocks a read thread (cpp-httplib), and a read holds a slot
// while it does, so at most the sum of the backends' caps do at a time; the
// read threads are that many and two more, and a step never waits behind a
// backend call. (A digest the client asked for is computed on the --threads
// pool, by ReadExchange.) A slot handed over but not used (the name busy,
// the backend no longer eligible) goes back at once, not after a slot grace.
//
// Correctness is the old loop's: the same eligibility (causal reads), the
// same journal re-checks around the guard ticket, the same verification of
// the body against the index, the same deadline (--read-wait-ms, counted
// from when the read began).
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <pthread.h>

#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "common/checksum.h"
#include "common/file_io.h"
#include "common/log.h"
#include "recovery/retry_schedule.h"
#include "router/http_front.h"
#include "router/upstream/backend_call.h"
#include "router/validators.h"

namespace fsr::router {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using http::plain;

class HttpFront::ReadThreads {
 public:
  explicit ReadThreads(int count) : work_(net::make_work_guard(context_)) {
    for (int i = 0; i < count; ++i)
      threads_.emplace_back([this, name = "fsr-read-" + std::to_string(i)] {
        pthread_setname_np(pthread_self(), name.c_str());  // for top -H and perf
        context_.run();
      });
  }
  ~ReadThreads() { stop(); }
  // Returns once every read has ended: each holds work on the context.
  void stop() {
    work_.reset();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  net::io_context& context() { return context_; }

 private:
  net::io_context context_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

class HttpFront::ReadThrough : public std::enable_shared_from_this<ReadThrough> {
 public:
  // The longest a read stays in one backend's line before it looks again
  // at which backends are eligible and least loaded: a backend may turn
  // unhealthy (paused, hung) while its line waits. Speed only: whatever it
  // is, every answer is still checked as below.
  static constexpr std::chrono::milliseconds kLineSlice{250};

  using Done = std::function<void(http::Response)>;
  ReadThrough(HttpFront& front, std::string name, Done done)
      : front_(front),
        work_(net::make_work_guard(front.reads_->context())),
        name_(std::move(name)),
        done_(std::move(done)),
        deadline_(Clock::now() + front.options_.read_wait),
        timer_(front.reads_->context()) {
    front_.reads_in_progress_.fetch_add(1, std::memory_order_relaxed);
  }
  ~ReadThrough() { front_.reads_in_progress_.fetch_sub(1, std::memory_order_relaxed); }

  void start() { next({}); }

  // Ends a begun guard ticket if the step unwinds before the request's
  // outcome is known: cancelled when nothing was sent, else unknown.
  class TicketHold {
   public:
    TicketHold(NameGuard& guard, NameGuard::Ticket ticket) : guard_(guard), ticket_(std::move(ticket)) {}
    ~TicketHold() {
      if (!open_) return;
      if (sent_) guard_.end(ticket_, GuardOutcome::kUnknown);
      else guard_.cancel(ticket_);
    }
    TicketHold(const TicketHold&) = delete;
    TicketHold& operator=(const TicketHold&) = delete;
    void sending() {
      guard_.sending(ticket_);
      sent_ = true;
    }
    void cancel() {
      guard_.cancel(ticket_);
      open_ = false;
    }
    void end(GuardOutcome outcome) {
      guard_.end(ticket_, outcome);
      open_ = false;
    }

   private:
    NameGuard& guard_;
    NameGuard::Ticket ticket_;
    bool open_ = true;
    bool sent_ = false;
  };

 private:
  // The next step, on a read thread, without growing the stack.
  void next(std::optional<BackendLease> spare) {
    net::post(front_.reads_->context(), [self = shared_from_this(), spare = std::move(spare)]() mutable {
      self->step(std::move(spare));
    });
  }

  void later(Clock::time_point when) {
    timer_.expires_at(std::min(when, deadline_));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code&) { self->step({}); });
  }

  void step(std::optional<BackendLease> spare) {
    try {
      attempt(std::move(spare));
    } catch (const std::exception& e) {
      log_error("request_failed").kv("name", name_).kv("error", e.what());
      http::Response res;
      plain(res, 500, "internal error");
      finish(std::move(res));
    }
  }

  // A slot from the backend's line, or none within the slice: choose again
  // (the backend may have turned unhealthy, another one freed up), or give
  // up at the deadline. None before the slice ended (a backend going away):
  // wait out the slice rather than ask again at once.
  void granted(std::optional<BackendLease> lease) {
    if (!lease && Clock::now() < line_until_) return later(line_until_);
    step(std::move(lease));
  }

  // One try; ends by answering or by arranging the next step. spare: a
  // slot handed over by acquire_async while this read waited for it.
  void attempt(std::optional<BackendLease> spare) {
    HttpFront& f = front_;
    // A slot handed over and not used on any path below goes back at once.
    struct GiveBack {
      std::optional<BackendLease>& lease;
      ~GiveBack() {
        if (lease && *lease) lease->unused();
      }
    } give_back{spare};
    if (Clock::now() >= deadline_) return unavailable();
    auto entry = f.journal_.lookup(name_);
    if (entry) {
      http::Response res;
      if (f.serve_from_journal(name_, res)) return finish(std::move(res));
    }
    uint64_t need = entry ? entry->seq : 0;
    auto now = Clock::now();
    std::erase_if(resting_, [&](const auto& r) { return r.second <= now; });
    std::set<int> skip = failed_;
    for (const auto& [id, until] : resting_) skip.insert(id);
    Backend* backend = nullptr;
    if (spare && f.eligible_reader(spare->backend(), need, skip)) {
      backend = &spare->backend();
    } else if (spare) {
      spare->unused();
      spare.reset();  // no half-empty lease left for the steps below
    }
    if (!backend) backend = f.pick_reader(need, skip);
    if (!backend) {
      if (!failed_.empty()) failed_.clear();  // every eligible one failed once: let them try again
      auto wake = now + std::chrono::milliseconds(50);
      for (const auto& [id, until] : resting_) wake = std::min(wake, until);
      return later(wake);
    }
    Clock::time_point retry_at;
    auto begun = f.guard_.try_begin(name_, backend->id(), GuardOp::kRead, &retry_at);
    if (!begun) {
      // Uncertain there (a request on this name was abandoned): try another
      // backend. Otherwise another operation on this name runs: wait a
      // little, without holding a slot.
      if (retry_at > Clock::now() + std::chrono::milliseconds(50)) {
        failed_.insert(backend->id());
        return next({});
      }
      return later(Clock::now() + std::chrono::milliseconds(10));
    }
    TicketHold ticket(f.guard_, std::move(*begun));
    auto now_entry = f.journal_.lookup(name_);
    if (now_entry.has_value() != entry.has_value() || (now_entry && now_entry->seq != entry->seq)) {
      ticket.cancel();  // written meanwhile: look again
      return next(std::move(spare));
    }
    std::optional<BackendLease> lease = std::move(spare);
    if (!lease || !*lease) lease = backend->try_acquire();
    if (!lease) {
      // No slot: give the ticket back (others may use the name meanwhile)
      // and wait in the backend's line; the step that gets the slot takes a
      // ticket again.
      ticket.cancel();
      line_until_ = std::min(deadline_, Clock::now() + kLineSlice);
      // In the line at the place of the read's start: one that looked again
      // after a slice keeps its turn.
      backend->acquire_async(
          line_until_,
          [self = shared_from_this()](std::optional<BackendLease> got) {
            // On the thread that freed the slot: hand over, do not work here.
            net::post(self->front_.reads_->context(),
                      [self, got = std::move(got)]() mutable { self->granted(std::move(got)); });
          },
          since_);
      return;
    }
    fetch(*backend, ticket, std::move(entry), std::move(*lease));
  }

  // Sends the GET (blocking this read thread until the backend answers) and
  // judges the answer.
  void fetch(Backend& backend, TicketHold& ticket, std::optional<journal::IndexEntry> entry, BackendLease lease) {
    HttpFront& f = front_;
    ticket.sending();
    // In memory up to a limit, then in an unlinked temporary file.
    SpillBuffer body(
        f.options_.read_memory_max,
        [](void* dir) { return open_unlinked_temp(*static_cast<const std::string*>(dir)); },
        &f.options_.temp_dir);
    Checksum checksum;
    int sink_error = 0;
    auto result = backend_get(
        std::move(lease), name_,
        [&](const char* d, size_t n) {
          checksum.update(d, n);
          sink_error = body.append(d, n);
          return sink_error == 0;
        },
        f.options_.backend_timeout);
    ticket.end(guard_outcome(result));
    if (result.outcome == Outcome::kNotSent) f.pool_.report_refused(backend);
    if (result.outcome == Outcome::kUnknown) f.pool_.report_hung(backend);
    if (sink_error != 0) {
      log_error("read_spill_failed").kv("name", name_).kv("temp_dir", f.options_.temp_dir)
          .kv("error", std::strerror(sink_error));
      failed_.insert(backend.id());
      return next({});
    }
    if (!result.answered()) {
      failed_.insert(backend.id());
      return next({});
    }
    if (result.status == 429) {
      thread_local std::mt19937_64 rng(std::random_device{}());
      auto backoff = recovery::draw_backoff(recovery::retry_backoff(result, ++refusals_[backend.id()]), rng);
      resting_[backend.id()] = Clock::now() + backoff;
      return next({});
    }
    http::Response res;
    if (entry) {
      // Catches stale files, truncated reads and error text served as content.
      if (result.status == 200 && body.size() == entry->size && checksum.hex() == entry->checksum) {
        f.serve_spilled_body(body, res);
        add_validators(res, *entry, f.journal_.journal_id());
        return finish(std::move(res));
      }
      log_error("read_mismatch").kv("seq", entry->seq).kv("name", name_).kv("backend", backend.address())
          .kv("status", result.status).kv("size", body.size()).kv("expected_size", entry->size);
      failed_.insert(backend.id());
      return next({});
    }
    if (f.journal_.lookup(name_)) return next({});  // written while we read: the journal is newer
    if (result.status == 404) {
      plain(res, 404, "File not found.");
      return finish(std::move(res));
    }
    if (result.status == 200) {
      f.serve_spilled_body(body, res);
      return finish(std::move(res));
    }
    failed_.insert(backend.id());
    next({});
  }

  void unavailable() {
    log_warn("read_unavailable").kv("name", name_).kv("tried", failed_.size())
        .kv("waited_ms", front_.options_.read_wait.count());
    http::Response res;
    res.set_header("Retry-After", "1");
    plain(res, 503, "no backend could serve this file in time; retry");
    finish(std::move(res));
  }

  void finish(http::Response res) {
    if (finished_) return;
    finished_ = true;
    if (!res.source) res.source = "backend";  // serve_from_journal sets "journal"
    done_(std::move(res));
  }

  HttpFront& front_;
  // Keeps the read threads running while this read lives (stop_reads waits
  // for it); declared first, so it goes last, after the timer.
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::string name_;
  Done done_;
  Clock::time_point deadline_;
  Clock::time_point since_ = Clock::now();  // its place in a backend's line
  Clock::time_point line_until_{};          // the end of its current wait in a line
  net::steady_timer timer_;
  bool finished_ = false;
  std::set<int> failed_;
  // A backend that answered 429 (full) rests for a backoff drawn as the
  // applier's (recovery/retry_schedule.h) while the others are tried; the
  // read waits for a resting one only when no other is eligible.
  std::map<int, Clock::time_point> resting_;
  std::map<int, int> refusals_;
};

// Here, where ReadThreads is complete.
HttpFront::HttpFront(journal::Journal& journal, BackendPool& pool, NameGuard& guard, recovery::Applier& applier,
                     FrontOptions options)
    : journal_(journal), pool_(pool), guard_(guard), applier_(applier), options_(std::move(options)) {
  start_reads();
}

HttpFront::~HttpFront() { stop_reads(); }

void HttpFront::start_reads() {
  int slots = 0;
  for (Backend* b : pool_.all()) slots += b->cap();
  reads_ = std::make_unique<ReadThreads>(slots + 2);
}

void HttpFront::stop_reads() {
  if (reads_) reads_->stop();
}

void HttpFront::read_through(const std::string& name, std::function<void(http::Response)> done) {
  std::make_shared<ReadThrough>(*this, name, std::move(done))->start();
}

}  // namespace fsr::router
