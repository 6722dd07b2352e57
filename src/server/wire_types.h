// Tensors as the Open Inference Protocol carries them: a datatype name ("FP32", "UINT8",
// "FP16", ...), a shape, and either JSON numbers or raw little-endian bytes. kiln computes in
// float32: every numeric type is converted on the way in, and outputs go out as FP32.
//
//   auto t = kiln::serve::tensor_from_bytes(WireType::kFP16, body.substr(at, n), {1, 1, 256, 256});
//   auto u = kiln::serve::tensor_from_json(WireType::kUINT8, json_data, {1, 3, 64, 64});
//
// Sizes are checked before anything of that size is allocated: the element count of the
// shape (overflow refused) against the bytes or the JSON numbers actually sent.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::serve {

enum class WireType { kBOOL, kUINT8, kUINT16, kUINT32, kUINT64, kINT8, kINT16, kINT32, kINT64, kFP16, kBF16, kFP32, kFP64 };

std::optional<WireType> parse_wire_type(const std::string& name);  // "FP32" ...; BYTES is not numeric
const char* wire_type_name(WireType t);
size_t wire_type_size(WireType t);

// The element count of `shape`, or an error for negative sizes or more than `max_elements`.
Expected<int64_t> element_count(const Shape& shape, int64_t max_elements);

// Raw bytes (KServe binary tensor extension, gRPC raw_input_contents) as float32. FP32 bytes
// are not copied: the tensor is a view of `bytes` (possibly misaligned; the engine copies
// inputs as bytes), valid as long as they are, i.e. for the request.
Expected<Tensor> tensor_from_bytes(WireType t, std::string_view bytes, const Shape& shape);
// JSON "data": flat or nested arrays of numbers (booleans for BOOL), row-major.
Expected<Tensor> tensor_from_json(WireType t, const nlohmann::json& data, const Shape& shape);
// Typed gRPC contents: values already numbers, as float32.
template <typename It>
Expected<Tensor> tensor_from_values(It begin, It end, const Shape& shape) {
  const int64_t n = shape_elements(shape);
  if (std::distance(begin, end) != n)
    return invalid_argument("the tensor has " + std::to_string(std::distance(begin, end)) + " values; shape " +
                            shape_to_string(shape) + " needs " + std::to_string(n));
  Tensor out = Tensor::zeros(DType::kF32, shape);
  float* p = out.data<float>();
  for (It it = begin; it != end; ++it) *p++ = static_cast<float>(*it);
  return out;
}

// 16-bit floats (IEEE half and bfloat16) to float32.
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);

}  // namespace kiln::serve
