#include "tests/chaos/chaos_load.h"

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <sstream>

#include "common/checksum.h"
#include "common/flags.h"
#include "tests/support/process.h"

namespace fsr::chaos {
namespace {

using load::ContentState;
using load::WriteOutcome;

constexpr size_t kMaxProblems = 12;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string random_letters(std::mt19937_64& rng, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += static_cast<char>((rng() % 2 ? 'a' : 'A') + rng() % 26);
  return out;
}

ContentState content_of(const std::string& body) { return ContentState::with(body.size(), checksum_of(body)); }

}  // namespace

void RouterAddress::set(const std::string& host_port) {
  std::lock_guard lock(mutex_);
  if (host_port != address_) {
    address_ = host_port;
    ++generation_;
  }
}

std::string RouterAddress::get(uint64_t* generation) const {
  std::lock_guard lock(mutex_);
  if (generation) *generation = generation_;
  return address_;
}

// What one request came back with.
struct ChaosLoad::Answer {
  bool response = false;
  bool refused = false;  // no connection could be made: the request was never sent
  int status = 0;
  bool has_seq = false;  // X-Fsrouter-Seq: the router stored the write
  std::string body;
  std::string error;
};

// A worker's client to the router, rebuilt when the router's address changes
// and after a transport error. Half the workers keep connections alive, the
// other half send `Connection: close`, as the load tests' clients do.
class ChaosLoad::Connection {
 public:
  Connection(const RouterAddress* router, bool keep_alive) : router_(router), keep_alive_(keep_alive) {}

  Answer send(const std::string& method, const std::string& path, const std::string* body) {
    Answer answer;
    httplib::Client* client = current();
    if (client == nullptr) {
      answer.refused = true;
      answer.error = "no router address";
      return answer;
    }
    httplib::Result result = method == "PUT"      ? client->Put(path, *body, "application/octet-stream")
                             : method == "DELETE" ? client->Delete(path)
                                                  : client->Get(path);
    if (!result) {
      answer.refused = result.error() == httplib::Error::Connection;
      answer.error = httplib::to_string(result.error());
      client_.reset();
      return answer;
    }
    answer.response = true;
    answer.status = result->status;
    answer.has_seq = result->has_header("X-Fsrouter-Seq");
    answer.body = std::move(result->body);
    return answer;
  }

 private:
  httplib::Client* current() {
    uint64_t generation = 0;
    std::string address = router_->get(&generation);
    if (client_ && generation == generation_) return client_.get();
    std::string host;
    int port = 0;
    if (!split_host_port(address, &host, &port)) return nullptr;
    client_ = std::make_unique<httplib::Client>(host, port);
    client_->set_url_encode(false);
    client_->set_keep_alive(keep_alive_);
    client_->set_connection_timeout(std::chrono::seconds(3));
    // Longer than any wait the router may impose, so that a timeout here
    // means a request the router lost, not a slow one.
    client_->set_read_timeout(std::chrono::seconds(60));
    client_->set_write_timeout(std::chrono::seconds(60));
    generation_ = generation;
    return client_.get();
  }

  const RouterAddress* router_;
  bool keep_alive_;
  uint64_t generation_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

std::string LoadCounts::summary() const {
  std::ostringstream out;
  out << "requests=" << requests << " gets=" << gets << " puts=" << puts << " deletes=" << deletes
      << " acked_writes=" << acknowledged_writes << " valid_reads=" << valid_reads
      << " invalid_reads=" << invalid_reads << " 5xx=" << status_5xx << " 429=" << status_429
      << " other_status=" << status_other << " refused=" << refused << " errors=" << errors
      << " unknown_writes=" << unknown_writes;
  return out.str();
}

std::string FinalCheck::summary() const {
  std::ostringstream out;
  out << "names=" << names << " lost=" << lost << " volume_mismatches=" << volume_mismatches
      << " unreadable=" << unreadable;
  return out.str();
}

ChaosLoad::ChaosLoad(const RouterAddress* router, LoadOptions options)
    : router_(router), options_(std::move(options)) {
  std::mt19937_64 rng(options_.seed);
  for (int i = 0; i < options_.names; ++i) {
    names_.push_back(options_.name_prefix + random_letters(rng, 12));
    states_.push_back(std::make_unique<NameState>());
  }
}

ChaosLoad::~ChaosLoad() { stop(); }

void ChaosLoad::start() {
  if (running_.exchange(true)) return;
  next_slot_ns_ = now_ns();
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this, i] { run_worker(i); });
}

void ChaosLoad::stop() {
  running_ = false;
  for (auto& worker : workers_) worker.join();
  workers_.clear();
}

LoadCounts ChaosLoad::counts() const {
  std::lock_guard lock(counts_mutex_);
  return counts_;
}

std::vector<RequestRecord> ChaosLoad::records() const {
  std::lock_guard lock(counts_mutex_);
  return records_;
}

