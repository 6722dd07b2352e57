// Views of files may be misaligned (ONNX raw_data is not aligned): they convert and align
// correctly, and an aligned view is not copied.
#include <gtest/gtest.h>

#include <cstring>

#include "kiln/tensor.h"

namespace kiln {
namespace {

TEST(TensorView, MisalignedViewConvertsAndAlignsByCopy) {
  std::vector<float> values = {1.5f, -2.25f, 3.0f, 1e-3f, -7.0f};
  auto bytes = std::shared_ptr<uint8_t>(new uint8_t[64](), std::default_delete<uint8_t[]>());
  std::memcpy(bytes.get() + 3, values.data(), values.size() * 4);  // 3 bytes in: misaligned
  Tensor v = Tensor::view(DType::kF32, {5}, bytes, bytes.get() + 3);
  EXPECT_FALSE(v.is_aligned());
  EXPECT_EQ(v.to_f32(), values);
  Tensor a = v.aligned();
  EXPECT_TRUE(a.is_aligned());
  EXPECT_NE(a.raw(), v.raw());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(a.data<float>()[i], values[i]);

  Tensor ok = Tensor::view(DType::kF32, {5}, bytes, bytes.get() + 4);
  EXPECT_TRUE(ok.is_aligned());
  EXPECT_EQ(ok.aligned().raw(), ok.raw());  // no copy
}

TEST(TensorView, MisalignedIntegersConvert) {
  std::vector<int64_t> values = {1, -1, 1LL << 40};
  auto bytes = std::shared_ptr<uint8_t>(new uint8_t[64](), std::default_delete<uint8_t[]>());
  std::memcpy(bytes.get() + 5, values.data(), values.size() * 8);
  Tensor v = Tensor::view(DType::kI64, {3}, bytes, bytes.get() + 5);
  EXPECT_FALSE(v.is_aligned());
  EXPECT_EQ(v.to_i64(), values);
}

}  // namespace
}  // namespace kiln
