// Reference resize of the spatial axes of an NCW, NCHW or NCDHW tensor (ONNX Resize-13,
// modes "nearest", "linear" and "cubic").
//
// Each output coordinate is mapped to an input coordinate independently per axis, using
// scale = attrs.scales (output/input) and the output length:
//   half_pixel           x_in = (x_out + 0.5) / scale - 0.5
//   pytorch_half_pixel   x_in = out_len > 1 ? (x_out + 0.5) / scale - 0.5 : 0
//   align_corners        x_in = x_out * (in_len - 1) / (in_len * scale - 1), 0 for one output
//   asymmetric           x_in = x_out / scale
//   tf_half_pixel_for_nn x_in = (x_out + 0.5) / scale
// Coordinates are computed in float, as ONNX Runtime does.
// nearest: x_in is rounded with the rounding mode, then clamped to [0, in_len - 1].
// linear:  x_in is clamped to [0, in_len - 1], then the two neighbours floor(x_in) and
//          min(floor(x_in) + 1, in_len - 1) are blended with weight x_in - floor(x_in);
//          bilinear = this along W, then along H (trilinear: then along D).
// cubic:   the four neighbours floor(x_in) - 1 .. + 2 (indices clamped to the input, as the
//          ONNX reference pads by edge values) weighted by the cubic kernel of coefficient a;
//          with exclude_outside the taps outside the input weigh 0 and the rest are
//          renormalised to sum 1.
#include <algorithm>
#include <cmath>
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

namespace {

float to_input_coord(CoordTransform t, int64_t x_out, int64_t in_len, int64_t out_len,
                     float scale) {
  const float x = static_cast<float>(x_out);
  switch (t) {
    case CoordTransform::kHalfPixel: return (x + 0.5f) / scale - 0.5f;
    case CoordTransform::kPytorchHalfPixel:
      return out_len > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case CoordTransform::kAlignCorners: {
      // ONNX takes the resized length as in_len * scale, which is fractional when scales
      // (not sizes) were given: the conformance cases depend on it.
      const float resized = static_cast<float>(in_len) * scale;
      return out_len > 1 && resized > 1.0f ? x * static_cast<float>(in_len - 1) / (resized - 1.0f) : 0.0f;
    }
    case CoordTransform::kAsymmetric: return x / scale;
    case CoordTransform::kTfHalfPixelForNn: return (x + 0.5f) / scale;
  }
  return 0.0f;
}

int64_t round_nearest(NearestRounding r, float x) {
  const float fl = std::floor(x);
  switch (r) {
    case NearestRounding::kRoundPreferFloor:
      return static_cast<int64_t>(x - fl == 0.5f ? fl : std::round(x));
    case NearestRounding::kRoundPreferCeil:
      return static_cast<int64_t>(x - fl == 0.5f ? fl + 1.0f : std::round(x));
    case NearestRounding::kFloor: return static_cast<int64_t>(fl);
    case NearestRounding::kCeil: return static_cast<int64_t>(std::ceil(x));
  }
  return 0;
}

// Per output index along one axis: up to four input indices and their weights (nearest:
// one, linear: two, cubic: four).
struct Tap {
  int64_t idx[4] = {0, 0, 0, 0};
  float w[4] = {1.0f, 0.0f, 0.0f, 0.0f};
  int n = 1;
};

std::vector<Tap> axis_taps(const ResizeAttrs& a, size_t axis, int64_t in_len) {
  const int64_t out_len = a.out_size[axis];
  std::vector<Tap> taps(static_cast<size_t>(out_len));
  for (int64_t o = 0; o < out_len; ++o) {
    float x = to_input_coord(a.coord, o, in_len, out_len, a.scales[axis]);
    Tap& t = taps[o];
    if (a.mode == ResizeMode::kNearest) {
      t.idx[0] = std::clamp<int64_t>(round_nearest(a.nearest, x), 0, in_len - 1);
    } else if (a.mode == ResizeMode::kLinear) {
      x = std::clamp(x, 0.0f, static_cast<float>(in_len - 1));
      t.n = 2;
      t.idx[0] = static_cast<int64_t>(std::floor(x));
      t.idx[1] = std::min(t.idx[0] + 1, in_len - 1);
      t.w[1] = x - static_cast<float>(t.idx[0]);
      t.w[0] = 1.0f - t.w[1];
    } else {
      const float x0 = std::floor(x), f = x - x0, A = a.cubic_coeff_a;
      auto kernel = [A](float s) {  // s = distance from the sample, 0 <= s < 2
        return s <= 1.0f ? ((A + 2.0f) * s - (A + 3.0f)) * s * s + 1.0f : ((A * s - 5.0f * A) * s + 8.0f * A) * s - 4.0f * A;
      };
      t.n = 4;
      float sum = 0.0f;
      for (int k = 0; k < 4; ++k) {
        const int64_t i = static_cast<int64_t>(x0) - 1 + k;
        float w = kernel(std::fabs(f - static_cast<float>(k - 1)));
        if (a.exclude_outside && (i < 0 || i >= in_len)) w = 0.0f;
        t.idx[k] = std::clamp<int64_t>(i, 0, in_len - 1);
        t.w[k] = w;
        sum += w;
      }
      if (a.exclude_outside && sum != 0.0f)
        for (float& w : t.w) w /= sum;
    }
  }
  return taps;
}

}  // namespace