ChaosLoad::Answer ChaosLoad::send(Connection& connection, const std::string& method, const std::string& path,
                                  const std::string* body) {
  RequestRecord record;
  record.method = method;
  ++in_flight_;
  record.start_ns = now_ns();
  Answer answer = connection.send(method, path, body);
  record.end_ns = now_ns();
  --in_flight_;
  record.answered = answer.response;
  record.refused = answer.refused;
  record.status = answer.status;
  record.error = answer.error;
  std::lock_guard lock(counts_mutex_);
  records_.push_back(std::move(record));
  return answer;
}

void ChaosLoad::note_problem(const std::string& text) {
  std::lock_guard lock(counts_mutex_);
  if (counts_.problems.size() < kMaxProblems) counts_.problems.push_back(text);
}

void ChaosLoad::run_worker(int index) {
  std::mt19937_64 rng(options_.seed * 7919 + static_cast<unsigned>(index));
  Connection connection(router_, index % 2 == 0);
  const int64_t interval = static_cast<int64_t>(1e9 / options_.rate);
  while (running_) {
    // Requests are spread evenly over time. After a stall (all workers
    // waiting on a slow answer) the schedule moves on instead of bursting.
    int64_t slot = next_slot_ns_.fetch_add(interval);
    int64_t now = now_ns();
    if (slot < now - 200'000'000) {
      next_slot_ns_.store(now + interval);
      slot = now;
    }
    if (slot > now) std::this_thread::sleep_for(std::chrono::nanoseconds(slot - now));
    if (!running_) break;
    // Any name no other worker is using.
    for (int attempt = 0; attempt < 8; ++attempt) {
      size_t name_index = rng() % names_.size();
      std::unique_lock busy(states_[name_index]->busy, std::try_to_lock);
      if (!busy.owns_lock()) continue;
      operate(connection, rng, name_index);
      break;
    }
  }
}

void ChaosLoad::operate(Connection& connection, std::mt19937_64& rng, size_t name_index) {
  std::uniform_real_distribution<double> uniform(0, 1);
  // Only names the router holds are read: a read of any other name goes
  // through to the backends, which may all be down on purpose.
  if (!states_[name_index]->held_by_router) {
    put(connection, rng, name_index);
    return;
  }
  double pick = uniform(rng);
  bool wrote;
  if (pick < options_.get_share) {
    get(connection, name_index);
    return;
  } else if (pick < options_.get_share + options_.put_share) {
    put(connection, rng, name_index);
    wrote = true;
  } else {
    erase(connection, name_index);
    wrote = true;
  }
  if (wrote && uniform(rng) < options_.read_back_share) get(connection, name_index);
}

void ChaosLoad::put(Connection& connection, std::mt19937_64& rng, size_t name_index) {
  const std::string& name = names_[name_index];
  size_t size = rng() % 50 == 0 ? options_.max_body / 4 + rng() % (options_.max_body * 3 / 4)
                : rng() % 4 == 0 ? 1 + rng() % 16384
                                 : rng() % 2048;
  std::string body = fsr::test::random_body(size, static_cast<unsigned>(rng()));
  load::ConsistencyModel::WriteId id;
  {
    std::lock_guard lock(model_mutex_);
    id = model_.begin_write(name, now_ns(), content_of(body));
  }
  Answer answer = send(connection, "PUT", "/api/fileserver/" + name, &body);
  WriteOutcome outcome = WriteOutcome::kUnknown;
  {
    std::lock_guard lock(counts_mutex_);
    ++counts_.requests;
    ++counts_.puts;
    if (answer.refused) {
      ++counts_.refused;
      outcome = WriteOutcome::kRefused;
    } else if (!answer.response) {
      ++counts_.errors;
    } else if ((answer.status == 201 || answer.status == 200) && answer.has_seq) {
      ++counts_.acknowledged_writes;
      outcome = WriteOutcome::kAcknowledged;
    } else if (answer.status >= 500) {
      ++counts_.status_5xx;
    } else if (answer.status < 300) {
      ++counts_.status_other;  // success without a sequence number: not the router's answer
    } else {
      ++(answer.status == 429 ? counts_.status_429 : counts_.status_other);
      outcome = WriteOutcome::kRefused;
    }
    if (outcome == WriteOutcome::kUnknown) ++counts_.unknown_writes;
  }
  if (answer.response && outcome != WriteOutcome::kAcknowledged) {
    note_problem("PUT " + name + " answered " + std::to_string(answer.status) + ": " + answer.body.substr(0, 120));
  }
  std::lock_guard lock(model_mutex_);
  model_.end_write(name, id, now_ns(), outcome);
  if (outcome == WriteOutcome::kAcknowledged) states_[name_index]->held_by_router = true;
}

