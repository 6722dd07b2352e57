// Recycled weight storage: a released buffer serves the next take; the pool never keeps
// more than it may, and buffers outliving their pool are still freed safely.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstring>

#include "weights/storage_pool.h"

namespace kiln {
namespace {

TEST(StoragePool, ReleasedBufferIsReusedByTheNextTake) {
  StoragePool pool(1 << 20, 1);
  std::shared_ptr<uint8_t> a = pool.take();
  ASSERT_TRUE(a);
  std::memset(a.get(), 7, 1 << 20);  // writable, whole size
  uint8_t* where = a.get();
  EXPECT_EQ(pool.spare_bytes(), 0u);
  a.reset();
  EXPECT_EQ(pool.spare_bytes(), size_t{1} << 20);
  std::shared_ptr<uint8_t> b = pool.take();
  EXPECT_EQ(b.get(), where);
  EXPECT_EQ(pool.spare_bytes(), 0u);
}

TEST(StoragePool, KeepsAtMostMaxSpares) {
  StoragePool pool(4096, 1);
  auto a = pool.take(), b = pool.take();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a.get(), b.get());
  a.reset();
  b.reset();  // the pool is full: this one is unmapped
  EXPECT_EQ(pool.spare_bytes(), 4096u);
  StoragePool none(4096, 0);
  none.take().reset();
  EXPECT_EQ(none.spare_bytes(), 0u);
}

// Whether the page at `p` is mapped in this process (mincore fails with ENOMEM if not).
bool mapped(const void* p) {
  unsigned char resident = 0;
  return ::mincore(const_cast<void*>(p), 1, &resident) == 0;
}

TEST(StoragePool, BufferMayOutliveItsPool) {
  std::shared_ptr<uint8_t> kept;
  {
    StoragePool pool(8192, 1);
    kept = pool.take();
    kept.get()[8191] = 1;
  }
  uint8_t* where = kept.get();
  EXPECT_TRUE(mapped(where));
  kept.reset();  // the pool is gone: the buffer's own deleter unmaps it
  EXPECT_FALSE(mapped(where));
}

TEST(StoragePool, ClosedPoolUnmapsItsSpares) {
  uint8_t* where = nullptr;
  {
    StoragePool pool(8192, 1);
    auto b = pool.take();
    where = b.get();
    b.reset();  // kept as a spare
    EXPECT_TRUE(mapped(where));
  }
  EXPECT_FALSE(mapped(where));
}

}  // namespace
}  // namespace kiln
