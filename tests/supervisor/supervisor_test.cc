// fsrouter-supervisor with supervisor_test_child as its child, on loopback:
// the child gets the socket, dead children are replaced, connections made
// while no child runs wait for the next one, backoff grows and resets, and
// the stop and upgrade signals do what the supervisor's header says.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace fsr::test {
namespace {

using namespace std::chrono_literals;
using Fields = std::map<std::string, std::string>;

// The key=value fields of every log line with this event, in order.
std::vector<Fields> events(const std::string& log, const std::string& event) {
  std::vector<Fields> found;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    Fields fields;
    size_t at = 0;
    while (at < line.size()) {
      size_t equals = line.find('=', at);
      if (equals == std::string::npos) break;
      std::string key = line.substr(at, equals - at);
      std::string value;
      size_t end;
      if (equals + 1 < line.size() && line[equals + 1] == '"') {
        end = line.find('"', equals + 2);
        if (end == std::string::npos) end = line.size();
        value = line.substr(equals + 2, end - equals - 2);
        end += 1;
      } else {
        end = line.find(' ', equals + 1);
        if (end == std::string::npos) end = line.size();
        value = line.substr(equals + 1, end - equals - 1);
      }
      fields[key] = value;
      at = end + 1;
    }
    if (fields["event"] == event) found.push_back(fields);
  }
  return found;
}

// A client connection to 127.0.0.1:port, made at construction.
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval patience{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect_error_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 ? 0 : errno;
  }
  ~Connection() { ::close(fd_); }
  int connect_error() const { return connect_error_; }

  bool send_get(const std::string& path) {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    return ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
  }
  // The body of the answer (everything after the header), read to EOF.
  std::string read_body() {
    std::string answer;
    char buffer[4096];
    while (true) {
      ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      answer.append(buffer, static_cast<size_t>(got));
    }
    auto header_end = answer.find("\r\n\r\n");
    return header_end == std::string::npos ? "" : answer.substr(header_end + 4);
  }

 private:
  int fd_ = -1;
  int connect_error_ = 0;
};

std::string get(int port, const std::string& path) {
  Connection connection(port);
  EXPECT_EQ(connection.connect_error(), 0) << std::strerror(connection.connect_error());
  EXPECT_TRUE(connection.send_get(path));
  return connection.read_body();
}

std::string pid_in(const std::string& body) {
  auto at = body.find("pid=");
  if (at == std::string::npos) return "";
  return body.substr(at + 4, body.find(' ', at) - at - 4);
}

class SupervisorTest : public ::testing::Test {
 protected:
  // Starts the supervisor on 127.0.0.1:0 with the test child; returns the port.
  int start(std::vector<std::string> flags, std::vector<std::string> child_flags = {}) {
    std::vector<std::string> argv = {program_path("fsrouter-supervisor"), "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.push_back(program_path("supervisor_test_child"));
    argv.insert(argv.end(), child_flags.begin(), child_flags.end());
    supervisor_ = ChildProcess(argv, dir_ / "supervisor.log");
    return listening_port(supervisor_);
  }
  std::vector<Fields> log_events(const std::string& event) { return events(supervisor_.read_log(), event); }
  // Waits until the log holds at least count lines of event; returns them.
  std::vector<Fields> await(const std::string& event, size_t count, std::chrono::milliseconds patience = 20s) {
    std::vector<Fields> found;
    bool seen = wait_until([&] { return (found = log_events(event)).size() >= count; }, patience);
    EXPECT_TRUE(seen) << "no " << count << " x event=" << event << " in:\n" << supervisor_.read_log();
    return found;
  }
  std::string child_pid(size_t start) {
    auto started = await("child_started", start);
    return started.size() >= start ? started[start - 1]["pid"] : "";
  }

  TempDir dir_{"fsr-supervisor-test"};
  ChildProcess supervisor_;
};

TEST_F(SupervisorTest, ChildGetsTheListeningSocketAsFdThreeWithTheVariablesConsumedAndCloseOnExec) {
  int port = start({});
  std::string body = get(port, "/");
  EXPECT_EQ(pid_in(body), child_pid(1));
  EXPECT_NE(body.find(" fd=3 "), std::string::npos) << body;
  EXPECT_NE(body.find(" listen=127.0.0.1:" + std::to_string(port) + " "), std::string::npos) << body;
  EXPECT_NE(body.find(" listen_fds_env=unset "), std::string::npos) << body;
  EXPECT_NE(body.find(" cloexec=1"), std::string::npos) << body;
}

TEST_F(SupervisorTest, SigkillOfTheChildStartsANewChildAtOnceThatAnswersOnTheSameSocket) {
  int port = start({"--restart-backoff-min-ms", "60000", "--restart-backoff-max-ms", "60000"});
  std::string first = child_pid(1);
  ASSERT_EQ(pid_in(get(port, "/")), first);
  ASSERT_EQ(::kill(std::stoi(first), SIGKILL), 0);
  auto exited = await("child_exited", 1);
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0]["pid"], first);
  EXPECT_EQ(exited[0]["signal"], "SIGKILL");
  EXPECT_EQ(exited[0]["next_start_in_ms"], "0");
  std::string second = child_pid(2);
  EXPECT_NE(second, first);
  EXPECT_EQ(pid_in(get(port, "/")), second);
}

