// fsjournal against journals built with the router's own Journal class: each
// subcommand's output and exit code, damaged journals, and refusals.
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "common/checksum.h"
#include "journal/record.h"
#include "tests/journal/fsjournal/fsjournal_harness.h"

namespace fsr::test {
namespace {

using journal::body_file_name;

// A small journal with every kind of state:
//   1 PUT a.txt "first"        superseded by 3 (applied)
//   2 PUT big.bin 200 bytes    (a body file) applied
//   3 PUT a.txt "second"       applied
//   4 DELETE gone.txt          applied
//   5 PUT pending.bin 100 B    (a body file) pending
//   6 PUT small "s"            pending
class FsjournalOffline : public ::testing::Test {
 protected:
  void SetUp() override {
    JournalBuilder b(dir_);
    seq_first_ = b.put("a.txt", "first");
    big_ = random_body(200, 1);
    seq_big_ = b.put("big.bin", big_);
    seq_a_ = b.put("a.txt", "second");
    seq_gone_ = b.del("gone.txt");
    pending_body_ = random_body(100, 2);
    seq_pending_ = b.put("pending.bin", pending_body_);
    seq_small_ = b.put("small", "s");
    b.applied("a.txt", seq_a_);
    b.applied("big.bin", seq_big_);
    b.applied("gone.txt", seq_gone_);
    b.backend("127.0.0.1:9001", {"primary", std::nullopt, 4});
    b.backend("127.0.0.1:9002", {"replica", std::nullopt, 0});
    big_file_ = dir_ + "/bodies/" + body_file_name(b.journal().lookup("big.bin")->body.id);
    pending_file_ = dir_ + "/bodies/" + body_file_name(b.journal().lookup("pending.bin")->body.id);
  }

  RunResult fsj(std::vector<std::string> args) {
    args.insert(args.begin(), {"--journal-dir", dir_});
    return run_fsjournal(args);
  }

