// Reference 2-D convolution (ONNX Conv) with optional bias, folded batch norm and post-ops.
#include <cmath>
#include <string>
#include <vector>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

using detail::check_per_channel;

namespace {

const char* kOp = "conv";

Status check_bn_input(const std::span<const Tensor> in, int index, const char* what, int64_t m) {
  if (index < 0 || static_cast<size_t>(index) >= in.size()) {
    return invalid_argument(std::string(kOp) + ": folded batch-norm " + what + " names input " +
                            std::to_string(index) + " but there are " +
                            std::to_string(in.size()) + " inputs");
  }
  return check_per_channel(kOp, in[index], what, m);
}

}  // namespace

Expected<Tensor> conv(const ConvAttrs& a, std::span<const Tensor> inputs) {
  KILN_RETURN_IF_ERROR(detail::check_conv_inputs(kOp, a.has_bias, inputs));
  if (a.reads_upsampled_2x) {
    // Literally what the fused graph did: nearest 2x upsampling (output i takes input i/2),
    // then the conv. The optimised twin computes it as a transposed conv instead.
    const Tensor& x = inputs[0];
    const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    Tensor up = detail::new_f32({N, C, 2 * H, 2 * W});
    for (int64_t p = 0; p < N * C; ++p)
      for (int64_t i = 0; i < 2 * H; ++i)
        for (int64_t j = 0; j < 2 * W; ++j)
          up.data<float>()[(p * 2 * H + i) * 2 * W + j] = x.data<float>()[(p * H + i / 2) * W + j / 2];
    std::vector<Tensor> in(inputs.begin(), inputs.end());
    in[0] = up;
    ConvAttrs plain = a;
    plain.reads_upsampled_2x = false;
    return conv(plain, in);
  }
  const Tensor& x = inputs[0];
  const Tensor& w = inputs[1];

  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t M = w.shape()[0], KH = w.shape()[2], KW = w.shape()[3];
  const int64_t G = a.group;
  if (G < 1) return invalid_argument("conv: group must be >= 1, got " + std::to_string(G));
  for (int i = 0; i < 2; ++i) {
    if (a.strides[i] < 1 || a.dilations[i] < 1) {
      return invalid_argument("conv: strides and dilations must be >= 1");
    }
  }
  if (KH != a.kernel[0] || KW != a.kernel[1]) {
    return invalid_argument("conv: weight shape " + shape_to_string(w.shape()) +
                            " does not match kernel attribute [" + std::to_string(a.kernel[0]) +
                            "," + std::to_string(a.kernel[1]) + "]");
  }
  if (C % G != 0 || M % G != 0 || w.shape()[1] != C / G) {
    return invalid_argument("conv: weight shape " + shape_to_string(w.shape()) +
                            " does not match input channels " + std::to_string(C) +
                            " with group " + std::to_string(G));
  }
  if (a.has_bias) KILN_RETURN_IF_ERROR(check_per_channel(kOp, inputs[2], "bias", M));
  if (a.folded_bn.present) {
    const FoldedBatchNorm& bn = a.folded_bn;
    KILN_RETURN_IF_ERROR(check_bn_input(inputs, bn.gamma_input, "gamma", M));
    KILN_RETURN_IF_ERROR(check_bn_input(inputs, bn.beta_input, "beta", M));
    KILN_RETURN_IF_ERROR(check_bn_input(inputs, bn.mean_input, "mean", M));
    KILN_RETURN_IF_ERROR(check_bn_input(inputs, bn.var_input, "var", M));
  }

  const int64_t top = a.pads[0], left = a.pads[1], bottom = a.pads[2], right = a.pads[3];
  const int64_t sh = a.strides[0], sw = a.strides[1];
  const int64_t dh = a.dilations[0], dw = a.dilations[1];
  const int64_t span_h = H + top + bottom - dh * (KH - 1) - 1;
  const int64_t span_w = W + left + right - dw * (KW - 1) - 1;
  if (span_h < 0 || span_w < 0) {
    return invalid_argument("conv: kernel " + shape_to_string({KH, KW}) +
                            " (with dilation and padding) is larger than input " +
                            shape_to_string(x.shape()));
  }
  const int64_t OH = span_h / sh + 1, OW = span_w / sw + 1;
  const Shape out_shape = {N, M, OH, OW};
  KILN_RETURN_IF_ERROR(detail::check_post_ops(kOp, a.post_ops, inputs, out_shape));

  Tensor y = detail::new_f32(out_shape);
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = a.has_bias ? inputs[2].data<float>() : nullptr;
  float* yp = y.data<float>();
  const int64_t Cg = C / G, Mg = M / G;

  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / Mg;
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bp ? bp[m] : 0.0;
          for (int64_t c = 0; c < Cg; ++c) {
            const int64_t ci = g * Cg + c;
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t ih = oh * sh - top + kh * dh;
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iw = ow * sw - left + kw * dw;
                if (iw < 0 || iw >= W) continue;
                const float xv = xp[((n * C + ci) * H + ih) * W + iw];
                const float wv = wp[((m * Cg + c) * KH + kh) * KW + kw];
                acc += static_cast<double>(xv) * wv;
              }
            }
          }
          yp[((n * M + m) * OH + oh) * OW + ow] = static_cast<float>(acc);
        }
      }
    }
  }

  if (a.folded_bn.present) {
    const FoldedBatchNorm& bn = a.folded_bn;
    const float* gamma = inputs[bn.gamma_input].data<float>();
    const float* beta = inputs[bn.beta_input].data<float>();
    const float* mean = inputs[bn.mean_input].data<float>();
    const float* var = inputs[bn.var_input].data<float>();
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t m = 0; m < M; ++m) {
        const float mul = gamma[m] / std::sqrt(var[m] + bn.epsilon);
        float* plane = yp + (n * M + m) * OH * OW;
        for (int64_t i = 0; i < OH * OW; ++i) plane[i] = (plane[i] - mean[m]) * mul + beta[m];
      }
    }
  }

  detail::apply_post_ops(a.post_ops, inputs, y);
  return y;
}

}  // namespace kiln::reference
