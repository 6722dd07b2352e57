#include "plan/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace kiln {

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests, size_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  auto align_up = [&](size_t v) { return (v + alignment - 1) / alignment * alignment; };
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return requests[a].size > requests[b].size; });
  struct Placed { size_t begin, end; int first, last; };
  std::vector<Placed> placed;
  for (size_t i : order) {
    const BufferRequest& r = requests[i];
    if (r.size == 0) continue;
    // Collect the memory ranges of live-overlapping buffers, sorted by start.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Placed& p : placed)
      if (p.first <= r.last_use && r.first_use <= p.last) busy.emplace_back(p.begin, p.end);
    std::sort(busy.begin(), busy.end());
    size_t candidate = 0;
    for (auto [b, e] : busy) {
      if (candidate + r.size <= b) break;  // fits in the gap before this range
      candidate = std::max(candidate, align_up(e));
    }
    plan.offsets[i] = candidate;
    placed.push_back({candidate, candidate + r.size, r.first_use, r.last_use});
    plan.arena_bytes = std::max(plan.arena_bytes, align_up(candidate + r.size));
  }
  return plan;
}

}  // namespace kiln
