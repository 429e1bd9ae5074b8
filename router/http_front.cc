#include "router/http_front.h"


#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "common/log.h"
#include "common/names.h"
#include "journal/entity_tag.h"
#include "journal/status_fields.h"
#include "router/status_page.h"
#include "router/validators.h"

namespace fsr::router {

using journal::Op;
using Clock = std::chrono::steady_clock;

namespace {

using http::plain;

// Streams a body a chunk at a time as the client takes it.
void stream_reader(http::Response& res, std::shared_ptr<journal::BodyReader> body) {
  res.content_type = "application/octet-stream";
  res.body.clear();
  res.stream_size = body->size();
  res.stream = [body](uint64_t offset, char* buf, size_t n) { return body->read_at(offset, buf, n); };
}

// A 200 answer to HEAD: the server sends stream_size as Content-Length and
// never reads a HEAD answer's stream, so the reader only refuses.
void head_answer(http::Response& res, uint64_t size) {
  res.status = 200;
  res.content_type = "application/octet-stream";
  res.body.clear();
  res.stream_size = size;
  res.stream = [](uint64_t, char*, size_t) { return -1L; };
}

// Content-Digest / Repr-Digest of a 200 answer's whole body, read back from
// where the answer will stream it (on the blocking pool: it reads the body).
void add_digest_fields(http::Response& res, std::optional<DigestAlgorithm> content,
                       std::optional<DigestAlgorithm> repr) {
  if (res.status != 200) return;
  for (auto [algorithm, field] : {std::pair{content, "Content-Digest"}, std::pair{repr, "Repr-Digest"}}) {
    if (!algorithm) continue;
    Digest digest(*algorithm);
    if (res.stream) {
      std::vector<char> buf(64 * 1024);
      for (uint64_t offset = 0; offset < res.stream_size;) {
        long n = res.stream(offset, buf.data(), buf.size());
        if (n <= 0) return;  // unreadable: the answer itself will fail; no digest
        digest.update(buf.data(), static_cast<size_t>(n));
        offset += static_cast<uint64_t>(n);
      }
    } else {
      digest.update(res.body.data(), res.body.size());
    }
    res.set_header(field, digest_field_value(*algorithm, digest.finish()));
  }
}

// An exchange whose finish runs a function on the blocking pool.
class BlockingExchange : public http::Exchange {
 public:
  explicit BlockingExchange(std::function<void(http::Response*)> work) : work_(std::move(work)) {}
  void finish(bool, http::Response* res) override { work_(res); }

 private:
  std::function<void(http::Response*)> work_;
};

}  // namespace

// A PUT's body goes into the journal's BodyWriter as it arrives; the commit
// (which waits for the group commit) runs on the blocking pool.
class HttpFront::PutExchange : public http::Exchange {
 public:
  PutExchange(HttpFront& front, std::string name, journal::WritePrecondition precondition,
              std::vector<ExpectedDigest> digests)
      : front_(front),
        name_(std::move(name)),
        writer_(front.journal_.new_body()),
        precondition_(std::move(precondition)),
        verifier_(std::move(digests)) {}
  bool body(const char* data, size_t n) override {
    write_status_ = writer_->append(data, n);
    if (verifier_.active()) verifier_.update(data, n);
    return write_status_.ok();
  }
  // With --ack journal, the commit is queued and answers from the
  // journal's completer thread: no thread waits for the group commit.
  bool finish_async(bool, http::Reply reply, http::RunBlocking) override {
    if (!write_status_.ok() || front_.options_.ack != AckMode::kJournal) return false;
    if (refuse_mismatched_digest()) {
      reply(std::move(refusal_));
      return true;
    }
    HttpFront* front = &front_;
    front_.journal_.commit_put_async(
        name_, std::move(writer_),
        [front, name = name_, reply](journal::Status s, uint64_t seq) {
          http::Response res;
          front->commit_answer("put", name, s, seq, res);
          reply(std::move(res));
        },
        precondition_);
    return true;
  }
  void finish(bool, http::Response* res) override {
    if (write_status_.ok() && refuse_mismatched_digest()) {
      *res = std::move(refusal_);
      return;
    }
    front_.finish_put(name_, std::move(writer_), write_status_, precondition_, *res);
  }
  void aborted() override {
    // The client went away or sent a malformed body: nothing is acknowledged, the old value stays.
    log_info("put_incomplete").kv("name", name_).kv("received", writer_ ? writer_->size() : 0);
  }

