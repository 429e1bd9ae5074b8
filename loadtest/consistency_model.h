// What a correct server may answer to a GET, given what this client wrote.
//
// For every name it remembers the writes (PUT or DELETE) this client sent,
// with the interval each was in flight and its outcome, and judges each GET:
// the answer must be a state that was current at some instant while the GET
// was in flight. That is the last acknowledged state when the GET started,
// any write still in flight during the GET (or acknowledged while it ran),
// and any write that overlapped the last acknowledged one (two overlapping
// writes may land in either order). Nothing else: a 404 after an
// acknowledged PUT, or after a PUT of other bytes, is invalid data.
//
// A write is superseded once another write was acknowledged that started
// after it had ended; its state can then never be read again. A write whose
// outcome is unknown (timeout, cut connection, 5XX) may or may not have
// landed, but is assumed to have landed before the client gave up, if ever.
// A refused write (4XX, 429) never lands.
//
// Times are nanoseconds on one monotonic clock. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fsr::load {

// A name's content: absent (404) or present with a size and checksum.
struct ContentState {
  bool present = false;
  uint64_t size = 0;
  std::string checksum;

  static ContentState absent() { return {}; }
  static ContentState with(uint64_t size, std::string checksum) { return {true, size, std::move(checksum)}; }
  bool operator==(const ContentState& other) const {
    return present == other.present && (!present || (size == other.size && checksum == other.checksum));
  }
  std::string describe() const;
};

enum class WriteOutcome { kAcknowledged, kRefused, kUnknown };

class ConsistencyModel {
 public:
  using WriteId = uint64_t;
  using ReadId = uint64_t;

  struct Verdict {
    bool checked = false;  // false when the model knows nothing of the name or the read had no answer
    bool valid = true;
    std::string expected;  // the acceptable states, when invalid
  };

  // `content` is known at once for a DELETE (absent); a PUT's is set by
  // set_write_content once its whole body has been handed over.
  WriteId begin_write(const std::string& name, int64_t now, std::optional<ContentState> content);
  void set_write_content(const std::string& name, WriteId id, ContentState content);
  void end_write(const std::string& name, WriteId id, int64_t now, WriteOutcome outcome);

  ReadId begin_read(const std::string& name, int64_t now);
  // `observed` is null when the read got no content answer (error, 429, 5XX).
  Verdict end_read(const std::string& name, ReadId id, int64_t now, const ContentState* observed);

  bool knows(const std::string& name) const { return histories_.count(name) > 0; }
  size_t name_count() const { return histories_.size(); }

 private:
  struct Write {
    WriteId id;
    int64_t start, end;  // end is INT64_MAX while in flight
    bool in_flight;
    WriteOutcome outcome;
    std::optional<ContentState> content;
  };
  struct Read {
    ReadId id;
    int64_t start;
  };
  struct History {
    std::vector<Write> writes;
    std::vector<Read> reads;
  };

  History& history(const std::string& name);
  static bool superseded(const History& h, const Write& w, int64_t before);
  // Drops writes no read, present or future, can observe; forgets a name
  // that is back to plain "absent" with nothing in flight.
  void prune(const std::string& name);

  std::unordered_map<std::string, History> histories_;
  uint64_t next_id_ = 1;
};

}  // namespace fsr::load