  TempDir tmp_{"fsjournal-offline"};
  std::string dir_ = tmp_ / "journal";
  std::string big_, pending_body_, big_file_, pending_file_;
  uint64_t seq_first_ = 0, seq_big_ = 0, seq_a_ = 0, seq_gone_ = 0, seq_pending_ = 0, seq_small_ = 0;
};

TEST_F(FsjournalOffline, JournalDirMayFollowTheSubcommandOrComeFromEitherEnvironmentVariable) {
  auto after = run_fsjournal({"status", "--json", "--journal-dir", dir_});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.json()["journal_dir"], dir_);
  auto from_env = run_fsjournal({"status", "--json"}, {"FSJOURNAL_DIR=" + dir_});
  ASSERT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_EQ(from_env.json()["journal_dir"], dir_);
  auto from_router_env = run_fsjournal({"status", "--json"}, {"FSROUTER_JOURNAL_DIR=" + dir_});
  ASSERT_EQ(from_router_env.exit_code, 0) << from_router_env.err;
  EXPECT_EQ(from_router_env.json()["journal_dir"], dir_);
  // The flag wins over the environment.
  auto flag_wins = run_fsjournal({"--journal-dir", dir_, "status", "--json"}, {"FSJOURNAL_DIR=" + tmp_ / "nowhere"});
  ASSERT_EQ(flag_wins.exit_code, 0) << flag_wins.err;
  EXPECT_EQ(flag_wins.json()["journal_dir"], dir_);
}

TEST_F(FsjournalOffline, StatusJsonReportsSequencesPendingNamesAndBackends) {
  auto r = fsj({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.json();
  EXPECT_EQ(j["last_seq"], 6);
  EXPECT_EQ(j["applied_seq"], 4);  // 5 is the oldest pending
  EXPECT_EQ(j["pending_count"], 2);
  EXPECT_EQ(j["pending_bytes"], 101);
  EXPECT_GE(j["oldest_pending_age_ms"].get<int64_t>(), 0);
  EXPECT_EQ(j["oldest_pending_seq"], 5);
  EXPECT_EQ(j["names"], 5);
  EXPECT_EQ(j["deleted_names"], 1);
  EXPECT_EQ(j["body_bytes"], 200 + 6 + 100 + 1);
  EXPECT_EQ(j["in_use"], false);
  ASSERT_EQ(j["backends"].size(), 2u);
  EXPECT_EQ(j["backends"][0]["address"], "127.0.0.1:9001");
  EXPECT_EQ(j["backends"][0]["role"], "primary");
  EXPECT_EQ(j["backends"][0]["watermark"], 4);
  EXPECT_EQ(j["backends"][1]["role"], "replica");
}

TEST_F(FsjournalOffline, StatusTableNamesEachFact) {
  auto r = fsj({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* field : {"last_seq", "applied_seq", "pending_count", "pending_bytes", "oldest_pending_age_ms",
                            "names", "body_bytes", "127.0.0.1:9001", "primary"})
    EXPECT_NE(r.out.find(field), std::string::npos) << field << " missing in:\n" << r.out;
}

TEST_F(FsjournalOffline, StatusAgreesWithTheJournalItReads) {
  // Open the journal (as the router would) and compare with its own stats.
  JournalBuilder b(dir_);
  b.put("later", "x");
  auto stats = b.journal().stats();
  auto r = fsj({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.json();
  EXPECT_EQ(j["in_use"], true);
  EXPECT_EQ(j["last_seq"], stats.last_seq);
  EXPECT_EQ(j["applied_seq"], stats.applied_seq);
  EXPECT_EQ(j["pending_count"], stats.pending_count);
  EXPECT_EQ(j["pending_bytes"], stats.pending_bytes);
  EXPECT_EQ(j["names"], stats.names);
  EXPECT_EQ(j["body_bytes"], stats.body_bytes);
}

TEST_F(FsjournalOffline, ListIsNewestFirstWithStates) {
  auto r = fsj({"list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.json();
  ASSERT_EQ(j.size(), 6u);
  EXPECT_EQ(j[0]["seq"], 6);
  EXPECT_EQ(j[5]["seq"], 1);
  EXPECT_EQ(j[5]["state"], "superseded");
  EXPECT_EQ(j[5]["body_retained"], false);
  EXPECT_EQ(j[3]["state"], "applied");  // seq 3
  EXPECT_EQ(j[1]["state"], "pending");  // seq 5
  EXPECT_EQ(j[2]["op"], "DELETE");
}

TEST_F(FsjournalOffline, ListFiltersCombine) {
  auto seqs = [](const nlohmann::json& j) {
    std::vector<uint64_t> out;
    for (const auto& e : j) out.push_back(e["seq"].get<uint64_t>());
    return out;
  };
  EXPECT_EQ(seqs(fsj({"list", "--json", "--pending"}).json()), (std::vector<uint64_t>{6, 5}));
  EXPECT_EQ(seqs(fsj({"list", "--json", "--name", "a.txt"}).json()), (std::vector<uint64_t>{3, 1}));
  EXPECT_EQ(seqs(fsj({"list", "--json", "--op", "DELETE"}).json()), (std::vector<uint64_t>{4}));
  EXPECT_EQ(seqs(fsj({"list", "--json", "--from-seq", "2", "--to-seq", "4", "--oldest-first"}).json()),
            (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(seqs(fsj({"list", "--json", "--limit", "2"}).json()), (std::vector<uint64_t>{6, 5}));
  // Times: everything is recent; nothing is older than a day or in the future.
  EXPECT_EQ(fsj({"list", "--json", "--since", "1d"}).json().size(), 6u);
  EXPECT_EQ(fsj({"list", "--json", "--until", "1d"}).json().size(), 0u);
  auto all = fsj({"list", "--json", "--oldest-first"}).json();
  int64_t t3 = all[2]["time_ms"];
  auto since = fsj({"list", "--json", "--since", "@" + std::to_string(t3)}).json();
  for (const auto& e : since) EXPECT_GE(e["time_ms"].get<int64_t>(), t3);
  EXPECT_GE(since.size(), 4u);
  auto bad = fsj({"list", "--op", "PATCH"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--op"), std::string::npos);
}

TEST_F(FsjournalOffline, ShowVerifiesTheBodyAndWritesIt) {
  std::string out = tmp_ / "body.out";
  auto r = fsj({"show", std::to_string(seq_big_), "--json", "--body", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.json();
  EXPECT_EQ(j["name"], "big.bin");
  EXPECT_EQ(j["body_check"]["verified"], true);
  EXPECT_EQ(j["body_check"]["computed_checksum"], checksum_of(big_));
  EXPECT_EQ(read_file(out), big_);
  // The table form says so too.
  auto table = fsj({"show", std::to_string(seq_a_)});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("verified"), std::string::npos) << table.out;
  // To stdout with '-': stdout holds exactly the body.
  auto raw = fsj({"show", std::to_string(seq_a_), "--body", "-"});
  EXPECT_EQ(raw.exit_code, 0);
  EXPECT_EQ(raw.out, "second");
}

TEST_F(FsjournalOffline, ShowOfSupersededRecordSaysItsBodyWasFreed) {
  auto r = fsj({"show", std::to_string(seq_first_)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("freed"), std::string::npos) << r.out;
  auto body = fsj({"show", std::to_string(seq_first_), "--body", tmp_ / "x"});
  EXPECT_EQ(body.exit_code, 1);
  EXPECT_NE(body.err.find("freed"), std::string::npos) << body.err;
  auto none = fsj({"show", "99"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("99"), std::string::npos);
}

TEST_F(FsjournalOffline, HistoryListsEveryRecordOfTheNameAndItsLatestState) {
  JournalBuilder b(dir_);
  uint64_t deleted = b.del("a.txt");
  b.close();
  auto r = fsj({"history", "a.txt", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.json();
  EXPECT_EQ(j["latest"]["seq"], deleted);
  EXPECT_EQ(j["latest"]["op"], "DELETE");
  EXPECT_EQ(j["latest"]["pending"], true);
  ASSERT_EQ(j["records"].size(), 3u);
  EXPECT_EQ(j["records"][0]["seq"], seq_first_);
  EXPECT_EQ(j["records"][1]["seq"], seq_a_);
  EXPECT_EQ(j["records"][2]["seq"], deleted);
  EXPECT_EQ(j["records"][2]["state"], "pending");
  auto table = fsj({"history", "a.txt"});
  EXPECT_NE(table.out.find("PENDING"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("(latest)"), std::string::npos) << table.out;
  auto never = fsj({"history", "never-written"});
  EXPECT_EQ(never.exit_code, 1);
  EXPECT_NE(never.err.find("never wrote"), std::string::npos);
}

TEST_F(FsjournalOffline, VerifyOfAnIntactJournalExitsZero) {
  auto r = fsj({"verify", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = r.json();
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["checked"]["records"], 6);
  EXPECT_EQ(j["checked"]["names"], 5);
  EXPECT_EQ(j["checked"]["bodies"], 4);
  EXPECT_TRUE(j["problems"].empty());
}

TEST_F(FsjournalOffline, VerifyNamesTheSequenceOfABodyFileWithFlippedBytes) {
  flip_byte(big_file_, 17);
  auto r = fsj({"verify", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = r.json();
  ASSERT_EQ(j["problems"].size(), 1u) << r.out;
  EXPECT_EQ(j["problems"][0]["seq"], seq_big_);
  EXPECT_EQ(j["problems"][0]["name"], "big.bin");
  EXPECT_NE(j["problems"][0]["problem"].get<std::string>().find("checksum"), std::string::npos);
  auto table = fsj({"verify"});
  EXPECT_EQ(table.exit_code, 1);
  EXPECT_NE(table.out.find("big.bin"), std::string::npos) << table.out;
  auto show = fsj({"show", std::to_string(seq_big_)});
  EXPECT_EQ(show.exit_code, 1);
  EXPECT_NE(show.out.find("MISMATCH"), std::string::npos) << show.out;
}

TEST_F(FsjournalOffline, VerifyNamesTheSequenceOfAnInlineBodyWithFlippedBytes) {
  std::string inline_id;
  {
    JournalBuilder b(dir_);
    inline_id = journal::encode_seq_key(b.journal().lookup("a.txt")->body.id);
  }
  rocks_put(dir_, "bodies", inline_id, "seconD");
  auto r = fsj({"verify", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = r.json();
  ASSERT_EQ(j["problems"].size(), 1u) << r.out;
  EXPECT_EQ(j["problems"][0]["seq"], seq_a_);
  EXPECT_EQ(j["problems"][0]["name"], "a.txt");
}

TEST_F(FsjournalOffline, VerifyReportsAMissingBodyFile) {
  std::filesystem::remove(pending_file_);
  auto r = fsj({"verify", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = r.json();
  ASSERT_EQ(j["problems"].size(), 1u) << r.out;
  EXPECT_EQ(j["problems"][0]["seq"], seq_pending_);
  EXPECT_EQ(j["problems"][0]["name"], "pending.bin");
  EXPECT_NE(j["problems"][0]["problem"].get<std::string>().find("missing"), std::string::npos);
}

TEST_F(FsjournalOffline, VerifyReportsAMissingInlineBody) {
  std::string inline_id;
  {
    JournalBuilder b(dir_);
    inline_id = journal::encode_seq_key(b.journal().lookup("small")->body.id);
  }
  rocks_put(dir_, "bodies", inline_id, std::nullopt);
  auto r = fsj({"verify", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = r.json();
  ASSERT_EQ(j["problems"].size(), 1u) << r.out;
  EXPECT_EQ(j["problems"][0]["seq"], seq_small_);
  EXPECT_EQ(j["problems"][0]["name"], "small");
  EXPECT_NE(j["problems"][0]["problem"].get<std::string>().find("missing"), std::string::npos);
}

TEST_F(FsjournalOffline, VerifyReportsIndexAndHistoryDisagreeing) {
  // An index entry that claims a newer seq than last_seq, and an applied mark past it.
  journal::IndexEntry e;
  e.seq = 42;
  e.op = journal::Op::kDelete;
  rocks_put(dir_, "index", "phantom", journal::encode_index_entry(e));
  rocks_put(dir_, "applied", "small", journal::encode_seq_key(1000));
  auto r = fsj({"verify", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  std::string all = r.json()["problems"].dump();
  EXPECT_NE(all.find("phantom"), std::string::npos) << all;
  EXPECT_NE(all.find("past the latest record"), std::string::npos) << all;
}

TEST_F(FsjournalOffline, VerifyWarnsAboutAnUnreferencedBodyFileWithoutFailing) {
  write_file(dir_ + "/bodies/00000000000000ff", "leftover");
  auto r = fsj({"verify", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto j = r.json();
  ASSERT_EQ(j["warnings"].size(), 1u);
  EXPECT_NE(j["warnings"][0]["problem"].get<std::string>().find("00000000000000ff"), std::string::npos);
}

// ------------------------------------------------------------ verify --volume

// A data directory holding exactly the fixture's latest states.
std::string make_volume(const TempDir& tmp, const std::map<std::string, std::string>& files) {
  std::string volume = tmp / "volume";
  std::filesystem::create_directories(volume);
  for (const auto& [name, body] : files) write_file(volume + "/" + name, body);
  return volume;
}

class FsjournalVolume : public FsjournalOffline {
 protected:
  void SetUp() override {
    FsjournalOffline::SetUp();
    volume_ = make_volume(tmp_, {{"a.txt", "second"}, {"big.bin", big_}, {"pending.bin", pending_body_}, {"small", "s"}});
  }
  RunResult verify_volume(bool json) {
    std::vector<std::string> args = {"verify", "--volume", volume_};
    if (json) args.push_back("--json");
    return fsj(args);
  }
  std::string volume_;
};

TEST_F(FsjournalVolume, AVolumeEqualToTheJournalsLatestStatesPasses) {
  write_file(volume_ + "/.fsrouter-marker", "router marker");  // reserved: never compared
  auto r = verify_volume(true);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = r.json();
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["checked"]["names"], 5);
  EXPECT_EQ(j["checked"]["present"], 4);
  EXPECT_EQ(j["checked"]["absent"], 1);
  EXPECT_TRUE(j["mismatches"].empty()) << r.out;
  EXPECT_TRUE(j["unknown"].empty()) << "a reserved name is not unknown: " << r.out;
  auto table = verify_volume(false);
  EXPECT_EQ(table.exit_code, 0) << table.out << table.err;
  EXPECT_NE(table.out.find("OK"), std::string::npos) << table.out;
}

TEST_F(FsjournalVolume, AChangedByteAMissingFileAndAFilePresentAfterADeleteEachFailAndAreNamed) {
  flip_byte(volume_ + "/big.bin", 17);
  std::filesystem::remove(volume_ + "/small");
  write_file(volume_ + "/gone.txt", "back from the dead");
  auto r = verify_volume(true);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto j = r.json();
  EXPECT_EQ(j["ok"], false);
  std::map<std::string, std::pair<uint64_t, std::string>> found;
  for (const auto& m : j["mismatches"]) found[m["name"]] = {m["seq"], m["problem"]};
  ASSERT_EQ(found.size(), 3u) << r.out;
  EXPECT_EQ(found["big.bin"].first, seq_big_);
  EXPECT_NE(found["big.bin"].second.find("checksum"), std::string::npos) << r.out;
  EXPECT_EQ(found["small"].first, seq_small_);
  EXPECT_NE(found["small"].second.find("missing"), std::string::npos) << r.out;
  EXPECT_NE(found["small"].second.find("pending"), std::string::npos) << "a pending record says so: " << r.out;
  EXPECT_EQ(found["gone.txt"].first, seq_gone_);
  EXPECT_NE(found["gone.txt"].second.find("present after DELETE"), std::string::npos) << r.out;
  auto table = verify_volume(false);
  EXPECT_EQ(table.exit_code, 1);
  for (const char* name : {"big.bin", "small", "gone.txt"})
    EXPECT_NE(table.out.find(name), std::string::npos) << name << " not named in\n" << table.out;
}

TEST_F(FsjournalVolume, AFileOfTheWrongSizeFails) {
  write_file(volume_ + "/a.txt", "second, and more");
  auto r = verify_volume(true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = r.json();
  ASSERT_EQ(j["mismatches"].size(), 1u) << r.out;
  EXPECT_EQ(j["mismatches"][0]["name"], "a.txt");
  EXPECT_EQ(j["mismatches"][0]["seq"], seq_a_);
  EXPECT_NE(j["mismatches"][0]["problem"].get<std::string>().find("size"), std::string::npos) << r.out;
}

TEST_F(FsjournalVolume, FilesTheJournalNeverHeardOfAreListedAsUnknownWithoutFailing) {
  write_file(volume_ + "/stray.bin", "nobody wrote me through the router");
  auto r = verify_volume(true);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = r.json();
  ASSERT_EQ(j["unknown"].size(), 1u) << r.out;
  EXPECT_EQ(j["unknown"][0]["name"], "stray.bin");
  auto table = verify_volume(false);
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("stray.bin"), std::string::npos) << table.out;
}

TEST_F(FsjournalVolume, AVolumeThatIsNotADirectoryIsAUsageError) {
  volume_ = tmp_ / "no-such-volume";
  auto r = verify_volume(false);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
}

TEST_F(FsjournalOffline, ExportWritesOneJsonRecordPerLineWithBodies) {
  auto r = fsj({"export", "--bodies"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = r.ndjson();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0]["seq"], 1);
  EXPECT_FALSE(lines[0].contains("body_base64"));  // superseded: freed
  EXPECT_EQ(base64_decode(lines[1]["body_base64"]), big_);
  EXPECT_EQ(base64_decode(lines[2]["body_base64"]), "second");
  EXPECT_FALSE(lines[3].contains("body_base64"));  // DELETE
  auto index = fsj({"export", "--index"});
  ASSERT_EQ(index.exit_code, 0);
  EXPECT_EQ(index.ndjson().size(), 5u);
}

TEST_F(FsjournalOffline, TailPrintsTheLastRecordsOldestFirst) {
  auto r = fsj({"tail", "-n", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = r.ndjson();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["seq"], 5);
  EXPECT_EQ(lines[1]["seq"], 6);
}

TEST_F(FsjournalOffline, TailFollowSeesRecordsCommittedWhileItRuns) {
  TempDir scratch("tail-scratch");
  JournalBuilder writer(dir_);  // the journal stays open for writing, as in a router
  ChildProcess tail({program_path("fsjournal"), "--journal-dir", dir_, "tail", "-f", "--from-seq", "7", "--json",
                     "--interval-ms", "50"},
                    scratch / "tail.out", {"TMPDIR=" + scratch.path()});
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 5; ++i) seqs.push_back(writer.put("live-" + std::to_string(i), "body " + std::to_string(i)));
  bool seen = wait_until(
      [&] { return tail.read_log().find("\"seq\":" + std::to_string(seqs.back())) != std::string::npos; },
      std::chrono::seconds(20));
  ASSERT_TRUE(seen) << tail.read_log();
  for (uint64_t s : seqs) EXPECT_NE(tail.read_log().find("\"seq\":" + std::to_string(s) + ","), std::string::npos);
  EXPECT_EQ(tail.read_log().find("\"seq\":6,"), std::string::npos);  // nothing before --from-seq
  int status = tail.stop(SIGINT);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // It removed its secondary directory on the way out.
  for (const auto& e : std::filesystem::directory_iterator(scratch.path()))
    EXPECT_EQ(e.path().filename(), "tail.out") << e.path();
}

TEST_F(FsjournalOffline, ReadingNeverWritesIntoTheJournalDirectory) {
  auto before = dir_listing(dir_);
  for (auto args : std::vector<std::vector<std::string>>{{"status"}, {"list"}, {"verify"}, {"show", "2"},
                                                         {"history", "a.txt"}, {"export", "--bodies"}, {"tail"}})
    EXPECT_LE(fsj(args).exit_code, 1);
  EXPECT_EQ(dir_listing(dir_), before);
}

TEST_F(FsjournalOffline, CheckpointWithCopyCopiesBodyFilesByteForByte) {
  std::string copy = tmp_ / "copied";
  auto r = fsj({"checkpoint", copy, "--copy"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string copied_big = copy + "/bodies/" + std::filesystem::path(big_file_).filename().string();
  EXPECT_EQ(read_file(copied_big), big_);
  struct stat original {}, copied {};
  ASSERT_EQ(::stat(big_file_.c_str(), &original), 0);
  ASSERT_EQ(::stat(copied_big.c_str(), &copied), 0);
  EXPECT_NE(original.st_ino, copied.st_ino) << "--copy must not hard-link";
  EXPECT_EQ(run_fsjournal({"--journal-dir", copy, "verify"}).exit_code, 0);
}

TEST_F(FsjournalOffline, CheckpointIsAUsableCopy) {
  std::string copy = tmp_ / "copy";
  auto r = fsj({"checkpoint", copy, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.json()["last_seq"], 6);
  EXPECT_EQ(r.json()["body_files"], 2);
  // fsjournal reads it like the original.
  auto verify = run_fsjournal({"--journal-dir", copy, "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto a = fsj({"status", "--json"}).json(), b = run_fsjournal({"--journal-dir", copy, "status", "--json"}).json();
  for (const char* f : {"last_seq", "applied_seq", "pending_count", "pending_bytes", "names", "body_bytes", "backends"})
    EXPECT_EQ(a[f], b[f]) << f;
  // The router's Journal opens it and serves the same bodies.
  JournalBuilder opened(copy);
  auto entry = opened.journal().lookup("big.bin");
  ASSERT_TRUE(entry);
  auto body = opened.journal().open_body(*entry);
  ASSERT_TRUE(body);
  std::string bytes(body->size(), '\0');
  body->read_at(0, bytes.data(), bytes.size());
  EXPECT_EQ(bytes, big_);
  // A second checkpoint into the same directory is refused.
  auto again = fsj({"checkpoint", copy});
  EXPECT_EQ(again.exit_code, 2);
  auto negative = fsj({"checkpoint", tmp_ / "other", "--retry-ms=-1"});
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_NE(negative.err.find("--retry-ms must be 0 to"), std::string::npos) << negative.err;
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "other"));
}

TEST_F(FsjournalOffline, CheckpointOfAJournalLackingABodyFileListsItEvenWithNoRetryTime) {
  std::filesystem::remove(pending_file_);
  std::string copy = tmp_ / "lacking";
  // A body missing from two views in a row is lost, not raced: listed, and
  // the copy kept, even when no time is left for retries.
  auto r = fsj({"checkpoint", copy, "--json", "--retry-ms", "0"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto j = r.json();
  ASSERT_TRUE(j.is_object()) << r.out << r.err;
  ASSERT_EQ(j["missing_bodies"].size(), 1u) << r.out << r.err;
  EXPECT_EQ(j["missing_bodies"][0]["seq"], seq_pending_);
  EXPECT_EQ(j["missing_bodies"][0]["name"], "pending.bin");
  EXPECT_EQ(j["views"], 2);
  EXPECT_TRUE(std::filesystem::is_directory(copy));
}

TEST_F(FsjournalOffline, CheckpointWhileTheJournalIsBeingWrittenIsConsistent) {
  JournalBuilder writer(dir_, 16);  // most bodies become files
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread load([&] {
    for (int i = 0; !stop; ++i) {
      writer.put("churn-" + std::to_string(i % 20), random_body(64 + i % 100, static_cast<unsigned>(i)));
      ++written;
    }
  });
  ASSERT_TRUE(wait_until([&] { return written > 50; }, std::chrono::seconds(20)));
  std::string copy = tmp_ / "live-copy";
  auto r = fsj({"checkpoint", copy, "--json"});
  stop = true;
  load.join();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::cout << "checkpoint took " << r.json()["views"] << " view(s) of a journal written " << written
            << " times meanwhile\n";
  EXPECT_GE(r.json()["views"].get<int>(), 1);
  auto verify = run_fsjournal({"--journal-dir", copy, "verify", "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_GT(r.json()["last_seq"].get<uint64_t>(), 6u);
  EXPECT_LE(r.json()["last_seq"].get<uint64_t>(), writer.journal().last_seq());
}

// ---------------------------------------------------------------- refusals

class FsjournalRefuses : public ::testing::Test {
 protected:
  void expect_refused(const std::string& dir, const std::string& words) {
    bool existed = std::filesystem::exists(dir);
    auto before = existed && std::filesystem::is_directory(dir) ? dir_listing(dir) : std::map<std::string, std::string>{};
    auto r = run_fsjournal({"--journal-dir", dir, "status"});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
    EXPECT_EQ(std::filesystem::exists(dir), existed);
    if (existed && std::filesystem::is_directory(dir)) {
      EXPECT_EQ(dir_listing(dir), before);
    }
  }
  TempDir tmp_{"fsjournal-refuses"};
};

TEST_F(FsjournalRefuses, AMissingPath) { expect_refused(tmp_ / "nowhere", "does not exist"); }

TEST_F(FsjournalRefuses, AFileInsteadOfADirectory) {
  write_file(tmp_ / "file", "x");
  expect_refused(tmp_ / "file", "not a directory");
}

TEST_F(FsjournalRefuses, ADirectoryWithoutADatabase) {
  std::filesystem::create_directories(tmp_ / "plain/bodies");
  write_file(tmp_ / "plain/notes.txt", "x");
  expect_refused(tmp_ / "plain", "not a journal");
}

TEST_F(FsjournalRefuses, ARocksDbDatabaseThatIsNotAJournal) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, tmp_ / "other", &db).ok());
  db->Put(rocksdb::WriteOptions(), "k", "v");
  delete db;
  expect_refused(tmp_ / "other", "not a journal");
}

TEST_F(FsjournalRefuses, AJournalWithoutAFormatVersion) {
  { JournalBuilder b(tmp_ / "j"); }
  rocksdb::Options options;
  std::vector<std::string> names;
  rocksdb::DB::ListColumnFamilies(options, tmp_ / "j", &names);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, tmp_ / "j", cfs, &handles, &db).ok());
  db->Delete(rocksdb::WriteOptions(), handles[0], "format_version");
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  expect_refused(tmp_ / "j", "not a journal");
}

TEST_F(FsjournalRefuses, AJournalOfANewerFormatVersion) {
  { JournalBuilder b(tmp_ / "j"); }
  rocks_put(tmp_ / "j", "default", "format_version", std::to_string(journal::kFormatVersion + 1));
  expect_refused(tmp_ / "j", "newer");
}

TEST_F(FsjournalRefuses, NoJournalDirectoryAndUnknownSubcommand) {
  auto r = run_fsjournal({"status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--journal-dir"), std::string::npos);
  auto unknown = run_fsjournal({"--journal-dir", tmp_.path(), "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  auto help = run_fsjournal({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* sub : {"status", "list", "show", "history", "verify", "tail", "export", "replay", "checkpoint"}) {
    EXPECT_NE(help.out.find(sub), std::string::npos) << sub;
    auto sub_help = run_fsjournal({sub, "--help"});
    EXPECT_EQ(sub_help.exit_code, 0) << sub;
    EXPECT_NE(sub_help.out.find("Usage: fsjournal"), std::string::npos) << sub;
  }
}

TEST_F(FsjournalRefuses, DashHAlonePrintsTheHelpAndNoSubcommandIsAUsageError) {
  auto help = run_fsjournal({"-h"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Usage: fsjournal"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--journal-dir"), std::string::npos) << help.out;
  auto none = run_fsjournal({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(none.out.empty()) << none.out;
  EXPECT_NE(none.err.find("Usage: fsjournal"), std::string::npos) << none.err;
  auto bad_flag = run_fsjournal({"--journal-dir", tmp_.path(), "status", "--no-such-flag"});
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_NE(bad_flag.err.find("--no-such-flag"), std::string::npos) << bad_flag.err;
}

TEST_F(FsjournalRefuses, ReplayWithoutARouterExplainsTheRouterReplaysOnStart) {
  { JournalBuilder b(tmp_ / "j"); }
  auto r = run_fsjournal({"--journal-dir", tmp_ / "j", "replay"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--router"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("replays its pending records itself"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fsr::test
