#include "server/wire_types.h"

#include <cstring>
#include <limits>

namespace kiln::serve {

namespace {

struct TypeInfo {
  WireType type;
  const char* name;
  size_t size;
};
constexpr TypeInfo kTypes[] = {
    {WireType::kBOOL, "BOOL", 1},     {WireType::kUINT8, "UINT8", 1}, {WireType::kUINT16, "UINT16", 2},
    {WireType::kUINT32, "UINT32", 4}, {WireType::kUINT64, "UINT64", 8}, {WireType::kINT8, "INT8", 1},
    {WireType::kINT16, "INT16", 2},   {WireType::kINT32, "INT32", 4}, {WireType::kINT64, "INT64", 8},
    {WireType::kFP16, "FP16", 2},     {WireType::kBF16, "BF16", 2},   {WireType::kFP32, "FP32", 4},
    {WireType::kFP64, "FP64", 8},
};

template <typename T>
float load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // the bytes of a request need not be aligned
  return static_cast<float>(v);
}

float element(WireType t, const char* p) {
  switch (t) {
    case WireType::kBOOL: return *p ? 1.0f : 0.0f;
    case WireType::kUINT8: return load<uint8_t>(p);
    case WireType::kUINT16: return load<uint16_t>(p);
    case WireType::kUINT32: return load<uint32_t>(p);
    case WireType::kUINT64: return load<uint64_t>(p);
    case WireType::kINT8: return load<int8_t>(p);
    case WireType::kINT16: return load<int16_t>(p);
    case WireType::kINT32: return load<int32_t>(p);
    case WireType::kINT64: return load<int64_t>(p);
    case WireType::kFP16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return half_to_float(h);
    }
    case WireType::kBF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return bf16_to_float(b);
    }
    case WireType::kFP32: return load<float>(p);
    case WireType::kFP64: return load<double>(p);
  }
  return 0.0f;
}

}  // namespace

std::optional<WireType> parse_wire_type(const std::string& name) {
  for (const TypeInfo& t : kTypes)
    if (name == t.name) return t.type;
  return std::nullopt;
}

const char* wire_type_name(WireType t) {
  for (const TypeInfo& i : kTypes)
    if (i.type == t) return i.name;
  return "?";
}

size_t wire_type_size(WireType t) {
  for (const TypeInfo& i : kTypes)
    if (i.type == t) return i.size;
  return 0;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      uint32_t m = mantissa;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (m & 0x3ff) << 13;
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | mantissa << 13;  // inf, nan
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Expected<int64_t> element_count(const Shape& shape, int64_t max_elements) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("shape " + shape_to_string(shape) + " has a negative size");
    if (d != 0 && n > max_elements / d)
      return invalid_argument("shape " + shape_to_string(shape) + " has more elements than the request can carry");
    n *= d;
  }
  if (n > max_elements)
    return invalid_argument("shape " + shape_to_string(shape) + " has more elements than the request can carry");
  return n;
}

Expected<Tensor> tensor_from_bytes(WireType t, std::string_view bytes, const Shape& shape) {
  const size_t size = wire_type_size(t);
  // Any count that fits int64 bytes, so that the message can say how many bytes it needs.
  auto n = element_count(shape, std::numeric_limits<int64_t>::max() / 16);
  if (!n) return n.error();
  if (static_cast<size_t>(*n) * size != bytes.size())
    return invalid_argument("shape " + shape_to_string(shape) + " of " + wire_type_name(t) + " is " +
                            std::to_string(static_cast<size_t>(*n) * size) + " bytes; " + std::to_string(bytes.size()) +
                            " were sent");
  if (t == WireType::kFP32 && !bytes.empty())  // no owner: the request outlives the tensor
    return Tensor::view(DType::kF32, shape, std::shared_ptr<void>(), const_cast<char*>(bytes.data()));
  Tensor out = Tensor::zeros(DType::kF32, shape);
  float* p = out.data<float>();
  for (int64_t i = 0; i < *n; ++i) p[i] = element(t, bytes.data() + static_cast<size_t>(i) * size);
  return out;
}

namespace {

// Flattens nested arrays of numbers into `out`, up to `limit` values (the shape's count + 1,
// so that a longer list is seen without reading all of it).
Status flatten(const nlohmann::json& j, WireType t, std::vector<float>& out, size_t limit) {
  if (j.is_array()) {
    for (const auto& x : j) {
      if (out.size() >= limit) return Status::ok();
      if (Status s = flatten(x, t, out, limit); !s) return s;
    }
    return Status::ok();
  }
  if (t == WireType::kBOOL && j.is_boolean()) {
    out.push_back(j.get<bool>() ? 1.0f : 0.0f);
    return Status::ok();
  }
  if (!j.is_number()) return invalid_argument(std::string("\"data\" holds a ") + j.type_name() + " where a number belongs");
  out.push_back(j.get<float>());
  return Status::ok();
}

}  // namespace

Expected<Tensor> tensor_from_json(WireType t, const nlohmann::json& data, const Shape& shape) {
  if (!data.is_array()) return invalid_argument("\"data\" must be an array");
  auto n = element_count(shape, int64_t{1} << 31);
  if (!n) return n.error();
  std::vector<float> values;
  values.reserve(std::min<size_t>(static_cast<size_t>(*n), 1 << 20));
  if (Status s = flatten(data, t, values, static_cast<size_t>(*n) + 1); !s) return s;
  if (values.size() != static_cast<size_t>(*n))
    return invalid_argument("\"data\" has " + std::string(values.size() > static_cast<size_t>(*n) ? "more than " : "") +
                            std::to_string(values.size() > static_cast<size_t>(*n) ? *n : static_cast<int64_t>(values.size())) +
                            " values; shape " + shape_to_string(shape) + " needs " + std::to_string(*n));
  return Tensor::from_floats(shape, values);
}

}  // namespace kiln::serve