 private:
  // A body that does not match the Content-Digest or Content-MD5 it came
  // with is dropped (its file goes with the writer): 400, nothing stored.
  bool refuse_mismatched_digest() {
    if (!verifier_.active()) return false;
    std::string field = verifier_.mismatch();
    if (field.empty()) return false;
    log_info("put_digest_mismatch").kv("name", name_).kv("field", field).kv("size", writer_->size());
    writer_.reset();
    plain(refusal_, 400, field + " does not match the body received; nothing was stored");
    return true;
  }

  HttpFront& front_;
  std::string name_;
  std::unique_ptr<journal::BodyWriter> writer_;
  journal::Status write_status_;
  journal::WritePrecondition precondition_;
  BodyVerifier verifier_;
  http::Response refusal_;
};

class HttpFront::DeleteExchange : public http::Exchange {
 public:
  DeleteExchange(HttpFront& front, std::string name, journal::WritePrecondition precondition)
      : front_(front), name_(std::move(name)), precondition_(std::move(precondition)) {}
  bool finish_async(bool, http::Reply reply, http::RunBlocking) override {
    if (front_.options_.ack != AckMode::kJournal) return false;
    HttpFront* front = &front_;
    front_.journal_.commit_delete_async(
        name_,
        [front, name = name_, reply](journal::Status s, uint64_t seq) {
          http::Response res;
          front->commit_answer("delete", name, s, seq, res);
          reply(std::move(res));
        },
        precondition_);
    return true;
  }
  void finish(bool, http::Response* res) override { front_.delete_name(name_, precondition_, *res); }

 private:
  HttpFront& front_;
  std::string name_;
  journal::WritePrecondition precondition_;
};

bool is_reserved_name(const std::string& name) { return name.rfind(kReservedPrefix, 0) == 0; }

// A GET or HEAD the journal could not answer: read through from a backend
// (router/read_through.cc), holding no thread while it waits.
class HttpFront::ReadExchange : public http::Exchange {
 public:
  ReadExchange(HttpFront& front, std::string name, std::optional<DigestAlgorithm> content_digest,
               std::optional<DigestAlgorithm> repr_digest)
      : front_(front), name_(std::move(name)), content_digest_(content_digest), repr_digest_(repr_digest) {}
  bool finish_async(bool, http::Reply reply, http::RunBlocking blocking) override {
    if (!content_digest_ && !repr_digest_) {
      front_.read_through(name_, std::move(reply));
      return true;
    }
    // The digest reads the whole body back: on the blocking pool, not on
    // the read threads, where it would hold up reads handed a slot.
    front_.read_through(name_, [reply = std::move(reply), blocking = std::move(blocking), content = content_digest_,
                                repr = repr_digest_](http::Response res) {
      auto ready = std::make_shared<http::Response>(std::move(res));
      blocking([reply, ready, content, repr] {
        try {
          add_digest_fields(*ready, content, repr);
        } catch (const std::exception& e) {
          log_error("request_failed").kv("error", e.what());
          *ready = http::Response{};
          plain(*ready, 500, "internal error");
        }
        reply(std::move(*ready));
      });
    });
    return true;
  }
  void finish(bool, http::Response* res) override { plain(*res, 500, "internal error"); }  // finish_async answers

