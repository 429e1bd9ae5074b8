#include "fileserver/file_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "common/file_io.h"
#include "common/log.h"
#include "common/names.h"

namespace fsr::fileserver {
namespace {

constexpr char kTooManyRequests[] = "Too many requests. Slow down.";
constexpr char kNotFound[] = "File not found.";
constexpr char kAlreadyDeleted[] = "File not found. Already deleted.";
constexpr char kUnknownRoute[] = "404 page not found";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kOctetStream[] = "application/octet-stream";
constexpr size_t kIoBufferBytes = 256 * 1024;

// The original server is written in Go; its error texts read like
// "open /tmp/x: no such file or directory". strerror() capitalises the first
// letter, Go's messages do not.
std::string go_style_error(const char* op, const std::string& path, int error_number) {
  std::string message = std::strerror(error_number);
  if (!message.empty() && message[0] >= 'A' && message[0] <= 'Z') message[0] = static_cast<char>(message[0] - 'A' + 'a');
  return std::string(op) + " " + path + ": " + message;
}

// open(2)/stat(2) would silently cut a name at a NUL byte; Go refuses it.
bool has_nul(const std::string& path) { return path.find('\0') != std::string::npos; }

int open_file(const std::string& path, int flags, mode_t mode = 0) {
  if (has_nul(path)) {
    errno = EINVAL;
    return -1;
  }
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return !has_nul(path) && ::stat(path.c_str(), &st) == 0;
}

}  // namespace

// One routed request from admission to its last byte: holds the in-flight
// slot, whatever name and lock it took, the file it streams, and writes the
// request's single log line when destroyed.
struct FileService::Call {
  Call(FileService* service, const char* method, std::string name, int inflight_at_admission)
      : service(service), method(method), name(std::move(name)), inflight_at_admission(inflight_at_admission) {}
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  ~Call() {
    if (shared_hold) shared_hold.unlock();
    name_hold.release();
    if (exclusive_hold) exclusive_hold.unlock();
    if (fd >= 0) ::close(fd);
    if (spool_fd >= 0) ::close(spool_fd);
    if (held_id != 0) service->faults_->finished(held_id);
    service->leave();
    auto elapsed = std::chrono::steady_clock::now() - started;
    auto line = log_info("request");
    line.kv("method", method).kv("name", name).kv("status", status);
    line.kv("duration_ms", static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
    line.kv("inflight", inflight_at_admission).kv("bytes", bytes);
    if (!error.empty()) line.kv("error", error);
  }

  void answer(httplib::Response& res, int code, const std::string& body, const char* content_type = kText) {
    status = code;
    res.status = code;
    if (!body.empty()) res.set_content(body, content_type);
  }

  FileService* service;
  const char* method;
  std::string name;
  int inflight_at_admission;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  int status = 0;
  unsigned long long bytes = 0;  // body bytes received (PUT) or sent (GET)
  std::string error;
  int fd = -1;
  // Released in this order: shared, name, exclusive.
  std::unique_lock<WriterPreferringLock> exclusive_hold;
  NameHold name_hold;
  std::shared_lock<WriterPreferringLock> shared_hold;
  std::vector<char> buffer;
  // Fault control only: the stage this call is to be held at, the id it was
  // held under once released, and a PUT body read ahead of the hold.
  std::optional<HoldStage> hold_at;
  uint64_t held_id = 0;
  int spool_fd = -1;
  unsigned long long spooled_bytes = 0;
  bool spool_complete = false;
};

FileService::FileService(FileServiceOptions options) : options_(std::move(options)) {
  if (options_.fault_control) faults_ = std::make_unique<FaultControl>();
}

void FileService::install(httplib::Server& server) {
  // The control routes first: cpp-httplib takes the first route that matches.
  if (faults_) {
    faults_->install(server, {[this] { return inflight_.load(); },
                              [this] { return deletes_waiting_for_name_.load(); }});
  }
  // Every route matches every path: the name is taken from the raw target,
  // decoded exactly once, never from cpp-httplib's decoded path.
  const std::string any = ".*";
  server.Get(any, [this](const httplib::Request& req, httplib::Response& res) { handle_get(req, res); });
  server.Put(any, [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& body) {
    handle_put(req, res, body);
  });
  server.Delete(any, [this](const httplib::Request& req, httplib::Response& res) { handle_delete(req, res); });
  server.Post(any, [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader&) {
    handle_other_method(req, res);
  });
  server.Patch(any, [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader&) {
    handle_other_method(req, res);
  });
  server.Options(any, [this](const httplib::Request& req, httplib::Response& res) { handle_other_method(req, res); });
}

std::string FileService::path_of(const std::string& name) const { return options_.data_dir + "/" + name; }

bool FileService::admit(int* inflight_now) {
  int current = inflight_.load();
  do {
    if (current >= options_.max_inflight) {
      *inflight_now = current;
      return false;
    }
  } while (!inflight_.compare_exchange_weak(current, current + 1));
  *inflight_now = current + 1;
  return true;
}

void FileService::leave() { inflight_.fetch_sub(1); }

void FileService::hold_if_planned(Call& call, HoldStage here) {
  if (!call.hold_at || *call.hold_at != here) return;
  call.held_id = faults_->hold(call.method, call.name, here, call.spooled_bytes);
}

namespace {
// What the target names: a decoded name, or why the request is not routed.
struct Route {
  int refusal = 0;  // 0 when routed, else the status to answer at once
  std::string refusal_text;
  std::string name;
};

Route route_of(const std::string& target) {
  Route route;
  auto raw = raw_name_from_target(target);
  if (!raw || raw->find('/') != std::string_view::npos) {
    route.refusal = 404;
    route.refusal_text = kUnknownRoute;
    return route;
  }
  auto decoded = percent_decode(*raw);
  if (!decoded) {
    route.refusal = 400;
    route.refusal_text = "Malformed percent-encoding in the file name.";
    return route;
  }
  // A '/' after decoding, ".." or "." would leave the data directory or name
  // it: not one segment, so not a route.
  if (decoded->find('/') != std::string::npos || *decoded == "." || *decoded == "..") {
    route.refusal = 404;
    route.refusal_text = kUnknownRoute;
    return route;
  }
  route.name = std::move(*decoded);
  return route;
}

void log_unrouted(const char* method, const httplib::Request& req, int status, int inflight) {
  log_info("request").kv("method", method).kv("target", req.target).kv("status", status).kv("duration_ms", 0).kv(
      "inflight", inflight);
}
}  // namespace

std::unique_ptr<FileService::Call> FileService::begin(const char* method, const httplib::Request& req,
                                                      httplib::Response& res) {
  Route route = route_of(req.target);
  if (route.refusal != 0) {
    res.status = route.refusal;
    res.set_content(route.refusal_text, kText);
    log_unrouted(method, req, route.refusal, inflight_.load());
    return nullptr;
  }
  int inflight_now = 0;
  const bool forced_refusal = faults_ && faults_->take_reject(method, route.name);
  if (forced_refusal) inflight_now = inflight_.load();
  if (forced_refusal || !admit(&inflight_now)) {
    res.status = 429;
    res.set_content(kTooManyRequests, kText);
    // The body of a refused upload is never read; closing the connection
    // keeps it from being parsed as the next request.
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) res.set_header("Connection", "close");
    log_info("request").kv("method", method).kv("name", route.name).kv("status", 429).kv("duration_ms", 0).kv(
        "inflight", inflight_now);
    return nullptr;
  }
  auto call = std::make_unique<Call>(this, method, std::move(route.name), inflight_now);
  std::this_thread::sleep_for(options_.latency);
  if (call->name.empty()) {
    call->answer(res, 400, "File name is empty.");
    return nullptr;
  }
  if (faults_) call->hold_at = faults_->match_hold(method, call->name);
  return call;
}

void FileService::handle_put(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& body) {
  auto call = begin("PUT", req, res);
  if (!call) return;
  const std::string path = path_of(call->name);
  const bool has_length = req.has_header("Content-Length");
  const bool chunked = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
  // A PUT to be held reads its body first, into an unlinked temporary file:
  // its client (the router) may give up and close the connection while it
  // is held, and the real server would still store what it had been sent.
  if (call->hold_at && (has_length || chunked)) {
    std::string spool = (std::filesystem::temp_directory_path() / "fileserver-held-put-XXXXXX").string();
    call->spool_fd = ::mkstemp(spool.data());
    if (call->spool_fd < 0) {
      log_warn("fault_spool_failed").kv("name", call->name).kv("error", go_style_error("open", spool, errno)).kv(
          "effect", "the held PUT reads its body from the client after the hold");
    } else {
      ::unlink(spool.c_str());
      bool spool_failed = false;
      const bool read_all = body([&](const char* data, size_t size) {
        spool_failed = write_all(call->spool_fd, data, size) != 0;
        call->spooled_bytes += size;
        return !spool_failed;
      });
      call->spool_complete = read_all && !spool_failed;
    }
  }
  // The body as the work reads it: from the client, or replayed from the spool.
  auto read_body = [&](const std::function<bool(const char*, size_t)>& receiver) -> bool {
    if (call->spool_fd < 0) return body(receiver);
    std::vector<char> chunk(kIoBufferBytes);
    for (unsigned long long offset = 0; offset < call->spooled_bytes;) {
      ssize_t n = pread_some(call->spool_fd, chunk.data(), chunk.size(), offset);
      if (n <= 0) return false;
      offset += static_cast<unsigned long long>(n);
      if (!receiver(chunk.data(), static_cast<size_t>(n))) return false;
    }
    return call->spool_complete;
  };
  hold_if_planned(*call, HoldStage::kBefore);
  call->name_hold = names_.acquire(call->name);
  hold_if_planned(*call, HoldStage::kInside);

  call->fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (call->fd < 0) {
    call->error = go_style_error("open", path, errno);
    call->answer(res, 500, call->error);
    res.set_header("Connection", "close");  // the body stays unread
    return;
  }

  // Without Content-Length and without chunked encoding an HTTP/1.1 request
  // has no body; reading one would wait for the client to close.
  bool body_complete = true;
  bool write_failed = false;
  if (has_length || chunked) {
    call->buffer.reserve(kIoBufferBytes);
    auto& buffer = call->buffer;
    auto write = [&](const char* data, size_t size) {
      if (write_failed) return;
      if (int e = write_all(call->fd, data, size); e != 0) {
        write_failed = true;
        call->error = go_style_error("write", path, e);
      }
    };
    auto flush = [&] {
      write(buffer.data(), buffer.size());
      buffer.clear();
    };
    body_complete = read_body([&](const char* data, size_t size) {
      call->bytes += size;
      if (buffer.size() + size > kIoBufferBytes) flush();
      if (size >= kIoBufferBytes) {
        write(data, size);
      } else {
        buffer.insert(buffer.end(), data, data + size);
      }
      return !write_failed;
    });
    flush();
  }
  ::close(call->fd);
  call->fd = -1;

  const unsigned long long declared = has_length ? std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) : 0;
  if (!has_length || !body_complete || write_failed || call->bytes != declared) {
    ::unlink(path.c_str());
    if (call->error.empty()) {
      call->error = has_length ? "received " + std::to_string(call->bytes) + " of " + std::to_string(declared) + " bytes"
                               : "no Content-Length";
    }
    call->answer(res, 500, "Failed to store the file: " + call->error + ".");
    if (!body_complete || write_failed) res.set_header("Connection", "close");
    return;
  }

