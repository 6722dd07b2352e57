// Constant folding at import, shared by the importers. Float constants run through the
// reference kernels (the same arithmetic as at run time); integer shape arithmetic runs here
// in int64; data movement of integer tensors (Concat, Reshape, Slice, Transpose of shapes)
// runs through float32 after checking that every value is exact in it.
#include "import/constant_fold.h"
#include "core/status_macros.h"

#include <cmath>

#include "reference/reference.h"

namespace kiln {
namespace {

// Row-major strides of `s` broadcast to `out` (0 on broadcast axes).
std::vector<int64_t> bcast_strides(const Shape& s, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1, j = static_cast<int64_t>(out.size()) - 1; i >= 0; --i, --j) {
    st[j] = s[i] == 1 ? 0 : acc;
    acc *= s[i];
  }
  return st;
}

Expected<Tensor> fold_int_binary(BinaryKind k, const Tensor& a, const Tensor& b, IntegerDivision division) {
  KILN_ASSIGN_OR_RETURN(Shape out, infer_shape(BinaryAttrs{k}, {a.shape(), b.shape()}));
  auto av = a.to_i64(), bv = b.to_i64();
  auto sa = bcast_strides(a.shape(), out), sb = bcast_strides(b.shape(), out);
  std::vector<int64_t> r(static_cast<size_t>(shape_elements(out)));
  std::vector<int64_t> idx(out.size(), 0);
  for (size_t n = 0; n < r.size(); ++n) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < out.size(); ++d) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    int64_t x = av[ia], y = bv[ib];
    switch (k) {
      case BinaryKind::kAdd: r[n] = x + y; break;
      case BinaryKind::kSub: r[n] = x - y; break;
      case BinaryKind::kMul: r[n] = x * y; break;
      case BinaryKind::kDiv:
        if (y == 0) return invalid_model("integer division by zero in a constant");
        r[n] = x / y;
        if (division == IntegerDivision::kFloor && x % y != 0 && ((x < 0) != (y < 0))) --r[n];
        break;
      case BinaryKind::kMax: r[n] = std::max(x, y); break;
      case BinaryKind::kMin: r[n] = std::min(x, y); break;
      case BinaryKind::kPRelu: r[n] = x >= 0 ? x : x * y; break;
      case BinaryKind::kPow: {
        if (y < 0) return unsupported("a negative integer power in a constant");
        int64_t p = 1;
        for (int64_t e = 0; e < y && e < 64; ++e) p *= x;  // wraps like the int64 ONNX computes in
        r[n] = p;
        break;
      }
    }
    for (int64_t d = static_cast<int64_t>(out.size()) - 1; d >= 0; --d) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
  return Tensor::from_i64(out, r);
}

}  // namespace

Expected<Tensor> fold_constant(const OpAttrs& attrs, const std::vector<Tensor>& inputs, IntegerDivision division) {
  if (std::holds_alternative<std::monostate>(attrs)) return inputs.at(0);
  bool all_f32 = true, any_float = false;
  for (const Tensor& t : inputs) {
    all_f32 = all_f32 && t.dtype() == DType::kF32;
    any_float = any_float || t.dtype() == DType::kF32 || t.dtype() == DType::kF64;
  }
  if (all_f32) return reference::run(attrs, inputs);
  if (any_float) {
    // float64 constants (rare in image models) are computed in float32, as kiln runs them.
    std::vector<Tensor> f;
    for (const Tensor& t : inputs) f.push_back(t.dtype() == DType::kF64 ? Tensor::from_floats(t.shape(), t.to_f32()) : t);
    for (const Tensor& t : f)
      if (t.dtype() != DType::kF32) return unsupported("an op on constants mixes float and integer tensors");
    return reference::run(attrs, f);
  }
  if (auto* b = std::get_if<BinaryAttrs>(&attrs)) return fold_int_binary(b->kind, inputs.at(0), inputs.at(1), division);
  constexpr int64_t kExactInFloat = int64_t{1} << 24;
  std::vector<Tensor> as_float;
  for (const Tensor& t : inputs) {
    std::vector<int64_t> v = t.to_i64();
    for (int64_t x : v)
      if (x >= kExactInFloat || x <= -kExactInFloat)
        return unsupported("folding integer constants beyond float32's exact range");
    as_float.push_back(Tensor::from_floats(t.shape(), std::vector<float>(v.begin(), v.end())));
  }
  KILN_ASSIGN_OR_RETURN(Tensor f, reference::run(attrs, as_float));
  if (inputs.at(0).dtype() == DType::kBool) {
    std::vector<float> fv = f.to_f32();
    std::vector<uint8_t> bv(fv.begin(), fv.end());
    return Tensor::from_bytes(DType::kBool, f.shape(), bv.data(), bv.size());
  }
  return Tensor::from_i64(f.shape(), f.to_i64());
}


Expected<Tensor> range_constant(const Tensor& start, const Tensor& limit, const Tensor& delta) {
  double s = start.to_f32().at(0), l = limit.to_f32().at(0), d = delta.to_f32().at(0);
  if (d == 0) return invalid_model("Range: delta is 0");
  int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((l - s) / d)));
  if (start.dtype() == DType::kF32) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(s + d * static_cast<double>(i));
    return Tensor::from_floats({n}, v);
  }
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start.to_i64()[0] + delta.to_i64()[0] * i;
  return Tensor::from_i64({n}, v);
}

}  // namespace kiln