 private:
  HttpFront& front_;
  std::string name_;
  std::optional<DigestAlgorithm> content_digest_, repr_digest_;
};

std::unique_ptr<http::Exchange> HttpFront::start(const http::RequestHead& req, http::Response* out) {
  http::Response& res = *out;
  const std::string& method = req.method;
  bool get = method == "GET" || method == "HEAD";
  if (raw_name_from_target(req.target)) {
    std::string name;
    if (get) {
      if (!name_of(req, res, &name)) return nullptr;
      bool conditional = req.field("If-Match") || req.field("If-None-Match") || req.field("If-Modified-Since");
      if (auto entry = conditional ? journal_.lookup(name) : std::nullopt; entry && entry->op == Op::kPut) {
        switch (read_verdict(req, *entry, journal_.journal_id())) {
          case ReadVerdict::kServe: break;
          case ReadVerdict::kNotModified:
            res.status = 304;
            res.body.clear();
            add_validators(res, *entry, journal_.journal_id());
            return nullptr;
          case ReadVerdict::kPreconditionFailed:
            plain(res, 412, "precondition failed: If-Match does not name the file's current ETag");
            return nullptr;
        }
      }
      // A digest of the body is computed before its first byte goes out:
      // on the blocking pool. Content-Digest describes the content sent, so
      // not with a Range (Repr-Digest, of the whole body, still is).
      std::optional<DigestAlgorithm> content_digest, repr_digest;
      if (const std::string* want = req.field("Want-Content-Digest"); want && !req.field("Range"))
        content_digest = wanted_digest(*want);
      if (const std::string* want = req.field("Want-Repr-Digest")) repr_digest = wanted_digest(*want);
      bool head_only = method == "HEAD";
      if (serve_from_journal(name, res, head_only, /*count_miss=*/true)) {
        if (!content_digest && !repr_digest) return nullptr;
        auto ready = std::make_shared<http::Response>(std::move(res));
        res = http::Response{};
        return std::make_unique<BlockingExchange>([ready, content_digest, repr_digest](http::Response* r) {
          *r = std::move(*ready);
          add_digest_fields(*r, content_digest, repr_digest);
        });
      }
      return std::make_unique<ReadExchange>(*this, std::move(name), content_digest, repr_digest);
    }
    if (method == "PUT" || method == "DELETE") {
      if (!name_of(req, res, &name)) return nullptr;
      journal::WritePrecondition precondition;
      std::vector<ExpectedDigest> digests;
      std::string problem;
      if (!write_precondition(req, journal_.journal_id(), &precondition, &problem) ||
          (method == "PUT" && !expected_digests(req, &digests, &problem))) {
        plain(res, 400, problem);
        return nullptr;
      }
      // Already false at the head: answered before the body is read (the
      // connection then closes). Holding now proves nothing: the committer
      // checks again, atomically with the commit.
      if (!precondition.empty()) {
        auto entry = journal_.lookup(name);
        if (!precondition.holds(entry ? &*entry : nullptr)) {
          log_info("write_precondition_failed").kv("name", name).kv("op", method).kv("seq", entry ? entry->seq : 0);
          precondition_failed(res);
          return nullptr;
        }
      }
      if (method == "PUT")
        return std::make_unique<PutExchange>(*this, std::move(name), std::move(precondition), std::move(digests));
      return std::make_unique<DeleteExchange>(*this, std::move(name), std::move(precondition));
    }
    res.set_header("Allow", "GET, HEAD, PUT, DELETE");
    plain(res, 405, "method not allowed: use GET, HEAD, PUT or DELETE");
    return nullptr;
  }
  // /admin/* is served on --admin-listen only (AdminRoutes).
  if (!health_route(req, res)) plain(res, 404, "not found");
  return nullptr;
}

bool HttpFront::health_route(const http::RequestHead& req, http::Response& res) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  if (req.path() == "/healthz") {
    plain(res, 200, "ok");
    return true;
  }
  if (req.path() == "/readyz") {
    if (ready_) plain(res, 200, "ready");
    else plain(res, 503, "recovering");
    return true;
  }
  return false;
}

