#include "tests/support/fault_backend.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "common/names.h"
#include "tests/support/process.h"

namespace fsr::test {
namespace {

httplib::Client control_client(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(10, 0);
  return c;
}

// A control answer's JSON; discarded (not an object) on failure.
nlohmann::json call(int port, const std::string& method, const std::string& target) {
  auto c = control_client(port);
  auto r = method == "GET" ? c.Get(target) : c.Post(target, "", "text/plain");
  if (!r || r->status != 200) return nlohmann::json::value_t::discarded;
  return nlohmann::json::parse(r->body, nullptr, false);
}

// One count from /_fault/held; -1 on failure.
int held_count(int port, const char* field) {
  auto body = call(port, "GET", "/_fault/held");
  return body.is_object() ? body.value(field, -1) : -1;
}

}  // namespace

uint64_t FaultBackend::hold(const std::string& method, const std::string& name, const std::string& stage, int count) {
  std::string target = "/_fault/hold?method=" + method + "&stage=" + stage + "&count=" + std::to_string(count);
  if (!name.empty()) target += "&name=" + percent_encode(name);
  auto body = call(port_, "POST", target);
  return body.is_object() ? body.value("rule", uint64_t{0}) : 0;
}

std::vector<HeldRequest> FaultBackend::held() {
  std::vector<HeldRequest> out;
  auto body = call(port_, "GET", "/_fault/held");
  if (!body.is_object()) return out;
  for (const auto& h : body["held"])
    out.push_back({h["id"].get<uint64_t>(), h["method"].get<std::string>(), h["name"].get<std::string>(),
                   h["stage"].get<std::string>(), h["bytes"].get<unsigned long long>()});
  return out;
}

std::vector<HeldRequest> FaultBackend::wait_held(size_t n, std::chrono::milliseconds patience) {
  std::vector<HeldRequest> now;
  wait_until(
      [&] {
        now = held();
        return now.size() >= n;
      },
      patience);
  return now;
}

int FaultBackend::release(uint64_t id) {
  auto body = call(port_, "POST", "/_fault/release?id=" + std::to_string(id));
  return body.is_object() ? body.value("released", 0) : 0;
}

int FaultBackend::release_all() {
  auto body = call(port_, "POST", "/_fault/release?all=1");
  return body.is_object() ? body.value("released", 0) : 0;
}

bool FaultBackend::reject(int count, const std::string& method, const std::string& name) {
  std::string target = "/_fault/reject?count=" + std::to_string(count) + "&method=" + method;
  if (!name.empty()) target += "&name=" + percent_encode(name);
  return call(port_, "POST", target).is_object();
}

bool FaultBackend::clear() { return call(port_, "POST", "/_fault/clear").is_object(); }

int FaultBackend::released_running() { return held_count(port_, "released_running"); }

bool FaultBackend::wait_released_finished(std::chrono::milliseconds patience) {
  return wait_until([&] { return released_running() == 0; }, patience);
}

int FaultBackend::inflight() { return held_count(port_, "inflight"); }

int FaultBackend::deletes_waiting_for_name() { return held_count(port_, "deletes_waiting_for_name"); }

}  // namespace fsr::test
