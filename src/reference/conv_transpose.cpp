// Reference 2-D transposed convolution (ONNX ConvTranspose) with optional bias and post-ops.
//
// By definition every input pixel x[n, c, ih, iw] scatters x * w[c, m, kh, kw] into output
// position (ih * stride - pad_top + kh * dilation, iw * stride - pad_left + kw * dilation).
// This kernel computes the same sum as a gather: for each output position it looks for the
// (input, tap) pairs that land on it, so each output accumulates in double precision.
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

namespace {
const char* kOp = "conv_transpose";
}  // namespace

Expected<Tensor> conv_transpose(const ConvTransposeAttrs& a, std::span<const Tensor> inputs) {
  KILN_RETURN_IF_ERROR(detail::check_conv_inputs(kOp, a.has_bias, inputs));
  const Tensor& x = inputs[0];
  const Tensor& w = inputs[1];

  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t KH = w.shape()[2], KW = w.shape()[3];
  const int64_t G = a.group;
  if (G < 1) return invalid_argument("conv_transpose: group must be >= 1");
  for (int i = 0; i < 2; ++i) {
    if (a.strides[i] < 1 || a.dilations[i] < 1) {
      return invalid_argument("conv_transpose: strides and dilations must be >= 1");
    }
  }
  if (KH != a.kernel[0] || KW != a.kernel[1]) {
    return invalid_argument("conv_transpose: weight shape " + shape_to_string(w.shape()) +
                            " does not match kernel attribute [" + std::to_string(a.kernel[0]) +
                            "," + std::to_string(a.kernel[1]) + "]");
  }
  if (C % G != 0 || w.shape()[0] != C) {
    return invalid_argument("conv_transpose: weight shape " + shape_to_string(w.shape()) +
                            " does not match input channels " + std::to_string(C) +
                            " with group " + std::to_string(G) +
                            " (expected [C_in, C_out/group, kH, kW])");
  }
  const int64_t Mg = w.shape()[1], M = Mg * G, Cg = C / G;
  if (a.has_bias) KILN_RETURN_IF_ERROR(detail::check_per_channel(kOp, inputs[2], "bias", M));

  const int64_t top = a.pads[0], left = a.pads[1], bottom = a.pads[2], right = a.pads[3];
  const int64_t sh = a.strides[0], sw = a.strides[1];
  const int64_t dh = a.dilations[0], dw = a.dilations[1];
  const int64_t OH = sh * (H - 1) + dh * (KH - 1) + 1 - top - bottom;
  const int64_t OW = sw * (W - 1) + dw * (KW - 1) + 1 - left - right;
  if (H < 1 || W < 1 || OH < 1 || OW < 1) {
    return invalid_argument("conv_transpose: input " + shape_to_string(x.shape()) +
                            " with these pads gives an empty output " +
                            shape_to_string({N, M, OH, OW}));
  }
  const Shape out_shape = {N, M, OH, OW};
  KILN_RETURN_IF_ERROR(detail::check_post_ops(kOp, a.post_ops, inputs, out_shape));

  Tensor y = detail::new_f32(out_shape);
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = a.has_bias ? inputs[2].data<float>() : nullptr;
  float* yp = y.data<float>();

  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / Mg, mo = m % Mg;
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bp ? bp[m] : 0.0;
          for (int64_t kh = 0; kh < KH; ++kh) {
            // Solve oh = ih * sh - top + kh * dh for an integer ih inside the input.
            const int64_t th = oh + top - kh * dh;
            if (th % sh != 0) continue;
            const int64_t ih = th / sh;
            if (ih < 0 || ih >= H) continue;
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t tw = ow + left - kw * dw;
              if (tw % sw != 0) continue;
              const int64_t iw = tw / sw;
              if (iw < 0 || iw >= W) continue;
              for (int64_t c = 0; c < Cg; ++c) {
                const int64_t ci = g * Cg + c;
                const float xv = xp[((n * C + ci) * H + ih) * W + iw];
                const float wv = wp[((ci * Mg + mo) * KH + kh) * KW + kw];
                acc += static_cast<double>(xv) * wv;
              }
            }
          }
          yp[((n * M + m) * OH + oh) * OW + ow] = static_cast<float>(acc);
        }
      }
    }
  }

  detail::apply_post_ops(a.post_ops, inputs, y);
  return y;
}

}  // namespace kiln::reference
