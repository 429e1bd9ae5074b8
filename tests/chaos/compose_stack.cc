#include "tests/chaos/compose_stack.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace fsr::chaos {

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

bool docker_reachable(std::string* why) {
  CommandResult info = run_command("docker info --format '{{.ServerVersion}}'");
  if (info.ok()) return true;
  *why = info.output.empty() ? "docker info failed" : info.output;
  while (!why->empty() && why->back() == '\n') why->pop_back();
  return false;
}

namespace {
std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}
}  // namespace

ComposeStack::ComposeStack(std::string source_dir, std::string project, std::string image_tag,
                           std::string work_dir)
    : source_dir_(std::move(source_dir)),
      project_(std::move(project)),
      image_tag_(std::move(image_tag)),
      work_dir_(std::move(work_dir)) {
  // Debian's docker-compose 1.29, else Compose v2.
  compose_command_ = run_command("command -v docker-compose").ok() ? "docker-compose" : "docker compose";
}

std::string ComposeStack::compose_prefix() const {
  return "FSR_IMAGE_TAG=" + shell_quote(image_tag_) + " FSROUTER_PUBLISH=127.0.0.1:0 " + compose_command_ +
         " -p " + shell_quote(project_) + " -f " + shell_quote(source_dir_ + "/docker-compose.yml") + " -f " +
         shell_quote(work_dir_ + "/override.yml") + " ";
}

CommandResult ComposeStack::build_images(const std::string& build_dir) {
  return run_command("FSR_STAGE_DIR=" + shell_quote(work_dir_ + "/stage") + " bash " +
                     shell_quote(source_dir_ + "/deploy/build-images.sh") + " " + shell_quote(build_dir) + " " +
                     shell_quote(image_tag_));
}

void ComposeStack::remove_images() {
  run_command("docker rmi -f " + shell_quote("fsrouter:" + image_tag_) + " " +
              shell_quote("fileserver:" + image_tag_));
}

CommandResult ComposeStack::up(int latency_ms) {
  // The override only shortens the backends' latency; everything else,
  // limits included, is the deployment's own file.
  std::ofstream override_file(work_dir_ + "/override.yml", std::ios::trunc);
  override_file << "version: \"2.4\"\nservices:\n";
  for (int i = 1; i <= 5; ++i) {
    override_file << "  fileserver" << i << ":\n    environment:\n      FILESERVER_LATENCY_MS: \"" << latency_ms
                  << "\"\n";
  }
  override_file.close();
  containers_.clear();
  return compose("up -d");
}

bool ComposeStack::wait_healthy(std::chrono::seconds patience, std::string* report) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  std::vector<std::string> all = services();
  while (true) {
    std::string waiting;
    for (const auto& service : all) {
      std::string id = container(service);
      std::string state =
          id.empty() ? "missing"
                     : trimmed(run_command("docker inspect -f '{{.State.Status}}/{{if .State.Health}}"
                                           "{{.State.Health.Status}}{{end}}' " + id)
                                   .output);
      if (state != "running/healthy") waiting += service + "=" + state + " ";
    }
    if (waiting.empty()) return true;
    if (std::chrono::steady_clock::now() > deadline) {
      *report = waiting;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

CommandResult ComposeStack::stop() { return compose("stop"); }

CommandResult ComposeStack::down(bool remove_volumes) {
  containers_.clear();
  return compose(remove_volumes ? "down --volumes --remove-orphans" : "down --remove-orphans");
}

CommandResult ComposeStack::compose(const std::string& arguments) {
  return run_command(compose_prefix() + arguments);
}

std::vector<std::string> ComposeStack::services() {
  std::vector<std::string> out;
  std::istringstream lines(compose("config --services").output);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.find(' ') == std::string::npos) out.push_back(line);
  }
  return out;
}

