// Reference 2-D max / average pooling (ONNX MaxPool, AveragePool, GlobalMaxPool,
// GlobalAveragePool).
//
// Window taps are at (oh * stride - pad_top + kh * dilation, ...). Taps outside the input
// never contribute a value. The average divides by the number of taps inside the input, or,
// with count_include_pad, by the number of taps inside the input extended by the explicit
// pads (taps that only fall into the ceil-mode padding are never counted). A max window with
// no tap inside the input yields -infinity; an average window with a zero divisor yields 0.
#include <limits>
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

namespace {

const char* kOp = "pool";

Tensor global_pool(PoolKind kind, const Tensor& x) {
  const int64_t N = x.shape()[0], C = x.shape()[1], HW = x.shape()[2] * x.shape()[3];
  Tensor y = detail::new_f32({N, C, 1, 1});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float* plane = xp + nc * HW;
    if (kind == PoolKind::kMax) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < HW; ++i) best = plane[i] > best ? plane[i] : best;
      yp[nc] = best;
    } else {
      double sum = 0.0;
      for (int64_t i = 0; i < HW; ++i) sum += plane[i];
      yp[nc] = HW > 0 ? static_cast<float>(sum / static_cast<double>(HW)) : 0.0f;
    }
  }
  return y;
}

}  // namespace

Expected<Tensor> pool(const PoolAttrs& a, std::span<const Tensor> inputs) {
  KILN_RETURN_IF_ERROR(detail::check_count(kOp, inputs, 1, 1));
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_rank(kOp, x, "input", 4));
  if (a.global) return global_pool(a.kind, x);

  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t KH = a.kernel[0], KW = a.kernel[1];
  const int64_t sh = a.strides[0], sw = a.strides[1];
  const int64_t dh = a.dilations[0], dw = a.dilations[1];
  const int64_t top = a.pads[0], left = a.pads[1], bottom = a.pads[2], right = a.pads[3];
  const int64_t ceil_b = a.ceil_pads[0], ceil_r = a.ceil_pads[1];
  if (KH < 1 || KW < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1) {
    return invalid_argument("pool: kernel, strides and dilations must be >= 1");
  }
  if (top < 0 || left < 0 || bottom < 0 || right < 0 || ceil_b < 0 || ceil_r < 0) {
    return invalid_argument("pool: pads must be non-negative");
  }
  const int64_t span_h = H + top + bottom + ceil_b - dh * (KH - 1) - 1;
  const int64_t span_w = W + left + right + ceil_r - dw * (KW - 1) - 1;
  if (span_h < 0 || span_w < 0) {
    return invalid_argument("pool: kernel " + shape_to_string({KH, KW}) +
                            " (with dilation and padding) is larger than input " +
                            shape_to_string(x.shape()));
  }
  const int64_t OH = span_h / sh + 1, OW = span_w / sw + 1;

  Tensor y = detail::new_f32({N, C, OH, OW});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const bool is_max = a.kind == PoolKind::kMax;

  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float* plane = xp + nc * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        double sum = 0.0;
        int64_t inside = 0;   // taps inside the input
        int64_t in_pads = 0;  // taps inside the input extended by the explicit pads
        for (int64_t kh = 0; kh < KH; ++kh) {
          const int64_t ih = oh * sh - top + kh * dh;
          const bool h_in = ih >= 0 && ih < H;
          const bool h_padded = ih >= -top && ih < H + bottom;
          for (int64_t kw = 0; kw < KW; ++kw) {
            const int64_t iw = ow * sw - left + kw * dw;
            const bool w_in = iw >= 0 && iw < W;
            const bool w_padded = iw >= -left && iw < W + right;
            if (h_padded && w_padded) ++in_pads;
            if (!h_in || !w_in) continue;
            const float v = plane[ih * W + iw];
            ++inside;
            best = v > best ? v : best;
            sum += v;
          }
        }
        float out;
        if (is_max) {
          out = best;
        } else {
          const int64_t divisor = a.count_include_pad ? in_pads : inside;
          out = divisor > 0 ? static_cast<float>(sum / static_cast<double>(divisor)) : 0.0f;
        }
        yp[(nc * OH + oh) * OW + ow] = out;
      }
    }
  }
  return y;
}

}  // namespace kiln::reference
