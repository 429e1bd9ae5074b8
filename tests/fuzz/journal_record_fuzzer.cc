// The journal's stored values (journal/record.h, journal/format.h) read back
// from arbitrary bytes, as fsjournal and recovery read a damaged database.
// Beyond "no crash":
// - whatever a decoder accepts, its encoder writes back byte for byte (one
//   encoding per value: nothing a decoder accepts is silently reinterpreted);
// - any record, index entry or backend state, encoded, decodes to itself.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "journal/format.h"
#include "journal/record.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace fsr::journal;

bool same_record(const Record& a, const Record& b) {
  return a.seq == b.seq && a.op == b.op && a.time_ms == b.time_ms && a.size == b.size && a.checksum == b.checksum &&
         a.name == b.name && a.body == b.body;
}

bool same_entry(const IndexEntry& a, const IndexEntry& b) {
  return a.seq == b.seq && a.op == b.op && a.size == b.size && a.checksum == b.checksum && a.body == b.body &&
         a.time_ms == b.time_ms && a.applied_seq == b.applied_seq;
}

// The bytes as each stored value the journal decodes.
void decode_as_stored(std::string_view bytes, uint64_t seq) {
  if (auto r = decode_record(seq, bytes)) {
    FSR_FUZZ_CHECK(r->seq == seq);
    FSR_FUZZ_CHECK(encode_record(*r) == bytes);
  }
  if (auto e = decode_index_entry(bytes)) FSR_FUZZ_CHECK(encode_index_entry(*e) == bytes);

  uint64_t key = decode_seq_key(bytes);
  if (bytes.size() >= 8) {
    FSR_FUZZ_CHECK(encode_seq_key(key) == bytes.substr(0, 8));
  } else {
    FSR_FUZZ_CHECK(key == 0);
  }

  FormatVersionCheck version = check_format_version(bytes);
  if (version.verdict != FormatVersionCheck::Verdict::kUnreadable) {
    FSR_FUZZ_CHECK(!bytes.empty());
    for (char c : bytes) FSR_FUZZ_CHECK(c >= '0' && c <= '9');
    FSR_FUZZ_CHECK((version.verdict == FormatVersionCheck::Verdict::kNewer) == (version.version > kFormatVersion));
  }

  if (auto address = backend_address_of_key(bytes)) FSR_FUZZ_CHECK(backend_state_key(*address) == bytes);

  if (auto state = decode_backend_state(bytes)) {
    auto again = decode_backend_state(encode_backend_state(*state));
    FSR_FUZZ_CHECK(again && *again == *state);
  }
}

// Values made from the bytes, encoded, decode to themselves.
void round_trip_values(FuzzedDataProvider& in) {
  Record r;
  r.seq = in.ConsumeIntegral<uint64_t>();
  r.op = in.ConsumeBool() ? Op::kPut : Op::kDelete;
  r.time_ms = in.ConsumeIntegral<int64_t>();
  r.size = in.ConsumeIntegral<uint64_t>();
  r.checksum = in.ConsumeRandomLengthString(64);
  r.name = in.ConsumeRandomLengthString(300);
  r.body.place = static_cast<BodyPlace>(in.ConsumeIntegralInRange<uint8_t>(0, 2));
  r.body.id = in.ConsumeIntegral<uint64_t>();
  auto decoded = decode_record(r.seq, encode_record(r));
  FSR_FUZZ_CHECK(decoded && same_record(*decoded, r));

  IndexEntry e;
  e.seq = in.ConsumeIntegral<uint64_t>();
  e.op = in.ConsumeBool() ? Op::kPut : Op::kDelete;
  e.size = in.ConsumeIntegral<uint64_t>();
  e.checksum = in.ConsumeRandomLengthString(64);
  e.body.place = static_cast<BodyPlace>(in.ConsumeIntegralInRange<uint8_t>(0, 2));
  e.body.id = in.ConsumeIntegral<uint64_t>();
  e.time_ms = in.ConsumeIntegral<int64_t>();
  e.applied_seq = in.ConsumeIntegral<uint64_t>();
  auto entry = decode_index_entry(encode_index_entry(e));
  FSR_FUZZ_CHECK(entry && same_entry(*entry, e));

  uint64_t key = in.ConsumeIntegral<uint64_t>();
  FSR_FUZZ_CHECK(decode_seq_key(encode_seq_key(key)) == key);

  // The rules every reader applies the same way.
  uint64_t latest = in.ConsumeIntegral<uint64_t>(), mark = in.ConsumeIntegral<uint64_t>();
  uint64_t index_applied = in.ConsumeIntegral<uint64_t>();
  uint64_t capped = capped_applied_seq(latest, mark);
  FSR_FUZZ_CHECK(capped <= latest && capped <= mark && (capped == latest || capped == mark));
  uint64_t recovered = recovered_applied_seq(latest, index_applied, mark);
  FSR_FUZZ_CHECK(recovered <= latest);
  FSR_FUZZ_CHECK(recovered >= capped_applied_seq(latest, index_applied) && recovered >= capped);

  BackendState state;
  state.role = in.ConsumeBool() ? "primary" : in.ConsumeRandomLengthString(16);
  if (in.ConsumeBool()) state.healthy = in.ConsumeBool();
  state.watermark = in.ConsumeIntegral<uint64_t>();
  // Roles are ASCII words in practice; JSON text must be UTF-8.
  bool ascii = true;
  for (unsigned char c : state.role) ascii &= c < 0x80;
  if (ascii) {
    auto again = decode_backend_state(encode_backend_state(state));
    FSR_FUZZ_CHECK(again && *again == state);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  decode_as_stored(bytes, size);
  FuzzedDataProvider in(data, size);
  round_trip_values(in);
  return 0;
}
