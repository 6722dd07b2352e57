// Reference reductions over a set of axes (ONNX ReduceSum, ReduceMean, ReduceMax, ReduceMin,
// ReduceProd, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp). Sums
// accumulate in double; LogSumExp subtracts each group's maximum first, as softmax does.
// ArgMax / ArgMin (one axis) give the index of the first (or last) extreme as a float.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/status_macros.h"
#include "reference/reference.h"
#include "reference/util.h"

namespace kiln::reference {

Expected<Tensor> reduce(const ReduceAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "reduce";
  if (inputs.empty()) return invalid_argument("reduce: expected 1 input, got 0");
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  const Shape& s = x.shape();
  const int64_t rank = static_cast<int64_t>(s.size());
  if (a.axes.empty()) return invalid_argument("reduce: no axes");
  std::vector<bool> reduced(s.size(), false);
  for (int64_t ax : a.axes) {
    if (ax < 0 || ax >= rank)
      return invalid_argument("reduce: axis " + std::to_string(ax) + " is out of range for shape " + shape_to_string(s));
    reduced[ax] = true;
  }
  // The output as the input's shape with reduced axes 1 (the keepdims shape); the data of the
  // other shape is the same.
  Shape kept = s, out;
  for (int64_t i = 0; i < rank; ++i) {
    if (reduced[i]) kept[i] = 1;
    if (!reduced[i] || a.keepdims) out.push_back(kept[i]);
  }
  const int64_t n_out = shape_elements(kept), n_in = x.elements();
  if (a.kind == ReduceKind::kArgMax || a.kind == ReduceKind::kArgMin) {
    if (a.axes.size() != 1) return invalid_argument("reduce: ArgMax/ArgMin take one axis");
    const int64_t axis = a.axes[0], dim = s[axis];
    int64_t stride = 1;
    for (int64_t i = axis + 1; i < rank; ++i) stride *= s[i];
    const bool max = a.kind == ReduceKind::kArgMax;
    std::vector<float> best(static_cast<size_t>(n_out), max ? -std::numeric_limits<float>::infinity()
                                                            : std::numeric_limits<float>::infinity());
    std::vector<int64_t> index(static_cast<size_t>(n_out), 0);
    const std::vector<int64_t> out_strides = detail::broadcast_strides(kept, s);
    const float* xp = x.data<float>();
    for (int64_t i = 0; i < n_in; ++i) {
      const int64_t o = detail::offset_of(i, s, out_strides);
      const float v = xp[i];
      const bool better = max ? (a.select_last_index ? v >= best[o] : v > best[o])
                              : (a.select_last_index ? v <= best[o] : v < best[o]);
      if (better) {
        best[o] = v;
        index[o] = (i / stride) % dim;
      }
    }
    Tensor y = detail::new_f32(out);
    for (int64_t o = 0; o < n_out; ++o) y.data<float>()[o] = static_cast<float>(index[o]);
    return y;
  }
  const int64_t group = n_out == 0 ? 0 : n_in / n_out;
  const std::vector<int64_t> out_strides = detail::broadcast_strides(kept, s);  // 0 on reduced axes

  // Pass 1 for LogSumExp: each group's maximum.
  std::vector<double> shift(static_cast<size_t>(n_out), 0.0);
  const float* xp = x.data<float>();
  if (a.kind == ReduceKind::kLogSumExp) {
    std::fill(shift.begin(), shift.end(), -std::numeric_limits<double>::infinity());
    for (int64_t i = 0; i < n_in; ++i) {
      double& m = shift[detail::offset_of(i, s, out_strides)];
      m = std::max(m, static_cast<double>(xp[i]));
    }
    for (double& m : shift)
      if (!std::isfinite(m)) m = 0.0;
  }
  double init = 0.0;
  if (a.kind == ReduceKind::kProd) init = 1.0;
  if (a.kind == ReduceKind::kMax) init = -std::numeric_limits<double>::infinity();
  if (a.kind == ReduceKind::kMin) init = std::numeric_limits<double>::infinity();
  std::vector<double> acc(static_cast<size_t>(n_out), init);
  for (int64_t i = 0; i < n_in; ++i) {
    const int64_t o = detail::offset_of(i, s, out_strides);
    const double v = xp[i];
    double& r = acc[o];
    switch (a.kind) {
      case ReduceKind::kSum: case ReduceKind::kMean: case ReduceKind::kLogSum: r += v; break;
      case ReduceKind::kMax: r = std::isnan(v) || std::isnan(r) ? std::nan("") : std::max(r, v); break;
      case ReduceKind::kMin: r = std::isnan(v) || std::isnan(r) ? std::nan("") : std::min(r, v); break;
      case ReduceKind::kProd: r *= v; break;
      case ReduceKind::kSumSquare: case ReduceKind::kL2: r += v * v; break;
      case ReduceKind::kL1: r += std::fabs(v); break;
      case ReduceKind::kLogSumExp: r += std::exp(v - shift[o]); break;
      case ReduceKind::kArgMax: case ReduceKind::kArgMin: break;  // handled above
    }
  }
  Tensor y = detail::new_f32(out);
  float* yp = y.data<float>();
  for (int64_t o = 0; o < n_out; ++o) {
    double r = acc[o];
    switch (a.kind) {
      case ReduceKind::kMean: r = group == 0 ? std::nan("") : r / static_cast<double>(group); break;
      case ReduceKind::kL2: r = std::sqrt(r); break;
      case ReduceKind::kLogSum: r = std::log(r); break;
      case ReduceKind::kLogSumExp: r = std::log(r) + shift[o]; break;
      default: break;
    }
    yp[o] = static_cast<float>(r);
  }
  return y;
}

}  // namespace kiln::reference
