// The entity tag (HTTP ETag) of a name's state: the journal's id and the
// seq of the name's latest record, `"<journal id>-<seq>"`. The one place that
// writes and reads it; the router sends it, `fsjournal replay` builds it.
//
// Why the seq and not the body's checksum: a seq names one committed write,
// so If-Match detects every write in between, even one that stored the same
// bytes again or went back to an older content (A, B, A), and checking it at
// commit is one integer comparison on the committer thread. The cost: a
// rewrite of identical bytes changes the tag, so a cache fetches the body
// once more. The journal id keeps a tag of another journal (a router started
// on a fresh directory, whose seqs start again at 1) from ever matching.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fsr::journal {

// `"<journal_id>-<seq>"`, quotes included (a strong tag).
std::string entity_tag(std::string_view journal_id, uint64_t seq);
// The seq of a strong tag of this journal, quotes included; nullopt for a
// weak tag, a tag of another journal or anything else.
std::optional<uint64_t> entity_tag_seq(std::string_view tag, std::string_view journal_id);

}  // namespace fsr::journal
