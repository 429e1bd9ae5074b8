#include "journal/record.h"

#include <cstdio>

namespace fsr::journal {
namespace {

void put_u8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
void put_u64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string* out, std::string_view s) {
  put_u64(out, s.size());
  out->append(s);
}

struct Reader {
  std::string_view in;
  bool ok = true;
  uint8_t u8() {
    if (in.size() < 1) return fail();
    uint8_t v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  uint64_t u64() {
    if (in.size() < 8) return fail();
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
    in.remove_prefix(8);
    return v;
  }
  std::string str() {
    uint64_t n = u64();
    if (!ok || in.size() < n) {
      fail();
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
  uint8_t fail() {
    ok = false;
    return 0;
  }
};

bool valid_op(uint8_t v) { return v == 1 || v == 2; }
bool valid_place(uint8_t v) { return v <= 2; }

}  // namespace

const char* op_name(Op op) { return op == Op::kPut ? "PUT" : "DELETE"; }

// Record value: u8 version, u8 op, u64 time_ms, u64 size, str checksum,
// str name, u8 body place, u64 body id.
std::string encode_record(const Record& r) {
  std::string out;
  put_u8(&out, static_cast<uint8_t>(kFormatVersion));
  put_u8(&out, static_cast<uint8_t>(r.op));
  put_u64(&out, static_cast<uint64_t>(r.time_ms));
  put_u64(&out, r.size);
  put_str(&out, r.checksum);
  put_str(&out, r.name);
  put_u8(&out, static_cast<uint8_t>(r.body.place));
  put_u64(&out, r.body.id);
  return out;
}

std::optional<Record> decode_record(uint64_t seq, std::string_view bytes) {
  Reader in{bytes};
  Record r;
  r.seq = seq;
  if (in.u8() != kFormatVersion) return std::nullopt;
  uint8_t op = in.u8();
  r.time_ms = static_cast<int64_t>(in.u64());
  r.size = in.u64();
  r.checksum = in.str();
  r.name = in.str();
  uint8_t place = in.u8();
  r.body.id = in.u64();
  if (!in.ok || !in.in.empty() || !valid_op(op) || !valid_place(place)) return std::nullopt;
  r.op = static_cast<Op>(op);
  r.body.place = static_cast<BodyPlace>(place);
  return r;
}

// Index value: u8 version, u64 seq, u8 op, u64 size, str checksum, u8 body
// place, u64 body id, u64 time_ms, u64 applied_seq.
std::string encode_index_entry(const IndexEntry& e) {
  std::string out;
  put_u8(&out, static_cast<uint8_t>(kFormatVersion));
  put_u64(&out, e.seq);
  put_u8(&out, static_cast<uint8_t>(e.op));
  put_u64(&out, e.size);
  put_str(&out, e.checksum);
  put_u8(&out, static_cast<uint8_t>(e.body.place));
  put_u64(&out, e.body.id);
  put_u64(&out, static_cast<uint64_t>(e.time_ms));
  put_u64(&out, e.applied_seq);
  return out;
}

std::optional<IndexEntry> decode_index_entry(std::string_view bytes) {
  Reader in{bytes};
  IndexEntry e;
  if (in.u8() != kFormatVersion) return std::nullopt;
  e.seq = in.u64();
  uint8_t op = in.u8();
  e.size = in.u64();
  e.checksum = in.str();
  uint8_t place = in.u8();
  e.body.id = in.u64();
  e.time_ms = static_cast<int64_t>(in.u64());
  e.applied_seq = in.u64();
  if (!in.ok || !in.in.empty() || !valid_op(op) || !valid_place(place)) return std::nullopt;
  e.op = static_cast<Op>(op);
  e.body.place = static_cast<BodyPlace>(place);
  return e;
}

std::string body_file_name(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace fsr::journal
