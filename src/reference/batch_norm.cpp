// Reference inference-mode batch normalization (ONNX BatchNormalization):
// y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c], with c = axis 1.
#include <cmath>
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

Expected<Tensor> batch_norm(const BatchNormAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "batch_norm";
  KILN_RETURN_IF_ERROR(detail::check_count(op, inputs, 5, 5));
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  if (x.shape().size() < 2) {
    return invalid_argument("batch_norm: input must have rank >= 2, got shape " +
                            shape_to_string(x.shape()));
  }
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t inner = x.elements() / std::max<int64_t>(N * C, 1);
  const char* names[4] = {"scale", "bias", "mean", "var"};
  for (int i = 0; i < 4; ++i) {
    KILN_RETURN_IF_ERROR(detail::check_per_channel(op, inputs[i + 1], names[i], C));
  }
  const float* scale = inputs[1].data<float>();
  const float* bias = inputs[2].data<float>();
  const float* mean = inputs[3].data<float>();
  const float* var = inputs[4].data<float>();

  Tensor y = detail::new_f32(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const float inv_std = 1.0f / std::sqrt(var[c] + a.epsilon);
      const int64_t base = (n * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        yp[base + i] = (xp[base + i] - mean[c]) * inv_std * scale[c] + bias[c];
      }
    }
  }
  return y;
}

}  // namespace kiln::reference
