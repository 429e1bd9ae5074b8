// fsjournal show SEQ: one record, its body verified, optionally written out.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "common/checksum.h"
#include "common/file_io.h"
#include "common/names.h"
#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"

namespace fsr::journal::cli {
namespace {

struct ShowOptions {
  std::string seq_text;
  std::string body_out;
};

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
    if (int err = fd >= 0 ? fsr::write_all(fd, buf.data(), static_cast<size_t>(n)) : 0; err != 0) {
      *error = std::string("write failed: ") + std::strerror(err);
      return false;
    }
    offset += static_cast<uint64_t>(n);
  }
  *checksum = sum.hex();
  return true;
}

int run_show(const CommonOptions& common, const ShowOptions& options) {
  const std::string& seq_text = options.seq_text;
  const std::string& body_out = options.body_out;
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

}  // namespace

Subcommand add_show_command(CLI::App& program, CommonOptions* common) {
  auto options = std::make_shared<ShowOptions>();
  CLI::App* sub = add_subcommand(
      program, "show", "fsjournal --journal-dir DIR show SEQ [--body FILE|-] [--json]",
      "one record (SEQ), its body's size and checksum verified; --body FILE|- writes the body\n\n"
      "One record: its fields, its state, and its body's size and checksum recomputed from the stored\n"
      "bytes. Only the latest record of a name keeps its body. --body writes the body to FILE, or to\n"
      "stdout with '-' (the description then goes to stderr). Exit 1 when the record does not exist or\n"
      "its body is missing or does not match its checksum.");
  sub->add_option("SEQ", options->seq_text, "the record's sequence number")->required();
  add_json_flag(*sub, common);
  add_env_option(*sub, "body", "", &options->body_out, "write the body to this file, or '-' for stdout");
  return {sub, [common, options] { return run_show(*common, *options); }};
}

}  // namespace fsr::journal::cli
