// Test support for fsjournal: run the real program and capture what it
// prints, build journals with the router's own Journal class, and run a
// router with a stand-in backend on loopback (the shared test stack).
#pragma once

#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "journal/journal.h"
#include "tests/support/process.h"
#include "tests/support/stack.h"

namespace fsr::test {

struct RunResult {
  int exit_code = -1;  // -1: killed or did not finish
  std::string out;
  std::string err;
  nlohmann::json json() const;  // stdout parsed; null when it is not JSON
  std::vector<nlohmann::json> ndjson() const;
};

// Runs `fsjournal args...` to completion (at most `patience`).
RunResult run_fsjournal(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {},
                        std::chrono::milliseconds patience = std::chrono::seconds(120));

// A journal built through fsr::journal::Journal, the router's own writer.
class JournalBuilder {
 public:
  explicit JournalBuilder(std::string dir, size_t inline_body_max = 64);
  ~JournalBuilder();
  uint64_t put(const std::string& name, const std::string& body);
  uint64_t del(const std::string& name);
  void applied(const std::string& name, uint64_t seq) { journal_->mark_applied(name, seq); }
  void backend(const std::string& address, const journal::BackendState& state) {
    journal_->save_backend_state(address, state);
  }
  journal::Journal& journal() { return *journal_; }
  void close() { journal_.reset(); }

 private:
  std::string dir_;
  std::unique_ptr<journal::Journal> journal_;
};

// Every file under dir (recursively) with its size and modification time.
std::map<std::string, std::string> dir_listing(const std::string& dir);
// Inverts the bits of one byte of a file in place.
void flip_byte(const std::string& path, long offset);
// Overwrites (or, without a value, deletes) one key of a journal's column
// family directly (journal closed).
void rocks_put(const std::string& dir, const std::string& column_family, const std::string& key,
               const std::optional<std::string>& value);
std::string base64_decode(const std::string& text);
// The files of a backend data directory, name -> content, without the router's reserved files.
inline std::map<std::string, std::string> volume_files(const std::string& dir) { return read_data_dir(dir); }

// A router in front of one fileserver stand-in, as local processes in dir:
// the shared test stack, with the backend started at once.
class LiveStack : public Stack {
 public:
  explicit LiveStack(const TempDir& dir, int latency_ms = 5) : Stack(dir) { start_backends(1, latency_ms); }
  void stop_router() { Stack::stop_router(SIGTERM); }
};

}  // namespace fsr::test
