// One request to a backend over a leased connection, with the outcome
// classified the way the router must reason about it:
// - kAnswered: the backend sent a status (which may be 429 or 5XX);
// - kNotSent: the connection was refused; the backend never saw the request;
// - kUnknown: the request may have reached the backend and may still take
//   effect there (timeout, connection cut, stopped process).
// The lease is released, discarded or abandoned accordingly by these calls.
// An exception from a body source or sink (or from inside httplib) goes on
// to the caller, with the lease abandoned: the connection is closed, never
// kept half read for the next request.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "router/upstream/backend_pool.h"

namespace fsr::router {

enum class Outcome { kAnswered, kNotSent, kUnknown };

struct BackendResult {
  Outcome outcome = Outcome::kUnknown;
  int status = 0;
  std::string error;  // httplib's error text when not answered
  bool answered() const { return outcome == Outcome::kAnswered; }
  bool success() const { return answered() && status >= 200 && status < 300; }
};

// Body source for a PUT: fills `buf` with up to n bytes at offset; returns the
// count (0 at the end) or -1 on error.
using BodySource = std::function<long(uint64_t offset, char* buf, size_t n)>;
// Receives a GET's body as it arrives; false aborts the transfer.
using BodySink = std::function<bool(const char* data, size_t n)>;

BackendResult backend_put(BackendLease lease, const std::string& name, uint64_t size, const BodySource& source,
                          std::chrono::milliseconds timeout);
BackendResult backend_delete(BackendLease lease, const std::string& name, std::chrono::milliseconds timeout);
// On a 200 the body goes to sink; on other statuses it is dropped.
BackendResult backend_get(BackendLease lease, const std::string& name, const BodySink& sink,
                          std::chrono::milliseconds timeout);

}  // namespace fsr::router
