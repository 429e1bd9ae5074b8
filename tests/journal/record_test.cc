// The byte encodings of docs/journal-format.md: round trips, and rejection of
// anything a reader must not trust (truncation, another format version, an
// unknown op or body place, trailing bytes).
#include "journal/record.h"

#include <gtest/gtest.h>
#include <rocksdb/comparator.h>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

namespace fsr::journal {
namespace {

Record sample_record() {
  Record r;
  r.seq = 42;
  r.op = Op::kPut;
  r.time_ms = 1700000000123;
  r.size = 1 << 20;
  r.checksum = "0123456789abcdef0123456789abcdef";
  r.name = std::string("dir/na\0me\xff", 10);
  r.body = {BodyPlace::kFile, 0x1234567890abcdefULL};
  return r;
}

IndexEntry sample_entry() {
  IndexEntry e;
  e.seq = 7;
  e.op = Op::kPut;
  e.size = 12345;
  e.checksum = "fedcba9876543210fedcba9876543210";
  e.body = {BodyPlace::kInline, 99};
  e.time_ms = 1700000000456;
  e.applied_seq = 5;
  return e;
}

void expect_same_record(const Record& a, const Record& b) {
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.time_ms, b.time_ms);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.checksum, b.checksum);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.body, b.body);
}

void expect_same_entry(const IndexEntry& a, const IndexEntry& b) {
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.checksum, b.checksum);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.time_ms, b.time_ms);
  EXPECT_EQ(a.applied_seq, b.applied_seq);
}

TEST(RecordEncoding, PutRecordRoundTripsEveryField) {
  Record r = sample_record();
  auto decoded = decode_record(r.seq, encode_record(r));
  ASSERT_TRUE(decoded.has_value());
  expect_same_record(*decoded, r);
}

TEST(RecordEncoding, DeleteRecordRoundTripsWithNoBody) {
  Record r;
  r.seq = 3;
  r.op = Op::kDelete;
  r.time_ms = 5;
  r.name = "gone";
  auto decoded = decode_record(r.seq, encode_record(r));
  ASSERT_TRUE(decoded.has_value());
  expect_same_record(*decoded, r);
  EXPECT_EQ(decoded->body.place, BodyPlace::kNone);
}

TEST(RecordEncoding, ExtremeValuesRoundTrip) {
  Record r = sample_record();
  r.seq = std::numeric_limits<uint64_t>::max();
  r.time_ms = -1;
  r.size = std::numeric_limits<uint64_t>::max();
  r.body.id = std::numeric_limits<uint64_t>::max();
  r.name = "";
  auto decoded = decode_record(r.seq, encode_record(r));
  ASSERT_TRUE(decoded.has_value());
  expect_same_record(*decoded, r);
}

TEST(RecordEncoding, LayoutMatchesTheDocumentedBytes) {
  Record r;
  r.op = Op::kPut;
  r.time_ms = 0x0102030405060708;
  r.size = 3;
  r.checksum = "ab";
  r.name = "n";
  r.body = {BodyPlace::kInline, 9};
  std::string expected;
  expected += '\x01';                                      // format version
  expected += '\x01';                                      // op PUT
  expected += std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);  // time_ms
  expected += std::string("\0\0\0\0\0\0\0\x03", 8);         // size
  expected += std::string("\0\0\0\0\0\0\0\x02", 8) + "ab"; // checksum
  expected += std::string("\0\0\0\0\0\0\0\x01", 8) + "n";  // name
  expected += '\x01';                                      // body place inline
  expected += std::string("\0\0\0\0\0\0\0\x09", 8);         // body id
  EXPECT_EQ(encode_record(r), expected);
}

TEST(RecordDecoding, RejectsEveryTruncation) {
  std::string bytes = encode_record(sample_record());
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(decode_record(1, bytes.substr(0, n)).has_value()) << "prefix of " << n << " bytes";
}

TEST(RecordDecoding, RejectsTrailingBytes) {
  EXPECT_FALSE(decode_record(1, encode_record(sample_record()) + "x").has_value());
}

TEST(RecordDecoding, RejectsAnotherFormatVersion) {
  std::string bytes = encode_record(sample_record());
  for (int version : {0, static_cast<int>(kFormatVersion) + 1, 255}) {
    bytes[0] = static_cast<char>(version);
    EXPECT_FALSE(decode_record(1, bytes).has_value()) << "version " << version;
  }
}

TEST(RecordDecoding, RejectsUnknownOp) {
  std::string bytes = encode_record(sample_record());
  for (int op : {0, 3, 255}) {
    bytes[1] = static_cast<char>(op);
    EXPECT_FALSE(decode_record(1, bytes).has_value()) << "op " << op;
  }
}

TEST(RecordDecoding, RejectsUnknownBodyPlace) {
  std::string bytes = encode_record(sample_record());
  size_t place_offset = bytes.size() - 9;
  ASSERT_EQ(bytes[place_offset], static_cast<char>(BodyPlace::kFile));
  bytes[place_offset] = 3;
  EXPECT_FALSE(decode_record(1, bytes).has_value());
}

TEST(RecordDecoding, RejectsStringLengthPastTheEnd) {
  Record r = sample_record();
  std::string bytes = encode_record(r);
  // The checksum's length field starts after version, op, time_ms and size.
  bytes[2 + 8 + 8] = '\x7f';
  EXPECT_FALSE(decode_record(1, bytes).has_value());
}

