// fsjournal's read access to a journal, safe beside the router that writes it.
//
// The journal is opened as a RocksDB secondary instance (DB::OpenAsSecondary):
// it reads the router's MANIFEST and WAL files and keeps its own small state
// (RocksDB's info log) in a separate directory outside the journal. It takes
// no lock, writes nothing into the journal directory and never blocks the
// router's writes. (RocksDB 7.8 leaves a read-only instance beside a live
// writer undefined; a secondary is the supported way to read a live store.)
//
// Contract:
// - open() refuses, with a one-line reason and without writing anything into
//   `dir`: a missing path, a path that is not a directory, a directory without
//   a RocksDB database (no CURRENT), a RocksDB database that is not a journal
//   (missing column families or no `format_version`), and a journal of a
//   newer format version than this program reads.
// - The view moves only in catch_up(). Between two catch-ups every read sees
//   one consistent state of the database, so a scan across column families
//   is a snapshot. Body files are outside RocksDB: the router may free
//   (unlink) a body after the view was taken; callers that find a body file
//   missing on a live journal catch up and look again before calling it lost.
// - Errors travel as a journal::Status; nothing here throws.
#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "journal/format.h"
#include "journal/journal.h"
#include "journal/record.h"

namespace fsr::journal::cli {

struct ReaderOptions {
  std::string dir;
  // Where the secondary instance keeps its info log. Empty: a fresh directory
  // under $TMPDIR, /tmp, /dev/shm or /var/tmp (the first writable one), removed
  // when the reader closes.
  std::string secondary_dir;
};

// One name as the journal knows it: the index entry, with applied_seq set the
// way the router computes it when it opens the journal (the higher of the
// `applied` mark and the entry's own value, capped at the entry's seq;
// format.h recovered_applied_seq).
struct NameRow {
  std::string name;
  bool in_index = false;      // false: only an `applied` mark exists for this name
  bool decodable = true;      // false: the index value does not decode
  IndexEntry entry;
  std::optional<uint64_t> applied_mark;  // raw value of the `applied` column family
};

// A record as stored: decoded, or the seq of one that does not decode.
struct RecordRow {
  uint64_t seq = 0;
  std::optional<Record> record;
};

// One `backend/<address>` meta key as stored.
struct BackendRow {
  std::string address;
  BackendState state;  // role "" when the stored text is not the expected JSON
  std::string raw;     // the stored JSON text
};

// A body opened for reading. kOk carries a reader of the stored bytes, whose
// size is what is actually stored (it may differ from the recorded size).
struct BodyLookup {
  enum class State { kOk, kNone, kMissing, kUnreadable };
  State state = State::kNone;
  std::string where;  // "inline body 12" or "bodies/000000000000000c"
  std::string detail;  // why it is unreadable
  std::unique_ptr<BodyReader> reader;
};

class JournalReader {
 public:
  static Status open(const ReaderOptions& options, std::unique_ptr<JournalReader>* out);
  ~JournalReader();
  JournalReader(const JournalReader&) = delete;
  JournalReader& operator=(const JournalReader&) = delete;

  // Moves the view to the router's latest durable writes.
  Status catch_up();

  const std::string& dir() const { return dir_; }
  uint32_t format_version() const { return format_version_; }
  // True when a process holds the journal's RocksDB LOCK: a router is running on it.
  bool in_use() const;

  std::optional<uint64_t> meta_u64(const char* key) const;
  std::optional<std::string> meta_text(const char* key) const;
  std::vector<BackendRow> backend_states() const;

  // Records in seq order (descending when asked), from..to inclusive; fn
  // returns false to stop early.
  Status for_each_record(uint64_t from, uint64_t to, bool descending,
                         const std::function<bool(const RecordRow&)>& fn) const;
  std::optional<Record> record(uint64_t seq, Status* status) const;
  std::optional<uint64_t> first_record_seq() const;
  std::optional<uint64_t> last_record_seq() const;

  // Every name of the index and of the `applied` marks, in name order.
  Status for_each_name(const std::function<bool(const NameRow&)>& fn) const;
  std::optional<NameRow> name(const std::string& name, Status* status) const;

  // The stored body of a record or index entry, if any.
  BodyLookup open_body(const BodyRef& ref) const;
  // The bodies stored inline, in id order.
  Status for_each_inline_body(const std::function<bool(uint64_t id, std::string_view bytes)>& fn) const;
  std::string body_path(uint64_t id) const { return dir_ + "/bodies/" + body_file_name(id); }

  // For the copy made by `checkpoint`: the column families in the journal's order.
  rocksdb::DB* db() const { return db_.get(); }
  const std::vector<rocksdb::ColumnFamilyHandle*>& column_families() const { return handles_; }

 private:
  JournalReader() = default;
  rocksdb::ReadOptions scan_options() const;

  std::string dir_;
  std::string secondary_dir_;
  bool remove_secondary_dir_ = false;
  uint32_t format_version_ = 0;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* records_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* applied_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* bodies_cf_ = nullptr;
};

// XXH3-128 hex of everything a reader holds; false on a read error.
bool checksum_body(const BodyReader& reader, std::string* hex, std::string* error);

// Which directory a temporary secondary instance would use, for messages.
std::string default_secondary_parent();

}  // namespace fsr::journal::cli