// inputs[0] is the data; ONNX's roi/scales/sizes inputs, already folded into the attributes,
// may follow and are ignored.
Expected<Tensor> resize(const ResizeAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "resize";
  if (inputs.empty()) return invalid_argument("resize: expected at least 1 input, got 0");
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  const size_t d = a.out_size.size();
  if (d < 1 || d > 3 || x.shape().size() != d + 2 || a.scales.size() != d)
    return invalid_argument("resize: " + std::to_string(d) + " output sizes and " + std::to_string(a.scales.size()) +
                            " scales for input " + shape_to_string(x.shape()));
  const int64_t N = x.shape()[0], C = x.shape()[1];
  // Seen as 3-D: missing leading axes have length 1 and one tap.
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  std::vector<Tap> taps[3] = {{Tap{}}, {Tap{}}, {Tap{}}};
  for (size_t i = 0; i < d; ++i) {
    const size_t k = 3 - d + i;
    in[k] = x.shape()[2 + i];
    out[k] = a.out_size[i];
    if (out[k] < 1) return invalid_argument("resize: output size " + shape_to_string(a.out_size) + " must be positive");
    if (in[k] < 1) return invalid_argument("resize: cannot resize an empty input " + shape_to_string(x.shape()));
    if (!(a.scales[i] > 0.0f)) return invalid_argument("resize: scales must be positive");
    taps[k] = axis_taps(a, i, in[k]);
  }
  Shape ys = {N, C};
  ys.insert(ys.end(), a.out_size.begin(), a.out_size.end());
  Tensor y = detail::new_f32(ys);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const int64_t in_vol = in[0] * in[1] * in[2], out_vol = out[0] * out[1] * out[2];
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float* vol = xp + nc * in_vol;
    float* dst = yp + nc * out_vol;
    for (int64_t od = 0; od < out[0]; ++od) {
      const Tap& td = taps[0][od];
      for (int64_t oh = 0; oh < out[1]; ++oh) {
        const Tap& th = taps[1][oh];
        for (int64_t ow = 0; ow < out[2]; ++ow) {
          const Tap& tw = taps[2][ow];
          // Along W, then H, then D: each a weighted sum of its taps.
          auto row = [&](int64_t z, int64_t r) {
            const float* p = vol + (z * in[1] + r) * in[2];
            float acc = 0.0f;
            for (int k = 0; k < tw.n; ++k) acc += p[tw.idx[k]] * tw.w[k];
            return acc;
          };
          auto plane = [&](int64_t z) {
            float acc = 0.0f;
            for (int k = 0; k < th.n; ++k) acc += row(z, th.idx[k]) * th.w[k];
            return acc;
          };
          float v = 0.0f;
          for (int k = 0; k < td.n; ++k) v += plane(td.idx[k]) * td.w[k];
          dst[(od * out[1] + oh) * out[2] + ow] = v;
        }
      }
    }
  }
  return y;
}

}  // namespace kiln::reference