TEST(IndexEntryEncoding, RoundTripsEveryField) {
  IndexEntry e = sample_entry();
  auto decoded = decode_index_entry(encode_index_entry(e));
  ASSERT_TRUE(decoded.has_value());
  expect_same_entry(*decoded, e);
}

TEST(IndexEntryEncoding, TombstoneRoundTrips) {
  IndexEntry e;
  e.seq = 9;
  e.op = Op::kDelete;
  e.time_ms = 1;
  e.applied_seq = 9;
  auto decoded = decode_index_entry(encode_index_entry(e));
  ASSERT_TRUE(decoded.has_value());
  expect_same_entry(*decoded, e);
  EXPECT_FALSE(decoded->pending());
}

TEST(IndexEntryEncoding, LayoutMatchesTheDocumentedBytes) {
  IndexEntry e;
  e.seq = 0x10;
  e.op = Op::kDelete;
  e.size = 0;
  e.checksum = "";
  e.body = {BodyPlace::kNone, 0};
  e.time_ms = 2;
  e.applied_seq = 0x0f;
  std::string zero8(8, '\0');
  std::string expected;
  expected += '\x01';                                // format version
  expected += std::string("\0\0\0\0\0\0\0\x10", 8);   // seq
  expected += '\x02';                                // op DELETE
  expected += zero8;                                 // size
  expected += zero8;                                 // checksum length 0
  expected += '\x00';                                // body place none
  expected += zero8;                                 // body id
  expected += std::string("\0\0\0\0\0\0\0\x02", 8);   // time_ms
  expected += std::string("\0\0\0\0\0\0\0\x0f", 8);   // applied_seq
  EXPECT_EQ(encode_index_entry(e), expected);
}

TEST(IndexEntryDecoding, RejectsEveryTruncation) {
  std::string bytes = encode_index_entry(sample_entry());
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(decode_index_entry(bytes.substr(0, n)).has_value()) << "prefix of " << n << " bytes";
}

TEST(IndexEntryDecoding, RejectsTrailingBytes) {
  EXPECT_FALSE(decode_index_entry(encode_index_entry(sample_entry()) + '\0').has_value());
}

TEST(IndexEntryDecoding, RejectsAnotherFormatVersion) {
  std::string bytes = encode_index_entry(sample_entry());
  for (int version : {0, static_cast<int>(kFormatVersion) + 1}) {
    bytes[0] = static_cast<char>(version);
    EXPECT_FALSE(decode_index_entry(bytes).has_value()) << "version " << version;
  }
}

TEST(IndexEntryDecoding, RejectsUnknownOp) {
  std::string bytes = encode_index_entry(sample_entry());
  for (int op : {0, 3}) {
    bytes[1 + 8] = static_cast<char>(op);  // after version and seq
    EXPECT_FALSE(decode_index_entry(bytes).has_value()) << "op " << op;
  }
}

TEST(IndexEntryDecoding, RejectsUnknownBodyPlace) {
  IndexEntry e = sample_entry();
  std::string bytes = encode_index_entry(e);
  size_t place_offset = 1 + 8 + 1 + 8 + 8 + e.checksum.size();
  ASSERT_EQ(bytes[place_offset], static_cast<char>(BodyPlace::kInline));
  bytes[place_offset] = 7;
  EXPECT_FALSE(decode_index_entry(bytes).has_value());
}

TEST(SeqKey, IsEightBytesBigEndianAndRoundTrips) {
  EXPECT_EQ(encode_seq_key(0x0102030405060708ULL), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  for (uint64_t v : std::vector<uint64_t>{0, 1, 255, 256, 0xffffffff, std::numeric_limits<uint64_t>::max()}) {
    EXPECT_EQ(encode_seq_key(v).size(), 8u);
    EXPECT_EQ(decode_seq_key(encode_seq_key(v)), v);
  }
}

TEST(SeqKey, SortsNumericallyAsBytes) {
  // RocksDB's default comparator is bytewise: the records family iterates in
  // seq order only if the byte order of keys is the numeric order.
  std::vector<uint64_t> values = {0, 1, 2, 9, 10, 127, 128, 255, 256, 257, 65535, 65536,
                                  (1ULL << 32) - 1, 1ULL << 32, (1ULL << 56) - 1, 1ULL << 56,
                                  std::numeric_limits<uint64_t>::max()};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) values.push_back(rng() >> (rng() % 64));
  const rocksdb::Comparator* bytewise = rocksdb::BytewiseComparator();
  for (uint64_t a : values) {
    for (uint64_t b : values) {
      std::string ka = encode_seq_key(a), kb = encode_seq_key(b);
      int cmp = bytewise->Compare(ka, kb);
      if (a < b) EXPECT_LT(cmp, 0) << a << " vs " << b;
      else if (a > b) EXPECT_GT(cmp, 0) << a << " vs " << b;
      else EXPECT_EQ(cmp, 0);
    }
  }
}

TEST(BodyFileName, IsSixteenLowercaseHexDigits) {
  EXPECT_EQ(body_file_name(0xabc), "0000000000000abc");
  EXPECT_EQ(body_file_name(std::numeric_limits<uint64_t>::max()), "ffffffffffffffff");
}

}  // namespace
}  // namespace fsr::journal
