#include "common/checksum.h"

#include <cstdio>

namespace fsr {

Checksum::Checksum() : state_(XXH3_createState()) { XXH3_128bits_reset(state_); }
Checksum::~Checksum() { XXH3_freeState(state_); }

void Checksum::update(const void* data, size_t size) { XXH3_128bits_update(state_, data, size); }

std::string Checksum::hex() {
  XXH128_hash_t h = XXH3_128bits_digest(state_);
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

std::string checksum_of(std::string_view data) {
  Checksum c;
  c.update(data);
  return c.hex();
}

}  // namespace fsr
