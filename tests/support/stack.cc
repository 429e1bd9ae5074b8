#include "tests/support/stack.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

#include "common/names.h"

namespace fsr::test {

Stack::Stack(const std::string& name) : own_dir_(std::make_unique<TempDir>("fsr-" + name)), dir_(own_dir_.get()) {
  std::filesystem::create_directories(data_dir());
}

Stack::Stack(const TempDir& dir) : dir_(&dir) { std::filesystem::create_directories(data_dir()); }

Stack::~Stack() {
  if (router_.running()) router_.stop(SIGKILL);
  for (auto& b : backends_)
    if (b.running()) b.stop(SIGKILL);
}

void Stack::start_backends(int n, int latency_ms, int max_inflight) {
  latency_ms_ = latency_ms;
  max_inflight_ = max_inflight;
  backends_.resize(n);
  backend_ports_.assign(n, 0);
  for (int i = 0; i < n; ++i) start_backend(i);
}

void Stack::start_backend(int i) {
  auto custom = data_dir_override_.find(i);
  std::string dir = custom == data_dir_override_.end() ? data_dir() : custom->second;
  ChildProcess& backend = backends_.at(i);
  size_t log_from = backend.log_size();  // a restart appends to the same log
  std::vector<std::string> args = {program_path("fileserver"), "--host", "127.0.0.1", "--port",
                                   std::to_string(backend_ports_[i]), "--data-dir", dir, "--latency-ms",
                                   std::to_string(latency_ms_), "--max-inflight", std::to_string(max_inflight_)};
  if (backend_fault_control_) args.push_back("--fault-control");
  backend = ChildProcess(args, backend_log(i));
  backend_ports_[i] = listening_port(backend, log_from);
}

void Stack::kill_backend(int i, int sig) { backends_.at(i).stop(sig); }

void Stack::start_router(const std::vector<std::string>& extra_args) {
  if (!extra_args.empty()) router_extra_args_ = extra_args;
  std::string list;
  for (int p : backend_ports_) list += (list.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(p);
  std::vector<std::string> args = {program_path("fsrouter"), "--listen", "127.0.0.1:" + std::to_string(router_port_),
                                   "--backends", list, "--journal-dir", journal_dir(), "--threads", "256",
                                   "--admin-listen", "127.0.0.1:" + std::to_string(router_admin_port_)};
  args.insert(args.end(), router_extra_args_.begin(), router_extra_args_.end());
  size_t log_from = router_.log_size();  // a restart appends to the same log
  router_ = ChildProcess(args, *dir_ / "router.log");
  router_port_ = listening_port(router_, log_from);
  {
    // The listening line also names the admin address: admin_listen="HOST:PORT".
    std::string log = router_.read_log().substr(log_from);
    size_t at = log.find(" admin_listen=\"");
    size_t end = at == std::string::npos ? at : log.find('"', at + 15);
    size_t colon = end == std::string::npos ? end : log.rfind(':', end);
    if (colon == std::string::npos || colon < at) throw std::runtime_error("router logged no admin_listen");
    router_admin_port_ = std::atoi(log.c_str() + colon + 1);
  }
  bool ready = wait_until(
      [&] {
        httplib::Client c("127.0.0.1", router_port_);
        c.set_connection_timeout(0, 200000);
        auto r = c.Get("/readyz");
        return r && r->status == 200;
      },
      std::chrono::seconds(30));
  if (!ready) throw std::runtime_error("router did not become ready:\n" + router_.read_log());
}

int Stack::stop_router(int sig) { return router_.stop(sig); }

std::unique_ptr<httplib::Client> Stack::client(int timeout_s) const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", router_port_);
  c->set_url_encode(false);
  c->set_keep_alive(true);
  c->set_read_timeout(timeout_s, 0);
  c->set_write_timeout(timeout_s, 0);
  c->set_connection_timeout(5, 0);
  return c;
}

nlohmann::json Stack::status() const {
  httplib::Client c("127.0.0.1", router_admin_port_);
  auto r = c.Get("/admin/status");
  if (!r || r->status != 200) return {};
  return nlohmann::json::parse(r->body, nullptr, false);
}

bool Stack::wait_drained(std::chrono::milliseconds patience) {
  return wait_until(
      [&] {
        auto s = status();
        return s.is_object() && s["pending_count"] == 0 && s["applied_seq"] == s["last_seq"];
      },
      patience);
}

uint64_t Stack::put(const std::string& name, const std::string& body) {
  auto c = client();
  auto r = c->Put(api(name), body, "application/octet-stream");
  if (!r || (r->status != 201 && r->status != 200)) {
    last_error_ = r ? "PUT " + name + ": HTTP " + std::to_string(r->status) + " " + r->body
                    : "PUT " + name + ": " + httplib::to_string(r.error());
    return 0;
  }
  return seq_of(r);
}

uint64_t Stack::del(const std::string& name) {
  auto c = client();
  auto r = c->Delete(api(name));
  if (!r || r->status != 200) {
    last_error_ = r ? "DELETE " + name + ": HTTP " + std::to_string(r->status) + " " + r->body
                    : "DELETE " + name + ": " + httplib::to_string(r.error());
    return 0;
  }
  return seq_of(r);
}

std::string Stack::backend_logs() const {
  std::string all;
  for (size_t i = 0; i < backends_.size(); ++i) all += read_file(backend_log(static_cast<int>(i)));
  return all;
}

int Stack::backend_429_count() const { return count_occurrences(backend_logs(), "status=429"); }

std::string Stack::logs() const {
  std::string all;
  for (size_t i = 0; i < backends_.size(); ++i)
    all += "--- backend" + std::to_string(i) + "\n" + read_file(backend_log(static_cast<int>(i)));
  return all + "--- router\n" + read_file(*dir_ / "router.log");
}

std::string api(const std::string& name) { return fsr::backend_path(name); }

std::map<std::string, std::string> read_data_dir(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().rfind(".fsrouter", 0) != 0)  // the router's marker
      out[e.path().filename().string()] = read_file(e.path().string());
  return out;
}

void expect_volume_matches(const std::string& data_dir, const std::map<std::string, Acked>& model) {
  auto files = read_data_dir(data_dir);
  int mismatched = 0;
  for (const auto& [name, a] : model) {
    auto it = files.find(name);
    bool ok = a.present ? (it != files.end() && it->second == a.body) : it == files.end();
    if (!ok) ++mismatched;
  }
  EXPECT_EQ(mismatched, 0) << "names whose file differs from the last acknowledged write";
}

uint64_t seq_of(const httplib::Result& r) {
  auto v = r->get_header_value("X-Fsrouter-Seq");
  return v.empty() ? 0 : std::stoull(v);
}

int count_occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = 0; (pos = text.find(needle, pos)) != std::string::npos; pos += needle.size()) ++n;
  return n;
}

}  // namespace fsr::test