TEST_F(SupervisorTest, ConnectionsMadeWhileNoChildRunsWaitInTheQueueAndAreAnsweredByTheNextChild) {
  // The second quick exit in a row waits out the backoff: no child runs for 2 s.
  int port = start({"--restart-backoff-min-ms", "2000", "--restart-backoff-max-ms", "60000", "--stable-after-ms", "600000"});
  std::string first = child_pid(1);
  EXPECT_EQ(pid_in(get(port, "/exit")), first);
  std::string second = child_pid(2);
  EXPECT_EQ(pid_in(get(port, "/exit")), second);
  auto exited = await("child_exited", 2);
  ASSERT_EQ(exited.size(), 2u);
  EXPECT_EQ(exited[1]["status"], "3");
  EXPECT_EQ(exited[1]["next_start_in_ms"], "2000");

  std::vector<std::unique_ptr<Connection>> waiting;
  for (int i = 0; i < 5; ++i) {
    waiting.push_back(std::make_unique<Connection>(port));
    EXPECT_EQ(waiting.back()->connect_error(), 0) << std::strerror(waiting.back()->connect_error());
    EXPECT_TRUE(waiting.back()->send_get("/"));
  }
  // Proof that they were made while no child ran: the third has not started yet.
  ASSERT_EQ(log_events("child_started").size(), 2u) << supervisor_.read_log();

  std::string third = child_pid(3);
  ASSERT_FALSE(third.empty());
  for (auto& connection : waiting) EXPECT_EQ(pid_in(connection->read_body()), third);
}

TEST_F(SupervisorTest, CrashLoopBackoffDoublesUpToTheCapAndResetsAfterAStableRun) {
  std::string counter = dir_ / "starts";
  int port = start({"--restart-backoff-min-ms", "50", "--restart-backoff-max-ms", "150", "--stable-after-ms", "500"},
                   {"--quick-exits", "5", "--counter-file", counter});
  auto exited = await("child_exited", 5);
  ASSERT_EQ(exited.size(), 5u);
  std::vector<std::string> delays;
  for (auto& line : exited) delays.push_back(line["next_start_in_ms"]);
  EXPECT_EQ(delays, (std::vector<std::string>{"0", "50", "100", "150", "150"}));
  for (auto& line : exited) EXPECT_EQ(line["status"], "1");

  // The sixth child serves; once it has lived past --stable-after-ms, its
  // crash is restarted at once and the streak starts over.
  std::string sixth = child_pid(6);
  ASSERT_EQ(pid_in(get(port, "/")), sixth);
  auto sixth_started = std::chrono::steady_clock::now();
  wait_until([&] { return std::chrono::steady_clock::now() - sixth_started > 600ms; }, 5s);
  EXPECT_EQ(pid_in(get(port, "/crash")), sixth);
  exited = await("child_exited", 6);
  ASSERT_EQ(exited.size(), 6u);
  EXPECT_EQ(exited[5]["signal"], "SIGABRT");
  EXPECT_GE(std::stoll(exited[5]["uptime_ms"]), 500);
  EXPECT_EQ(exited[5]["next_start_in_ms"], "0");

  std::string seventh = child_pid(7);
  EXPECT_EQ(pid_in(get(port, "/crash")), seventh);
  exited = await("child_exited", 7);
  ASSERT_EQ(exited.size(), 7u);
  EXPECT_EQ(exited[6]["next_start_in_ms"], "50");
}

TEST_F(SupervisorTest, SigtermIsForwardedToTheChildAndTheSupervisorExitsZeroOnceItStopped) {
  start({});
  std::string child = child_pid(1);
  await("child_ready", 1);
  supervisor_.signal(SIGTERM);
  int status = supervisor_.wait(20s);
  ASSERT_TRUE(WIFEXITED(status)) << supervisor_.read_log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << supervisor_.read_log();
  auto got = log_events("child_got_sigterm");
  ASSERT_EQ(got.size(), 1u) << supervisor_.read_log();
  EXPECT_EQ(got[0]["pid"], child);
  auto exited = log_events("child_exited");
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0]["reason"], "stopped");
  EXPECT_EQ(exited[0]["next_start_in_ms"], "-1");
  EXPECT_EQ(log_events("child_started").size(), 1u);
}

TEST_F(SupervisorTest, AChildIgnoringSigtermIsKilledAfterTheStopTimeoutAndTheExitIsNotZero) {
  start({"--stop-timeout-ms", "300"}, {"--ignore-sigterm"});
  await("child_ready", 1);
  supervisor_.signal(SIGTERM);
  int status = supervisor_.wait(20s);
  ASSERT_TRUE(WIFEXITED(status)) << supervisor_.read_log();
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(log_events("child_stop_timeout").size(), 1u);
  auto exited = log_events("child_exited");
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0]["signal"], "SIGKILL");
}

