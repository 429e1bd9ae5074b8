#include "journal/fsjournal/verify.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <unordered_map>

#include "common/checksum.h"
#include "common/file_io.h"
#include "common/names.h"

#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"

namespace fsr::journal::cli {
namespace {

namespace fs = std::filesystem;

uint64_t name_hash(std::string_view name) { return XXH3_64bits(name.data(), name.size()); }

// What an index entry and its record must agree on.
uint64_t fingerprint(Op op, uint64_t size, const std::string& checksum, const BodyRef& body, int64_t time_ms) {
  std::string s = checksum;
  s.push_back(static_cast<char>(op));
  s.push_back(static_cast<char>(body.place));
  s += encode_seq_key(size) + encode_seq_key(body.id) + encode_seq_key(static_cast<uint64_t>(time_ms));
  return XXH3_64bits(s.data(), s.size());
}

// One index entry, kept small: a million names cost about 32 MB.
struct NameFact {
  uint64_t hash;
  uint64_t seq;
  uint64_t fingerprint;
  bool body_freed;  // an applied PUT whose body the router freed (its body cache budget)
  bool matched;
  bool operator<(const NameFact& o) const { return hash < o.hash; }
};

// A body an index entry refers to; size and checksum only for inline bodies,
// which are checked in one sequential pass over the `bodies` column family.
struct BodyRefFact {
  uint64_t id;
  uint64_t seq;
  uint64_t size = 0;
  uint64_t checksum_hash = 0;
  bool operator<(const BodyRefFact& o) const { return id < o.id || (id == o.id && seq < o.seq); }
};

struct MissingBody {
  std::string name;
  uint64_t seq;
  std::string what;
};

std::string body_problem_text(const BodyLookup& found) {
  if (found.state == BodyLookup::State::kMissing) return "body missing: " + found.where;
  return "body unreadable: " + found.where + ": " + found.detail;
}

class Verifier {
 public:
  Verifier(JournalReader& reader, VerifyReport* report) : reader_(reader), report_(*report) {}

  Status run() {
    report_.in_use = reader_.in_use();
    list_body_files();  // before catching up: a file committed later is then in the index we read
    if (Status s = reader_.catch_up(); !s.ok()) return s;
    last_seq_meta_ = reader_.meta_u64(kMetaLastSeq).value_or(0);
    if (Status s = check_names(); !s.ok()) return s;
    if (Status s = check_records(); !s.ok()) return s;
    if (Status s = check_unmatched_index(); !s.ok()) return s;
    if (Status s = check_inline_bodies(); !s.ok()) return s;
    if (Status s = name_problems(); !s.ok()) return s;
    check_file_orphans();
    check_meta();
    // Anything below moves the view: keep it last.
    if (Status s = recheck_missing_bodies(); !s.ok()) return s;
    auto order = [](const Finding& a, const Finding& b) {
      return a.seq != b.seq ? a.seq < b.seq : a.name != b.name ? a.name < b.name : a.what < b.what;
    };
    std::sort(report_.problems.begin(), report_.problems.end(), order);
    std::sort(report_.warnings.begin(), report_.warnings.end(), order);
    return Status::Ok();
  }

 private:
  void problem(uint64_t seq, std::string name, std::string what) {
    report_.problems.push_back({seq, std::move(name), std::move(what)});
  }
  void warning(uint64_t seq, std::string name, std::string what) {
    report_.warnings.push_back({seq, std::move(name), std::move(what)});
  }

  void list_body_files() {
    std::error_code ec;
    std::string dir = reader_.dir() + "/bodies";
    if (!fs::is_directory(dir, ec)) {
      warning(0, "", "no bodies directory: every body file the index refers to will be missing");
      return;
    }
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string file = entry.path().filename().string();
      bool hex = file.size() == 16 && file.find_first_not_of("0123456789abcdef") == std::string::npos;
      if (!hex) {
        warning(0, "", "unexpected file bodies/" + file + " (not a body file name)");
        continue;
      }
      listed_files_.push_back(std::stoull(file, nullptr, 16));
    }
    std::sort(listed_files_.begin(), listed_files_.end());
    report_.body_files = listed_files_.size();
  }

