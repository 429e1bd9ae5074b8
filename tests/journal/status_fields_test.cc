// journal/status_fields.h: the fields /admin/status and `fsjournal status
// --json` share, named and ordered as docs/status-fields.md lists them.
#include "journal/status_fields.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fsr::journal {
namespace {

std::vector<std::string> keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> out;
  for (const auto& [key, value] : j.items()) out.push_back(key);
  return out;
}

TEST(StatusFields, JournalFieldsAreTheSharedSevenInDocumentOrderWithTheirValues) {
  JournalStats stats;
  stats.last_seq = 9;
  stats.applied_seq = 7;
  stats.pending_count = 2;
  stats.pending_bytes = 300;
  stats.oldest_pending_age_ms = 1500;
  stats.names = 5;
  stats.body_bytes = 4096;
  nlohmann::ordered_json j;
  add_journal_status_fields(stats, &j);
  EXPECT_EQ(keys(j), (std::vector<std::string>{"last_seq", "applied_seq", "pending_count", "pending_bytes",
                                               "oldest_pending_age_ms", "names", "body_bytes"}));
  EXPECT_EQ(j["last_seq"], 9u);
  EXPECT_EQ(j["applied_seq"], 7u);
  EXPECT_EQ(j["pending_count"], 2u);
  EXPECT_EQ(j["pending_bytes"], 300u);
  EXPECT_EQ(j["oldest_pending_age_ms"], 1500);
  EXPECT_EQ(j["names"], 5u);
  EXPECT_EQ(j["body_bytes"], 4096u);
}

TEST(StatusFields, BackendEntryHasAddressRoleHealthyAndWatermark) {
  auto e = backend_status_fields<nlohmann::ordered_json>("10.0.0.1:9000", {"primary", true, 42});
  EXPECT_EQ(e.dump(), R"({"address":"10.0.0.1:9000","role":"primary","healthy":true,"watermark":42})");
}

TEST(StatusFields, BackendEntryLeavesOutHealthWhenItWasNeverRecorded) {
  auto e = backend_status_fields<nlohmann::ordered_json>("10.0.0.2:9000", {"replica", std::nullopt, 0});
  EXPECT_EQ(e.dump(), R"({"address":"10.0.0.2:9000","role":"replica","watermark":0})");
}

}  // namespace
}  // namespace fsr::journal