TEST_F(SupervisorTest, SighupLetsTheOldChildFinishItsRequestThenANewChildAnswersRequestsSentDuringTheHandover) {
  int port = start({"--restart-backoff-min-ms", "60000", "--restart-backoff-max-ms", "60000"});
  std::string old_child = child_pid(1);
  await("child_ready", 1);
  Connection in_flight(port);
  ASSERT_EQ(in_flight.connect_error(), 0);
  ASSERT_TRUE(in_flight.send_get("/slow"));
  await("child_request", 1);  // the old child holds /slow for 700 ms

  supervisor_.signal(SIGHUP);
  await("upgrade_requested", 1);
  Connection during(port);
  ASSERT_EQ(during.connect_error(), 0) << std::strerror(during.connect_error());
  ASSERT_TRUE(during.send_get("/"));

  EXPECT_EQ(pid_in(in_flight.read_body()), old_child);
  std::string new_child = child_pid(2);
  EXPECT_NE(new_child, old_child);
  EXPECT_EQ(pid_in(during.read_body()), new_child);
  auto exited = log_events("child_exited");
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0]["pid"], old_child);
  EXPECT_EQ(exited[0]["status"], "0");
  EXPECT_EQ(exited[0]["reason"], "upgrade");
  EXPECT_EQ(exited[0]["next_start_in_ms"], "0");
  EXPECT_EQ(log_events("child_got_sigterm").size(), 1u);
}

TEST_F(SupervisorTest, Sigusr2UpgradesLikeSighup) {
  int port = start({"--restart-backoff-min-ms", "60000", "--restart-backoff-max-ms", "60000"});
  std::string old_child = child_pid(1);
  await("child_ready", 1);
  supervisor_.signal(SIGUSR2);
  std::string new_child = child_pid(2);
  EXPECT_NE(new_child, old_child);
  EXPECT_EQ(pid_in(get(port, "/")), new_child);
  auto exited = log_events("child_exited");
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0]["reason"], "upgrade");
}

// Dead, or a zombie waiting for whoever inherited it.
bool process_gone(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close_paren = line.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= line.size() || line[close_paren + 2] == 'Z' ||
         line[close_paren + 2] == 'X';
}

TEST_F(SupervisorTest, SigkillOfTheSupervisorKillsItsChildEvenOneThatIgnoresSigterm) {
  start({}, {"--ignore-sigterm"});
  std::string child = child_pid(1);
  await("child_ready", 1);
  ASSERT_FALSE(process_gone(child));
  supervisor_.signal(SIGKILL);
  ASSERT_NE(supervisor_.wait(20s), -1);
  bool gone = wait_until([&] { return process_gone(child); }, 10s);
  EXPECT_TRUE(gone) << "the child " << child << " outlived its supervisor";
  if (!gone) ::kill(std::stoi(child), SIGKILL);
}

std::string restarts_in(const std::string& body) {
  auto at = body.find("restarts=");
  if (at == std::string::npos) return "";
  return body.substr(at + 9, body.find_first_of(" \n", at) - at - 9);
}

TEST_F(SupervisorTest, ChildSeesInFsrouterRestartsHowManyChildrenDiedBeforeItAndAnUpgradeIsNoRestart) {
  int port = start({"--restart-backoff-min-ms", "10", "--restart-backoff-max-ms", "10"});
  std::string first = child_pid(1);
  EXPECT_EQ(restarts_in(get(port, "/")), "0");
  ASSERT_EQ(::kill(std::stoi(first), SIGKILL), 0);
  std::string second = child_pid(2);
  EXPECT_EQ(restarts_in(get(port, "/")), "1");
  EXPECT_EQ(pid_in(get(port, "/exit")), second);
  child_pid(3);
  EXPECT_EQ(restarts_in(get(port, "/")), "2");
  await("child_ready", 3);
  supervisor_.signal(SIGHUP);
  std::string fourth = child_pid(4);
  std::string body = get(port, "/");
  EXPECT_EQ(pid_in(body), fourth);
  EXPECT_EQ(restarts_in(body), "2");
}

TEST_F(SupervisorTest, OrphansTheChildLeavesBehindAreReapedByTheSupervisor) {
  int port = start({"--log-level", "debug"});
  std::string body = get(port, "/orphan");
  auto at = body.find("orphan=");
  ASSERT_NE(at, std::string::npos) << body;
  std::string orphan = body.substr(at + 7, body.find(' ', at) - at - 7);
  ASSERT_NE(orphan, "-1");
  bool reaped = wait_until(
      [&] {
        for (auto& line : log_events("orphan_reaped"))
          if (line["pid"] == orphan) return true;
        return false;
      },
      20s);
  EXPECT_TRUE(reaped) << supervisor_.read_log();
  EXPECT_FALSE(file_exists("/proc/" + orphan)) << "the orphan is still a process (a zombie)";
  EXPECT_EQ(log_events("child_exited").size(), 0u);  // an orphan's exit is not the child's
}

}  // namespace
}  // namespace fsr::test
