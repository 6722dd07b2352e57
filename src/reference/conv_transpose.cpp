// Reference transposed convolution (ONNX ConvTranspose) over 1, 2 or 3 spatial axes with
// optional bias and post-ops.
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
  KILN_RETURN_IF_ERROR(detail::check_conv_inputs(kOp, a.has_bias, a.kernel.size(), inputs));
  const Tensor& x = inputs[0];
  const Tensor& w = inputs[1];

  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t G = a.group;
  if (G < 1) return invalid_argument("conv_transpose: group must be >= 1");
  if (Shape(w.shape().begin() + 2, w.shape().end()) != a.kernel) {
    return invalid_argument("conv_transpose: weight shape " + shape_to_string(w.shape()) +
                            " does not match kernel attribute " + shape_to_string(a.kernel));
  }
  if (C % G != 0 || w.shape()[0] != C) {
    return invalid_argument("conv_transpose: weight shape " + shape_to_string(w.shape()) +
                            " does not match input channels " + std::to_string(C) +
                            " with group " + std::to_string(G) +
                            " (expected [C_in, C_out/group, k...])");
  }
  const int64_t Mg = w.shape()[1], M = Mg * G, Cg = C / G;
  if (a.has_bias) KILN_RETURN_IF_ERROR(detail::check_per_channel(kOp, inputs[2], "bias", M));

  KILN_ASSIGN_OR_RETURN(detail::Window3 win, detail::window3(kOp, x.shape(), a.kernel, a.strides, a.dilations, a.pads));
  for (int i = 0; i < 3; ++i) {
    win.out[i] = win.s[i] * (win.in[i] - 1) + win.dil[i] * (win.k[i] - 1) + 1 - win.pb[i] - win.pe[i];
    if (win.in[i] < 1 || win.out[i] < 1)
      return invalid_argument("conv_transpose: input " + shape_to_string(x.shape()) + " with these pads gives an empty output");
  }
  const Shape out_shape = detail::window_out_shape(N, M, win);
  KILN_RETURN_IF_ERROR(detail::check_post_ops(kOp, a.post_ops, inputs, out_shape));

  Tensor y = detail::new_f32(out_shape);
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = a.has_bias ? inputs[2].data<float>() : nullptr;
  float* yp = y.data<float>();
  const int64_t ID = win.in[0], IH = win.in[1], IW = win.in[2];
  const int64_t KD = win.k[0], KH = win.k[1], KW = win.k[2];
  const int64_t OD = win.out[0], OH = win.out[1], OW = win.out[2];
  const int64_t taps = KD * KH * KW;

  // Solves o = i * stride - pad + k * dilation for an integer i inside the input, or -1.
  auto source = [&](int axis, int64_t o, int64_t k) -> int64_t {
    const int64_t t = o + win.pb[axis] - k * win.dil[axis];
    if (t % win.s[axis] != 0) return -1;
    const int64_t i = t / win.s[axis];
    return i >= 0 && i < win.in[axis] ? i : -1;
  };
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / Mg, mo = m % Mg;
      for (int64_t od = 0; od < OD; ++od) {
        for (int64_t oh = 0; oh < OH; ++oh) {
          for (int64_t ow = 0; ow < OW; ++ow) {
            double acc = bp ? bp[m] : 0.0;
            for (int64_t kd = 0; kd < KD; ++kd) {
              const int64_t id = source(0, od, kd);
              if (id < 0) continue;
              for (int64_t kh = 0; kh < KH; ++kh) {
                const int64_t ih = source(1, oh, kh);
                if (ih < 0) continue;
                for (int64_t kw = 0; kw < KW; ++kw) {
                  const int64_t iw = source(2, ow, kw);
                  if (iw < 0) continue;
                  for (int64_t c = 0; c < Cg; ++c) {
                    const int64_t ci = g * Cg + c;
                    const float xv = xp[(n * C + ci) * win.in_size() + (id * IH + ih) * IW + iw];
                    const float wv = wp[(ci * Mg + mo) * taps + (kd * KH + kh) * KW + kw];
                    acc += static_cast<double>(xv) * wv;
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
  (void)ID;

  detail::apply_post_ops(a.post_ops, inputs, y);
  return y;
}

}  // namespace kiln::reference
