// The read-only views of a journal: status, list, show, history, tail, export.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include "common/checksum.h"
#include "common/names.h"
#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"
#include "journal/fsjournal/runtime.h"

namespace fsr::journal::cli {
namespace {

std::string short_checksum(const std::string& checksum) {
  return checksum.size() > 16 ? checksum.substr(0, 16) : checksum;
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

const std::vector<std::string> kRecordHeader = {"SEQ", "TIME", "OP", "SIZE", "STATE", "CHECKSUM", "NAME"};

RecordView view_of(const JournalReader& reader, const Record& r, Status* status) {
  return view_record(r, reader.name(r.name, status));
}

std::string undecodable(uint64_t seq) { return "record " + std::to_string(seq) + " does not decode (run verify)"; }

}  // namespace

// ---------------------------------------------------------------- status

int run_status(int argc, char** argv) {
  CommonOptions common;
  Flags flags("fsjournal status", "fsjournal --journal-dir DIR status [--json]",
              "Last and applied sequence, what is pending (count, bytes, oldest age), names, retained bodies,\n"
              "and the role and watermark the router last recorded for each backend. --json uses the field\n"
              "names of the router's GET /admin/status for the same facts (docs/status-fields.md).");
  add_common_flags(flags, &common);
  if (int rc = parse_flags(flags, argc, argv, 0, ""); rc >= 0) return rc;
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  JournalSummary s;
  if (Status st = summarize(*reader, now_ms(), &s); !st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  if (common.json) {
    std::cout << json_pretty(summary_json(s)) << "\n";
    return kExitOk;
  }
  Table t({"FIELD", "VALUE"});
  t.add({"journal_dir", s.journal_dir});
  t.add({"format_version", std::to_string(s.format_version)});
  if (!s.journal_id.empty()) t.add({"journal_id", s.journal_id});
  t.add({"in_use", s.in_use ? "yes (a running router holds the journal)" : "no (no router has it open)"});
  t.add({"last_seq", std::to_string(s.last_seq)});
  t.add({"applied_seq", std::to_string(s.applied_seq) + " (every record up to here is on the volume or moot)"});
  t.add({"applied_seq_recorded",
         s.applied_seq_recorded ? std::to_string(*s.applied_seq_recorded) + " (last written by the router)" : "-"});
  t.add({"pending_count", std::to_string(s.pending_count)});
  t.add({"pending_bytes", format_bytes(s.pending_bytes)});
  t.add({"oldest_pending_age_ms",
         s.oldest_pending_seq ? std::to_string(s.oldest_pending_age_ms) + " (" + format_duration(s.oldest_pending_age_ms) +
                                    "; seq " + std::to_string(*s.oldest_pending_seq) + ", " + s.oldest_pending_name + ")"
                              : "0 (nothing pending)"});
  t.add({"names", std::to_string(s.names) + " (" + std::to_string(s.deleted_names) + " deleted)"});
  t.add({"body_bytes", format_bytes(s.body_bytes)});
  t.add({"records", s.first_record_seq ? "seq " + std::to_string(*s.first_record_seq) + " to " +
                                             std::to_string(*s.last_record_seq) + " retained"
                                       : "none retained"});
  t.print(std::cout);
  std::cout << "\nbackends, as last recorded by the router:\n";
  Table b({"ADDRESS", "ROLE", "HEALTHY", "WATERMARK"});
  for (const auto& backend : s.backends) {
    const BackendState& state = backend.state;
    b.add({backend.address, state.role.empty() ? "? " + backend.raw : state.role,
           state.healthy ? (*state.healthy ? "yes" : "no") : "-", std::to_string(state.watermark)});
  }
  if (b.empty()) std::cout << "(none recorded)\n";
  else b.print(std::cout);
  return kExitOk;
}

// ---------------------------------------------------------------- list

int run_list(int argc, char** argv) {
  CommonOptions common;
  RecordFilter filter;
  int64_t limit = 50;
  bool oldest_first = false;
  Flags flags("fsjournal list", "fsjournal --journal-dir DIR list [filters] [--limit N] [--oldest-first] [--json]",
              "Records of the journal, newest first. STATE: pending (the latest of its name, not yet on the\n"
              "volume), applied (the latest, on the volume), superseded (a newer record of the name exists; its\n"
              "body was freed). Records older than the router's retention are compacted away once applied;\n"
              "the index keeps every name's latest state (see history).");
  add_common_flags(flags, &common);
  add_filter_flags(flags, &filter);
  flags.add_int("limit", "", &limit, "print at most this many records (0: all)");
  flags.add_bool("oldest-first", "", &oldest_first, "oldest first instead of newest first");
  if (int rc = parse_flags(flags, argc, argv, 0, ""); rc >= 0) return rc;
  if (!resolve_filter(&filter)) return kExitUsage;
  if (limit < 0) {
    complain("--limit must not be negative");
    return kExitUsage;
  }
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  uint64_t first = filter.first;
  // Every pending record is above the watermark the router recorded (it only lags).
  if (filter.pending) first = std::max(first, reader->meta_u64(kMetaAppliedSeq).value_or(0) + 1);

  Table table(kRecordHeader);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  int64_t shown = 0;
  bool more = false;
  Status failure;
  Status st = reader->for_each_record(first, filter.last, !oldest_first, [&](const RecordRow& row) {
    if (!row.record) {
      failure = {Status::Code::kCorruption, undecodable(row.seq)};
      return false;
    }
    const Record& r = *row.record;
    RecordView precheck;
    precheck.state = RecordState::kPending;
    if (!filter_matches(filter, r, precheck)) return true;  // the cheap filters first
    RecordView v = view_of(*reader, r, &failure);
    if (!failure.ok()) return false;
    if (!filter_matches(filter, r, v)) return true;
    if (limit > 0 && shown == limit) {
      more = true;
      return false;
    }
    ++shown;
    if (common.json) out.push_back(record_json(v));
    else table.add(record_cells(v));
    return true;
  });
  if (st.ok()) st = failure;
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  if (common.json) {
    std::cout << json_pretty(out) << "\n";
  } else {
    table.print(std::cout);
    std::cout << "(" << shown << " record" << (shown == 1 ? "" : "s");
    if (more) std::cout << "; more match: raise --limit, or --limit 0 for all";
    std::cout << ")\n";
  }
  return kExitOk;
}

// ---------------------------------------------------------------- show

namespace {

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Copies a body to fd while computing its checksum.
bool copy_body(const BodyReader& body, int fd, std::string* checksum, std::string* error) {
  fsr::Checksum sum;
  std::vector<char> buf(1 << 20);
  uint64_t offset = 0;
  while (offset < body.size()) {
    long n = body.read_at(offset, buf.data(), buf.size());
    if (n <= 0) {
      *error = n < 0 ? std::string("read failed: ") + std::strerror(errno) : "body shorter than its size";
      return false;
    }
    sum.update(buf.data(), static_cast<size_t>(n));
    if (fd >= 0 && !write_all(fd, buf.data(), static_cast<size_t>(n))) {
      *error = std::string("write failed: ") + std::strerror(errno);
      return false;
    }
    offset += static_cast<uint64_t>(n);
  }
  *checksum = sum.hex();
  return true;
}

}  // namespace

int run_show(int argc, char** argv) {
  CommonOptions common;
  std::string body_out;
  Flags flags("fsjournal show", "fsjournal --journal-dir DIR show SEQ [--body FILE|-] [--json]",
              "One record: its fields, its state, and its body's size and checksum recomputed from the stored\n"
              "bytes. Only the latest record of a name keeps its body. --body writes the body to FILE, or to\n"
              "stdout with '-' (the description then goes to stderr). Exit 1 when the record does not exist or\n"
              "its body is missing or does not match its checksum.");
  add_common_flags(flags, &common);
  flags.add_string("body", "", &body_out, "write the body to this file, or '-' for stdout");
  if (int rc = parse_flags(flags, argc, argv, 1, "SEQ"); rc >= 0) return rc;
  const std::string& seq_text = flags.positional()[0];
  char* end = nullptr;
  uint64_t seq = std::strtoull(seq_text.c_str(), &end, 10);
  if (seq_text.empty() || *end != '\0' || seq == 0) {
    complain("SEQ must be a positive number, got '" + seq_text + "'");
    return kExitUsage;
  }
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  Status st;
  auto record = reader->record(seq, &st);
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  if (!record) {
    auto first = reader->first_record_seq();
    uint64_t last = reader->meta_u64(kMetaLastSeq).value_or(0);
    if (seq > last) complain("no record " + seq_text + ": the last sequence number is " + std::to_string(last));
    else if (first && seq < *first)
      complain("record " + seq_text + " was compacted away (applied and older than the router's retention; records from " +
               std::to_string(*first) + " on are kept); each name's latest state is still in the index: see history");
    else complain("no record " + seq_text + " (missing from the history: run verify)");
    return kExitFound;
  }
  RecordView v = view_of(*reader, *record, &st);
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }

  // The body: retained only by the latest record of its name, unless the
  // router freed it after it was applied (its body cache budget).
  nlohmann::ordered_json body;
  std::string body_text;
  bool body_ok = true;
  bool retained = v.body_retained();
  std::string freed_why = v.state == RecordState::kOrphan ? "its name is not in the index"
                          : v.latest_seq != record->seq
                              ? "freed when seq " + std::to_string(v.latest_seq) + " superseded it"
                              : "freed after it was applied (the router's body cache budget; the volume holds it)";
  int out_fd = -1;
  bool close_out = false;
  if (!body_out.empty()) {
    if (!retained) {
      complain("record " + seq_text + " has no body to write: " +
               (record->op == Op::kDelete ? std::string("it is a DELETE") : "its body was " + freed_why));
      return kExitFound;
    }
    if (body_out == "-") {
      out_fd = STDOUT_FILENO;
    } else {
      out_fd = ::open(body_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (out_fd < 0) {
        complain("cannot write " + body_out + ": " + std::strerror(errno));
        return kExitFound;
      }
      close_out = true;
    }
  }
  if (record->op == Op::kDelete) {
    body["retained"] = false;
    body_text = "none (DELETE)";
  } else if (!retained) {
    body["retained"] = false;
    body_text = "none: " + freed_why;
  } else {
    body["retained"] = true;
    BodyLookup found = reader->open_body(v.latest_body);
    body["where"] = found.where;
    if (found.state != BodyLookup::State::kOk) {
      body_ok = false;
      std::string why = found.state == BodyLookup::State::kNone ? "the record has no body reference"
                        : found.state == BodyLookup::State::kMissing ? found.where + " is missing"
                                                                      : found.where + " is unreadable: " + found.detail;
      body["problem"] = why;
      body_text = "MISSING: " + why;
    } else {
      std::string computed, error;
      if (!copy_body(*found.reader, out_fd, &computed, &error)) {
        body_ok = false;
        body["problem"] = error;
        body_text = "UNREADABLE: " + found.where + ": " + error;
      } else {
        uint64_t stored = found.reader->size();
        body["stored_size"] = stored;
        body["computed_checksum"] = computed;
        bool size_ok = stored == record->size;
        bool sum_ok = computed == record->checksum;
        body_ok = size_ok && sum_ok;
        body["verified"] = body_ok;
        body_text = found.where + ": " + std::to_string(stored) + " bytes, checksum " + computed;
        if (body_ok) body_text += " (verified)";
        else {
          std::string why;
          if (!size_ok) why = "size " + std::to_string(stored) + " != recorded " + std::to_string(record->size);
          if (!sum_ok) why += std::string(why.empty() ? "" : "; ") + "checksum differs from the recorded one";
          body["problem"] = why;
          body_text += " MISMATCH: " + why;
        }
      }
    }
  }
  if (close_out && ::close(out_fd) != 0) {
    complain("cannot write " + body_out + ": " + std::strerror(errno));
    return kExitFound;
  }

  std::ostream& out = body_out == "-" ? std::cerr : std::cout;
  if (common.json) {
    nlohmann::ordered_json j = record_json(v);
    j["body_check"] = body;
    out << json_pretty(j) << "\n";
  } else {
    Table t({"FIELD", "VALUE"});
    const Record& r = *record;
    t.add({"seq", std::to_string(r.seq)});
    t.add({"time", format_time(r.time_ms) + " (" + format_duration(now_ms() - r.time_ms) + " ago)"});
    t.add({"op", op_name(r.op)});
    t.add({"name", r.name});
    if (fsr::percent_encode(r.name) != r.name) t.add({"name_encoded", fsr::percent_encode(r.name)});
    t.add({"size", r.op == Op::kPut ? std::to_string(r.size) : "-"});
    t.add({"checksum", r.op == Op::kPut ? r.checksum : "-"});
    std::string state = state_text(v);
    if (v.state == RecordState::kSuperseded) state += " by seq " + std::to_string(v.latest_seq);
    if (v.state != RecordState::kOrphan) state += "; name applied through seq " + std::to_string(v.applied_seq);
    t.add({"state", state});
    t.add({"body_ref", body_ref_text(r.body)});
    t.add({"body", body_text});
    t.print(out);
  }
  if (!body_ok) complain("record " + seq_text + ": body check failed");
  return body_ok ? kExitOk : kExitFound;
}

// ---------------------------------------------------------------- history

int run_history(int argc, char** argv) {
  CommonOptions common;
  bool encoded = false;
  Flags flags("fsjournal history", "fsjournal --journal-dir DIR history NAME [--percent-encoded] [--json]",
              "Every retained record of one name in sequence order, which one is the latest, and how far the\n"
              "name is applied to the volume. The index keeps the latest state even after older records are\n"
              "compacted away. Exit 1 when the router never wrote the name.");
  add_common_flags(flags, &common);
  flags.add_bool("percent-encoded", "", &encoded, "NAME is percent-encoded (as in the URL); decode it first");
  if (int rc = parse_flags(flags, argc, argv, 1, "NAME"); rc >= 0) return rc;
  std::string name = flags.positional()[0];
  if (encoded) {
    auto decoded = fsr::percent_decode(name);
    if (!decoded) {
      complain("malformed percent-encoding in '" + name + "'");
      return kExitUsage;
    }
    name = *decoded;
  }
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  Status st;
  auto row = reader->name(name, &st);
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  if (!row || !row->in_index) {
    complain("'" + name + "' is not in the index: the router never wrote it (a file already on the volume is read "
             "through from the backends)");
    return kExitFound;
  }
  if (!row->decodable) {
    complain("the index entry of '" + name + "' does not decode (run verify)");
    return kExitFound;
  }
  std::vector<RecordView> views;
  Status failure;
  // Only records up to the latest seq can belong to the name.
  st = reader->for_each_record(1, row->entry.seq, false, [&](const RecordRow& r) {
    if (!r.record) return true;  // verify reports those
    if (r.record->name == name) views.push_back(view_record(*r.record, row));
    return true;
  });
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  const IndexEntry& e = row->entry;
  if (common.json) {
    nlohmann::ordered_json j;
    j["latest"] = name_json(*row);
    nlohmann::ordered_json records = nlohmann::ordered_json::array();
    for (const auto& v : views) records.push_back(record_json(v));
    j["records"] = records;
    std::cout << json_pretty(j) << "\n";
    return kExitOk;
  }
  Table t({"FIELD", "VALUE"});
  t.add({"name", name});
  std::string latest = "seq " + std::to_string(e.seq) + " " + op_name(e.op) + " at " + format_time(e.time_ms);
  if (e.op == Op::kPut) latest += ", " + std::to_string(e.size) + " bytes, checksum " + e.checksum;
  t.add({"latest", latest});
  t.add({"applied", e.pending() ? "through seq " + std::to_string(e.applied_seq) + ": PENDING (seq " +
                                      std::to_string(e.seq) + " is not on the volume yet)"
                                : "through seq " + std::to_string(e.applied_seq) + " (the latest state is on the volume)"});
  t.add({"body", e.op == Op::kDelete                ? "none (deleted)"
                 : e.body.place == BodyPlace::kNone ? "none (freed after it was applied; the volume holds it)"
                                                    : body_ref_text(e.body)});
  t.print(std::cout);
  std::cout << "\n";
  if (views.empty()) {
    std::cout << "(no record of this name is retained: older records are compacted once applied)\n";
    return kExitOk;
  }
  Table records(kRecordHeader);
  for (const auto& v : views) {
    auto cells = record_cells(v);
    if (v.record.seq == e.seq) cells[4] += " (latest)";
    records.add(cells);
  }
  records.print(std::cout);
  return kExitOk;
}

// ---------------------------------------------------------------- tail

namespace {

void print_stream_line(const RecordView& v, bool json) {
  if (json) {
    std::cout << json_line(record_json(v)) << "\n";
    return;
  }
  const Record& r = v.record;
  char head[128];
  std::snprintf(head, sizeof head, "%-10llu %s %-6s %12s  ", static_cast<unsigned long long>(r.seq),
                format_time(r.time_ms).c_str(), op_name(r.op), r.op == Op::kPut ? std::to_string(r.size).c_str() : "-");
  std::cout << head << r.name << "\n";
}

}  // namespace

int run_tail(int argc, char** argv) {
  CommonOptions common;
  RecordFilter filter;
  bool follow = false;
  int64_t lines = 10;
  int64_t interval_ms = 200;
  Flags flags("fsjournal tail", "fsjournal --journal-dir DIR tail [-f] [-n N] [filters] [--json]",
              "The last records, oldest first; with -f (--follow) it then prints each new record as the router\n"
              "commits it, until interrupted. It polls the journal as a RocksDB secondary instance (no lock, no\n"
              "writes): the router is never slowed. --json prints one JSON object per line.");
  add_common_flags(flags, &common);
  add_filter_flags(flags, &filter);
  flags.add_bool("follow", "", &follow, "keep printing new records (also -f)");
  flags.add_int("lines", "", &lines, "how many of the latest records to print first (also -n; ignored with --from-seq)");
  flags.add_int("interval-ms", "", &interval_ms, "how often to look for new records with --follow");
  // Accept the usual short forms: -f, -n N.
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-f") args.push_back("--follow");
    else if (a == "-n") args.push_back("--lines");
    else args.push_back(a);
  }
  std::vector<char*> ptrs;
  for (auto& a : args) ptrs.push_back(a.data());
  if (int rc = parse_flags(flags, static_cast<int>(ptrs.size()), ptrs.data(), 0, ""); rc >= 0) return rc;
  if (!resolve_filter(&filter)) return kExitUsage;
  if (lines < 0 || interval_ms < 10) {
    complain("--lines must not be negative and --interval-ms must be at least 10");
    return kExitUsage;
  }
  set_interruptible(follow);
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;

  // Where to start: after the last N matching records, or at --from-seq.
  uint64_t start = filter.first;
  if (filter.from_seq == 0) {
    int64_t seen = 0;
    uint64_t begin = UINT64_MAX;
    Status failure;
    reader->for_each_record(1, filter.last, true, [&](const RecordRow& row) {
      if (seen == lines) return false;
      if (row.record) {
        RecordView pre;
        pre.state = RecordState::kPending;
        if (!filter_matches(filter, *row.record, pre)) return true;
        if (filter.pending && !filter_matches(filter, *row.record, view_of(*reader, *row.record, &failure))) return true;
      }
      ++seen;
      begin = row.seq;
      return true;
    });
    start = seen == 0 ? reader->last_record_seq().value_or(0) + 1 : begin;
  }
  uint64_t next = start;
  int failures = 0;
  auto print_from = [&](uint64_t from) -> Status {
    Status failure;
    Status st = reader->for_each_record(from, filter.last, false, [&](const RecordRow& row) {
      next = row.seq + 1;
      if (!row.record) {
        complain(undecodable(row.seq));
        return true;
      }
      RecordView v = view_of(*reader, *row.record, &failure);
      if (!failure.ok()) return false;
      if (filter_matches(filter, *row.record, v)) print_stream_line(v, common.json);
      return static_cast<bool>(std::cout);
    });
    std::cout.flush();
    return st.ok() ? failure : st;
  };
  if (Status st = print_from(next); !st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  while (follow && !stop_requested() && next <= filter.last && std::cout) {
    auto wake = std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
    while (!stop_requested() && std::chrono::steady_clock::now() < wake)
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(interval_ms, 50)));
    if (stop_requested()) break;
    Status st = reader->catch_up();
    if (st.ok()) st = print_from(next);
    if (st.ok()) {
      failures = 0;
      continue;
    }
    // The router may have restarted or rewritten its MANIFEST: open afresh.
    if (++failures == 1) complain("lost the journal (" + st.message + "); opening it again");
    reader.reset();
    if (!open_journal(common, &reader)) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (!open_journal(common, &reader)) return kExitUsage;
    }
  }
  return kExitOk;
}

