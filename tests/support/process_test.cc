// spawn_program, the way every test starts the project's programs, must not
// hang when the test's other threads allocate at the moment of the fork (a
// journal's RocksDB threads, a load thread). A forked child that allocates
// before exec can wait forever for an allocator lock held by a thread that
// does not exist in the child; the ASan build's allocator shows it.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace fsr::test {
namespace {

// Waits for pid up to patience; the exit status, or -1 (then it is killed).
int reap(pid_t pid, std::chrono::milliseconds patience) {
  int status = 0;
  if (wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, patience)) return status;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

TEST(SpawnProgram, StartsWhileOtherThreadsAllocate) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> churn;
  for (int t = 0; t < 3; ++t)
    churn.emplace_back([&, t] {
      std::vector<std::unique_ptr<char[]>> held(64);
      for (unsigned i = 0; !stop; ++i) held[(i * 7 + t) % held.size()].reset(new char[16 + (i % 4096)]);
    });
  TempDir dir("spawn-test");
  int hung = 0, failed = 0;
  for (int i = 0; i < 300 && hung == 0; ++i) {
    SpawnOptions options;
    options.stdout_path = dir / "out";
    options.extra_env = {"FSR_SPAWN_TEST=" + std::to_string(i)};
    pid_t pid = spawn_program({"/bin/sh", "-c", "echo \"$FSR_SPAWN_TEST\""}, options);
    int status = reap(pid, std::chrono::seconds(20));
    if (status == -1) ++hung;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || read_file(dir / "out") != std::to_string(i) + "\n") ++failed;
  }
  stop = true;
  for (auto& t : churn) t.join();
  EXPECT_EQ(hung, 0) << "a child never reached exec";
  EXPECT_EQ(failed, 0);
}

TEST(SpawnProgram, OptionsReachTheChild) {
  TempDir dir("spawn-test");
  SpawnOptions options;
  options.stdout_path = dir / "log";
  options.stderr_path = dir / "log";
  options.append = true;
  options.own_process_group = true;
  options.extra_env = {"HOME=/first", "HOME=/replaced"};
  write_file(dir / "log", "before\n");
  // Field 5 of /proc/PID/stat is the process group ("(sh)" has no space).
  pid_t pid = spawn_program({"/bin/sh", "-c", "echo \"$HOME\"; echo err >&2; cut -d' ' -f5 /proc/$$/stat"},
                            options);
  int status = reap(pid, std::chrono::seconds(20));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(read_file(dir / "log"), "before\n/replaced\nerr\n" + std::to_string(pid) + "\n");
  // Without append, the file starts afresh.
  write_file(dir / "out", "a longer line than the child writes\n");
  SpawnOptions truncating;
  truncating.stdout_path = dir / "out";
  status = reap(spawn_program({"/bin/sh", "-c", "echo short"}, truncating), std::chrono::seconds(20));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(read_file(dir / "out"), "short\n");
  EXPECT_THROW(spawn_program({dir / "no-such-program"}), std::runtime_error);
}

}  // namespace
}  // namespace fsr::test
