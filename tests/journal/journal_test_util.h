// Shared test code for the journal tests: open a journal, commit a body,
// read a body back, list body files, and look at the RocksDB column families
// directly (with the journal closed) to check what is on disk.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "journal/journal.h"

namespace fsr::journal::test {

// Opens the journal and fails the test (returning nullptr) if it cannot.
std::unique_ptr<Journal> open_journal(const Options& options);

// Streams `body` into a new BodyWriter in uneven chunks, then commits it.
Status put(Journal& journal, const std::string& name, const std::string& body, uint64_t* seq);
// put() that must succeed; returns the seq.
uint64_t must_put(Journal& journal, const std::string& name, const std::string& body);
uint64_t must_delete(Journal& journal, const std::string& name);

// The bytes of the entry's body, or nullopt when open_body or a read fails.
std::optional<std::string> read_body(const Journal& journal, const IndexEntry& entry);
// The latest body of `name`, or nullopt.
std::optional<std::string> read_latest(const Journal& journal, const std::string& name);

// File names in <dir>/bodies, sorted.
std::vector<std::string> body_files(const std::string& journal_dir);

// Everything in the journal's RocksDB database, read with the journal closed:
// column family name -> (key -> value).
using RawFamilies = std::map<std::string, std::map<std::string, std::string>>;
RawFamilies read_raw(const std::string& journal_dir);
// Writes one key of one column family, with the journal closed: puts back an
// older value, as a crash that lost the newer (unsynced) write would.
void put_raw(const std::string& journal_dir, const std::string& family, const std::string& key,
             const std::string& value);
// Deletes one key, with the journal closed.
void delete_raw(const std::string& journal_dir, const std::string& family, const std::string& key);
// Puts `value`, or deletes the key when it is nullopt.
void change_raw(const std::string& journal_dir, const std::string& family, const std::string& key,
                const std::optional<std::string>& value);

// Every path below `dir` with its size and modification time, for "nothing
// changed" checks.
std::map<std::string, std::string> snapshot_tree(const std::string& dir);

}  // namespace fsr::journal::test