// ---------------------------------------------------------------- export

int run_export(int argc, char** argv) {
  CommonOptions common;
  RecordFilter filter;
  bool bodies = false;
  bool index = false;
  Flags flags("fsjournal export", "fsjournal --journal-dir DIR export [filters] [--bodies] [--index]",
              "NDJSON, one object per line, oldest first: every retained record (the fields of list --json).\n"
              "--bodies adds body_base64 to each record that still has its body (the latest of its name).\n"
              "--index exports the index instead: each name's latest state (--name and --bodies apply).");
  add_common_flags(flags, &common, false);
  add_filter_flags(flags, &filter);
  flags.add_bool("bodies", "", &bodies, "include retained bodies, base64-encoded, as body_base64");
  flags.add_bool("index", "", &index, "export the index (each name's latest state) instead of the records");
  if (int rc = parse_flags(flags, argc, argv, 0, ""); rc >= 0) return rc;
  if (!resolve_filter(&filter)) return kExitUsage;
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;

  // Writes the object with its body appended, streaming the base64.
  Status body_failure;
  auto emit = [&](nlohmann::ordered_json j, const BodyRef* ref) {
    std::string line = json_line(j);
    if (!ref) {
      std::cout << line << "\n";
      return;
    }
    line.pop_back();  // the closing brace
    std::cout << line << ",\"body_base64\":";
    BodyLookup found = reader->open_body(*ref);
    if (found.state != BodyLookup::State::kOk) {
      std::cout << "null,\"body_problem\":\"" << (found.state == BodyLookup::State::kMissing ? "missing" : "unreadable")
                << "\"}\n";
      return;
    }
    std::cout << '"';
    Base64Encoder enc(std::cout);
    std::vector<char> buf(1 << 20);
    uint64_t offset = 0;
    while (offset < found.reader->size() && std::cout) {
      long n = found.reader->read_at(offset, buf.data(), buf.size());
      if (n <= 0) break;
      enc.update(buf.data(), static_cast<size_t>(n));
      offset += static_cast<uint64_t>(n);
    }
    enc.finish();
    std::cout << "\"}\n";
  };

  Status failure;
  Status st;
  if (index) {
    st = reader->for_each_name([&](const NameRow& row) {
      if (!row.in_index || !row.decodable) return true;
      if (!filter.name.empty() && row.name != filter.name) return true;
      if (filter.op_value && row.entry.op != *filter.op_value) return true;
      if (filter.pending && !row.entry.pending()) return true;
      if (row.entry.seq < filter.first || row.entry.seq > filter.last) return true;
      if (filter.since_ms && row.entry.time_ms < *filter.since_ms) return true;
      if (filter.until_ms && row.entry.time_ms >= *filter.until_ms) return true;
      bool with_body = bodies && row.entry.op == Op::kPut && row.entry.body.place != BodyPlace::kNone;
      emit(name_json(row), with_body ? &row.entry.body : nullptr);
      return static_cast<bool>(std::cout);
    });
  } else {
    st = reader->for_each_record(filter.first, filter.last, false, [&](const RecordRow& row) {
      if (!row.record) {
        nlohmann::ordered_json j;
        j["seq"] = row.seq;
        j["problem"] = "undecodable";
        emit(j, nullptr);
        return true;
      }
      RecordView pre;
      pre.state = RecordState::kPending;
      if (!filter_matches(filter, *row.record, pre)) return true;
      RecordView v = view_of(*reader, *row.record, &failure);
      if (!failure.ok()) return false;
      if (!filter_matches(filter, *row.record, v)) return true;
      emit(record_json(v), bodies && v.body_retained() ? &v.latest_body : nullptr);
      return static_cast<bool>(std::cout);
    });
  }
  std::cout.flush();
  if (st.ok()) st = failure;
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  return kExitOk;
}

}  // namespace fsr::journal::cli
