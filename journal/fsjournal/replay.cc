// `fsjournal replay`: after a backend volume was restored from an older
// copy, re-send the latest state of each name through the running router so
// the volume matches the journal again.
//
// Why through the router: it journals each re-sent write anew and applies it
// like any other, so the connection cap, the one-writer rule and the wedge
// guards stay in force; fsjournal never talks to a backend.
// Never an old state over a newer one: each write is conditional, and the
// router checks the condition atomically with its commit. A PUT carries
// `If-Match` with the entity tag of the state it restores
// (journal/entity_tag.h: this journal's id and that seq), so any client
// write of the name since then makes the router refuse it with 412; a
// DELETE carries `If-None-Match: *`, refused once a client has put the name
// again (a client DELETE meanwhile leaves the same state). A refused write
// is skipped: the newer write reaches the volume by itself. The index entry
// is also read again right before each send, to skip a name that moved
// without a round trip.
#include <httplib.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "common/checksum.h"
#include "common/names.h"
#include "journal/entity_tag.h"
#include "journal/fsjournal/commands.h"
#include "journal/fsjournal/output.h"
#include "journal/fsjournal/runtime.h"

namespace fsr::journal::cli {
namespace {

enum class Action { kSend, kSkip, kCannotRestore };

struct ReplayItem {
  std::string name;
  uint64_t seq = 0;
  Op op = Op::kPut;
  uint64_t size = 0;
  BodyRef body;
  Action action = Action::kSend;
  std::string reason;
  // After --execute:
  std::string result;  // "sent", "skipped", "failed"; "" when not attempted
  uint64_t new_seq = 0;
  std::string detail;
};

const char* action_name(Action a) {
  switch (a) {
    case Action::kSend: return "send";
    case Action::kSkip: return "skip";
    case Action::kCannotRestore: return "cannot_restore";
  }
  return "?";
}

// "http://host:port" or "host:port" -> host and port.
bool parse_router(const std::string& url, std::string* host, int* port) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos) return false;
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  return split_host_port(rest, host, port) && !host->empty();
}

// Reads the whole body to check it against the index before it is re-sent.
std::string body_problem(const JournalReader& reader, const ReplayItem& item) {
  BodyLookup found = reader.open_body(item.body);
  if (found.state == BodyLookup::State::kNone)
    return "its body was freed after it was applied (the router's body cache budget): restore it from a backup";
  if (found.state == BodyLookup::State::kMissing) return "its body is missing from the journal (" + found.where + ")";
  if (found.state != BodyLookup::State::kOk) return "its body is unreadable: " + found.detail;
  if (found.reader->size() != item.size) return "its stored body has the wrong size (" + found.where + ")";
  std::string sum, error;
  if (!checksum_body(*found.reader, &sum, &error)) return "its body is unreadable: " + error;
  return "";
}

class Replayer {
 public:
  Replayer(JournalReader& reader, std::string host, int port, std::string admin_host, int admin_port, int timeout_s)
      : reader_(reader), client_(host, port), admin_(admin_host, admin_port) {
    admin_.set_connection_timeout(5, 0);
    admin_.set_read_timeout(timeout_s, 0);
    client_.set_url_encode(false);
    client_.set_keep_alive(true);
    client_.set_connection_timeout(5, 0);
    client_.set_read_timeout(timeout_s, 0);
    client_.set_write_timeout(timeout_s, 0);
  }

  // The router must be serving this very journal.
  bool check_router(const std::string& url, const std::string& admin_url) {
    if (!reader_.in_use()) {
      complain("no router holds " + reader_.dir() + " open, so the router at " + url +
               " serves another journal; start the router on this journal (it replays its pending records itself "
               "on start), then run replay against it");
      return false;
    }
    auto res = admin_.Get("/admin/status");
    if (!res) {
      complain("cannot reach the router's admin address " + admin_url + ": " + httplib::to_string(res.error()));
      return false;
    }
    auto j = nlohmann::ordered_json::parse(res->body, nullptr, false);
    if (res->status != 200 || !j.is_object() || !j.contains("last_seq")) {
      complain("the router's admin address " + admin_url + " did not answer GET /admin/status with its status (HTTP " +
               std::to_string(res->status) + ")");
      return false;
    }
    // The writes' entity tags name this journal: the router must serve it.
    journal_id_ = reader_.meta_text(kMetaJournalId).value_or("");
    std::string router_id = j.contains("journal_id") && j["journal_id"].is_string() ? j["journal_id"].get<std::string>() : "";
    if (journal_id_.empty() || router_id != journal_id_) {
      complain("the router at " + url + " serves journal '" + router_id + "', not " + reader_.dir() + " ('" +
               journal_id_ + "'): it is serving another journal");
      return false;
    }
    uint64_t router_last = j["last_seq"].get<uint64_t>();
    uint64_t journal_last = reader_.meta_u64(kMetaLastSeq).value_or(0);
    if (router_last < journal_last) {
      complain("the router at " + url + " reports last_seq " + std::to_string(router_last) + ", behind this journal's " +
               std::to_string(journal_last) + ": it is not serving " + reader_.dir());
      return false;
    }
    return true;
  }

