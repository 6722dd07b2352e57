// The weight-pack file: packed weights of one model for one plan, mmap-able.
//
//   kiln::Status s = kiln::write_pack_file("cable.kwp", *plan, *weights, key);
//   kiln::Expected<std::shared_ptr<const kiln::Weights>> w = kiln::map_pack_file("cable.kwp", *plan, key);
//
// Layout (little-endian): a 128-byte header {magic "KILNWPK1", format version, header
// bytes, plan fingerprint, cache key, slot count, table offset, data offset, data bytes,
// data checksum, header checksum, the plan's weight layout hash, slot table checksum}, a slot
// table {offset, bytes} per weight slot, then the
// slots' bytes, each 64-byte aligned (the data section starts on a 2 MiB boundary so the
// mapping can use huge pages). Everything a reader needs to refuse a wrong, stale, truncated
// or corrupt file is checked before any byte is used.
#pragma once

#include <memory>
#include <string>

#include "core/hash.h"
#include "exec/plan.h"
#include "exec/weights.h"

namespace kiln {

constexpr uint32_t kPackFormatVersion = 3;  // 2: the plan's weight layout in the header; 3: a slot table checksum

Status write_pack_file(const std::string& path, const Plan& plan, const Weights& weights, uint64_t key);
// `key` must match the one written, unless it is kAnyKey (a pack file given explicitly by a
// user: its fingerprint, layout and checksum are still checked).
constexpr uint64_t kAnyKey = 0;
Expected<std::shared_ptr<const Weights>> map_pack_file(const std::string& path, const Plan& plan, uint64_t key);

}  // namespace kiln
