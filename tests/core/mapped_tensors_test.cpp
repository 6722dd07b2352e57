// Where large tensors live (core/memory.h's MappedTensorsScope): made while preparing, a
// buffer of 2 MiB or more is a 2 MiB-aligned mapping of its own; made for a request, it stays
// on the heap (glibc's large chunks sit 16 bytes past a page boundary, never 2 MiB-aligned).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/memory.h"
#include "kiln/tensor.h"

namespace kiln {
namespace {

bool huge_aligned(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw()) % (uintptr_t{2} << 20) == 0; }

TEST(MappedTensors, LargeTensorsAreMappingsOnlyWhilePreparing) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "under AddressSanitizer every tensor stays on the heap";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "under AddressSanitizer every tensor stays on the heap";
#endif
#endif
  const Shape big{3, 1024, 256};  // 3 MiB of float32
  EXPECT_FALSE(MappedTensorsScope::active());
  EXPECT_FALSE(huge_aligned(Tensor::zeros(DType::kF32, big)));
  std::vector<float> values(3 * 1024 * 256, 1.5f);
  {
    MappedTensorsScope preparing;
    {
      MappedTensorsScope nested;
    }
    EXPECT_TRUE(MappedTensorsScope::active());  // a nested scope leaves the outer one on
    Tensor z = Tensor::zeros(DType::kF32, big);
    EXPECT_TRUE(huge_aligned(z));
    EXPECT_EQ(z.data<float>()[z.elements() - 1], 0.0f);
    Tensor c = Tensor::from_bytes(DType::kF32, big, values.data(), values.size() * sizeof(float));
    EXPECT_TRUE(huge_aligned(c));
    EXPECT_EQ(std::memcmp(c.raw(), values.data(), c.bytes()), 0);
    EXPECT_FALSE(huge_aligned(Tensor::zeros(DType::kF32, {1024})));  // small ones stay on the heap
  }
  EXPECT_FALSE(MappedTensorsScope::active());
  EXPECT_FALSE(huge_aligned(Tensor::zeros(DType::kF32, big)));
}

}  // namespace
}  // namespace kiln
