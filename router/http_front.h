// The client-facing HTTP API: PUT, GET, HEAD and DELETE on
// /api/fileserver/{name}, plus /healthz, /readyz and /admin/status.
//
// Writes: the body streams into the journal (memory for small bodies, a file
// for large ones), the record commits durably, and only then does the client
// get 201/200 with the record's sequence in X-Fsrouter-Seq. The applier
// sends it to the primary later.
// Reads: the journal's index answers every name the router ever wrote: a
// tombstone is 404, a body is served from the journal. Only names the router
// never wrote are read through from a backend, buffered whole (memory, then
// a temporary file) before the first byte goes to the client.
#pragma once

#include <httplib.h>

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <string>

#include "common/file_io.h"
#include "common/names.h"
#include "journal/journal.h"
#include "recovery/applier.h"
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

class HttpFront {
 public:
  HttpFront(journal::Journal& journal, BackendPool& pool, NameGuard& guard, recovery::Applier& applier,
            FrontOptions options);
  void install(httplib::Server& server);
  void set_ready(bool ready) { ready_ = ready; }

 private:
  // Decodes and validates the name of an API request; on failure fills res.
  bool name_of(const httplib::Request& req, httplib::Response& res, std::string* name);
  void handle_get(const httplib::Request& req, httplib::Response& res);
  void handle_put(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void handle_delete(const httplib::Request& req, httplib::Response& res);
  void handle_status(httplib::Response& res);
  // Serves a tombstone or a retained body; false when the journal cannot
  // answer (a name it never wrote, or a body it freed).
  bool serve_from_journal(const std::string& name, httplib::Response& res);
  // Pulls the body from an eligible backend whole, verifies it against the
  // index, then serves it; retries other backends within read_wait.
  void read_from_backends(const std::string& name, httplib::Response& res);
  Backend* pick_reader(uint64_t need, const std::set<int>& failed);
  void serve_spilled_body(SpillBuffer& body, httplib::Response& res);

  journal::Journal& journal_;
  BackendPool& pool_;
  NameGuard& guard_;
  recovery::Applier& applier_;
  FrontOptions options_;
  std::atomic<bool> ready_{false};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace fsr::router