  void send(ReplayItem& item) {
    Status st = reader_.catch_up();
    std::optional<NameRow> row;
    if (st.ok()) row = reader_.name(item.name, &st);
    if (!st.ok()) {
      item.result = "failed";
      item.detail = st.message;
      return;
    }
    if (!row || !row->decodable || row->entry.seq != item.seq) {
      item.result = "skipped";
      item.detail = "changed since the scan (now seq " + std::to_string(row ? row->entry.seq : 0) +
                    "): the newer write reaches the volume by itself";
      return;
    }
    std::string path = std::string(kApiPrefix) + fsr::percent_encode(item.name);
    httplib::Headers headers = {item.op == Op::kDelete ? std::pair<std::string, std::string>{"If-None-Match", "*"}
                                                       : std::pair<std::string, std::string>{
                                                             "If-Match", entity_tag(journal_id_, item.seq)}};
    std::string open_problem;
    auto call = [&]() -> httplib::Result {
      if (item.op == Op::kDelete) return client_.Delete(path, headers);
      BodyLookup found = reader_.open_body(row->entry.body);  // held open: a newer write may free it meanwhile
      if (found.state != BodyLookup::State::kOk) {
        open_problem = "body no longer readable: " + found.where;
        return httplib::Result(nullptr, httplib::Error::Unknown);
      }
      std::shared_ptr<BodyReader> body(std::move(found.reader));
      if (body->size() == 0) return client_.Put(path, headers, std::string(), "application/octet-stream");
      return client_.Put(
          path, headers, body->size(),
          [body](size_t offset, size_t length, httplib::DataSink& sink) {
            std::vector<char> buf(std::min<size_t>(length, 1 << 20));
            long n = body->read_at(offset, buf.data(), buf.size());
            if (n <= 0) return false;
            return sink.write(buf.data(), static_cast<size_t>(n));
          },
          "application/octet-stream");
    };
    httplib::Result res = call();
    if (!open_problem.empty()) {
      item.result = "failed";
      item.detail = open_problem;
      return;
    }
    if (!res) {
      item.result = "failed";
      item.detail = "no answer from the router: " + httplib::to_string(res.error());
      router_lost_ = res.error() == httplib::Error::Connection;
      return;
    }
    if (res->status == 412) {
      item.result = "skipped";
      item.detail = "a client wrote this name after the scan; the router refused the older state (412), and the newer "
                    "write reaches the volume by itself";
      return;
    }
    if (res->status != 200 && res->status != 201) {
      item.result = "failed";
      std::string text = res->body.substr(0, 200);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      item.detail = "HTTP " + std::to_string(res->status) + ": " + text;
      return;
    }
    item.result = "sent";
    item.new_seq = std::strtoull(res->get_header_value("X-Fsrouter-Seq").c_str(), nullptr, 10);
    item.detail = "journaled as seq " + std::to_string(item.new_seq);
  }

  bool router_lost() const { return router_lost_; }

 private:
  JournalReader& reader_;
  httplib::Client client_;
  httplib::Client admin_;  // the router's --admin-listen address: /admin/status
  bool router_lost_ = false;
  std::string journal_id_;  // of the journal read, which the router serves (check_router)
};

struct ReplayOptions {
  std::string router;
  std::string router_admin;  // empty: the router's host, port 8081
  int64_t from_seq = 0, to_seq = 0, timeout_s = 60;
  bool execute = false;
  bool include_pending = false;
};