  Status check_names() {
    return reader_.for_each_name([&](const NameRow& row) {
      if (!row.in_index) {
        problem(0, row.name, "applied mark (seq " + std::to_string(row.applied_mark.value_or(0)) +
                                 ") for a name absent from the index");
        return true;
      }
      ++report_.names;
      if (!row.decodable) {
        problem(0, row.name, "index entry does not decode");
        return true;
      }
      const IndexEntry& e = row.entry;
      max_index_seq_ = std::max(max_index_seq_, e.seq);
      if (e.seq == 0) problem(0, row.name, "index entry has sequence number 0");
      if (e.seq > last_seq_meta_)
        problem(e.seq, row.name, "index entry is past the recorded last_seq " + std::to_string(last_seq_meta_));
      if (row.applied_mark && *row.applied_mark > e.seq)
        problem(e.seq, row.name, "applied mark " + std::to_string(*row.applied_mark) + " is past the latest record");
      if (e.pending()) min_pending_seq_ = std::min(min_pending_seq_, e.seq);
      bool freed = e.op == Op::kPut && e.body.place == BodyPlace::kNone;
      facts_.push_back(
          {name_hash(row.name), e.seq, fingerprint(e.op, e.size, e.checksum, e.body, e.time_ms), freed, false});
      check_body(row.name, e);
      return true;
    });
  }

  void check_body(const std::string& name, const IndexEntry& e) {
    if (e.op == Op::kDelete) {
      if (e.body.place != BodyPlace::kNone) problem(e.seq, name, "a DELETE refers to a body (" + body_ref_text(e.body) + ")");
      return;
    }
    if (e.body.place == BodyPlace::kNone) {
      // The router frees an applied body past its body cache budget; a pending one never.
      if (e.pending()) problem(e.seq, name, "a pending PUT has no body (only applied bodies may be freed)");
      else ++report_.bodies_freed;
      return;
    }
    if (e.body.place == BodyPlace::kInline) {
      inline_refs_.push_back({e.body.id, e.seq, e.size, XXH3_64bits(e.checksum.data(), e.checksum.size())});
      return;
    }
    file_refs_.push_back({e.body.id, e.seq});
    BodyLookup found = reader_.open_body(e.body);
    if (found.state == BodyLookup::State::kMissing && report_.in_use) {
      missing_.push_back({name, e.seq, body_problem_text(found)});  // maybe freed meanwhile: look again at the end
      return;
    }
    if (found.state != BodyLookup::State::kOk) {
      problem(e.seq, name, body_problem_text(found));
      return;
    }
    ++report_.bodies_checked;
    report_.body_bytes_checked += found.reader->size();
    if (found.reader->size() != e.size) {
      problem(e.seq, name, "body " + found.where + " holds " + std::to_string(found.reader->size()) +
                               " bytes, the record says " + std::to_string(e.size));
      return;
    }
    std::string computed, error;
    if (!checksum_body(*found.reader, &computed, &error)) {
      problem(e.seq, name, "body " + found.where + " unreadable: " + error);
    } else if (computed != e.checksum) {
      problem(e.seq, name, "body checksum mismatch in " + found.where + ": recorded " + e.checksum + ", computed " +
                               computed);
    }
  }

