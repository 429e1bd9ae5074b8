// What the router's housekeeping thread calls: the backends' recorded state
// and the compaction of applied history; and the journal's disk footprint.
#include <sys/statvfs.h>

#include <filesystem>

#include "common/log.h"
#include "journal/database.h"

namespace fsr::journal {

void Journal::save_backend_state(const std::string& address, const BackendState& state) {
  std::string json = encode_backend_state(state);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = backend_states_.find(address);
    if (it != backend_states_.end() && it->second == json) return;
    backend_states_[address] = json;
  }
  db_->db->Put(rocksdb::WriteOptions(), db_->meta, backend_state_key(address), json);
}

std::map<std::string, BackendState> Journal::backend_states() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, BackendState> out;
  for (const auto& [address, json] : backend_states_)
    if (auto state = decode_backend_state(json)) out.emplace(address, *state);
  return out;
}

void Journal::compact_history() {
  uint64_t watermark = applied_seq();
  int64_t cutoff_time = now_ms() - options_.record_retention_ms;
  uint64_t first_kept = 0;
  uint64_t first = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions(), db_->records));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t seq = decode_seq_key(it->key().ToStringView());
    if (first == 0) first = seq;
    auto rec = decode_record(seq, it->value().ToStringView());
    if (seq > watermark || !rec || rec->time_ms >= cutoff_time) {
      first_kept = seq;
      break;
    }
    first_kept = seq + 1;
  }
  if (first == 0 || first_kept <= first) return;
  db_->db->DeleteRange(rocksdb::WriteOptions(), db_->records, encode_seq_key(first), encode_seq_key(first_kept));
  log_info("journal_compacted").kv("first_seq", first).kv("last_seq", first_kept - 1);
}

JournalDiskUsage Journal::disk_usage() const {
  namespace fs = std::filesystem;
  JournalDiskUsage usage;
  std::error_code ec;
  // Files come and go while the walk runs (compaction, freed bodies): a
  // file gone meanwhile is skipped, not an error.
  for (fs::recursive_directory_iterator it(options_.dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (!it->is_regular_file(size_ec)) continue;
    uint64_t size = it->file_size(size_ec);
    if (!size_ec) usage.journal_bytes += size;
  }
  struct statvfs fs_stats {};
  if (::statvfs(options_.dir.c_str(), &fs_stats) == 0) {
    usage.filesystem_free_bytes = static_cast<uint64_t>(fs_stats.f_bavail) * fs_stats.f_frsize;
    usage.filesystem_size_bytes = static_cast<uint64_t>(fs_stats.f_blocks) * fs_stats.f_frsize;
  }
  return usage;
}

}  // namespace fsr::journal