int run_replay(const CommonOptions& common, const ReplayOptions& options) {
  const std::string& router = options.router;
  const int64_t from_seq = options.from_seq, to_seq = options.to_seq, timeout_s = options.timeout_s;
  const bool execute = options.execute;
  const bool include_pending = options.include_pending;
  if (router.empty()) {
    complain("replay goes through the running router: pass --router http://HOST:PORT (a stopped router replays its "
             "pending records itself when it starts; start it first)");
    return kExitUsage;
  }
  std::string host;
  int port = 0;
  if (!parse_router(router, &host, &port)) {
    complain("--router must be http://HOST:PORT, got '" + router + "'");
    return kExitUsage;
  }
  std::string admin_url = options.router_admin.empty() ? "http://" + host + ":8081" : options.router_admin;
  std::string admin_host;
  int admin_port = 0;
  if (!parse_router(admin_url, &admin_host, &admin_port)) {
    complain("--router-admin must be http://HOST:PORT, got '" + admin_url + "'");
    return kExitUsage;
  }
  if (from_seq < 0 || to_seq < 0 || timeout_s < 1) {
    complain("--from-seq and --to-seq must not be negative, --timeout-s at least 1");
    return kExitUsage;
  }
  uint64_t first = from_seq > 0 ? static_cast<uint64_t>(from_seq) : 1;
  uint64_t last = to_seq > 0 ? static_cast<uint64_t>(to_seq) : UINT64_MAX;
  std::unique_ptr<JournalReader> reader;
  if (!open_journal(common, &reader)) return kExitUsage;
  Replayer replayer(*reader, host, port, admin_host, admin_port, static_cast<int>(timeout_s));
  if (!replayer.check_router(router, admin_url)) return kExitUsage;

  // The plan: every name whose latest record is in range.
  std::vector<ReplayItem> items;
  std::map<std::string, uint64_t> newer;  // names with a record in range whose latest is past --to-seq
  Status st = reader->for_each_name([&](const NameRow& row) {
    if (!row.in_index || !row.decodable) return true;
    const IndexEntry& e = row.entry;
    if (e.seq > last && to_seq > 0) newer[row.name] = e.seq;
    if (e.seq < first || e.seq > last) return true;
    ReplayItem item;
    item.name = row.name;
    item.seq = e.seq;
    item.op = e.op;
    item.size = e.size;
    item.body = e.body;
    if (e.pending() && !include_pending) {
      item.action = Action::kSkip;
      item.reason = "pending: the router applies it itself";
    } else if (e.op == Op::kPut) {
      item.reason = body_problem(*reader, item);
      if (!item.reason.empty()) item.action = Action::kCannotRestore;
    }
    items.push_back(std::move(item));
    return true;
  });
  // A record in range superseded past --to-seq: its state as of the range is gone.
  if (st.ok() && to_seq > 0 && !newer.empty()) {
    std::map<std::string, uint64_t> gone;
    st = reader->for_each_record(first, last, false, [&](const RecordRow& r) {
      if (r.record && newer.count(r.record->name)) gone[r.record->name] = r.seq;
      return true;
    });
    for (const auto& [name, seq] : gone) {
      ReplayItem item;
      item.name = name;
      item.seq = seq;
      item.action = Action::kCannotRestore;
      item.reason = "its state as of --to-seq was superseded by seq " + std::to_string(newer[name]) +
                    " and its body freed; widen --to-seq to " + std::to_string(newer[name]) + " to re-send the latest";
      items.push_back(std::move(item));
    }
  }
  if (!st.ok()) {
    complain(st.message);
    return kExitFound;
  }
  std::sort(items.begin(), items.end(), [](const ReplayItem& a, const ReplayItem& b) { return a.seq < b.seq; });

  size_t to_send = 0, cannot = 0, skipped = 0, sent = 0, failed = 0;
  for (const auto& i : items) {
    if (i.action == Action::kSend) ++to_send;
    else if (i.action == Action::kCannotRestore) ++cannot;
    else ++skipped;
  }
  if (execute) {
    set_interruptible(true);
    for (auto& item : items) {
      if (item.action != Action::kSend) continue;
      if (stop_requested() || replayer.router_lost()) {
        item.result = "failed";
        item.detail = stop_requested() ? "not sent: interrupted" : "not sent: the router is unreachable";
      } else {
        replayer.send(item);
      }
      if (item.result == "sent") ++sent;
      else if (item.result == "failed") ++failed;
      else ++skipped;
    }
  }

  if (common.json) {
    nlohmann::ordered_json j;
    j["router"] = router;
    j["executed"] = execute;
    j["from_seq"] = first;
    j["to_seq"] = to_seq > 0 ? nlohmann::ordered_json(to_seq) : nlohmann::ordered_json();
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& i : items) {
      nlohmann::ordered_json e;
      e["seq"] = i.seq;
      e["name"] = i.name;
      e["name_encoded"] = fsr::percent_encode(i.name);
      e["op"] = op_name(i.op);
      e["size"] = i.size;
      e["action"] = action_name(i.action);
      e["reason"] = i.reason;
      if (!i.result.empty()) {
        e["result"] = i.result;
        e["detail"] = i.detail;
        if (i.new_seq) e["new_seq"] = i.new_seq;
      }
      list.push_back(e);
    }
    j["names"] = list;
    j["to_send"] = to_send;
    j["cannot_restore"] = cannot;
    j["sent"] = sent;
    j["skipped"] = skipped;
    j["failed"] = failed;
    std::cout << json_pretty(j) << "\n";
  } else {
    Table t({"SEQ", "OP", "SIZE", execute ? "RESULT" : "ACTION", "NAME"});
    for (const auto& i : items) {
      std::string what = execute && !i.result.empty() ? i.result + ": " + i.detail
                         : i.action == Action::kSend  ? "send"
                                                      : std::string(action_name(i.action)) + ": " + i.reason;
      t.add({std::to_string(i.seq), op_name(i.op), i.op == Op::kPut ? std::to_string(i.size) : "-", what, i.name});
    }
    t.print(std::cout);
    std::cout << "\n";
    if (execute)
      std::cout << sent << " sent, " << failed << " failed, " << skipped << " skipped, " << cannot
                << " cannot be restored\n";
    else
      std::cout << "dry run: " << to_send << " to send, " << skipped << " skipped, " << cannot
                << " cannot be restored; add --execute to send them through " << router << "\n";
  }
  return (cannot == 0 && failed == 0) ? kExitOk : kExitFound;
}

}  // namespace