  Status check_records() {
    std::sort(facts_.begin(), facts_.end());
    uint64_t prev = 0;
    Status failure;
    Status st = reader_.for_each_record(1, UINT64_MAX, false, [&](const RecordRow& row) {
      ++report_.records;
      if (report_.first_seq == 0) report_.first_seq = row.seq;
      report_.last_seq = row.seq;
      if (row.seq == 0) problem(0, "", "a record key is not an 8-byte sequence number");
      if (prev != 0 && row.seq != prev + 1)
        problem(row.seq, "", "records " + std::to_string(prev + 1) + " to " + std::to_string(row.seq - 1) +
                                 " are missing (history is only ever trimmed from the oldest end)");
      prev = row.seq;
      if (row.seq > last_seq_meta_)
        problem(row.seq, row.record ? row.record->name : "",
                "record is past the recorded last_seq " + std::to_string(last_seq_meta_));
      if (!row.record) {
        problem(row.seq, "", "record does not decode");
        return true;
      }
      const Record& r = *row.record;
      if (r.op == Op::kPut && r.body.place == BodyPlace::kNone) problem(r.seq, r.name, "PUT record without a body reference");
      if (r.op == Op::kDelete && (r.body.place != BodyPlace::kNone || r.size != 0))
        problem(r.seq, r.name, "DELETE record with a body or a size");
      check_record_against_index(r, &failure);
      return failure.ok();
    });
    return st.ok() ? failure : st;
  }

  void check_record_against_index(const Record& r, Status* failure) {
    NameFact key{name_hash(r.name), 0, 0, false, false};
    auto [lo, hi] = std::equal_range(facts_.begin(), facts_.end(), key);
    if (lo == hi) {
      problem(r.seq, r.name, "record of a name absent from the index");
      return;
    }
    if (hi - lo == 1) {
      check_fact(r, *lo);
      return;
    }
    // Names sharing a 64-bit hash: settle it with the index itself.
    auto row = reader_.name(r.name, failure);
    if (!row || !row->in_index || !row->decodable) {
      if (failure->ok()) problem(r.seq, r.name, "record of a name absent from the index");
      return;
    }
    for (auto it = lo; it != hi; ++it) {
      if (it->seq == row->entry.seq) {
        check_fact(r, *it);
        return;
      }
    }
  }

  void check_fact(const Record& r, NameFact& fact) {
    uint64_t print = fingerprint(r.op, r.size, r.checksum, fact.body_freed ? BodyRef{} : r.body, r.time_ms);
    if (fact.seq < r.seq) {
      problem(r.seq, r.name, "the index says the latest record is seq " + std::to_string(fact.seq) + ", older than this one");
    } else if (fact.seq == r.seq) {
      fact.matched = true;
      if (fact.fingerprint != print) problem(r.seq, r.name, "index entry differs from its record (op, size, checksum, body or time)");
    }
  }

  // An index entry newer than the oldest retained record must have its record.
  Status check_unmatched_index() {
    if (report_.records == 0) return Status::Ok();
    std::set<std::pair<uint64_t, uint64_t>> unmatched;  // (hash, seq)
    for (const auto& f : facts_)
      if (!f.matched && f.seq >= report_.first_seq) unmatched.insert({f.hash, f.seq});
    if (unmatched.empty()) return Status::Ok();
    return reader_.for_each_name([&](const NameRow& row) {
      if (row.in_index && row.decodable && unmatched.count({name_hash(row.name), row.entry.seq}))
        problem(row.entry.seq, row.name, "the latest record is missing from the history (records from seq " +
                                             std::to_string(report_.first_seq) + " on are retained)");
      return true;
    });
  }

