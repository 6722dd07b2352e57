// Reference element-wise unary functions (ONNX Relu, LeakyRelu, Elu, Sigmoid, Tanh, Clip,
// HardSigmoid, HardSwish, Exp, Abs, Sqrt, Neg).
#include <algorithm>
#include <cmath>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

float apply_unary(const UnaryAttrs& a, float x) {
  switch (a.kind) {
    case UnaryKind::kRelu: return x > 0.0f ? x : 0.0f;
    case UnaryKind::kLeakyRelu: return x >= 0.0f ? x : a.alpha * x;
    case UnaryKind::kElu: return x >= 0.0f ? x : a.alpha * (std::exp(x) - 1.0f);
    case UnaryKind::kSigmoid:
      // Two algebraically equal forms; each avoids overflowing exp for its sign of x.
      if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
      return std::exp(x) / (1.0f + std::exp(x));
    case UnaryKind::kTanh: return std::tanh(x);
    case UnaryKind::kClip: return std::min(std::max(x, a.alpha), a.beta);
    case UnaryKind::kHardSigmoid: return std::max(0.0f, std::min(1.0f, a.alpha * x + a.beta));
    case UnaryKind::kHardSwish: return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
    case UnaryKind::kExp: return std::exp(x);
    case UnaryKind::kAbs: return std::fabs(x);
    case UnaryKind::kSqrt: return std::sqrt(x);
    case UnaryKind::kNeg: return -x;
  }
  return x;
}

// inputs[0] is the data; further inputs (e.g. Clip's min/max, already resolved into alpha and
// beta by the importer) are ignored.
Expected<Tensor> unary(const UnaryAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "unary";
  if (inputs.empty()) return invalid_argument("unary: expected at least 1 input, got 0");
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  switch (a.kind) {
    case UnaryKind::kRelu: case UnaryKind::kLeakyRelu: case UnaryKind::kElu:
    case UnaryKind::kSigmoid: case UnaryKind::kTanh: case UnaryKind::kClip:
    case UnaryKind::kHardSigmoid: case UnaryKind::kHardSwish: case UnaryKind::kExp:
    case UnaryKind::kAbs: case UnaryKind::kSqrt: case UnaryKind::kNeg:
      break;
    default:
      return invalid_argument("unary: unknown unary kind " +
                              std::to_string(static_cast<int>(a.kind)));
  }
  Tensor y = detail::new_f32(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = x.elements(); i < n; ++i) yp[i] = apply_unary(a, xp[i]);
  return y;
}

}  // namespace kiln::reference