Subcommand add_replay_command(CLI::App& program, CommonOptions* common) {
  auto options = std::make_shared<ReplayOptions>();
  CLI::App* sub = add_subcommand(
      program, "replay",
      "fsjournal --journal-dir DIR replay --router http://HOST:PORT [--from-seq N] [--to-seq N] [--execute]",
      "re-send each name's latest state through the running router after a volume restore\n\n"
      "After a backend volume was restored from an older copy: re-sends the latest state of each name\n"
      "(those whose latest record is in --from-seq..--to-seq, or all) through the running router, which\n"
      "journals each write anew and applies it to the primary with its usual guards. A dry run unless\n"
      "--execute. Names still pending are skipped (the router applies them itself). A name whose latest\n"
      "record changes after the scan is skipped, and each write is conditional (If-Match, or If-None-Match\n"
      "for a DELETE) so the router refuses it if a client wrote the name meanwhile: an old state never\n"
      "replaces a newer one. Names that\n"
      "cannot be restored (body freed or missing) are listed. Without --router it refuses: a stopped\n"
      "router replays its pending records itself when it starts. Exit 1 when a name could not be restored.");
  add_json_flag(*sub, common);
  add_env_option(*sub, "router", "FSJOURNAL_ROUTER", &options->router,
                 "the router serving this journal, http://HOST:PORT");
  add_env_option(*sub, "router-admin", "FSJOURNAL_ROUTER_ADMIN", &options->router_admin,
                 "the router's --admin-listen address, for its /admin/status, http://HOST:PORT (empty: the "
                 "--router host, port 8081)");
  add_env_option(*sub, "from-seq", "", &options->from_seq, "only names whose latest record is at or after this seq");
  add_env_option(*sub, "to-seq", "", &options->to_seq,
                 "only names whose latest record is at or before this seq (0: no bound)");
  add_env_switch(*sub, "execute", "", &options->execute, "send the writes (without it: print the plan only)");
  add_env_switch(*sub, "include-pending", "", &options->include_pending,
                 "also re-send names the router has not applied yet");
  add_env_option(*sub, "timeout-s", "", &options->timeout_s, "how long to wait for the router on each write");
  return {sub, [common, options] { return run_replay(*common, *options); }};
}

}  // namespace fsr::journal::cli