std::unique_ptr<http::Exchange> HttpFront::AdminRoutes::start(const http::RequestHead& req, http::Response* res) {
  if (front_.health_route(req, *res) || status_page_route(req, *res)) return nullptr;
  bool get = req.method == "GET" || req.method == "HEAD";
  if (get && req.path() == "/admin/status") front_.handle_status(*res);
  else if (get && req.path() == "/metrics" && front_.metrics_route_) front_.metrics_route_(*res);
  else plain(*res, 404, "not found");
  return nullptr;
}

bool HttpFront::name_of(const http::RequestHead& req, http::Response& res, std::string* name) {
  auto raw = raw_name_from_target(req.target);
  if (!raw) {
    plain(res, 404, "not found");
    return false;
  }
  auto decoded = percent_decode(*raw);
  if (!decoded) {
    plain(res, 400, "malformed percent-encoding in file name");
    return false;
  }
  std::string problem = name_problem(*decoded);
  if (problem.empty() && is_reserved_name(*decoded)) problem = "file names starting with .fsrouter are reserved";
  if (!problem.empty()) {
    plain(res, 400, problem);
    return false;
  }
  *name = std::move(*decoded);
  return true;
}

bool HttpFront::serve_from_journal(const std::string& name, http::Response& res, bool head_only, bool count_miss) {
  // A newer commit may free the body between lookup and open: look again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto entry = journal_.lookup(name);
    if (!entry) return false;
    if (entry->op == Op::kDelete) {
      plain(res, 404, "File not found.");
      res.source = "journal";
      return true;
    }
    if (entry->body.place == journal::BodyPlace::kNone) {
      if (!head_only) {  // freed: the backends hold it
        if (count_miss) body_cache_reads_.misses.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      // The index knows the size of the latest state: a HEAD needs no body,
      // so none is fetched from a backend even when the journal freed it.
      // (A HEAD asking for a digest of a freed body gets none.)
      head_answer(res, entry->size);
      add_validators(res, *entry, journal_.journal_id());
      res.source = "journal";
      return true;
    }
    auto body = journal_.open_body(*entry);
    if (!body) continue;
    journal_.touch(name);
    res.status = 200;
    add_validators(res, *entry, journal_.journal_id());
    res.source = "journal";
    if (body->size() <= 64 * 1024 && !head_only) {
      std::string bytes(body->size(), '\0');
      if (body->size() > 0 && body->read_at(0, bytes.data(), bytes.size()) != static_cast<long>(bytes.size())) continue;
      res.content_type = "application/octet-stream";
      res.body = std::move(bytes);
    } else {
      stream_reader(res, std::move(body));
    }
    body_cache_reads_.hits.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool HttpFront::eligible_reader(Backend& b, uint64_t need, const std::set<int>& skip) {
  if (!b.healthy || skip.count(b.id())) return false;
  // Causal reads: a replica only once it proved it reflects the name's
  // last applied sequence; the primary always does.
  return &b == &pool_.primary() || (b.confirmed && b.watermark.load() >= need);
}

Backend* HttpFront::pick_reader(uint64_t need, const std::set<int>& skip) {
  Backend* best = nullptr;
  int best_load = 0;
  for (Backend* b : pool_.all()) {
    if (!eligible_reader(*b, need, skip)) continue;
    // Those waiting in its line count too: a read goes where it is served soonest.
    int load = b->load();
    if (!best || load < best_load) {
      best = b;
      best_load = load;
    }
  }
  return best;
}

void HttpFront::serve_spilled_body(SpillBuffer& body, http::Response& res) {
  res.status = 200;
  if (!body.spilled()) {
    res.content_type = "application/octet-stream";
    res.body = std::move(body.memory());
  } else {
    auto reader = std::make_shared<journal::BodyReader>(body.release_fd(), body.size());
    stream_reader(res, reader);
  }
}

void HttpFront::finish_put(const std::string& name, std::unique_ptr<journal::BodyWriter> body,
                           const journal::Status& write_status, const journal::WritePrecondition& precondition,
                           http::Response& res) {
  if (!write_status.ok()) {
    log_error("put_failed").kv("name", name).kv("error", write_status.message);
    res.close = true;  // the rest of the body was not read
    if (write_status.code == journal::Status::Code::kNoSpace) plain(res, 507, "journal disk full; nothing was stored");
    else plain(res, 500, "journal write failed; nothing was stored");
    return;
  }
  uint64_t seq = 0;
  journal::Status s = journal_.commit_put(name, std::move(body), &seq, precondition);
  if (commit_answer("put", name, s, seq, res)) return;
  if (!applier_.wait_applied(name, seq, Clock::now() + options_.ack_backend_wait)) {
    res.set_header("Retry-After", "5");
    plain(res, 504, "stored in the journal but not yet applied to the backend");
  }
}

void HttpFront::delete_name(const std::string& name, const journal::WritePrecondition& precondition,
                            http::Response& res) {
  uint64_t seq = 0;
  journal::Status s = journal_.commit_delete(name, &seq, precondition);
  if (commit_answer("delete", name, s, seq, res)) return;
  if (!applier_.wait_applied(name, seq, Clock::now() + options_.ack_backend_wait)) {
    res.set_header("Retry-After", "5");
    plain(res, 504, "stored in the journal but not yet applied to the backend");
  }
}

bool HttpFront::commit_answer(const char* op, const std::string& name, const journal::Status& s, uint64_t seq,
                              http::Response& res) {
  bool put = std::string_view(op) == "put";
  res.source = options_.ack == AckMode::kJournal ? "journal" : "backend";  // --ack backend waits for the primary
  if (s.code == journal::Status::Code::kPreconditionFailed) {
    log_info("write_precondition_failed").kv("name", name).kv("op", put ? "PUT" : "DELETE");
    precondition_failed(res);
    return true;
  }
  if (!s.ok()) {
    log_error(put ? "put_failed" : "delete_failed").kv("name", name).kv("error", s.message);
    if (s.code == journal::Status::Code::kNoSpace) plain(res, 507, "journal disk full; nothing was stored");
    else plain(res, 503, "journal unavailable; nothing was stored");
    return true;
  }
  log_debug(put ? "put_committed" : "delete_committed").kv("seq", seq).kv("name", name);
  res.status = put ? 201 : 200;
  res.body.clear();
  res.set_header("X-Fsrouter-Seq", std::to_string(seq));
  // A deleted name has no representation, hence no validator.
  if (put) res.set_header("ETag", journal::entity_tag(journal_.journal_id(), seq));
  return options_.ack == AckMode::kJournal;
}

void HttpFront::precondition_failed(http::Response& res) {
  plain(res, 412, "precondition failed: the file's current state does not match If-Match or If-None-Match; "
                  "nothing was stored");
}

void HttpFront::handle_status(http::Response& res) {
  auto s = journal_.stats();
  nlohmann::json j;
  j["ready"] = ready_.load();
  j["journal_id"] = journal_.journal_id();
  journal::add_journal_status_fields(s, &j);
  j["index_walked"] = s.index_walked;
  j["apply_queue"] = applier_.queued();
  j["uncertain_names"] = guard_.uncertain_count();
  j["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
  nlohmann::json backends = nlohmann::json::array();
  for (Backend* b : pool_.all()) {
    auto e = journal::backend_status_fields<nlohmann::json>(
        b->address(), journal::BackendState{role_name(pool_.role_of(*b)), b->healthy.load(), b->watermark.load()});
    e["in_flight"] = b->in_flight();
    e["cap"] = b->cap();
    e["requests"] = b->counters().requests.load();
    e["rejected_429"] = b->counters().rejected_429.load();
    e["errors"] = b->counters().errors.load();
    e["abandoned"] = b->counters().abandoned.load();
    e["confirmed"] = b->confirmed.load();
    e["down_reason"] = b->down_reason();
    backends.push_back(e);
  }
  j["backends"] = backends;
  if (options_.add_status_fields) options_.add_status_fields(&j);
  res.status = 200;
  res.content_type = "application/json";
  res.body = j.dump(2) + "\n";
}

}  // namespace fsr::router
