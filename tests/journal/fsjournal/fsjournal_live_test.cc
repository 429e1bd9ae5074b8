// fsjournal beside a running router: reading never disturbs the router's
// writes, tail -f follows them, and replay restores a volume through it.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "common/checksum.h"
#include "journal/record.h"
#include "tests/journal/fsjournal/fsjournal_harness.h"

namespace fsr::test {
namespace {

// name -> "size checksum": compact enough to print when a comparison fails.
std::map<std::string, std::string> digest(const std::map<std::string, std::string>& files) {
  std::map<std::string, std::string> out;
  for (const auto& [name, body] : files) out[name] = std::to_string(body.size()) + " " + checksum_of(body);
  return out;
}

class FsjournalLive : public ::testing::Test {
 protected:
  void SetUp() override { stack_.start_router(); }

  // The router's --admin-listen address, where replay reads /admin/status.
  std::string admin_url() const { return "http://127.0.0.1:" + std::to_string(stack_.router_admin_port()); }

  RunResult fsj(std::vector<std::string> args) {
    args.insert(args.begin(), {"--journal-dir", stack_.journal_dir()});
    return run_fsjournal(args);
  }

  TempDir tmp_{"fsjournal-live"};
  LiveStack stack_{tmp_};
};

TEST_F(FsjournalLive, ReadingALiveJournalNeverDisturbsTheRoutersWrites) {
  ChildProcess tail({program_path("fsjournal"), "--journal-dir", stack_.journal_dir(), "tail", "-f", "--from-seq",
                     "1", "--json", "--interval-ms", "50"},
                    tmp_ / "tail.out");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::mutex mu;
  std::set<uint64_t> acked;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        std::string name = "w" + std::to_string(w) + "-" + std::to_string(i % 25);
        // Every 10th body is large enough to live in its own file.
        size_t size = i % 10 == 0 ? 100 * 1024 : 100 + static_cast<size_t>(i);
        uint64_t seq = i % 7 == 6 ? stack_.del(name) : stack_.put(name, random_body(size, static_cast<unsigned>(i)));
        if (seq == 0) ++failures;
        std::lock_guard<std::mutex> lock(mu);
        if (seq) acked.insert(seq);
      }
    });
  }
  ASSERT_TRUE(wait_until([&] { std::lock_guard<std::mutex> l(mu); return acked.size() > 100; }, std::chrono::seconds(60)));

  // Every subcommand that reads, while the router writes.
  auto status = fsj({"status", "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.json()["in_use"], true);
  EXPECT_GT(status.json()["last_seq"].get<uint64_t>(), 100u);
  auto verify = fsj({"verify", "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(fsj({"list", "--limit", "20"}).exit_code, 0);
  EXPECT_EQ(fsj({"export"}).exit_code, 0);
  std::string copy = tmp_ / "copy";
  auto checkpoint = fsj({"checkpoint", copy});
  EXPECT_EQ(checkpoint.exit_code, 0) << checkpoint.out << checkpoint.err;
  for (int round = 0; round < 3; ++round) {
    auto again = fsj({"verify"});
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  }

  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_EQ(failures, 0) << stack_.logs();
  uint64_t last = *acked.rbegin();
  // tail -f printed every acknowledged write.
  bool all_seen = wait_until(
      [&] { return tail.read_log().find("\"seq\":" + std::to_string(last) + ",") != std::string::npos; },
      std::chrono::seconds(30));
  ASSERT_TRUE(all_seen) << "tail never printed seq " << last;
  std::string printed = tail.read_log();
  for (uint64_t seq : acked) EXPECT_NE(printed.find("\"seq\":" + std::to_string(seq) + ","), std::string::npos) << seq;
  int tail_status = tail.stop(SIGINT);
  EXPECT_TRUE(WIFEXITED(tail_status) && WEXITSTATUS(tail_status) == 0) << tail_status;

  // The copy taken mid-load is intact and self-consistent.
  auto copy_verify = run_fsjournal({"--journal-dir", copy, "verify"});
  EXPECT_EQ(copy_verify.exit_code, 0) << copy_verify.out << copy_verify.err;

  // Once drained, fsjournal and the router agree on the shared facts.
  ASSERT_TRUE(stack_.wait_drained(std::chrono::seconds(60))) << stack_.status().dump();
  auto router = stack_.status();
  auto mine = fsj({"status", "--json"}).json();
  for (const char* f : {"last_seq", "applied_seq", "pending_count", "pending_bytes", "names", "body_bytes"})
    EXPECT_EQ(mine[f], router[f]) << f;
}

TEST_F(FsjournalLive, ReplayRestoresARestoredVolumeThroughTheRouter) {
  std::map<std::string, std::string> latest;
  for (int i = 0; i < 5; ++i) {
    latest["n" + std::to_string(i)] = random_body(200 + i, static_cast<unsigned>(i));
    ASSERT_GT(stack_.put("n" + std::to_string(i), latest["n" + std::to_string(i)]), 0u) << stack_.last_error();
  }
  latest["n1"] = random_body(90 * 1024, 7);  // a body file
  ASSERT_GT(stack_.put("n1", latest["n1"]), 0u) << stack_.last_error();
  uint64_t deleted = stack_.del("n2");
  ASSERT_GT(deleted, 0u);
  latest.erase("n2");
  ASSERT_TRUE(stack_.wait_drained(std::chrono::seconds(30)));

  // The volume comes back from an older backup: stale, missing and resurrected files.
  write_file(stack_.data_dir() + "/n0", "stale");
  std::filesystem::remove(stack_.data_dir() + "/n1");
  write_file(stack_.data_dir() + "/n2", "stale");
  auto restored = volume_files(stack_.data_dir());
  // The router remembers which names it deleted from the volume and skips a
  // DELETE of those; a restart makes it forget what the restore undid. Its
  // rolling scrub would repair the volume by itself: off, so that what is
  // seen here is fsjournal replay's doing.
  stack_.stop_router();
  stack_.start_router({"--scrub-slots", "0"});

  auto dry = fsj({"replay", "--router", stack_.router_url(), "--router-admin", admin_url(), "--json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  auto plan = dry.json();
  EXPECT_EQ(plan["executed"], false);
  EXPECT_EQ(plan["to_send"], 5);
  EXPECT_EQ(digest(volume_files(stack_.data_dir())), digest(restored));  // a dry run sends nothing

  auto ranged = fsj({"replay", "--router", stack_.router_url(), "--router-admin", admin_url(), "--from-seq", std::to_string(deleted), "--json"});
  ASSERT_EQ(ranged.exit_code, 0) << ranged.err;
  ASSERT_EQ(ranged.json()["names"].size(), 1u);
  EXPECT_EQ(ranged.json()["names"][0]["name"], "n2");
  EXPECT_EQ(ranged.json()["names"][0]["op"], "DELETE");

  auto run = fsj({"replay", "--router", stack_.router_url(), "--router-admin", admin_url(), "--execute", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.json()["sent"], 5);
  auto results = run.json();
  for (const auto& item : results["names"]) {
    EXPECT_EQ(item["result"], "sent") << item.dump();
    EXPECT_GT(item["new_seq"].get<uint64_t>(), deleted);
  }
  ASSERT_TRUE(stack_.wait_drained(std::chrono::seconds(30)));
  EXPECT_EQ(digest(volume_files(stack_.data_dir())), digest(latest)) << run.out << stack_.logs();
}

TEST_F(FsjournalLive, ReplayListsNamesItCannotRestore) {
  uint64_t old_x = stack_.put("x", "version one");
  ASSERT_GT(stack_.put("x", "version two"), 0u) << stack_.last_error();
  ASSERT_GT(stack_.put("big", random_body(100 * 1024, 3)), 0u) << stack_.last_error();
  ASSERT_GT(stack_.put("fine", "ok"), 0u) << stack_.last_error();
  ASSERT_TRUE(stack_.wait_drained(std::chrono::seconds(30))) << stack_.status().dump();
  // Lose big's body file from the journal.
  for (const auto& e : std::filesystem::directory_iterator(stack_.journal_dir() + "/bodies"))
    std::filesystem::remove(e.path());
  auto r = fsj({"replay", "--router", stack_.router_url(), "--router-admin", admin_url(), "--json"});
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  std::map<std::string, nlohmann::json> by_name;
  auto plan = r.json();
  for (const auto& item : plan["names"]) by_name[item["name"].get<std::string>()] = item;
  ASSERT_EQ(by_name.count("big"), 1u) << r.out;
  EXPECT_EQ(by_name["big"]["action"], "cannot_restore");
  EXPECT_NE(by_name["big"]["reason"].get<std::string>().find("missing"), std::string::npos);
  EXPECT_EQ(by_name["fine"]["action"], "send");

  // Up to x's first version only: that state's body was freed by the second.
  auto ranged = fsj({"replay", "--router", stack_.router_url(), "--router-admin", admin_url(), "--to-seq", std::to_string(old_x), "--json"});
  EXPECT_EQ(ranged.exit_code, 1) << ranged.out << ranged.err;
  ASSERT_EQ(ranged.json()["names"].size(), 1u);
  EXPECT_EQ(ranged.json()["names"][0]["name"], "x");
  EXPECT_EQ(ranged.json()["names"][0]["action"], "cannot_restore");
  EXPECT_NE(ranged.json()["names"][0]["reason"].get<std::string>().find("freed"), std::string::npos);
}

// A client write lands between replay's read of the index and its write
// reaching the router: a stand-in in front of the router lets a client write
// through first, then forwards replay's request as it came. The router
// refuses replay's older state (412), and the client's write survives.
TEST_F(FsjournalLive, AClientWriteBetweenReplaysReadAndItsWriteSurvives) {
  ASSERT_GT(stack_.put("raced", "the journal's state"), 0u) << stack_.last_error();
  ASSERT_GT(stack_.put("raced-deleted", "soon deleted"), 0u) << stack_.last_error();
  ASSERT_GT(stack_.del("raced-deleted"), 0u) << stack_.last_error();
  ASSERT_TRUE(stack_.wait_drained(std::chrono::seconds(30))) << stack_.status().dump();

  httplib::Server proxy;
  std::atomic<int> forwarded{0};
  auto forward = [&](const httplib::Request& req, httplib::Response& res) {
    auto client = stack_.client();
    auto client_write = client->Put(req.path.c_str(), "a client's newer write", "application/octet-stream");
    if (!client_write || client_write->status != 201) {
      res.status = 599;
      return;
    }
    httplib::Headers headers;
    for (const char* field : {"If-Match", "If-None-Match"})
      if (req.has_header(field)) headers.emplace(field, req.get_header_value(field));
    auto r = req.method == "PUT" ? client->Put(req.path.c_str(), headers, req.body, "application/octet-stream")
                                 : client->Delete(req.path.c_str(), headers);
    if (!r) {
      res.status = 598;
      return;
    }
    ++forwarded;
    res.status = r->status;
    res.set_content(r->body, "text/plain");
    if (r->has_header("X-Fsrouter-Seq")) res.set_header("X-Fsrouter-Seq", r->get_header_value("X-Fsrouter-Seq"));
  };
  proxy.Put(R"(/api/fileserver/.*)", forward);
  proxy.Delete(R"(/api/fileserver/.*)", forward);
  int port = proxy.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { proxy.listen_after_bind(); });
  auto run = fsj({"replay", "--router", "http://127.0.0.1:" + std::to_string(port), "--router-admin", admin_url(),
                  "--execute", "--json"});
  proxy.stop();
  serving.join();
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(forwarded.load(), 2);
  auto results = run.json();
  ASSERT_EQ(results["names"].size(), 2u) << run.out;
  for (const auto& item : results["names"]) {
    EXPECT_EQ(item["result"], "skipped") << item.dump();
    EXPECT_NE(item["detail"].get<std::string>().find("412"), std::string::npos) << item.dump();
  }
  auto c = stack_.client();
  for (const char* name : {"raced", "raced-deleted"}) {
    auto g = c->Get(api(name).c_str());
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 200) << name;
    EXPECT_EQ(g->body, "a client's newer write") << name;
  }
  ASSERT_TRUE(stack_.wait_drained(std::chrono::seconds(30)));
  auto volume = volume_files(stack_.data_dir());
  EXPECT_EQ(volume["raced"], "a client's newer write");
  EXPECT_EQ(volume["raced-deleted"], "a client's newer write");
}

TEST_F(FsjournalLive, ReplayRefusesARouterThatServesAnotherJournal) {
  ASSERT_GT(stack_.put("a", "b"), 0u) << stack_.last_error();
  std::string copy = tmp_ / "copy";
  ASSERT_EQ(fsj({"checkpoint", copy}).exit_code, 0);
  auto r = run_fsjournal({"--journal-dir", copy, "replay", "--router", stack_.router_url()});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("another journal"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fsr::test