  // Still holding the name: remember it under the exclusive lock. A DELETE of
  // this name holding the lock while it waits for the name never lets go.
  {
    std::unique_lock remember(known_files_lock_);
    known_files_.insert(call->name);
  }
  call->answer(res, 201, "");
}

void FileService::handle_get(const httplib::Request& req, httplib::Response& res) {
  auto call = begin("GET", req, res);
  if (!call) return;
  const std::string path = path_of(call->name);
  hold_if_planned(*call, HoldStage::kBefore);
  call->name_hold = names_.acquire(call->name);
  hold_if_planned(*call, HoldStage::kInside);

  call->shared_hold = std::shared_lock(known_files_lock_);
  const bool known = known_files_.count(call->name) > 0;
  if (!known) {
    call->shared_hold.unlock();
    if (!path_exists(path)) {
      call->answer(res, 404, kNotFound);
      return;
    }
    // Still holding the name: a DELETE of it holding the lock wedges both.
    {
      std::unique_lock remember(known_files_lock_);
      known_files_.insert(call->name);
    }
    call->shared_hold.lock();
  }

  call->fd = open_file(path, O_RDONLY);
  if (call->fd < 0) {
    // The original writes the error text before any status: the client gets
    // 200 with the error message as its body.
    call->error = go_style_error("open", path, errno);
    call->answer(res, 200, call->error);
    return;
  }

  // Streamed chunked, without Content-Length, under the shared lock and the
  // name; both and the slot are released when the response is done.
  call->status = 200;
  res.status = 200;
  std::shared_ptr<Call> stream(std::move(call));
  stream->buffer.resize(kIoBufferBytes);
  res.set_chunked_content_provider(
      kOctetStream,
      [stream, path](size_t, httplib::DataSink& sink) {
        ssize_t n = pread_some(stream->fd, stream->buffer.data(), stream->buffer.size(), stream->bytes);
        if (n <= 0) {
          // A read error ends the body early, as the original's copy loop does.
          if (n < 0) stream->error = go_style_error("read", path, errno);
          sink.done();
          return true;
        }
        stream->bytes += static_cast<unsigned long long>(n);
        if (!sink.write(stream->buffer.data(), static_cast<size_t>(n))) {
          stream->error = "client went away";
          return false;
        }
        return true;
      },
      [stream](bool success) {
        if (!success && stream->error.empty()) stream->error = "response not completed";
      });
}

