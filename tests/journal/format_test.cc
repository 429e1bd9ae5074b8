// journal/format.h: the schema shared by the router's Journal and fsjournal.
// The meta keys and column families are the names on disk, so they are
// spelled out here: a rename is a format change, not a refactoring.
#include "journal/format.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace fsr::journal {
namespace {

TEST(FormatSchema, ColumnFamiliesAreMetaRecordsIndexAppliedBodiesInOpeningOrder) {
  EXPECT_EQ(column_family_names(), (std::vector<std::string>{"default", "records", "index", "applied", "bodies"}));
  EXPECT_EQ(column_family_names()[kMetaFamily], "default");
  EXPECT_EQ(column_family_names()[kRecordsFamily], "records");
  EXPECT_EQ(column_family_names()[kIndexFamily], "index");
  EXPECT_EQ(column_family_names()[kAppliedFamily], "applied");
  EXPECT_EQ(column_family_names()[kBodiesFamily], "bodies");
}

TEST(FormatSchema, MetaKeysAreTheNamesDocumentedInJournalFormat) {
  EXPECT_STREQ(kMetaFormatVersion, "format_version");
  EXPECT_STREQ(kMetaJournalId, "journal_id");
  EXPECT_STREQ(kMetaLastSeq, "last_seq");
  EXPECT_STREQ(kMetaAppliedSeq, "applied_seq");
  EXPECT_STREQ(kMetaBodyIdHigh, "body_id_high");
  EXPECT_STREQ(kMetaBackendPrefix, "backend/");
}

TEST(FormatSchema, BackendStateKeyIsThePrefixAndTheAddressAndReadsBack) {
  EXPECT_EQ(backend_state_key("10.0.0.1:9000"), "backend/10.0.0.1:9000");
  EXPECT_EQ(backend_address_of_key("backend/10.0.0.1:9000"), "10.0.0.1:9000");
  EXPECT_EQ(backend_address_of_key("last_seq"), std::nullopt);
  EXPECT_EQ(backend_address_of_key("backend"), std::nullopt);
}

TEST(FormatKeys, SeqKeyIsEightBytesBigEndianAndRoundTrips) {
  EXPECT_EQ(encode_seq_key(0x0102030405060708ULL), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256}, std::numeric_limits<uint64_t>::max()})
    EXPECT_EQ(decode_seq_key(encode_seq_key(v)), v);
}

TEST(FormatKeys, SeqKeysSortBytewiseInNumericOrder) {
  EXPECT_LT(encode_seq_key(255), encode_seq_key(256));
  EXPECT_LT(encode_seq_key(1), encode_seq_key(uint64_t{1} << 56));
}

TEST(FormatKeys, ShortKeyDecodesAsZero) { EXPECT_EQ(decode_seq_key(std::string("\x01\x02", 2)), 0u); }

TEST(FormatVersion, OwnVersionAndOlderAreReadable) {
  EXPECT_EQ(format_version_text(), std::to_string(kFormatVersion));
  auto own = check_format_version(format_version_text());
  EXPECT_EQ(own.verdict, FormatVersionCheck::Verdict::kReadable);
  EXPECT_EQ(own.version, kFormatVersion);
  EXPECT_EQ(check_format_version("0").verdict, FormatVersionCheck::Verdict::kReadable);
}

TEST(FormatVersion, ANewerVersionIsRefused) {
  auto newer = check_format_version(std::to_string(kFormatVersion + 1));
  EXPECT_EQ(newer.verdict, FormatVersionCheck::Verdict::kNewer);
  EXPECT_EQ(newer.version, kFormatVersion + 1);
}

TEST(FormatVersion, TextThatIsNotADecimalNumberIsUnreadable) {
  for (const char* text : {"", "garbage", "1x", " 1", "-1", "+1", "99999999999999999999999"})
    EXPECT_EQ(check_format_version(text).verdict, FormatVersionCheck::Verdict::kUnreadable) << text;
}

TEST(FormatRules, AppliedMarkIsCappedAtTheLatestSeq) {
  EXPECT_EQ(capped_applied_seq(7, 5), 5u);
  EXPECT_EQ(capped_applied_seq(7, 7), 7u);
  EXPECT_EQ(capped_applied_seq(7, 9), 7u);
}

TEST(FormatRules, WatermarkIsLastSeqWhenNothingIsPendingElseOneBelowTheLowestPending) {
  EXPECT_EQ(applied_watermark(10, std::nullopt), 10u);
  EXPECT_EQ(applied_watermark(10, 4), 3u);
  EXPECT_EQ(applied_watermark(10, 1), 0u);
}

TEST(FormatBackendState, EncodesAsTheDocumentedJsonObject) {
  EXPECT_EQ(encode_backend_state({"primary", true, 42}), R"({"role":"primary","healthy":true,"watermark":42})");
  EXPECT_EQ(encode_backend_state({"replica", std::nullopt, 0}), R"({"role":"replica","watermark":0})");
}

TEST(FormatBackendState, RoundTrips) {
  for (const BackendState& state : {BackendState{"primary", true, 42}, BackendState{"replica", false, 0},
                                    BackendState{"replica", std::nullopt, std::numeric_limits<uint64_t>::max()}})
    EXPECT_EQ(decode_backend_state(encode_backend_state(state)), state);
}

TEST(FormatBackendState, ReadsStatesWrittenWithoutHealth) {
  auto state = decode_backend_state(R"({"role":"primary","watermark":5})");
  ASSERT_TRUE(state);
  EXPECT_EQ(*state, (BackendState{"primary", std::nullopt, 5}));
}

TEST(FormatBackendState, TextThatIsNotAJsonObjectDoesNotDecode) {
  EXPECT_EQ(decode_backend_state("not json"), std::nullopt);
  EXPECT_EQ(decode_backend_state("[1,2]"), std::nullopt);
  EXPECT_EQ(decode_backend_state(""), std::nullopt);
}

TEST(FormatBackendState, FieldsOfTheWrongTypeAreLeftAtTheirDefaults) {
  auto state = decode_backend_state(R"({"role":7,"healthy":"yes","watermark":-1})");
  ASSERT_TRUE(state);
  EXPECT_EQ(*state, BackendState{});
}

}  // namespace
}  // namespace fsr::journal
