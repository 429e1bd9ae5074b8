#include "fileserver/fault_control.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace fsr::fileserver {
namespace {

const char* stage_name(HoldStage stage) { return stage == HoldStage::kBefore ? "before" : "inside"; }

void answer_json(httplib::Response& res, const nlohmann::json& body) {
  res.status = 200;
  res.set_content(body.dump(), "application/json");
}

void answer_bad_request(httplib::Response& res, const std::string& reason) {
  res.status = 400;
  res.set_content(reason, "text/plain; charset=utf-8");
}

// A non-negative integer query parameter; fallback when absent, -1 when malformed.
long long count_param(const httplib::Request& req, const char* key, long long fallback) {
  if (!req.has_param(key)) return fallback;
  const std::string text = req.get_param_value(key);
  char* end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 0) return -1;
  return value;
}

bool valid_method(const std::string& method) {
  return method.empty() || method == "GET" || method == "PUT" || method == "DELETE";
}

}  // namespace

void FaultControl::install(httplib::Server& server, Gauges gauges) {
  // POST routes take a ContentReader: cpp-httplib tries those routes before
  // plain ones, and the service's catch-all POST route is one of them.
  server.Post("/_fault/hold", [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader&) {
    Rule rule{0, req.get_param_value("method"), std::nullopt, HoldStage::kBefore, 1};
    if (!valid_method(rule.method)) return answer_bad_request(res, "method must be GET, PUT or DELETE");
    if (req.has_param("name")) rule.name = req.get_param_value("name");
    const std::string stage = req.get_param_value("stage");
    if (stage == "inside") {
      rule.stage = HoldStage::kInside;
    } else if (!stage.empty() && stage != "before") {
      return answer_bad_request(res, "stage must be before or inside");
    }
    long long count = count_param(req, "count", 1);
    if (count <= 0) return answer_bad_request(res, "count must be a positive integer");
    rule.remaining = static_cast<int>(count);
    {
      std::lock_guard lock(mutex_);
      rule.id = next_id_++;
      rules_.push_back(rule);
    }
    log_info("fault_hold_armed").kv("rule", rule.id).kv("method", rule.method).kv("name", rule.name.value_or("*")).kv(
        "stage", stage_name(rule.stage)).kv("count", count);
    answer_json(res, {{"rule", rule.id}});
  });
  server.Get("/_fault/held", [this, gauges](const httplib::Request&, httplib::Response& res) {
    nlohmann::json held = nlohmann::json::array();
    nlohmann::json body;
    {
      std::lock_guard lock(mutex_);
      for (const auto& h : held_) {
        if (h.released) continue;
        held.push_back({{"id", h.id},
                        {"method", h.method},
                        {"name", h.name},
                        {"stage", stage_name(h.stage)},
                        {"bytes", h.bytes}});
      }
      body = {{"held", held},
              {"released_running", released_running_},
              {"rules", rules_.size()},
              {"rejects_left", rejects_left_}};
    }
    body["inflight"] = gauges.inflight();
    body["deletes_waiting_for_name"] = gauges.deletes_waiting_for_name();
    answer_json(res, body);
  });
  server.Post("/_fault/release", [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader&) {
    const bool all = req.get_param_value("all") == "1";
    long long id = count_param(req, "id", -1);
    if (!all && id <= 0) return answer_bad_request(res, "give id=N or all=1");
    int released = 0;
    {
      std::lock_guard lock(mutex_);
      for (auto& h : held_) {
        if (h.released || (!all && h.id != static_cast<uint64_t>(id))) continue;
        h.released = true;
        ++released_running_;
        ++released;
      }
    }
    released_cv_.notify_all();
    log_info("fault_released").kv("id", all ? std::string("all") : std::to_string(id)).kv("released", released);
    answer_json(res, {{"released", released}});
  });
  server.Post("/_fault/reject", [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader&) {
    long long count = count_param(req, "count", 1);
    const std::string method = req.get_param_value("method");
    if (count < 0) return answer_bad_request(res, "count must be a non-negative integer");
    if (!valid_method(method)) return answer_bad_request(res, "method must be GET, PUT or DELETE");
    {
      std::lock_guard lock(mutex_);
      rejects_left_ = static_cast<int>(count);
      reject_method_ = method;
      reject_name_.reset();
      if (req.has_param("name")) reject_name_ = req.get_param_value("name");
    }
    log_info("fault_reject_armed").kv("count", count).kv("method", method.empty() ? "*" : method);
    answer_json(res, {{"rejects_left", count}});
  });
  server.Post("/_fault/clear", [this](const httplib::Request&, httplib::Response& res, const httplib::ContentReader&) {
    std::lock_guard lock(mutex_);
    rules_.clear();
    answer_json(res, {{"cleared", true}});
  });
}

bool FaultControl::take_reject(const std::string& method, const std::string& name) {
  std::lock_guard lock(mutex_);
  if (rejects_left_ <= 0 || (!reject_method_.empty() && reject_method_ != method)) return false;
  if (reject_name_ && *reject_name_ != name) return false;
  --rejects_left_;
  return true;
}

std::optional<HoldStage> FaultControl::match_hold(const std::string& method, const std::string& name) {
  std::lock_guard lock(mutex_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!it->method.empty() && it->method != method) continue;
    if (it->name && *it->name != name) continue;
    HoldStage stage = it->stage;
    if (--it->remaining <= 0) rules_.erase(it);
    return stage;
  }
  return std::nullopt;
}

uint64_t FaultControl::hold(const std::string& method, const std::string& name, HoldStage stage,
                            unsigned long long bytes) {
  std::unique_lock lock(mutex_);
  const uint64_t id = next_id_++;
  auto it = held_.insert(held_.end(), Held{id, method, name, stage, bytes});
  log_info("fault_held").kv("id", id).kv("method", method).kv("name", name).kv("stage", stage_name(stage));
  released_cv_.wait(lock, [&] { return it->released; });
  held_.erase(it);
  return id;
}

void FaultControl::finished(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    --released_running_;
  }
  log_info("fault_finished").kv("id", id);
}

}  // namespace fsr::fileserver
