// The client-facing HTTP API: PUT, GET, HEAD and DELETE on
// /api/fileserver/{name}, plus /healthz, /readyz and /admin/status.
//
// Writes: the body streams into the journal (memory for small bodies, a file
// for large ones), the record commits durably, and only then does the client
// get 201/200 with the record's sequence in X-Fsrouter-Seq (and a PUT its
// ETag). The applier sends it to the primary later. If-Match and
// If-None-Match are checked by the journal's committer with the commit;
// Content-Digest and Content-MD5 against the body before it commits
// (router/validators.h).
// Reads: the journal's index answers every name the router ever wrote: a
// tombstone is 404, a body is served from the journal. Only names the router
// never wrote (or whose body the journal freed) are read through from a
// backend, buffered whole (memory, then a temporary file) before the first
// byte goes to the client; a read waiting for a backend slot or turn holds
// no thread (router/read_through.cc).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "common/file_io.h"
#include "common/names.h"
#include "journal/journal.h"
#include "recovery/applier.h"
#include "router/http/exchange.h"
#include "router/upstream/backend_pool.h"
#include "router/upstream/name_guard.h"

namespace fsr::router {

enum class AckMode { kJournal, kBackend };

struct FrontOptions {
  AckMode ack = AckMode::kJournal;
  std::chrono::milliseconds read_wait{4000};       // bounded wait for a backend read before 503
  std::chrono::milliseconds backend_timeout{5000}; // per backend read attempt
  std::chrono::milliseconds ack_backend_wait{60000};
  size_t read_memory_max = 1 << 20;  // read-through bodies above this spill to a temporary file
  std::string temp_dir;              // for spilled read-through bodies
  // Adds the fields of the pieces beside the front (the repairer) to /admin/status.
  std::function<void(nlohmann::json*)> add_status_fields;
};

// Names the router keeps for itself on the shared volume; refused to clients.
bool is_reserved_name(const std::string& name);
inline constexpr const char* kReservedPrefix = kReservedNamePrefix;

// GETs and HEADs of names the journal holds a PUT for: answered from the
// retained body (hit), or read from a backend because the body cache freed it (miss).
struct BodyCacheReads {
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
};

class HttpFront : public http::Handler {
 public:
  HttpFront(journal::Journal& journal, BackendPool& pool, NameGuard& guard, recovery::Applier& applier,
            FrontOptions options);
  ~HttpFront() override;
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;
  // Returns once every read through from a backend has answered (each by
  // --read-wait-ms, or a GET already sent by --backend-timeout-ms); call
  // after the servers stopped, before the journal and the backends go. The
  // destructor calls it too.
  void stop_reads();
  // Reads through from a backend now running, waiting ones included.
  int reads_in_progress() const { return reads_in_progress_.load(std::memory_order_relaxed); }
  // Routes a request (router/http/exchange.h): answers what needs no
  // waiting at once, hands the rest to an exchange.
  std::unique_ptr<http::Exchange> start(const http::RequestHead& req, http::Response* res) override;
  void set_ready(bool ready) { ready_ = ready; }
  // The routes of --admin-listen: /admin/status, /healthz and /readyz.
  http::Handler& admin() { return admin_; }
  const BodyCacheReads& body_cache_reads() const { return body_cache_reads_; }
  // Serves GET /metrics on --admin-listen (router/metrics.h); set before the admin server starts.
  void set_metrics_route(std::function<void(http::Response&)> route) { metrics_route_ = std::move(route); }

 private:
  class PutExchange;
  class AdminRoutes : public http::Handler {
   public:
    explicit AdminRoutes(HttpFront& front) : front_(front) {}
    std::unique_ptr<http::Exchange> start(const http::RequestHead& req, http::Response* res) override;

   private:
    HttpFront& front_;
  };
  // /healthz and /readyz; false for any other path.
  bool health_route(const http::RequestHead& req, http::Response& res);
  class DeleteExchange;
  // Decodes and validates the name of an API request; on failure fills res.
  bool name_of(const http::RequestHead& req, http::Response& res, std::string* name);
  // Commits a received body and waits for it (and for the backend with
  // --ack backend): the blocking path.
  void finish_put(const std::string& name, std::unique_ptr<journal::BodyWriter> body,
                  const journal::Status& write_status, const journal::WritePrecondition& precondition,
                  http::Response& res);
  void delete_name(const std::string& name, const journal::WritePrecondition& precondition, http::Response& res);
  // 412: the If-Match / If-None-Match of a PUT or DELETE does not hold.
  static void precondition_failed(http::Response& res);
  // The answer to a commit of `op` ("put" or "delete") that ended with s;
  // false when it succeeded and --ack backend still has to wait.
  bool commit_answer(const char* op, const std::string& name, const journal::Status& s, uint64_t seq,
                     http::Response& res);
  void handle_status(http::Response& res);
  // Serves a tombstone or a retained body; false when the journal cannot
  // answer (a name it never wrote, or a body it freed). For HEAD
  // (head_only) no byte of the body is read. count_miss: a freed body counts
  // as a body-cache miss (the request's first look only).
  bool serve_from_journal(const std::string& name, http::Response& res, bool head_only = false,
                          bool count_miss = false);
  class ReadThreads;
  class ReadThrough;
  class ReadExchange;
  void start_reads();
  // Pulls the body from an eligible backend whole, verifies it against the
  // index, then hands the answer to `done`, once, from a read thread;
  // retries other backends within read_wait (router/read_through.cc).
  void read_through(const std::string& name, std::function<void(http::Response)> done);
  // May serve a read of a name whose last applied sequence is `need`:
  // healthy, not skipped, and the primary or a replica proved current.
  bool eligible_reader(Backend& b, uint64_t need, const std::set<int>& skip);
  // The least loaded eligible backend, or nullptr.
  Backend* pick_reader(uint64_t need, const std::set<int>& skip);
  void serve_spilled_body(SpillBuffer& body, http::Response& res);

  journal::Journal& journal_;
  BackendPool& pool_;
  NameGuard& guard_;
  recovery::Applier& applier_;
  FrontOptions options_;
  std::atomic<bool> ready_{false};
  AdminRoutes admin_{*this};
  BodyCacheReads body_cache_reads_;
  std::function<void(http::Response&)> metrics_route_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<int> reads_in_progress_{0};
  // Last: destroyed first, so reads end while everything they use is there.
  std::unique_ptr<ReadThreads> reads_;
};

}  // namespace fsr::router
