// Large buffers that are ready to use: mapped and populated in one system call.
//
//   std::shared_ptr<uint8_t> arena = kiln::allocate_populated(64 << 20);
//
// Measured on this kind of VM (2026-11-26): 128 MB by malloc + first touch 67 ms; with
// MADV_HUGEPAGE before the touch 16-290 ms (direct compaction stalls); mmap MAP_POPULATE
// 35 ms, every time; huge pages advised after populating brought no steady-state gain but
// occasional multi-millisecond stalls (khugepaged collapsing them under a run). So: plain
// pages, populated up front, by all cores. Page-aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace kiln {

std::shared_ptr<uint8_t> allocate_populated(size_t bytes);
// The same without ownership, for pools that keep buffers across owners: null when out of
// memory; give it back with unmap_populated(p, bytes).
uint8_t* map_populated(size_t bytes);
void unmap_populated(uint8_t* p, size_t bytes);

}  // namespace kiln

