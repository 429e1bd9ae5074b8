// What fsjournal derives from a journal, computed the way the router computes
// it when it opens the same journal (journal.cc, Journal::recover), so that
// `fsjournal status` and the router's /admin/status agree on the same facts.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "journal/fsjournal/reader.h"

namespace fsr::journal::cli {

struct JournalSummary {
  std::string journal_dir;
  uint32_t format_version = 0;
  std::string journal_id;          // "" for journals made before the id existed
  bool in_use = false;             // a router holds the journal open right now
  uint64_t last_seq = 0;           // max of the recorded last_seq and every index seq
  uint64_t applied_seq = 0;        // the watermark, recomputed from the index
  std::optional<uint64_t> applied_seq_recorded;  // the meta key, written lazily by the router
  uint64_t pending_count = 0;      // names whose latest record is not applied
  uint64_t pending_bytes = 0;      // body bytes of pending PUTs
  int64_t oldest_pending_age_ms = 0;
  std::optional<uint64_t> oldest_pending_seq;
  std::string oldest_pending_name;
  uint64_t names = 0;
  uint64_t deleted_names = 0;      // names whose latest state is a DELETE
  uint64_t body_bytes = 0;         // bytes of retained bodies
  std::optional<uint64_t> first_record_seq;  // oldest record still retained
  std::optional<uint64_t> last_record_seq;
  std::vector<BackendRow> backends;
};

// One pass over the index and the applied marks.
Status summarize(const JournalReader& reader, int64_t now, JournalSummary* out);
nlohmann::ordered_json summary_json(const JournalSummary& s);

// A record together with what its name's latest state says about it.
enum class RecordState {
  kPending,     // the latest state of its name, not yet applied
  kApplied,     // the latest state of its name, applied to the volume
  kSuperseded,  // a newer record of the name exists: its body was freed
  kOrphan,      // its name is not in the index (a damaged journal)
};
const char* record_state_name(RecordState state);

struct RecordView {
  Record record;
  RecordState state = RecordState::kOrphan;
  uint64_t latest_seq = 0;   // the name's latest seq (0: name unknown)
  uint64_t applied_seq = 0;  // how far the name is applied
  BodyRef latest_body;       // the index's body of the latest state (kNone once freed)
  // The record still has its body: it is the latest of its name and the body
  // was not freed (the router frees superseded bodies, and applied ones past
  // its body cache budget).
  bool body_retained() const {
    return record.op == Op::kPut && latest_seq == record.seq && latest_body.place != BodyPlace::kNone;
  }
};

RecordView view_record(const Record& record, const std::optional<NameRow>& name);
nlohmann::ordered_json record_json(const RecordView& view);
nlohmann::ordered_json name_json(const NameRow& row);

// "inline 12", "file 000000000000000c" or "none"
std::string body_ref_text(const BodyRef& ref);

// A record with its name's state as the journal holds it now.
RecordView view_of(const JournalReader& reader, const Record& record, Status* status);
// The record-table columns of list, tail and history, and one record's cells.
const std::vector<std::string>& record_table_header();
std::vector<std::string> record_cells(const RecordView& view);
std::string state_text(const RecordView& view);
// "record 12 does not decode (run verify)"
std::string undecodable(uint64_t seq);

}  // namespace fsr::journal::cli
