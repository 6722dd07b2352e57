// Large buffers that are ready to use: mapped and populated up front.
//
//   std::shared_ptr<uint8_t> arena = kiln::allocate_populated(64 << 20);
//
// Measured on this kind of VM (2026-11-26): 128 MB by malloc + first touch 67 ms; with
// MADV_HUGEPAGE before the touch 16-290 ms (direct compaction stalls); mmap MAP_POPULATE
// 35 ms, every time. Measured again on a later VM (2026-12-07, AMD Zen 5, kernel 6.18, a
// paravirtualised guest where every first touch of a 4 KiB page exits to the host): 34.5 MB
// by malloc + first touch 72-83 ms, MAP_POPULATE 4-9 ms but the first write into those pages
// still 32-43 ms, MADV_HUGEPAGE + MADV_POPULATE_WRITE 1.5 ms (37 ms the first time, while the
// kernel assembled huge pages) and writes at memory speed after; no compaction stall counted.
// The engine's preparation of a 31 MB TensorFlow U-Net went from 289-323 ms (4 runs) to
// 138-291 ms (10 runs, median ~170).
// So: buffers of 2 MiB or more are 2 MiB-aligned, advised for huge pages and populated (a
// kernel without THP gives small pages, populated the same); smaller ones are populated
// small pages. Page-aligned. (The preparation figures count the imported weights' tensors
// too: MappedTensorsScope below.)
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

// While one lives on a thread, the tensors of 2 MiB or more made on that thread are
// allocate_populated buffers of their own (core/tensor.cpp): preparation holds one, for the
// weights it imports, re-lays out and packs once. Elsewhere (requests) tensors stay on the
// heap, whose reuse of a freed buffer faults nothing: a fresh mapping per tensor measured
// 0.2-0.8 ms more than the heap for 3-24 MB (2026-12-07, the Zen 5 VM).
class MappedTensorsScope {
 public:
  MappedTensorsScope();
  ~MappedTensorsScope();
  MappedTensorsScope(const MappedTensorsScope&) = delete;
  MappedTensorsScope& operator=(const MappedTensorsScope&) = delete;
  static bool active();  // on this thread

 private:
  bool was_active_;
};

}  // namespace kiln

