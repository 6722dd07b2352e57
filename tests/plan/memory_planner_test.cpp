#include "plan/memory_planner.h"

#include <gtest/gtest.h>

#include <random>

namespace kiln {
namespace {

bool overlaps(const BufferRequest& a, size_t oa, const BufferRequest& b, size_t ob) {
  bool live = a.first_use <= b.last_use && b.first_use <= a.last_use;
  bool mem = oa < ob + b.size && ob < oa + a.size;
  return live && mem && a.size && b.size;
}

TEST(MemoryPlanner, DisjointLifetimesShareMemory) {
  std::vector<BufferRequest> r = {{1000, 0, 1}, {1000, 2, 3}};
  MemoryPlan p = plan_memory(r, 64);
  EXPECT_EQ(p.offsets[0], p.offsets[1]);
  EXPECT_EQ(p.arena_bytes, 1024u);
}

TEST(MemoryPlanner, OverlappingLifetimesDoNot) {
  std::vector<BufferRequest> r = {{1000, 0, 2}, {100, 1, 3}, {10, 2, 2}};
  MemoryPlan p = plan_memory(r, 64);
  for (size_t i = 0; i < r.size(); ++i)
    for (size_t j = i + 1; j < r.size(); ++j) EXPECT_FALSE(overlaps(r[i], p.offsets[i], r[j], p.offsets[j]));
  for (size_t off : p.offsets) EXPECT_EQ(off % 64, 0u);
}

TEST(MemoryPlanner, FillsGapsBetweenLiveBuffers) {
  // a [0,256) and c [512,768) are live at step 5; b (200 bytes) fits between them.
  std::vector<BufferRequest> r = {{256, 0, 9}, {256, 0, 1}, {256, 0, 9}, {200, 5, 6}};
  MemoryPlan p = plan_memory(r, 64);
  EXPECT_EQ(p.offsets[3], p.offsets[1]);
  EXPECT_EQ(p.arena_bytes, 768u);
}

TEST(MemoryPlanner, RandomChainsNeverCollide) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> r;
    size_t total = 0;
    for (int i = 0; i < 40; ++i) {
      int first = static_cast<int>(rng() % 30);
      int last = first + static_cast<int>(rng() % 8);
      size_t size = 1 + rng() % 5000;
      total += (size + 63) / 64 * 64;
      r.push_back({size, first, last});
    }
    MemoryPlan p = plan_memory(r, 64);
    for (size_t i = 0; i < r.size(); ++i)
      for (size_t j = i + 1; j < r.size(); ++j)
        ASSERT_FALSE(overlaps(r[i], p.offsets[i], r[j], p.offsets[j])) << "trial " << trial;
    EXPECT_LE(p.arena_bytes, total);
  }
}

TEST(MemoryPlanner, EmptyRequestsNeedNoArena) {
  MemoryPlan p = plan_memory({}, 64);
  EXPECT_EQ(p.arena_bytes, 0u);
}

}  // namespace
}  // namespace kiln
