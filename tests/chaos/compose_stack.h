// The Compose deployment (docker-compose.yml at the repository root) run by
// a test: its own project name, its own image tag, an override file that sets
// the backends' latency and publishes the router on a random loopback port,
// and the docker commands the chaos scenarios need (kill, start, pause,
// inspect). Every command's output goes to the test's log on failure.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace fsr::chaos {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
  bool ok() const { return exit_code == 0; }
};

// Runs a command with /bin/sh and collects its output.
CommandResult run_command(const std::string& command);

// Single-quotes text for /bin/sh.
std::string shell_quote(const std::string& text);

// True when the docker daemon answers; otherwise *why says what failed.
bool docker_reachable(std::string* why);

// A container's resource limits and confinement as Docker applies them.
struct ContainerLimits {
  std::string service;
  double cpus = 0;             // from NanoCpus, or CpuQuota / CpuPeriod
  long long memory_bytes = 0;  // HostConfig.Memory
  std::vector<std::string> healthcheck;  // Config.Healthcheck.Test
  bool read_only_rootfs = false;          // HostConfig.ReadonlyRootfs
  std::vector<std::string> cap_drop;      // HostConfig.CapDrop
  std::vector<std::string> security_opt;  // HostConfig.SecurityOpt
  long long pids_limit = 0;               // HostConfig.PidsLimit; 0 when unlimited
};

class ComposeStack {
 public:
  // work_dir holds the override file and the image staging folder.
  ComposeStack(std::string source_dir, std::string project, std::string image_tag,
               std::string work_dir);

  // Stages and builds fsrouter:TAG and fileserver:TAG from build_dir.
  CommandResult build_images(const std::string& build_dir);
  // Removes this stack's images.
  void remove_images();

  // `up -d` with the backends at latency_ms (333 is the real server's).
  CommandResult up(int latency_ms);
  // Polls until every service's container runs and is healthy.
  bool wait_healthy(std::chrono::seconds patience, std::string* report);
  CommandResult stop();
  CommandResult down(bool remove_volumes);
  CommandResult compose(const std::string& arguments);

  std::vector<std::string> services();
  std::string container(const std::string& service);  // "" when none
  std::string container_ip(const std::string& service);
  CommandResult docker(const std::string& verb, const std::string& service);
  int exit_code(const std::string& service);
  std::vector<ContainerLimits> limits();
  // Processes and threads now in a service's container (its pids cgroup,
  // as `docker stats` reports it); -1 when unknown.
  long long tasks(const std::string& service);
  // Runs a program inside a service's container (the images have no shell).
  CommandResult exec(const std::string& service, const std::string& command_line);
  // Host path of a named volume of this project ("data", "journal"); the
  // test runs as root on the Docker host, so it reads volumes directly.
  std::string volume_path(const std::string& volume);
  std::string logs(const std::string& service, int tail_lines);
  // One line per container: name, CPU %, memory use, tasks, from `docker stats`.
  std::string resource_sample();

  const std::string& project() const { return project_; }

 private:
  std::string compose_prefix() const;

  std::string source_dir_, project_, image_tag_, work_dir_;
  std::string compose_command_;
  std::map<std::string, std::string> containers_;
};

}  // namespace fsr::chaos
