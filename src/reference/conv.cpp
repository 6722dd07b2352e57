// Reference convolution (ONNX Conv) over 1, 2 or 3 spatial axes with optional bias, folded
// batch norm and post-ops.
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
  KILN_RETURN_IF_ERROR(detail::check_conv_inputs(kOp, a.has_bias, a.kernel.size(), inputs));
  if (a.reads_upsampled_2x) {
    // Literally what the fused graph did: nearest 2x upsampling (output i takes input i/2),
    // then the conv. The optimised twin computes it as a transposed conv instead.
    const Tensor& x = inputs[0];
    if (x.shape().size() != 4) return invalid_argument("conv: reads_upsampled_2x needs a 2-D (NCHW) input");
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

  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t M = w.shape()[0];
  const int64_t G = a.group;
  if (G < 1) return invalid_argument("conv: group must be >= 1, got " + std::to_string(G));
  if (Shape(w.shape().begin() + 2, w.shape().end()) != a.kernel) {
    return invalid_argument("conv: weight shape " + shape_to_string(w.shape()) + " does not match kernel attribute " +
                            shape_to_string(a.kernel));
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
  KILN_ASSIGN_OR_RETURN(detail::Window3 win, detail::window3(kOp, x.shape(), a.kernel, a.strides, a.dilations, a.pads));
  KILN_RETURN_IF_ERROR(detail::slide_out_extent(kOp, win, x.shape()));
  const Shape out_shape = detail::window_out_shape(N, M, win);
  KILN_RETURN_IF_ERROR(detail::check_post_ops(kOp, a.post_ops, inputs, out_shape));

  Tensor y = detail::new_f32(out_shape);
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = a.has_bias ? inputs[2].data<float>() : nullptr;
  float* yp = y.data<float>();
  const int64_t Cg = C / G, Mg = M / G;
  const int64_t ID = win.in[0], IH = win.in[1], IW = win.in[2];
  const int64_t KD = win.k[0], KH = win.k[1], KW = win.k[2];
  const int64_t OD = win.out[0], OH = win.out[1], OW = win.out[2];
  const int64_t taps = KD * KH * KW;

  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / Mg;
      for (int64_t od = 0; od < OD; ++od) {
        for (int64_t oh = 0; oh < OH; ++oh) {
          for (int64_t ow = 0; ow < OW; ++ow) {
            double acc = bp ? bp[m] : 0.0;
            for (int64_t c = 0; c < Cg; ++c) {
              const int64_t ci = g * Cg + c;
              const float* xc = xp + (n * C + ci) * win.in_size();
              const float* wc = wp + (m * Cg + c) * taps;
              for (int64_t kd = 0; kd < KD; ++kd) {
                const int64_t id = od * win.s[0] - win.pb[0] + kd * win.dil[0];
                if (id < 0 || id >= ID) continue;
                for (int64_t kh = 0; kh < KH; ++kh) {
                  const int64_t ih = oh * win.s[1] - win.pb[1] + kh * win.dil[1];
                  if (ih < 0 || ih >= IH) continue;
                  for (int64_t kw = 0; kw < KW; ++kw) {
                    const int64_t iw = ow * win.s[2] - win.pb[2] + kw * win.dil[2];
                    if (iw < 0 || iw >= IW) continue;
                    acc += static_cast<double>(xc[(id * IH + ih) * IW + iw]) * wc[(kd * KH + kh) * KW + kw];
                  }
                }
              }
            }
            yp[(n * M + m) * win.out_size() + (od * OH + oh) * OW + ow] = static_cast<float>(acc);
          }
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
        float* plane = yp + (n * M + m) * win.out_size();
        for (int64_t i = 0; i < win.out_size(); ++i) plane[i] = (plane[i] - mean[m]) * mul + beta[m];
      }
    }
  }

  detail::apply_post_ops(a.post_ops, inputs, y);
  return y;
}

}  // namespace kiln::reference
