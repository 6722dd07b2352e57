// Reference local response normalisation across channels (ONNX LRN):
// y = x / (bias + alpha / size * sum over c' in [c - floor((size-1)/2), c + ceil((size-1)/2)]
// of x[c']^2)^beta, the window cut at the first and last channel.
#include <cmath>
#include <string>

#include "core/status_macros.h"
#include "reference/reference.h"
#include "reference/util.h"

namespace kiln::reference {

Expected<Tensor> lrn(const LrnAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "lrn";
  KILN_RETURN_IF_ERROR(detail::check_count(op, inputs, 1, 1));
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  const Shape& s = x.shape();
  if (s.size() < 3) return invalid_argument("lrn: input " + shape_to_string(s) + " has no channels and spatial axes");
  if (a.size < 1) return invalid_argument("lrn: size must be >= 1");
  const int64_t N = s[0], C = s[1];
  int64_t plane = 1;
  for (size_t i = 2; i < s.size(); ++i) plane *= s[i];
  const int64_t before = (a.size - 1) / 2, after = a.size - 1 - before;
  Tensor y = detail::new_f32(s);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < plane; ++i) {
        double sum = 0.0;
        for (int64_t k = std::max<int64_t>(0, c - before); k <= std::min(C - 1, c + after); ++k) {
          const double v = xp[(n * C + k) * plane + i];
          sum += v * v;
        }
        const double v = xp[(n * C + c) * plane + i];
        yp[(n * C + c) * plane + i] =
            static_cast<float>(v / std::pow(a.bias + a.alpha / static_cast<double>(a.size) * sum, a.beta));
      }
  return y;
}

}  // namespace kiln::reference
