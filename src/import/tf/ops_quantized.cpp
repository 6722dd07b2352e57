// Quantized constants: graphs that TensorFlow's graph_transforms quantize_weights (or a
// hand-rolled export) shrank store each weight as a qint8/quint8/qint16/quint16/qint32
// Const with its float range, read through Dequantize. kiln dequantizes them once at
// import (they are constants), exactly as TensorFlow's kernel does at each run, so the
// weights kiln computes with are the floats TensorFlow computes with.
//
// Dequantize(input, min_range, max_range), attrs T, mode, narrow_range, axis:
//   MIN_COMBINED  out = min + (q - lowest(T) [qint only] ) * (max - min) / (highest - lowest)
//   MIN_FIRST     TensorFlow's QuantizedToFloat: steps = 2^bits, scale = (max - min) *
//                 steps / (steps - 1) / steps, out = round(min / scale) * scale + (q - lowest) * scale
//   SCALED        out = q * s, s = max / highest (unsigned) or max(min / lowest', max / highest),
//                 lowest' = lowest + 1 with narrow_range
// With axis >= 0, min_range and max_range hold one range per slice along that axis.
#include <cmath>

#include "import/tf/importer.h"
#include "core/status_macros.h"

namespace kiln::tf_import {
namespace {

struct QuantizedType {
  int64_t lowest, highest, bits;
  bool is_signed;
};

Expected<QuantizedType> quantized_type(int dt) {
  switch (dt) {
    case tf::DT_QINT8: return QuantizedType{-128, 127, 8, true};
    case tf::DT_QUINT8: return QuantizedType{0, 255, 8, false};
    case tf::DT_QINT16: return QuantizedType{-32768, 32767, 16, true};
    case tf::DT_QUINT16: return QuantizedType{0, 65535, 16, false};
    case tf::DT_QINT32: return QuantizedType{INT32_MIN, INT32_MAX, 32, true};
    default: return unsupported(std::string("Dequantize of ") + tf_dtype_name(dt) + " is not supported");
  }
}

float dequantize_one(int64_t q, float min, float max, const QuantizedType& t, const std::string& mode, bool narrow) {
  if (mode == "MIN_COMBINED") {
    const double offset = t.is_signed ? static_cast<double>(q) - static_cast<double>(t.lowest) : static_cast<double>(q);
    return static_cast<float>(min + offset * (static_cast<double>(max) - min) / static_cast<double>(t.highest - t.lowest));
  }
  if (mode == "MIN_FIRST") {
    if (min == max) return min;
    const double steps = std::ldexp(1.0, static_cast<int>(t.bits));
    const double scale = (static_cast<double>(max) - min) * (steps / (steps - 1.0)) / steps;
    // TensorFlow rounds the range's start to a whole step, with the step as a float.
    const double min_rounded = std::round(min / static_cast<float>(scale)) * static_cast<float>(scale);
    return static_cast<float>(min_rounded + (static_cast<double>(q) - static_cast<double>(t.lowest)) * scale);
  }
  // SCALED
  const double lowest = static_cast<double>(t.lowest + (narrow ? 1 : 0)), highest = static_cast<double>(t.highest);
  const float s = t.lowest == 0 ? static_cast<float>(max / highest)
                                : static_cast<float>(std::max(min / lowest, max / highest));
  return static_cast<float>(q) * s;
}

Status translate_dequantize(NodeContext& c) {
  if (c.num_inputs() != 3) return c.bad("expects input, min_range and max_range");
  if (!c.is_const(0))
    return c.fail("dequantizing data computed at run time is not supported (kiln reads quantized constants)");
  KILN_ASSIGN_OR_RETURN(QuantizedType t, quantized_type(c.attr_type("T", tf::DT_QUINT8)));
  const std::string mode = c.attr_string("mode", "MIN_COMBINED");
  if (mode != "MIN_COMBINED" && mode != "MIN_FIRST" && mode != "SCALED") return c.bad("unknown mode '" + mode + "'");
  const int out_type = c.attr_type("dtype", tf::DT_FLOAT);
  if (out_type != tf::DT_FLOAT && out_type != tf::DT_BFLOAT16)
    return c.fail(std::string("dequantizing to ") + tf_dtype_name(out_type) + " is not supported");
  const bool narrow = c.attr_bool("narrow_range", false);
  KILN_ASSIGN_OR_RETURN(Tensor q, c.const_value(0));
  KILN_ASSIGN_OR_RETURN(Tensor lo, c.const_value(1));
  KILN_ASSIGN_OR_RETURN(Tensor hi, c.const_value(2));
  const Shape shape = q.shape();
  const int64_t rank = static_cast<int64_t>(shape.size());
  int64_t axis = c.attr_int("axis", -1);
  const std::vector<float> mins = lo.to_f32(), maxs = hi.to_f32();
  // Slices along `axis` (or one range for the whole tensor): element i is in slice (i / inner) % n.
  int64_t n = 1, inner = 1;
  if (axis >= 0) {
    if (axis >= rank) return c.bad("axis " + std::to_string(axis) + " is outside the input's rank " + std::to_string(rank));
    n = shape[static_cast<size_t>(axis)];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= shape[static_cast<size_t>(d)];
  }
  if (static_cast<int64_t>(mins.size()) != n || static_cast<int64_t>(maxs.size()) != n)
    return c.bad("min_range and max_range hold " + std::to_string(mins.size()) + " and " + std::to_string(maxs.size()) +
                 " values; " + (axis >= 0 ? "axis " + std::to_string(axis) + " has " + std::to_string(n) + " slices"
                                          : std::string("without an axis they must be scalars")));
  for (int64_t k = 0; k < n; ++k)
    if (!(mins[static_cast<size_t>(k)] <= maxs[static_cast<size_t>(k)]))
      return c.bad("min_range " + std::to_string(mins[static_cast<size_t>(k)]) + " is above max_range " +
                   std::to_string(maxs[static_cast<size_t>(k)]));
  const std::vector<int64_t> qs = q.to_i64();
  std::vector<float> out(qs.size());
  for (size_t i = 0; i < qs.size(); ++i) {
    const size_t k = static_cast<size_t>((static_cast<int64_t>(i) / inner) % n);
    out[i] = dequantize_one(qs[i], mins[k], maxs[k], t, mode, narrow);
  }
  return c.set_const(0, Tensor::from_floats(shape, out));
}

}  // namespace

void register_quantized_ops(OpTable& t) { t["Dequantize"] = translate_dequantize; }

}  // namespace kiln::tf_import