  // Checks every inline body the index refers to, and finds the ones nothing
  // refers to, in one pass over the bodies in id order.
  Status check_inline_bodies() {
    std::sort(inline_refs_.begin(), inline_refs_.end());
    std::sort(file_refs_.begin(), file_refs_.end());
    for (const auto* refs : {&inline_refs_, &file_refs_}) {
      for (size_t i = 1; i < refs->size(); ++i) {
        if ((*refs)[i].id == (*refs)[i - 1].id)
          problem_of_seq((*refs)[i].seq, "body id " + std::to_string((*refs)[i].id) + " is also the body of seq " +
                                             std::to_string((*refs)[i - 1].seq));
      }
    }
    auto ref = inline_refs_.begin();
    auto missing_before = [&](uint64_t id) {
      for (; ref != inline_refs_.end() && ref->id < id; ++ref)
        problem_of_seq(ref->seq, "body missing: inline body " + std::to_string(ref->id));
    };
    Status st = reader_.for_each_inline_body([&](uint64_t id, std::string_view bytes) {
      missing_before(id);
      if (ref == inline_refs_.end() || ref->id != id) {
        problem(0, "", "inline body " + std::to_string(id) + " is not referenced by any name (a body that was not freed)");
        return true;
      }
      ++report_.bodies_checked;
      report_.body_bytes_checked += bytes.size();
      std::string computed = checksum_of(bytes);
      for (; ref != inline_refs_.end() && ref->id == id; ++ref) {
        if (bytes.size() != ref->size)
          problem_of_seq(ref->seq, "inline body " + std::to_string(id) + " holds " + std::to_string(bytes.size()) +
                                       " bytes, the record says " + std::to_string(ref->size));
        else if (XXH3_64bits(computed.data(), computed.size()) != ref->checksum_hash)
          problem_of_seq(ref->seq, "body checksum mismatch in inline body " + std::to_string(id) + ": computed " +
                                       computed + ", not the recorded checksum");
      }
      return true;
    });
    missing_before(UINT64_MAX);
    return st;
  }

  // Problems found without the name at hand get it from the index at the end.
  void problem_of_seq(uint64_t seq, std::string what) {
    unnamed_.push_back(report_.problems.size());
    problem(seq, "", std::move(what));
  }

  Status name_problems() {
    if (unnamed_.empty()) return Status::Ok();
    std::unordered_map<uint64_t, std::string> names;
    for (size_t i : unnamed_) names[report_.problems[i].seq];
    Status st = reader_.for_each_name([&](const NameRow& row) {
      if (row.in_index && row.decodable)
        if (auto it = names.find(row.entry.seq); it != names.end()) it->second = row.name;
      return true;
    });
    for (size_t i : unnamed_) report_.problems[i].name = names[report_.problems[i].seq];
    return st;
  }

  void check_file_orphans() {
    for (uint64_t id : listed_files_) {
      auto it = std::lower_bound(file_refs_.begin(), file_refs_.end(), BodyRefFact{id, 0});
      if (it != file_refs_.end() && it->id == id) continue;
      struct stat st {};
      std::string path = reader_.body_path(id);
      if (::stat(path.c_str(), &st) != 0) continue;  // freed since it was listed
      std::string why = report_.in_use ? "an upload in progress, or left by an earlier crash"
                                       : "left by an interrupted upload or a crash";
      warning(0, "", "bodies/" + body_file_name(id) + " (" + std::to_string(st.st_size) + " bytes) is not referenced: " +
                         why + "; the router removes such files when it starts");
    }
  }

  void check_meta() {
    uint64_t last = std::max(last_seq_meta_, max_index_seq_);
    uint64_t watermark = applied_watermark(
        last, min_pending_seq_ != UINT64_MAX ? std::optional<uint64_t>(min_pending_seq_) : std::nullopt);
    if (last_seq_meta_ < max_index_seq_)
      problem(max_index_seq_, "", "the recorded last_seq " + std::to_string(last_seq_meta_) + " is behind the index");
    if (auto recorded = reader_.meta_u64(kMetaAppliedSeq); recorded && *recorded > watermark)
      problem(*recorded, "", "the recorded applied_seq " + std::to_string(*recorded) +
                                 " is ahead of the watermark the index implies (" + std::to_string(watermark) + ")");
    for (const auto& b : reader_.backend_states()) {
      if (b.state.role.empty()) problem(0, backend_state_key(b.address), "backend state does not read as JSON: " + b.raw);
      else if (b.state.watermark > last)
        problem(b.state.watermark, backend_state_key(b.address), "backend watermark is past last_seq " + std::to_string(last));
    }
  }

