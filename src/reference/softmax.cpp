// Reference normalisations over one axis (ONNX Softmax-13, LogSoftmax-13, Hardmax-13):
// softmax y = exp(x - max) / sum(exp(x - max)), log-softmax y = x - max - log(sum(exp(x - max))),
// hardmax y = 1 at the axis's first maximum, 0 elsewhere.
#include <cmath>
#include <limits>
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

Expected<Tensor> softmax(const SoftmaxAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "softmax";
  KILN_RETURN_IF_ERROR(detail::check_count(op, inputs, 1, 1));
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  const Shape& s = x.shape();
  const int64_t rank = static_cast<int64_t>(s.size());
  const int64_t axis = a.axis < 0 ? a.axis + rank : a.axis;
  if (axis < 0 || axis >= rank) {
    return invalid_argument("softmax: axis " + std::to_string(a.axis) +
                            " is out of range for shape " + shape_to_string(s));
  }

  // View the tensor as [outer, len, inner] with `len` the softmax axis.
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= s[i];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= s[i];
  const int64_t len = s[axis];

  Tensor y = detail::new_f32(s);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const int64_t base = o * len * inner + in;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < len; ++k) mx = std::fmax(mx, xp[base + k * inner]);
      if (a.kind == SoftmaxKind::kHardmax) {
        int64_t first = 0;
        while (first + 1 < len && !(xp[base + first * inner] == mx)) ++first;
        for (int64_t k = 0; k < len; ++k) yp[base + k * inner] = k == first ? 1.0f : 0.0f;
        continue;
      }
      double sum = 0.0;
      for (int64_t k = 0; k < len; ++k) {
        sum += std::exp(static_cast<double>(xp[base + k * inner]) - mx);
      }
      if (a.kind == SoftmaxKind::kLogSoftmax) {
        const double log_sum = std::log(sum);
        for (int64_t k = 0; k < len; ++k)
          yp[base + k * inner] = static_cast<float>(static_cast<double>(xp[base + k * inner]) - mx - log_sum);
        continue;
      }
      for (int64_t k = 0; k < len; ++k) {
        const double e = std::exp(static_cast<double>(xp[base + k * inner]) - mx);
        yp[base + k * inner] = static_cast<float>(e / sum);
      }
    }
  }
  return y;
}

}  // namespace kiln::reference
