// The status fields the router's GET /admin/status and `fsjournal status
// --json` share (docs/status-fields.md): built here once, so the two agree
// field for field. Each side adds only the fields that are its own.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "journal/format.h"
#include "journal/journal.h"

namespace fsr::journal {

// last_seq, applied_seq, pending_count, pending_bytes, oldest_pending_age_ms,
// names and body_bytes, in that order. Json is nlohmann::json or ordered_json.
template <typename Json>
void add_journal_status_fields(const JournalStats& stats, Json* out) {
  Json& j = *out;
  j["last_seq"] = stats.last_seq;
  j["applied_seq"] = stats.applied_seq;
  j["pending_count"] = stats.pending_count;
  j["pending_bytes"] = stats.pending_bytes;
  j["oldest_pending_age_ms"] = stats.oldest_pending_age_ms;
  j["names"] = stats.names;
  j["body_bytes"] = stats.body_bytes;
}

// One entry of `backends`: address, role, healthy (when known) and watermark.
template <typename Json>
Json backend_status_fields(const std::string& address, const BackendState& state) {
  Json e;
  e["address"] = address;
  e["role"] = state.role;
  if (state.healthy) e["healthy"] = *state.healthy;
  e["watermark"] = state.watermark;
  return e;
}

}  // namespace fsr::journal