  Status recheck_missing_bodies() {
    if (missing_.empty()) return Status::Ok();
    if (Status s = reader_.catch_up(); !s.ok()) return s;
    for (const auto& m : missing_) {
      Status st;
      auto row = reader_.name(m.name, &st);
      if (!st.ok()) return st;
      if (!row || !row->in_index || !row->decodable || row->entry.seq != m.seq) continue;  // superseded: freed
      BodyLookup again = reader_.open_body(row->entry.body);
      if (again.state != BodyLookup::State::kOk) problem(m.seq, m.name, body_problem_text(again));
    }
    return Status::Ok();
  }

  JournalReader& reader_;
  VerifyReport& report_;
  uint64_t last_seq_meta_ = 0;
  uint64_t max_index_seq_ = 0;
  uint64_t min_pending_seq_ = UINT64_MAX;
  std::vector<uint64_t> listed_files_;
  std::vector<NameFact> facts_;
  std::vector<BodyRefFact> inline_refs_, file_refs_;
  std::vector<MissingBody> missing_;
  std::vector<size_t> unnamed_;  // indexes into report_.problems
};

nlohmann::ordered_json findings_json(const std::vector<Finding>& findings) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& f : findings) {
    nlohmann::ordered_json j;
    j["seq"] = f.seq;
    j["name"] = f.name;
    j["problem"] = f.what;
    out.push_back(j);
  }
  return out;
}

void print_findings(const char* title, const std::vector<Finding>& findings) {
  if (findings.empty()) return;
  std::cout << "\n" << title << ":\n";
  Table t({"SEQ", "NAME", "PROBLEM"});
  for (const auto& f : findings) t.add({f.seq ? std::to_string(f.seq) : "-", f.name.empty() ? "-" : f.name, f.what});
  t.print(std::cout);
}

bool reserved(std::string_view name) { return name.starts_with(kReservedNamePrefix); }

// What the volume holds under one name: absent, or a regular file with its
// size and checksum; `problem` when it cannot tell.
struct VolumeFile {
  bool exists = false;
  bool regular = false;
  uint64_t size = 0;
  std::string checksum;
  std::string problem;
};

