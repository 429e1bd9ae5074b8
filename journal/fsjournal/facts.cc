#include "journal/fsjournal/facts.h"

#include <algorithm>

#include "common/names.h"
#include "journal/fsjournal/output.h"
#include "journal/status_fields.h"

namespace fsr::journal::cli {

Status summarize(const JournalReader& reader, int64_t now, JournalSummary* out) {
  JournalSummary s;
  s.journal_dir = reader.dir();
  s.format_version = reader.format_version();
  s.journal_id = reader.meta_text(kMetaJournalId).value_or("");
  s.in_use = reader.in_use();
  s.last_seq = reader.meta_u64(kMetaLastSeq).value_or(0);
  s.applied_seq_recorded = reader.meta_u64(kMetaAppliedSeq);
  int64_t oldest_time = 0;
  Status st = reader.for_each_name([&](const NameRow& row) {
    if (!row.in_index || !row.decodable) return true;
    const IndexEntry& e = row.entry;
    ++s.names;
    if (e.op == Op::kDelete) ++s.deleted_names;
    s.last_seq = std::max(s.last_seq, e.seq);
    if (e.op == Op::kPut && e.body.place != BodyPlace::kNone) s.body_bytes += e.size;
    if (e.pending()) {
      ++s.pending_count;
      if (e.op == Op::kPut) s.pending_bytes += e.size;
      if (!s.oldest_pending_seq || e.seq < *s.oldest_pending_seq) {
        s.oldest_pending_seq = e.seq;
        s.oldest_pending_name = row.name;
        oldest_time = e.time_ms;
      }
    }
    return true;
  });
  if (!st.ok()) return st;
  s.applied_seq = applied_watermark(s.last_seq, s.oldest_pending_seq);
  if (s.oldest_pending_seq) s.oldest_pending_age_ms = std::max<int64_t>(0, now - oldest_time);
  s.first_record_seq = reader.first_record_seq();
  s.last_record_seq = reader.last_record_seq();
  s.backends = reader.backend_states();
  *out = std::move(s);
  return Status::Ok();
}

nlohmann::ordered_json summary_json(const JournalSummary& s) {
  nlohmann::ordered_json j;
  // Fields shared with the router's GET /admin/status (same names, same meaning).
  JournalStats stats;
  stats.last_seq = s.last_seq;
  stats.applied_seq = s.applied_seq;
  stats.pending_count = s.pending_count;
  stats.pending_bytes = s.pending_bytes;
  stats.oldest_pending_age_ms = s.oldest_pending_age_ms;
  stats.names = s.names;
  stats.body_bytes = s.body_bytes;
  add_journal_status_fields(stats, &j);
  nlohmann::ordered_json backends = nlohmann::ordered_json::array();
  for (const auto& b : s.backends) backends.push_back(backend_status_fields<nlohmann::ordered_json>(b.address, b.state));
  j["backends"] = backends;
  // Facts only the journal itself holds.
  j["journal_dir"] = s.journal_dir;
  j["format_version"] = s.format_version;
  j["journal_id"] = s.journal_id.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(s.journal_id);
  j["in_use"] = s.in_use;
  j["applied_seq_recorded"] = s.applied_seq_recorded ? nlohmann::ordered_json(*s.applied_seq_recorded) : nlohmann::ordered_json();
  j["oldest_pending_seq"] = s.oldest_pending_seq ? nlohmann::ordered_json(*s.oldest_pending_seq) : nlohmann::ordered_json();
  j["oldest_pending_name"] = s.oldest_pending_seq ? nlohmann::ordered_json(s.oldest_pending_name) : nlohmann::ordered_json();
  j["deleted_names"] = s.deleted_names;
  j["first_record_seq"] = s.first_record_seq ? nlohmann::ordered_json(*s.first_record_seq) : nlohmann::ordered_json();
  j["last_record_seq"] = s.last_record_seq ? nlohmann::ordered_json(*s.last_record_seq) : nlohmann::ordered_json();
  return j;
}

const char* record_state_name(RecordState state) {
  switch (state) {
    case RecordState::kPending: return "pending";
    case RecordState::kApplied: return "applied";
    case RecordState::kSuperseded: return "superseded";
    case RecordState::kOrphan: return "orphan";
  }
  return "unknown";
}

RecordView view_record(const Record& record, const std::optional<NameRow>& name) {
  RecordView v;
  v.record = record;
  if (!name || !name->in_index || !name->decodable) return v;
  v.latest_seq = name->entry.seq;
  v.applied_seq = name->entry.applied_seq;
  v.latest_body = name->entry.body;
  if (name->entry.seq > record.seq) v.state = RecordState::kSuperseded;
  else if (name->entry.seq == record.seq) v.state = name->entry.pending() ? RecordState::kPending : RecordState::kApplied;
  return v;
}

namespace {

std::string short_checksum(const std::string& checksum) {
  return checksum.size() > 16 ? checksum.substr(0, 16) : checksum;
}

}  // namespace

RecordView view_of(const JournalReader& reader, const Record& r, Status* status) {
  return view_record(r, reader.name(r.name, status));
}

const std::vector<std::string>& record_table_header() {
  static const std::vector<std::string> header = {"SEQ", "TIME", "OP", "SIZE", "STATE", "CHECKSUM", "NAME"};
  return header;
}

std::string state_text(const RecordView& v) {
  if (v.state == RecordState::kSuperseded) return "superseded";
  return record_state_name(v.state);
}

std::vector<std::string> record_cells(const RecordView& v) {
  const Record& r = v.record;
  return {std::to_string(r.seq), format_time(r.time_ms), op_name(r.op),
          r.op == Op::kPut ? std::to_string(r.size) : "-", state_text(v),
          r.op == Op::kPut ? short_checksum(r.checksum) : "-", r.name};
}

std::string undecodable(uint64_t seq) { return "record " + std::to_string(seq) + " does not decode (run verify)"; }

std::string body_ref_text(const BodyRef& ref) {
  switch (ref.place) {
    case BodyPlace::kInline: return "inline " + std::to_string(ref.id);
    case BodyPlace::kFile: return "file " + body_file_name(ref.id);
    case BodyPlace::kNone: break;
  }
  return "none";
}

namespace {

nlohmann::ordered_json body_json(const BodyRef& ref) {
  nlohmann::ordered_json b;
  b["place"] = ref.place == BodyPlace::kInline ? "inline" : ref.place == BodyPlace::kFile ? "file" : "none";
  b["id"] = ref.id;
  if (ref.place == BodyPlace::kFile) b["file"] = "bodies/" + body_file_name(ref.id);
  return b;
}

}  // namespace

nlohmann::ordered_json record_json(const RecordView& v) {
  const Record& r = v.record;
  nlohmann::ordered_json j;
  j["seq"] = r.seq;
  j["time_ms"] = r.time_ms;
  j["time"] = format_time(r.time_ms);
  j["op"] = op_name(r.op);
  j["name"] = r.name;
  j["name_encoded"] = fsr::percent_encode(r.name);  // exact bytes, also when not UTF-8
  j["size"] = r.size;
  j["checksum"] = r.checksum;
  j["state"] = record_state_name(v.state);
  j["latest_seq"] = v.latest_seq;
  j["applied_seq"] = v.applied_seq;
  j["body_retained"] = v.body_retained();
  j["body"] = body_json(r.body);
  return j;
}

nlohmann::ordered_json name_json(const NameRow& row) {
  nlohmann::ordered_json j;
  j["name"] = row.name;
  j["name_encoded"] = fsr::percent_encode(row.name);
  const IndexEntry& e = row.entry;
  j["seq"] = e.seq;
  j["op"] = op_name(e.op);
  j["size"] = e.size;
  j["checksum"] = e.checksum;
  j["time_ms"] = e.time_ms;
  j["time"] = format_time(e.time_ms);
  j["applied_seq"] = e.applied_seq;
  j["pending"] = e.pending();
  j["body"] = body_json(e.body);
  return j;
}

}  // namespace fsr::journal::cli
