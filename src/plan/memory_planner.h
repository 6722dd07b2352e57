// The activation memory planner: one pure function, tested on its own.
//
//   std::vector<kiln::BufferRequest> reqs = {{1024, 0, 2}, {512, 1, 3}, {1024, 3, 4}};
//   kiln::MemoryPlan p = kiln::plan_memory(reqs, 64);
//   // p.offsets[i] is where buffer i lives in an arena of p.arena_bytes bytes; buffers
//   // whose lifetimes [first_use, last_use] overlap never overlap in memory.
#pragma once

#include <cstddef>
#include <vector>

namespace kiln {

struct BufferRequest {
  size_t size = 0;
  int first_use = 0;  // step index that writes it first
  int last_use = 0;   // step index that reads it last (inclusive)
};

struct MemoryPlan {
  std::vector<size_t> offsets;
  size_t arena_bytes = 0;
};

// Greedy by size (largest first), each buffer at the lowest aligned offset that does not
// collide with an already placed buffer whose lifetime overlaps. Deterministic.
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests, size_t alignment);

}  // namespace kiln