void ChaosLoad::erase(Connection& connection, size_t name_index) {
  const std::string& name = names_[name_index];
  load::ConsistencyModel::WriteId id;
  {
    std::lock_guard lock(model_mutex_);
    id = model_.begin_write(name, now_ns(), ContentState::absent());
  }
  Answer answer = send(connection, "DELETE", "/api/fileserver/" + name, nullptr);
  WriteOutcome outcome = WriteOutcome::kUnknown;
  {
    std::lock_guard lock(counts_mutex_);
    ++counts_.requests;
    ++counts_.deletes;
    if (answer.refused) {
      ++counts_.refused;
      outcome = WriteOutcome::kRefused;
    } else if (!answer.response) {
      ++counts_.errors;
    } else if ((answer.status == 200 || answer.status == 204) && answer.has_seq) {
      ++counts_.acknowledged_writes;
      outcome = WriteOutcome::kAcknowledged;
    } else if (answer.status >= 500) {
      ++counts_.status_5xx;
    } else if (answer.status < 300) {
      ++counts_.status_other;  // success without a sequence number: not the router's answer
    } else {
      ++(answer.status == 429 ? counts_.status_429 : counts_.status_other);
      outcome = WriteOutcome::kRefused;
    }
    if (outcome == WriteOutcome::kUnknown) ++counts_.unknown_writes;
  }
  if (answer.response && outcome != WriteOutcome::kAcknowledged) {
    note_problem("DELETE " + name + " answered " + std::to_string(answer.status) + ": " +
                 answer.body.substr(0, 120));
  }
  std::lock_guard lock(model_mutex_);
  model_.end_write(name, id, now_ns(), outcome);
}

void ChaosLoad::get(Connection& connection, size_t name_index) {
  const std::string& name = names_[name_index];
  load::ConsistencyModel::ReadId id;
  {
    std::lock_guard lock(model_mutex_);
    id = model_.begin_read(name, now_ns());
  }
  Answer answer = send(connection, "GET", "/api/fileserver/" + name, nullptr);
  std::optional<ContentState> observed;
  if (answer.response && answer.status == 200) observed = content_of(answer.body);
  if (answer.response && answer.status == 404) observed = ContentState::absent();
  load::ConsistencyModel::Verdict verdict;
  {
    std::lock_guard lock(model_mutex_);
    verdict = model_.end_read(name, id, now_ns(), observed ? &*observed : nullptr);
  }
  {
    std::lock_guard lock(counts_mutex_);
    ++counts_.requests;
    ++counts_.gets;
    if (answer.refused) {
      ++counts_.refused;
    } else if (!answer.response) {
      ++counts_.errors;
    } else if (answer.status >= 500) {
      ++counts_.status_5xx;
    } else if (answer.status == 429) {
      ++counts_.status_429;
    } else if (!observed) {
      ++counts_.status_other;
    } else if (verdict.checked && !verdict.valid) {
      ++counts_.invalid_reads;
    } else {
      ++counts_.valid_reads;
    }
  }
  if (verdict.checked && !verdict.valid) {
    note_problem("GET " + name + " invalid: got " + observed->describe() + ", expected " + verdict.expected);
  } else if (answer.response && !observed) {
    note_problem("GET " + name + " answered " + std::to_string(answer.status) + ": " + answer.body.substr(0, 120));
  }
}

FinalCheck ChaosLoad::check_final(const std::string& volume_dir) {
  FinalCheck check;
  Connection connection(router_, true);
  auto problem = [&check](const std::string& text) {
    if (check.problems.size() < kMaxProblems) check.problems.push_back(text);
  };
  auto problem_name = [&check](const std::string& name) {
    if (check.problem_names.size() < kMaxProblems &&
        (check.problem_names.empty() || check.problem_names.back() != name))
      check.problem_names.push_back(name);
  };
  for (const auto& name : names_) {
    ++check.names;
    // Through the router; a restarting router is given a few seconds.
    Answer answer;
    for (int attempt = 0; attempt < 10; ++attempt) {
      answer = connection.send("GET", "/api/fileserver/" + name, nullptr);
      if (answer.response && (answer.status == 200 || answer.status == 404)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::optional<ContentState> via_router;
    if (answer.response && answer.status == 200) via_router = content_of(answer.body);
    if (answer.response && answer.status == 404) via_router = ContentState::absent();
    std::lock_guard lock(model_mutex_);
    if (!via_router) {
      ++check.unreadable;
      problem_name(name);
      problem("final GET " + name + ": " +
              (answer.response ? std::to_string(answer.status) + " " + answer.body.substr(0, 120) : answer.error));
    } else {
      auto verdict = model_.end_read(name, model_.begin_read(name, now_ns()), now_ns(), &*via_router);
      if (verdict.checked && !verdict.valid) {
        ++check.lost;
        problem_name(name);
        problem("final GET " + name + ": got " + via_router->describe() + ", expected " + verdict.expected);
      }
    }
    // On the shared volume, as the backends left it.
    std::string path = volume_dir + "/" + name;
    ContentState on_volume =
        fsr::test::file_exists(path) ? content_of(fsr::test::read_file(path)) : ContentState::absent();
    auto verdict = model_.end_read(name, model_.begin_read(name, now_ns()), now_ns(), &on_volume);
    if ((verdict.checked && !verdict.valid) || (via_router && !(*via_router == on_volume))) {
      ++check.volume_mismatches;
      problem_name(name);
      problem("volume " + name + ": holds " + on_volume.describe() + ", router answered " +
              (via_router ? via_router->describe() : "nothing") +
              (verdict.checked && !verdict.valid ? ", expected " + verdict.expected : ""));
    }
  }
  return check;
}

}  // namespace fsr::chaos
