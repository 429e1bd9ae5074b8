#include "loadtest/consistency_model.h"

#include <algorithm>
#include <limits>

namespace fsr::load {
namespace {
constexpr int64_t kForever = std::numeric_limits<int64_t>::max();
constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
}  // namespace

std::string ContentState::describe() const {
  if (!present) return "404";
  return std::to_string(size) + " bytes " + checksum.substr(0, 12);
}

ConsistencyModel::History& ConsistencyModel::history(const std::string& name) {
  auto [it, inserted] = histories_.try_emplace(name);
  if (inserted) {
    // Every name starts absent: a name this client never wrote.
    it->second.writes.push_back({0, kNever, kNever, false, WriteOutcome::kAcknowledged, ContentState::absent()});
  }
  return it->second;
}

ConsistencyModel::WriteId ConsistencyModel::begin_write(const std::string& name, int64_t now,
                                                        std::optional<ContentState> content) {
  WriteId id = next_id_++;
  history(name).writes.push_back({id, now, kForever, true, WriteOutcome::kUnknown, std::move(content)});
  return id;
}

void ConsistencyModel::set_write_content(const std::string& name, WriteId id, ContentState content) {
  auto it = histories_.find(name);
  if (it == histories_.end()) return;
  for (auto& w : it->second.writes)
    if (w.id == id) w.content = std::move(content);
}

void ConsistencyModel::end_write(const std::string& name, WriteId id, int64_t now, WriteOutcome outcome) {
  auto it = histories_.find(name);
  if (it == histories_.end()) return;
  auto& writes = it->second.writes;
  for (size_t i = 0; i < writes.size(); ++i) {
    if (writes[i].id != id) continue;
    if (outcome == WriteOutcome::kRefused) {
      writes.erase(writes.begin() + static_cast<long>(i));
    } else {
      writes[i].in_flight = false;
      writes[i].end = now;
      writes[i].outcome = outcome;
    }
    break;
  }
  prune(name);
}

ConsistencyModel::ReadId ConsistencyModel::begin_read(const std::string& name, int64_t now) {
  ReadId id = next_id_++;
  history(name).reads.push_back({id, now});
  return id;
}

bool ConsistencyModel::superseded(const History& h, const Write& w, int64_t before) {
  if (w.in_flight) return false;
  for (const auto& x : h.writes)
    if (!x.in_flight && x.outcome == WriteOutcome::kAcknowledged && x.start > w.end && x.end < before) return true;
  return false;
}

ConsistencyModel::Verdict ConsistencyModel::end_read(const std::string& name, ReadId id, int64_t now,
                                                     const ContentState* observed) {
  Verdict verdict;
  auto it = histories_.find(name);
  if (it == histories_.end()) return verdict;
  History& h = it->second;
  int64_t start = now;
  for (size_t i = 0; i < h.reads.size(); ++i) {
    if (h.reads[i].id == id) {
      start = h.reads[i].start;
      h.reads.erase(h.reads.begin() + static_cast<long>(i));
      break;
    }
  }
  if (observed) {
    verdict.checked = true;
    verdict.valid = false;
    std::string expected;
    for (const auto& w : h.writes) {
      // A write's bytes are only readable once all of them were sent.
      if (!w.content || w.start > now || superseded(h, w, start)) continue;
      if (*w.content == *observed) {
        verdict.valid = true;
        break;
      }
      if (!expected.empty()) expected += " or ";
      expected += w.content->describe();
    }
    if (!verdict.valid) verdict.expected = expected.empty() ? "nothing readable" : expected;
  }
  prune(name);
  return verdict;
}

void ConsistencyModel::prune(const std::string& name) {
  auto it = histories_.find(name);
  if (it == histories_.end()) return;
  History& h = it->second;
  int64_t oldest_read = kForever;
  for (const auto& r : h.reads) oldest_read = std::min(oldest_read, r.start);
  // Reads still in flight may observe anything current since they started.
  std::vector<Write> kept;
  kept.reserve(h.writes.size());
  for (const auto& w : h.writes)
    if (!superseded(h, w, oldest_read)) kept.push_back(w);
  h.writes = std::move(kept);
  if (h.reads.empty() && h.writes.size() == 1 && !h.writes[0].in_flight &&
      h.writes[0].outcome == WriteOutcome::kAcknowledged && h.writes[0].content &&
      !h.writes[0].content->present)
    histories_.erase(it);
}

}  // namespace fsr::load
