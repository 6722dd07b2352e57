#include "kiln/tensor.h"

#include <algorithm>
#include <limits>
#include <cstring>
#include <new>
#include <sstream>

#include "core/memory.h"

namespace kiln {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI64: return 8;
    case DType::kI32: return 4;
    case DType::kI8: return 1;
    case DType::kU8: return 1;
    case DType::kBool: return 1;
    case DType::kF64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kI64: return "int64";
    case DType::kI32: return "int32";
    case DType::kI8: return "int8";
    case DType::kU8: return "uint8";
    case DType::kBool: return "bool";
    case DType::kF64: return "float64";
  }
  return "?";
}

int64_t shape_elements(const Shape& s) {
  // Saturates instead of overflowing: shapes come from files and requests, and a product
  // past int64 (found by fuzzing ONNX and safetensors headers) is then simply too large.
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  return n;
}

std::string shape_to_string(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << ']';
  return os.str();
}

// AddressSanitizer watches the heap's bounds, not mappings: under it every tensor is on the heap.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_TENSORS_ON_HEAP 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define KILN_TENSORS_ON_HEAP 1
#endif

namespace {

// A buffer of `n` bytes, zero-filled when `zeroed`. Large ones made while preparing are
// mappings of their own (core/memory.h's MappedTensorsScope): faulted in 2 MiB at a time where
// the kernel gives huge pages (a first touch of 4 KiB pages was most of an import on these
// VMs), and given back to the system when freed rather than kept in the allocator's heaps.
std::shared_ptr<uint8_t[]> allocate_buffer(size_t n, bool zeroed) {
#ifndef KILN_TENSORS_ON_HEAP
  if (n >= (size_t{2} << 20) && MappedTensorsScope::active()) {
    std::shared_ptr<uint8_t> mapped = allocate_populated(n);  // zero-filled
    if (!mapped) throw std::bad_alloc();
    return std::shared_ptr<uint8_t[]>(mapped, mapped.get());
  }
#endif
  return zeroed ? std::shared_ptr<uint8_t[]>(new uint8_t[n]()) : std::shared_ptr<uint8_t[]>(new uint8_t[n]);
}

}  // namespace

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  // At least one byte so that a zero-element tensor is still "present".
  size_t n = std::max<size_t>(t.bytes(), 1);
  t.buf_ = allocate_buffer(n, true);
  return t;
}

Tensor Tensor::from_bytes(DType dtype, Shape shape, const void* data, size_t bytes) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  size_t n = std::max<size_t>(t.bytes(), 1);
  // Not value-initialised: every byte is written below (zero-filling first would touch
  // a large weight twice).
  t.buf_ = allocate_buffer(n, false);
  size_t copied = std::min(bytes, t.bytes());
  if (copied > 0) std::memcpy(t.raw(), data, copied);  // data may be null for an empty tensor
  std::memset(static_cast<uint8_t*>(t.raw()) + copied, 0, n - copied);
  return t;
}

Tensor Tensor::from_floats(Shape shape, const std::vector<float>& values) {
  return from_bytes(DType::kF32, std::move(shape), values.data(), values.size() * sizeof(float));
}

Tensor Tensor::from_i64(Shape shape, const std::vector<int64_t>& values) {
  return from_bytes(DType::kI64, std::move(shape), values.data(), values.size() * sizeof(int64_t));
}

Tensor Tensor::view(DType dtype, Shape shape, std::shared_ptr<void> owner, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.buf_ = std::shared_ptr<uint8_t[]>(std::move(owner), static_cast<uint8_t*>(data));
  return t;
}

Tensor Tensor::clone() const {
  if (!buf_) return {};
  return from_bytes(dtype_, shape_, raw(), bytes());
}

bool Tensor::is_aligned() const { return reinterpret_cast<uintptr_t>(raw()) % dtype_size(dtype_) == 0; }

Tensor Tensor::aligned() const { return is_aligned() ? *this : clone(); }

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

namespace {
template <typename To, typename From>
std::vector<To> convert_all(const void* p, int64_t n) {
  // memcpy loads: the source may be a misaligned view of a file.
  const auto* bytes = static_cast<const uint8_t*>(p);
  std::vector<To> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    From f;
    std::memcpy(&f, bytes + i * sizeof(From), sizeof(From));
    out[i] = static_cast<To>(f);
  }
  return out;
}

template <typename To>
std::vector<To> convert(DType dt, const void* p, int64_t n) {
  switch (dt) {
    case DType::kF32: return convert_all<To, float>(p, n);
    case DType::kF64: return convert_all<To, double>(p, n);
    case DType::kI64: return convert_all<To, int64_t>(p, n);
    case DType::kI32: return convert_all<To, int32_t>(p, n);
    case DType::kI8: return convert_all<To, int8_t>(p, n);
    case DType::kU8: return convert_all<To, uint8_t>(p, n);
    case DType::kBool: return convert_all<To, uint8_t>(p, n);
    default: return std::vector<To>(static_cast<size_t>(n), To{});
  }
}
}  // namespace

// An empty (default-constructed) tensor has no buffer but a rank-0 shape, i.e. one element:
// it converts to an empty vector instead of reading through a null pointer.
std::vector<int64_t> Tensor::to_i64() const {
  if (!buf_) return {};
  return convert<int64_t>(dtype_, raw(), elements());
}
std::vector<float> Tensor::to_f32() const {
  if (!buf_) return {};
  return convert<float>(dtype_, raw(), elements());
}

}  // namespace kiln
