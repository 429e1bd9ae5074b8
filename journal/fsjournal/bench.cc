// fsjournal_bench: builds a large journal through the router's own Journal
// class, for journal/fsjournal/bench.sh to time fsjournal on. Not a test.
//
// Records are PUTs of small bodies (inline), every --file-every-th a larger
// body (a body file), every --delete-every-th a DELETE, over --names names
// chosen at random, committed by --threads concurrent writers (group
// commit). Each commit is marked applied as the router's applier would,
// except --pending-every-th, which stays pending.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "common/flags.h"
#include "common/log.h"
#include "journal/journal.h"

int main(int argc, char** argv) {
  std::string dir;
  int64_t records = 1000000, names = 250000, threads = 64, small_size = 200, file_size = 100 * 1024;
  int64_t file_every = 1000, delete_every = 50, pending_every = 100;
  bool sequential_names = false, crash = false;
  CLI::App app{"Builds a journal of --records records through fsr::journal::Journal.", "fsjournal_bench"};
  fsr::use_flag_conventions(app, "fsjournal_bench --journal-dir DIR [flags]");
  fsr::add_env_option(app, "journal-dir", "", &dir, "the journal to create (must not exist)");
  fsr::add_env_option(app, "records", "", &records, "records to commit");
  fsr::add_env_option(app, "names", "", &names, "distinct names written");
  fsr::add_env_option(app, "threads", "", &threads, "concurrent writers (their commits share synced writes)");
  fsr::add_env_option(app, "small-size", "", &small_size, "bytes of an ordinary body (stored inline)");
  fsr::add_env_option(app, "file-size", "", &file_size, "bytes of every --file-every-th body (a body file)");
  fsr::add_env_option(app, "file-every", "", &file_every, "one record in this many has a body file");
  fsr::add_env_option(app, "delete-every", "", &delete_every, "one record in this many is a DELETE");
  fsr::add_env_option(app, "pending-every", "", &pending_every, "one record in this many is left pending");
  fsr::add_env_switch(app, "sequential-names", "", &sequential_names,
                      "record i writes name i modulo --names (every name once when --records equals --names) "
                      "instead of a random one");
  fsr::add_env_switch(app, "crash", "", &crash,
                      "exit without closing the journal, as a killed router would: the last writes stay in "
                      "RocksDB's log for the next open to replay");
  if (int code = fsr::parse_command_line(app, argc, argv); code >= 0) return code;
  if (dir.empty() || records < 1 || names < 1 || threads < 1) {
    std::cerr << "fsjournal_bench: --journal-dir, --records, --names and --threads are required\n";
    return 2;
  }
  fsr::set_log_level(fsr::LogLevel::kWarn);
  fsr::journal::Options options;
  options.dir = dir;
  std::unique_ptr<fsr::journal::Journal> journal;
  if (auto s = fsr::journal::Journal::open(options, &journal); !s.ok()) {
    std::cerr << "fsjournal_bench: " << s.message << "\n";
    return 1;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> writers;
  for (int64_t t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      std::string small(static_cast<size_t>(small_size), 'x'), large(static_cast<size_t>(file_size), 'y');
      for (int64_t i; (i = next.fetch_add(1)) < records && !failed;) {
        char name[32];
        std::snprintf(name, sizeof name, "bench/%08llu", static_cast<unsigned long long>(sequential_names ? i % names : rng() % names));
        uint64_t seq = 0;
        fsr::journal::Status s;
        if (delete_every > 0 && i % delete_every == delete_every - 1) {
          s = journal->commit_delete(name, &seq);
        } else {
          std::string& body = file_every > 0 && i % file_every == 0 ? large : small;
          body[0] = static_cast<char>('a' + i % 26);  // distinct checksums
          auto writer = journal->new_body();
          s = writer->append(body.data(), body.size());
          if (s.ok()) s = journal->commit_put(name, std::move(writer), &seq);
        }
        if (!s.ok()) {
          std::cerr << "fsjournal_bench: commit failed: " << s.message << "\n";
          failed = true;
          return;
        }
        if (pending_every <= 0 || i % pending_every != 0) journal->mark_applied(name, seq);
      }
    });
  }
  for (auto& w : writers) w.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  journal->wait_for_index_walk();
  auto stats = journal->stats();
  std::cout << "built " << stats.last_seq << " records over " << stats.names << " names in " << seconds << " s ("
            << static_cast<int64_t>(stats.last_seq / seconds) << " commits/s); pending " << stats.pending_count
            << ", body bytes " << stats.body_bytes << (crash ? " (left without closing)" : "") << std::endl;
  if (crash) std::_Exit(failed ? 1 : 0);
  journal.reset();
  return failed ? 1 : 0;
}