VolumeFile read_volume_file(const std::string& path, uint64_t* bytes_read) {
  VolumeFile f;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) f.problem = std::string("cannot stat: ") + std::strerror(errno);
    return f;
  }
  f.exists = true;
  f.regular = S_ISREG(st.st_mode);
  f.size = static_cast<uint64_t>(st.st_size);
  if (!f.regular) return f;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    f.problem = std::string("cannot open: ") + std::strerror(errno);
    return f;
  }
  Checksum sum;
  std::vector<char> buf(1 << 20);
  uint64_t offset = 0;
  while (true) {
    ssize_t n = pread_some(fd, buf.data(), buf.size(), offset);
    if (n < 0) {
      f.problem = std::string("cannot read: ") + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    sum.update(buf.data(), static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  ::close(fd);
  *bytes_read += offset;
  f.size = offset;  // what was read: a file that changed size meanwhile is compared as read
  if (f.problem.empty()) f.checksum = sum.hex();
  return f;
}

// The mismatch between a name's latest state and the volume, or "".
std::string volume_mismatch(const IndexEntry& e, const VolumeFile& f) {
  if (!f.problem.empty()) return f.problem;
  if (e.op == Op::kDelete) {
    if (!f.exists) return "";
    return "present after DELETE (" + (f.regular ? std::to_string(f.size) + " bytes" : "not a regular file") + ")";
  }
  if (!f.exists) return "missing (journal: PUT of " + std::to_string(e.size) + " bytes)";
  if (!f.regular) return "not a regular file (journal: PUT of " + std::to_string(e.size) + " bytes)";
  if (f.size != e.size) return "size " + std::to_string(f.size) + ", journal " + std::to_string(e.size);
  if (f.checksum != e.checksum) return "checksum " + f.checksum + ", journal " + e.checksum;
  return "";
}

}  // namespace

Status verify_journal(JournalReader& reader, VerifyReport* report) {
  *report = VerifyReport();
  return Verifier(reader, report).run();
}

Status verify_volume(JournalReader& reader, const std::string& volume_dir, VolumeReport* report) {
  *report = VolumeReport();
  std::error_code ec;
  if (!fs::is_directory(volume_dir, ec)) return {Status::Code::kInvalid, "volume " + volume_dir + " is not a directory"};
  if (Status s = reader.catch_up(); !s.ok()) return s;
  // Every journal name against the volume.
  Status st = reader.for_each_name([&](const NameRow& row) {
    if (!row.in_index || reserved(row.name)) return true;
    if (!row.decodable) {
      report->mismatches.push_back({0, row.name, "index entry does not decode"});
      return true;
    }
    const IndexEntry& e = row.entry;
    ++report->names;
    ++(e.op == Op::kPut ? report->present : report->absent);
    VolumeFile f = read_volume_file(volume_dir + "/" + row.name, &report->bytes_read);
    std::string what = volume_mismatch(e, f);
    if (!what.empty()) {
      if (e.pending()) what += " [record pending: not applied yet]";
      report->mismatches.push_back({e.seq, row.name, std::move(what)});
    }
    return true;
  });
  if (!st.ok()) return st;
  // Every volume file the journal never heard of.
  for (const auto& entry : fs::directory_iterator(volume_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (reserved(name)) continue;
    Status lookup;
    auto row = reader.name(name, &lookup);
    if (!lookup.ok()) return lookup;
    if (row && row->in_index) continue;
    std::error_code size_ec;
    uint64_t size = entry.is_regular_file(size_ec) ? entry.file_size(size_ec) : 0;
    report->unknown.emplace_back(name, size);
  }
  if (ec) return {Status::Code::kIoError, "cannot list " + volume_dir + ": " + ec.message()};
  std::sort(report->mismatches.begin(), report->mismatches.end(),
            [](const Finding& a, const Finding& b) { return a.name < b.name; });
  std::sort(report->unknown.begin(), report->unknown.end());
  return Status::Ok();
}

namespace {

int run_verify_volume(const CommonOptions& common, JournalReader& reader, const std::string& volume_dir) {
  VolumeReport report;
  if (Status st = verify_volume(reader, volume_dir, &report); !st.ok()) {
    complain("verify --volume stopped: " + st.message);
    return st.code == Status::Code::kInvalid ? kExitUsage : kExitFound;
  }
  bool ok = report.mismatches.empty();
  if (common.json) {
    nlohmann::ordered_json j;
    j["ok"] = ok;
    j["journal_dir"] = reader.dir();
    j["volume"] = volume_dir;
    j["checked"] = {{"names", report.names},
                    {"present", report.present},
                    {"absent", report.absent},
                    {"bytes", report.bytes_read}};
    j["mismatches"] = findings_json(report.mismatches);
    nlohmann::ordered_json unknown = nlohmann::ordered_json::array();
    for (const auto& [name, size] : report.unknown) unknown.push_back({{"name", name}, {"size", size}});
    j["unknown"] = unknown;
    std::cout << json_pretty(j) << "\n";
  } else {
    Table t({"FIELD", "VALUE"});
    t.add({"journal_dir", reader.dir()});
    t.add({"volume", volume_dir});
    t.add({"names", std::to_string(report.names) + " (" + std::to_string(report.present) + " present, " +
                        std::to_string(report.absent) + " deleted); " + format_bytes(report.bytes_read) + " read"});
    t.add({"result", ok ? "OK: the volume matches the journal"
                        : std::to_string(report.mismatches.size()) + " mismatch(es)"});
    if (!report.unknown.empty())
      t.add({"unknown", std::to_string(report.unknown.size()) + " file(s) the journal never heard of"});
    t.print(std::cout);
    print_findings("mismatches", report.mismatches);
    if (!report.unknown.empty()) {
      std::cout << "\nunknown (not a mismatch):\n";
      Table u({"SIZE", "NAME"});
      for (const auto& [name, size] : report.unknown) u.add({std::to_string(size), name});
      u.print(std::cout);
    }
  }
  return ok ? kExitOk : kExitFound;
}

int run_verify(const CommonOptions& common, const std::string& volume_dir) {
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  ::setpriority(PRIO_PROCESS, 0, 10);
  if (!volume_dir.empty()) return run_verify_volume(common, *reader, volume_dir);
  VerifyReport report;
  if (Status st = verify_journal(*reader, &report); !st.ok()) {
    complain("verify stopped: " + st.message);
    return kExitFound;
  }
  bool ok = report.problems.empty();
  if (common.json) {
    nlohmann::ordered_json j;
    j["ok"] = ok;
    j["journal_dir"] = reader->dir();
    j["in_use"] = report.in_use;
    j["checked"] = {{"records", report.records},      {"first_seq", report.first_seq},
                    {"last_seq", report.last_seq},    {"names", report.names},
                    {"bodies", report.bodies_checked}, {"body_bytes", report.body_bytes_checked},
                    {"body_files", report.body_files}, {"bodies_freed", report.bodies_freed}};
    j["problems"] = findings_json(report.problems);
    j["warnings"] = findings_json(report.warnings);
    std::cout << json_pretty(j) << "\n";
  } else {
    Table t({"FIELD", "VALUE"});
    t.add({"journal_dir", reader->dir() + (report.in_use ? " (in use by a running router)" : "")});
    t.add({"records", std::to_string(report.records) +
                          (report.records ? " (seq " + std::to_string(report.first_seq) + " to " +
                                                std::to_string(report.last_seq) + ")"
                                          : "")});
    t.add({"names", std::to_string(report.names)});
    t.add({"bodies", std::to_string(report.bodies_checked) + " checked, " + format_bytes(report.body_bytes_checked) +
                         " read; " + std::to_string(report.body_files) + " body files; " +
                         std::to_string(report.bodies_freed) + " freed after being applied"});
    t.add({"result", ok ? "OK: no problem found" : std::to_string(report.problems.size()) + " problem(s)"});
    if (!report.warnings.empty()) t.add({"warnings", std::to_string(report.warnings.size())});
    t.print(std::cout);
    print_findings("problems", report.problems);
    print_findings("warnings", report.warnings);
  }
  return ok ? kExitOk : kExitFound;
}

}  // namespace

Subcommand add_verify_command(CLI::App& program, CommonOptions* common) {
  CLI::App* sub = add_subcommand(
      program, "verify", "fsjournal --journal-dir DIR verify [--volume DIR] [--json]",
      "scan everything; exit 0 clean, 1 with the list of problems, 2 if it cannot open\n\n"
      "Scans the whole journal: every record and index entry decodes, sequence numbers are contiguous,\n"
      "the index agrees with the records, applied marks are not past their records, the body of every\n"
      "name's latest PUT is present with its recorded size and checksum (recomputed), and no body is\n"
      "orphaned. Exit 0: no problem; 1: problems, listed with their sequence number and name; 2: the\n"
      "journal cannot be opened. Warnings (unreferenced body files) do not change the exit code.\n"
      "Safe on a journal the router is writing; runs at a lower CPU priority (nice 10).\n\n"
      "With --volume DIR it checks a data directory (the backends' shared volume) instead: every name\n"
      "whose latest state is a PUT must be a file of the journal's size and XXH3-128 checksum, every\n"
      "name whose latest state is a DELETE must be absent. Exit 0: the volume matches; 1: mismatches,\n"
      "listed with their sequence number and name. Reserved names (.fsrouter*) are skipped; files the\n"
      "journal never heard of are listed as unknown and do not change the exit code.");
  auto volume_dir = std::make_shared<std::string>();
  add_env_option(*sub, "volume", "", volume_dir.get(),
                 "compare this data directory (the backends' shared volume) with the journal's latest states")
      ->type_name("DIR");
  add_json_flag(*sub, common);
  return {sub, [common, volume_dir] { return run_verify(*common, *volume_dir); }};
}

}  // namespace fsr::journal::cli
