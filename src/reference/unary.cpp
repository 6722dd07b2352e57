// Reference element-wise unary functions: ONNX's activations (Relu, LeakyRelu, Elu, Selu, Celu,
// Sigmoid, Tanh, Clip, HardSigmoid, HardSwish, Softplus, Softsign, ThresholdedRelu, Shrink) and
// math (Exp, Log, Abs, Sqrt, Neg, Reciprocal, Erf, trigonometric and hyperbolic functions and
// their inverses, Ceil, Floor, Round, Sign).
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
    case UnaryKind::kLog: return std::log(x);
    case UnaryKind::kReciprocal: return 1.0f / x;
    case UnaryKind::kSoftplus:
      // log(1 + exp(x)) without overflowing exp for large x.
      return x > 0.0f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    case UnaryKind::kSoftsign: return x / (1.0f + std::fabs(x));
    case UnaryKind::kSelu: return a.beta * (x > 0.0f ? x : a.alpha * (std::exp(x) - 1.0f));
    case UnaryKind::kThresholdedRelu: return x > a.alpha ? x : 0.0f;
    case UnaryKind::kShrink: return x < -a.alpha ? x + a.beta : x > a.alpha ? x - a.beta : 0.0f;
    case UnaryKind::kCelu: return std::max(0.0f, x) + std::min(0.0f, a.alpha * (std::exp(x / a.alpha) - 1.0f));
    case UnaryKind::kErf: return std::erf(x);
    case UnaryKind::kSin: return std::sin(x);
    case UnaryKind::kCos: return std::cos(x);
    case UnaryKind::kTan: return std::tan(x);
    case UnaryKind::kAsin: return std::asin(x);
    case UnaryKind::kAcos: return std::acos(x);
    case UnaryKind::kAtan: return std::atan(x);
    case UnaryKind::kSinh: return std::sinh(x);
    case UnaryKind::kCosh: return std::cosh(x);
    case UnaryKind::kAsinh: return std::asinh(x);
    case UnaryKind::kAcosh: return std::acosh(x);
    case UnaryKind::kAtanh: return std::atanh(x);
    case UnaryKind::kCeil: return std::ceil(x);
    case UnaryKind::kFloor: return std::floor(x);
    case UnaryKind::kRound: return std::nearbyint(x);  // the default rounding mode: halves to even
    case UnaryKind::kSign: return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x;  // NaN stays NaN, -0 stays
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
  if (static_cast<int>(a.kind) > static_cast<int>(UnaryKind::kSign))
    return invalid_argument("unary: unknown unary kind " + std::to_string(static_cast<int>(a.kind)));
  if (a.kind == UnaryKind::kCelu && a.alpha == 0.0f) return invalid_argument("unary: Celu's alpha is 0");
  Tensor y = detail::new_f32(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = x.elements(); i < n; ++i) yp[i] = apply_unary(a, xp[i]);
  return y;
}

}  // namespace kiln::reference
