// Reference 2-D resize of the H and W axes of an NCHW tensor (ONNX Resize-13, modes
// "nearest" and "linear").
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
//          bilinear = this along H, then along W.
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

// Per output index along one axis: the input index to read (nearest: lo), or the two input
// indices to blend and the weight of the second (linear).
struct Tap {
  int64_t lo = 0, hi = 0;
  float w_hi = 0.0f;
};

std::vector<Tap> axis_taps(const ResizeAttrs& a, int axis, int64_t in_len) {
  const int64_t out_len = a.out_size[axis];
  std::vector<Tap> taps(static_cast<size_t>(out_len));
  for (int64_t o = 0; o < out_len; ++o) {
    float x = to_input_coord(a.coord, o, in_len, out_len, a.scales[axis]);
    Tap& t = taps[o];
    if (a.mode == ResizeMode::kNearest) {
      t.lo = t.hi = std::clamp<int64_t>(round_nearest(a.nearest, x), 0, in_len - 1);
    } else {
      x = std::clamp(x, 0.0f, static_cast<float>(in_len - 1));
      t.lo = static_cast<int64_t>(std::floor(x));
      t.hi = std::min(t.lo + 1, in_len - 1);
      t.w_hi = x - static_cast<float>(t.lo);
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
  KILN_RETURN_IF_ERROR(detail::check_rank(op, x, "input", 4));
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t OH = a.out_size[0], OW = a.out_size[1];
  if (OH < 1 || OW < 1) {
    return invalid_argument("resize: output size [" + std::to_string(OH) + "," +
                            std::to_string(OW) + "] must be positive");
  }
  if (H < 1 || W < 1) {
    return invalid_argument("resize: cannot resize an empty input " + shape_to_string(x.shape()));
  }
  if (!(a.scales[0] > 0.0f) || !(a.scales[1] > 0.0f)) {
    return invalid_argument("resize: scales must be positive");
  }

  const std::vector<Tap> th = axis_taps(a, 0, H);
  const std::vector<Tap> tw = axis_taps(a, 1, W);
  Tensor y = detail::new_f32({N, C, OH, OW});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float* plane = xp + nc * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Tap& h = th[oh];
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Tap& w = tw[ow];
        float v;
        if (a.mode == ResizeMode::kNearest) {
          v = plane[h.lo * W + w.lo];
        } else {
          const float* r0 = plane + h.lo * W;
          const float* r1 = plane + h.hi * W;
          const float top = r0[w.lo] * (1.0f - w.w_hi) + r0[w.hi] * w.w_hi;
          const float bot = r1[w.lo] * (1.0f - w.w_hi) + r1[w.hi] * w.w_hi;
          v = top * (1.0f - h.w_hi) + bot * h.w_hi;
        }
        yp[(nc * OH + oh) * OW + ow] = v;
      }
    }
  }
  return y;
}

}  // namespace kiln::reference
