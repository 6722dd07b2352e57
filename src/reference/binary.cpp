// Reference element-wise binary functions with NumPy broadcasting (ONNX Add, Sub, Mul, Div,
// Max, Min with two inputs, Pow) and PRelu (slope broadcast unidirectionally to x).
#include <cmath>
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

namespace {

float apply_binary(BinaryKind k, float a, float b) {
  switch (k) {
    case BinaryKind::kAdd: return a + b;
    case BinaryKind::kSub: return a - b;
    case BinaryKind::kMul: return a * b;
    case BinaryKind::kDiv: return a / b;
    case BinaryKind::kMax: return a >= b ? a : b;
    case BinaryKind::kMin: return a <= b ? a : b;
    case BinaryKind::kPRelu: return a >= 0.0f ? a : b * a;
    case BinaryKind::kPow: return std::pow(a, b);
  }
  return 0.0f;
}

}  // namespace

Expected<Tensor> binary(const BinaryAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "binary";
  KILN_RETURN_IF_ERROR(detail::check_count(op, inputs, 2, 2));
  const Tensor& x0 = inputs[0];
  const Tensor& x1 = inputs[1];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x0, "first input"));
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x1, "second input"));
  if (static_cast<int>(a.kind) > static_cast<int>(BinaryKind::kPow)) {
    return invalid_argument("binary: unknown binary kind " +
                            std::to_string(static_cast<int>(a.kind)));
  }

  KILN_ASSIGN_OR_RETURN(Shape out_shape, detail::broadcast_shapes(op, x0.shape(), x1.shape()));
  if (a.kind == BinaryKind::kPRelu && out_shape != x0.shape()) {
    return invalid_argument("binary: PRelu slope shape " + shape_to_string(x1.shape()) +
                            " cannot be broadcast to input shape " +
                            shape_to_string(x0.shape()));
  }

  const std::vector<int64_t> st0 = detail::broadcast_strides(x0.shape(), out_shape);
  const std::vector<int64_t> st1 = detail::broadcast_strides(x1.shape(), out_shape);
  Tensor y = detail::new_f32(out_shape);
  const float* p0 = x0.data<float>();
  const float* p1 = x1.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = y.elements(); i < n; ++i) {
    const float v0 = p0[detail::offset_of(i, out_shape, st0)];
    const float v1 = p1[detail::offset_of(i, out_shape, st1)];
    yp[i] = apply_binary(a.kind, v0, v1);
  }
  return y;
}

}  // namespace kiln::reference
