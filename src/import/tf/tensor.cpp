// TensorFlow TensorProto -> kiln Tensor: tensor_content (raw little-endian bytes) or the
// typed *_val fields, where fewer values than elements repeat the last one (TensorFlow's
// rule, used for splat constants such as a zero bias). Quantized types (qint8, quint8, ...) read
// as their integers; Dequantize (ops_quantized.cpp) gives them their float values.
#include <cmath>
#include <cstring>

#include "import/tf/context.h"
#include "core/status_macros.h"

namespace kiln::tf_import {

namespace {

float half_to_float(uint16_t h) {
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(man), -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(man | 0x400), static_cast<int>(exp) - 25);
  return (h & 0x8000u) ? -v : v;
}

float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Bytes per element of a TensorFlow dtype as stored in tensor_content; 0 if unsupported.
size_t tf_size(int dt) {
  switch (dt) {
    case tf::DT_FLOAT: case tf::DT_INT32: case tf::DT_UINT32: case tf::DT_QINT32: return 4;
    case tf::DT_DOUBLE: case tf::DT_INT64: case tf::DT_UINT64: return 8;
    case tf::DT_HALF: case tf::DT_BFLOAT16: case tf::DT_INT16: case tf::DT_UINT16:
    case tf::DT_QINT16: case tf::DT_QUINT16: return 2;
    case tf::DT_INT8: case tf::DT_UINT8: case tf::DT_BOOL: case tf::DT_QINT8: case tf::DT_QUINT8: return 1;
    default: return 0;
  }
}

// Reads element i of tensor_content as a double / int64.
template <typename T>
T load(const std::string& raw, size_t i) {
  T v;
  std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
  return v;
}

// Repeats the last of m typed values to fill n elements; m == 0 means zeros.
template <typename Out, typename Field>
Expected<std::vector<Out>> from_field(const Field& f, size_t n, const std::string& what) {
  size_t m = static_cast<size_t>(f.size());
  if (m > n) return invalid_model(what + " holds " + std::to_string(m) + " values for " + std::to_string(n) + " elements");
  std::vector<Out> out(n, Out{});
  for (size_t i = 0; i < n && m > 0; ++i) out[i] = static_cast<Out>(f.Get(static_cast<int>(std::min(i, m - 1))));
  return out;
}

}  // namespace

const char* tf_dtype_name(int dtype) {
  const std::string& n = tf::DataType_Name(static_cast<tf::DataType>(dtype));
  return n.empty() ? "an unknown dtype" : n.c_str();
}

bool is_float_dtype(int dt) {
  return dt == tf::DT_FLOAT || dt == tf::DT_HALF || dt == tf::DT_BFLOAT16 || dt == tf::DT_DOUBLE;
}

Expected<Tensor> tensor_from_proto(const tf::TensorProto& t) {
  const int dt = t.dtype();
  const std::string what = std::string("a ") + tf_dtype_name(dt) + " tensor";
  if (t.tensor_shape().unknown_rank()) return invalid_model(what + " has an unknown rank");
  Shape shape;
  constexpr int64_t kMaxElements = int64_t{1} << 36;  // far beyond any real weight; stops overflow
  int64_t count = 1;
  for (const auto& d : t.tensor_shape().dim()) {
    if (d.size() < 0) return invalid_model(what + " has an unknown dimension");
    if (d.size() > 0 && count > kMaxElements / d.size()) return invalid_model(what + " is impossibly large");
    count *= d.size();
    shape.push_back(d.size());
  }
  const size_t n = static_cast<size_t>(count);
  const size_t es = tf_size(dt);
  if (es == 0) return unsupported(std::string("constants of type ") + tf_dtype_name(dt) + " are not supported");
  const std::string& raw = t.tensor_content();
  const bool has_raw = !raw.empty();
  if (has_raw && raw.size() != n * es)
    return invalid_model(what + " of shape " + shape_to_string(shape) + " has " + std::to_string(raw.size()) +
                         " bytes of content; it needs " + std::to_string(n * es));
  switch (dt) {
    case tf::DT_FLOAT: {
      if (has_raw) return Tensor::from_bytes(DType::kF32, shape, raw.data(), raw.size());
      KILN_ASSIGN_OR_RETURN(auto v, (from_field<float>(t.float_val(), n, what)));
      return Tensor::from_floats(shape, v);
    }
    case tf::DT_DOUBLE: {
      if (has_raw) return Tensor::from_bytes(DType::kF64, shape, raw.data(), raw.size());
      KILN_ASSIGN_OR_RETURN(auto v, (from_field<double>(t.double_val(), n, what)));
      return Tensor::from_bytes(DType::kF64, shape, v.data(), v.size() * sizeof(double));
    }
    case tf::DT_HALF:
    case tf::DT_BFLOAT16: {
      std::vector<float> v(n);
      auto conv = dt == tf::DT_HALF ? half_to_float : bfloat16_to_float;
      if (has_raw) {
        for (size_t i = 0; i < n; ++i) v[i] = conv(load<uint16_t>(raw, i));
      } else {
        KILN_ASSIGN_OR_RETURN(auto bits, (from_field<int32_t>(t.half_val(), n, what)));
        for (size_t i = 0; i < n; ++i) v[i] = conv(static_cast<uint16_t>(bits[i]));
      }
      return Tensor::from_floats(shape, v);
    }
    case tf::DT_BOOL: {
      std::vector<uint8_t> v(n);
      if (has_raw) {
        for (size_t i = 0; i < n; ++i) v[i] = raw[i] != 0;
      } else {
        KILN_ASSIGN_OR_RETURN(v, (from_field<uint8_t>(t.bool_val(), n, what)));
      }
      return Tensor::from_bytes(DType::kBool, shape, v.data(), v.size());
    }
    default: break;
  }
  // Integers, all widened to int64 for shape arithmetic.
  std::vector<int64_t> v(n);
  if (has_raw) {
    for (size_t i = 0; i < n; ++i) {
      switch (dt) {
        case tf::DT_INT32: case tf::DT_QINT32: v[i] = load<int32_t>(raw, i); break;
        case tf::DT_UINT32: v[i] = load<uint32_t>(raw, i); break;
        case tf::DT_INT64: v[i] = load<int64_t>(raw, i); break;
        case tf::DT_UINT64: v[i] = static_cast<int64_t>(load<uint64_t>(raw, i)); break;
        case tf::DT_INT16: case tf::DT_QINT16: v[i] = load<int16_t>(raw, i); break;
        case tf::DT_UINT16: case tf::DT_QUINT16: v[i] = load<uint16_t>(raw, i); break;
        case tf::DT_INT8: case tf::DT_QINT8: v[i] = load<int8_t>(raw, i); break;
        default: v[i] = load<uint8_t>(raw, i); break;
      }
    }
  } else if (dt == tf::DT_INT64) {
    KILN_ASSIGN_OR_RETURN(v, (from_field<int64_t>(t.int64_val(), n, what)));
  } else if (dt == tf::DT_UINT64 || dt == tf::DT_UINT32) {
    return unsupported(what + " stored in typed fields is not supported");
  } else {
    KILN_ASSIGN_OR_RETURN(v, (from_field<int64_t>(t.int_val(), n, what)));
  }
  return Tensor::from_i64(shape, v);
}

}  // namespace kiln::tf_import
