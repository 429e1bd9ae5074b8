#include "router/upstream/backend_call.h"

#include <vector>

#include "common/names.h"

namespace fsr::router {
namespace {

void set_timeouts(httplib::Client& c, std::chrono::milliseconds timeout) {
  auto ms = timeout.count();
  c.set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  c.set_write_timeout(ms / 1000, (ms % 1000) * 1000);
}

// What went wrong, in the words an operator reads in logs and on the status
// page (httplib's own names are enum names: "Connection", "Read").
std::string describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection: return "connection refused or unreachable";
    case httplib::Error::ConnectionTimeout: return "connect timed out";
    case httplib::Error::Read: return "no answer (read failed or timed out)";
    case httplib::Error::Write: return "request not fully sent (write failed or timed out)";
    case httplib::Error::Canceled: return "canceled";
    default: return "client error " + httplib::to_string(error);
  }
}

BackendResult finish(BackendLease& lease, const httplib::Result& result) {
  BackendResult out;
  if (result) {
    out.outcome = Outcome::kAnswered;
    out.status = result->status;
    if (out.status == 429) lease.backend().counters().rejected_429++;
    lease.backend().note_answer(out.status);  // before the lease's slot is released
    bool keep = result->get_header_value("Connection") != "close";
    if (keep) {
      // lease destructor keeps the connection for reuse
    } else {
      lease.discard();
    }
    return out;
  }
  out.error = describe(result.error());
  lease.backend().counters().errors++;
  if (result.error() == httplib::Error::Connection) {
    // connect() failed: nothing reached the backend.
    out.outcome = Outcome::kNotSent;
    lease.discard();
  } else {
    out.outcome = Outcome::kUnknown;
    lease.abandon();
  }
  return out;
}

// Runs one httplib call, counted as a request sent. An exception from inside
// it (a body source or sink that throws, an allocation that fails) leaves the
// request half sent or its answer half read: the connection must never be
// kept for reuse, and the backend may still be working on the request, so
// the lease is abandoned before the exception goes on.
template <typename Call>
httplib::Result send(BackendLease& lease, Call&& call) {
  lease.backend().counters().requests++;
  try {
    return call(lease.client());
  } catch (...) {
    lease.abandon();  // counted as abandoned
    throw;
  }
}

}  // namespace

BackendResult backend_put(BackendLease lease, const std::string& name, uint64_t size, const BodySource& source,
                          std::chrono::milliseconds timeout) {
  set_timeouts(lease.client(), timeout);
  bool source_failed = false;
  auto result = send(lease, [&](httplib::Client& c) {
    return c.Put(
        backend_path(name), httplib::Headers{}, static_cast<size_t>(size),
        [&](size_t offset, size_t length, httplib::DataSink& sink) {
          std::vector<char> buf(std::min<size_t>(length, 256 * 1024));
          long n = source(offset, buf.data(), buf.size());
          if (n <= 0) {
            source_failed = true;
            return false;
          }
          return sink.write(buf.data(), static_cast<size_t>(n));
        },
        "application/octet-stream");
  });
  BackendResult out = finish(lease, result);
  if (source_failed && out.error.empty()) out.error = "body source failed";
  return out;
}

BackendResult backend_delete(BackendLease lease, const std::string& name, std::chrono::milliseconds timeout) {
  set_timeouts(lease.client(), timeout);
  auto result = send(lease, [&](httplib::Client& c) { return c.Delete(backend_path(name)); });
  return finish(lease, result);
}

BackendResult backend_get(BackendLease lease, const std::string& name, const BodySink& sink,
                          std::chrono::milliseconds timeout) {
  set_timeouts(lease.client(), timeout);
  int status = 0;
  auto result = send(lease, [&](httplib::Client& c) {
    return c.Get(
        backend_path(name), httplib::Headers{},
        [&](const httplib::Response& response) {
          status = response.status;
          return true;
        },
        [&](const char* data, size_t n) { return status != 200 || sink(data, n); });
  });
  return finish(lease, result);
}

}  // namespace fsr::router
