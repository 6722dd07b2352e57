// Reference max / average pooling over 1, 2 or 3 spatial axes (ONNX MaxPool, AveragePool,
// GlobalMaxPool, GlobalAveragePool).
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
  const int64_t N = x.shape()[0], C = x.shape()[1];
  int64_t HW = 1;
  for (size_t i = 2; i < x.shape().size(); ++i) HW *= x.shape()[i];
  Shape ys(x.shape().size(), 1);
  ys[0] = N;
  ys[1] = C;
  Tensor y = detail::new_f32(ys);
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
  KILN_RETURN_IF_ERROR(detail::check_f32(kOp, x, "input"));
  if (x.shape().size() < 3 || x.shape().size() > 5)
    return invalid_argument("pool: input must have rank 3 to 5, got shape " + shape_to_string(x.shape()));
  if (a.global) return global_pool(a.kind, x);

  KILN_ASSIGN_OR_RETURN(detail::Window3 win, detail::window3(kOp, x.shape(), a.kernel, a.strides, a.dilations, a.pads));
  if (a.ceil_pads.size() != a.kernel.size()) return invalid_argument("pool: ceil pads do not match the kernel");
  int64_t ceil_pad[3] = {0, 0, 0};
  for (size_t i = 0; i < a.ceil_pads.size(); ++i) ceil_pad[3 - a.ceil_pads.size() + i] = a.ceil_pads[i];
  for (int i = 0; i < 3; ++i)
    if (win.pb[i] < 0 || win.pe[i] < 0 || ceil_pad[i] < 0) return invalid_argument("pool: pads must be non-negative");
  // The output extent counts the ceil-mode pads; the taps' bookkeeping below does not.
  detail::Window3 extent = win;
  for (int i = 0; i < 3; ++i) extent.pe[i] += ceil_pad[i];
  KILN_RETURN_IF_ERROR(detail::slide_out_extent(kOp, extent, x.shape()));
  for (int i = 0; i < 3; ++i) win.out[i] = extent.out[i];
  const int64_t N = x.shape()[0], C = x.shape()[1];

  Tensor y = detail::new_f32(detail::window_out_shape(N, C, win));
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const bool is_max = a.kind == PoolKind::kMax;
  const int64_t ID = win.in[0], IH = win.in[1], IW = win.in[2];

  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float* plane = xp + nc * win.in_size();
    float* out = yp + nc * win.out_size();
    for (int64_t od = 0; od < win.out[0]; ++od) {
      for (int64_t oh = 0; oh < win.out[1]; ++oh) {
        for (int64_t ow = 0; ow < win.out[2]; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          double sum = 0.0;
          int64_t inside = 0;   // taps inside the input
          int64_t in_pads = 0;  // taps inside the input extended by the explicit pads
          for (int64_t kd = 0; kd < win.k[0]; ++kd) {
            const int64_t id = od * win.s[0] - win.pb[0] + kd * win.dil[0];
            const bool d_in = id >= 0 && id < ID, d_padded = id >= -win.pb[0] && id < ID + win.pe[0];
            for (int64_t kh = 0; kh < win.k[1]; ++kh) {
              const int64_t ih = oh * win.s[1] - win.pb[1] + kh * win.dil[1];
              const bool h_in = ih >= 0 && ih < IH, h_padded = ih >= -win.pb[1] && ih < IH + win.pe[1];
              for (int64_t kw = 0; kw < win.k[2]; ++kw) {
                const int64_t iw = ow * win.s[2] - win.pb[2] + kw * win.dil[2];
                const bool w_in = iw >= 0 && iw < IW, w_padded = iw >= -win.pb[2] && iw < IW + win.pe[2];
                if (d_padded && h_padded && w_padded) ++in_pads;
                if (!d_in || !h_in || !w_in) continue;
                const float v = plane[(id * IH + ih) * IW + iw];
                ++inside;
                best = v > best ? v : best;
                sum += v;
              }
            }
          }
          float r;
          if (is_max) {
            r = best;
          } else {
            const int64_t divisor = a.count_include_pad ? in_pads : inside;
            r = divisor > 0 ? static_cast<float>(sum / static_cast<double>(divisor)) : 0.0f;
          }
          out[(od * win.out[1] + oh) * win.out[2] + ow] = r;
        }
      }
    }
  }
  return y;
}

}  // namespace kiln::reference
