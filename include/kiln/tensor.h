// kiln/tensor.h — a host tensor in plain row-major layout.
//
//   kiln::Tensor t = kiln::Tensor::zeros(kiln::DType::kF32, {1, 1, 256, 256});
//   float* p = t.data<float>();
//   p[0] = 1.0f;
//   std::cout << kiln::shape_to_string(t.shape()) << "\n";   // [1,1,256,256]
//
// Tensors share their buffer on copy (like a shared_ptr); use clone() for a deep copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

enum class DType : uint8_t { kF32, kF16, kBF16, kI64, kI32, kI8, kU8, kBool, kF64 };

using Shape = std::vector<int64_t>;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
int64_t shape_elements(const Shape& s);
std::string shape_to_string(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  static Tensor zeros(DType dtype, Shape shape);
  // Copies `bytes` bytes from `data`.
  static Tensor from_bytes(DType dtype, Shape shape, const void* data, size_t bytes);
  static Tensor from_floats(Shape shape, const std::vector<float>& values);
  static Tensor from_i64(Shape shape, const std::vector<int64_t>& values);
  // A tensor over memory someone else owns (a mapped file); `owner` keeps it alive.
  // Views of mapped files are read-only memory: kiln never writes a weight in place.
  // A view may be misaligned for its element type (ONNX does not align raw_data): such a
  // tensor may be copied or handed to oneDNN as bytes, but its elements are read only
  // through aligned().
  static Tensor view(DType dtype, Shape shape, std::shared_ptr<void> owner, void* data);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t elements() const { return shape_elements(shape_); }
  size_t bytes() const { return static_cast<size_t>(elements()) * dtype_size(dtype_); }
  bool empty() const { return !buf_; }

  template <typename T> T* data() { return reinterpret_cast<T*>(buf_.get()); }
  template <typename T> const T* data() const { return reinterpret_cast<const T*>(buf_.get()); }
  void* raw() { return buf_.get(); }
  const void* raw() const { return buf_.get(); }

  Tensor clone() const;
  // Whether data<T>() may be dereferenced: the buffer is aligned for the element type.
  bool is_aligned() const;
  // This tensor if it is aligned, else an aligned copy.
  Tensor aligned() const;
  // Same buffer, new shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // Integer contents widened to int64 (for shape arithmetic); floats are truncated.
  std::vector<int64_t> to_i64() const;
  std::vector<float> to_f32() const;

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  std::shared_ptr<uint8_t[]> buf_;
};

}  // namespace kiln