std::string ComposeStack::container(const std::string& service) {
  auto it = containers_.find(service);
  if (it != containers_.end()) return it->second;
  CommandResult ps = compose("ps -q " + shell_quote(service));
  std::string id = ps.ok() ? trimmed(ps.output) : "";
  if (id.find('\n') != std::string::npos || id.find(' ') != std::string::npos) id.clear();
  if (!id.empty()) containers_[service] = id;
  return id;
}

std::string ComposeStack::container_ip(const std::string& service) {
  std::string id = container(service);
  if (id.empty()) return "";
  return trimmed(
      run_command("docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' " + id).output);
}

CommandResult ComposeStack::docker(const std::string& verb, const std::string& service) {
  std::string id = container(service);
  if (id.empty()) return {1, "no container for " + service};
  return run_command("docker " + verb + " " + id);
}

int ComposeStack::exit_code(const std::string& service) {
  std::string id = container(service);
  if (id.empty()) return -1;
  CommandResult r = run_command("docker inspect -f '{{.State.ExitCode}}' " + id);
  return r.ok() ? std::atoi(r.output.c_str()) : -1;
}

std::vector<ContainerLimits> ComposeStack::limits() {
  std::vector<ContainerLimits> out;
  for (const auto& service : services()) {
    std::string id = container(service);
    ContainerLimits limits;
    limits.service = service;
    if (!id.empty()) {
      CommandResult r = run_command("docker inspect " + id);
      auto json = nlohmann::json::parse(r.output, nullptr, false);
      if (json.is_array() && !json.empty()) {
        const auto& host = json[0]["HostConfig"];
        double nano = host.value("NanoCpus", 0.0);
        double quota = host.value("CpuQuota", 0.0), period = host.value("CpuPeriod", 0.0);
        limits.cpus = nano > 0 ? nano / 1e9 : (quota > 0 && period > 0 ? quota / period : 0);
        limits.memory_bytes = host.value("Memory", 0LL);
        const auto& health = json[0]["Config"]["Healthcheck"];
        if (health.is_object() && health.contains("Test")) {
          for (const auto& word : health["Test"]) limits.healthcheck.push_back(word.get<std::string>());
        }
        limits.read_only_rootfs = host.value("ReadonlyRootfs", false);
        auto words = [&host](const char* key, std::vector<std::string>* into) {
          if (!host.contains(key) || !host[key].is_array()) return;  // null when unset
          for (const auto& word : host[key]) into->push_back(word.get<std::string>());
        };
        words("CapDrop", &limits.cap_drop);
        words("SecurityOpt", &limits.security_opt);
        if (host.contains("PidsLimit") && host["PidsLimit"].is_number()) {
          limits.pids_limit = host["PidsLimit"].get<long long>();
        }
      }
    }
    out.push_back(limits);
  }
  return out;
}

long long ComposeStack::tasks(const std::string& service) {
  std::string id = container(service);
  if (id.empty()) return -1;
  CommandResult r = run_command("docker stats --no-stream --format '{{.PIDs}}' " + id);
  std::string text = trimmed(r.output);
  if (!r.ok() || text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(text);
}

CommandResult ComposeStack::exec(const std::string& service, const std::string& command_line) {
  std::string id = container(service);
  if (id.empty()) return {1, "no container for " + service};
  return run_command("docker exec " + id + " " + command_line);
}

std::string ComposeStack::volume_path(const std::string& volume) {
  return trimmed(run_command("docker volume inspect -f '{{.Mountpoint}}' " + shell_quote(project_ + "_" + volume))
                     .output);
}

std::string ComposeStack::logs(const std::string& service, int tail_lines) {
  return compose("logs --no-color --tail " + std::to_string(tail_lines) + " " + shell_quote(service)).output;
}

std::string ComposeStack::resource_sample() {
  std::string ids;
  for (const auto& service : services()) {
    std::string id = container(service);
    if (!id.empty()) ids += " " + id;
  }
  if (ids.empty()) return "";
  return run_command(
             "docker stats --no-stream --format '{{.Name}} cpu={{.CPUPerc}} mem={{.MemUsage}} pids={{.PIDs}}'" + ids)
      .output;
}

}  // namespace fsr::chaos