void FileService::handle_delete(const httplib::Request& req, httplib::Response& res) {
  auto call = begin("DELETE", req, res);
  if (!call) return;
  const std::string path = path_of(call->name);

  // The exclusive lock first, then the name: the order that wedges the
  // process when a PUT or a first GET of this name is under way.
  hold_if_planned(*call, HoldStage::kBefore);
  call->exclusive_hold = std::unique_lock(known_files_lock_);
  hold_if_planned(*call, HoldStage::kInside);
  deletes_waiting_for_name_.fetch_add(1);
  call->name_hold = names_.acquire(call->name);
  deletes_waiting_for_name_.fetch_sub(1);

  if (!path_exists(path)) {
    call->answer(res, 200, kAlreadyDeleted);
    return;
  }
  if (::unlink(path.c_str()) != 0) {
    call->error = go_style_error("remove", path, errno);
    call->answer(res, 500, call->error);
    return;
  }
  known_files_.erase(call->name);
  call->answer(res, 200, "");
}

void FileService::handle_other_method(const httplib::Request& req, httplib::Response& res) {
  Route route = route_of(req.target);
  const int status = route.refusal == 404 ? 404 : 405;
  res.status = status;
  res.set_content(status == 404 ? kUnknownRoute : "Method Not Allowed", kText);
  if (status == 405) res.set_header("Allow", "GET, HEAD, PUT, DELETE");
  res.set_header("Connection", "close");  // any body stays unread
  log_unrouted(req.method.c_str(), req, status, inflight_.load());
}

}  // namespace fsr::fileserver
