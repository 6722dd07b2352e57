// ONNX Resize (opsets 10-21) and Upsample (7-9) -> ResizeAttrs over the spatial axes (1 to 3).
#include <algorithm>
#include <cmath>

#include "import/onnx/importer.h"
#include "core/status_macros.h"

namespace kiln::onnx_import {
namespace {

Expected<CoordTransform> coord_of(const NodeContext& c, const std::string& s) {
  if (s == "half_pixel") return CoordTransform::kHalfPixel;
  if (s == "pytorch_half_pixel") return CoordTransform::kPytorchHalfPixel;
  if (s == "align_corners") return CoordTransform::kAlignCorners;
  if (s == "asymmetric") return CoordTransform::kAsymmetric;
  if (s == "tf_half_pixel_for_nn") return CoordTransform::kTfHalfPixelForNn;
  if (s == "half_pixel_symmetric") return c.fail("coordinate_transformation_mode 'half_pixel_symmetric' (opset 19) is not supported");
  return c.fail("coordinate_transformation_mode '" + s + "' is not supported");
}

Expected<NearestRounding> rounding_of(const NodeContext& c, const std::string& s) {
  if (s == "round_prefer_floor") return NearestRounding::kRoundPreferFloor;
  if (s == "round_prefer_ceil") return NearestRounding::kRoundPreferCeil;
  if (s == "floor") return NearestRounding::kFloor;
  if (s == "ceil") return NearestRounding::kCeil;
  return c.fail("nearest_mode '" + s + "' is not supported");
}

Expected<ResizeMode> mode_of(const NodeContext& c) {
  std::string m = c.attr_string("mode", "nearest");
  if (m == "nearest") return ResizeMode::kNearest;
  if (m == "linear" || m == "bilinear") return ResizeMode::kLinear;
  if (m == "cubic" && c.op() == "Resize") return ResizeMode::kCubic;
  return c.fail("mode '" + m + "' is not supported (kiln supports nearest, linear and, in Resize, cubic)");
}

// Fills out_size and scales from either per-axis scales or target sizes of an NCW, NCHW or
// NCDHW input.
Status resolve_size(const NodeContext& c, const Shape& x, const std::vector<float>& scales,
                    const std::vector<int64_t>& sizes, ResizeAttrs& a) {
  if (x.size() < 3 || x.size() > 5)
    return c.fail("input has rank " + std::to_string(x.size()) + "; kiln resizes the spatial axes of NCW, NCHW and NCDHW tensors");
  const size_t d = x.size() - 2;
  a.out_size.assign(d, 1);
  a.scales.assign(d, 1.0f);
  if (!sizes.empty()) {
    if (sizes.size() != x.size()) return c.bad("sizes must have " + std::to_string(x.size()) + " values");
    if (sizes[0] != x[0] || sizes[1] != x[1]) return c.fail("resizing the batch or channel axis is not supported");
    for (size_t i = 0; i < d; ++i) {
      a.out_size[i] = sizes[2 + i];
      a.scales[i] = static_cast<float>(sizes[2 + i]) / static_cast<float>(x[2 + i]);
    }
    return Status::ok();
  }
  if (scales.size() != x.size()) return c.bad("scales must have " + std::to_string(x.size()) + " values");
  if (scales[0] != 1.0f || scales[1] != 1.0f) return c.fail("resizing the batch or channel axis is not supported");
  for (size_t i = 0; i < d; ++i) {
    if (!(scales[2 + i] > 0.0f)) return c.bad("scales must be positive");
    a.scales[i] = scales[2 + i];
    a.out_size[i] = static_cast<int64_t>(std::floor(static_cast<double>(x[2 + i]) * scales[2 + i]));
  }
  return Status::ok();
}

// Opset 18's additions: scales or sizes for the listed axes only, sizes that keep the aspect
// ratio, and antialiasing (refused: kiln's linear and nearest do not filter).
Status opset18_attributes(const NodeContext& c, const Shape& x, std::vector<float>& scales, std::vector<int64_t>& sizes) {
  if (c.attr_int("antialias", 0) != 0) return c.fail("antialias=1 (opset 18) is not supported");
  const int64_t rank = static_cast<int64_t>(x.size());
  std::vector<int64_t> axes = c.attr_ints("axes");
  if (axes.empty())
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  for (int64_t& a : axes) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return c.bad("axes name an axis outside the input's rank");
  }
  const size_t given = sizes.empty() ? scales.size() : sizes.size();
  if (given != axes.size()) return c.bad("scales or sizes must have one value per axis in axes");
  const std::string policy = c.attr_string("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
    return c.bad("keep_aspect_ratio_policy '" + policy + "' is not stretch, not_larger or not_smaller");
  if (!sizes.empty() && policy != "stretch") {
    // One scale for every listed axis, the largest that fits (not_larger) or the smallest
    // that covers (not_smaller); each size is then that scale times the input's, rounded.
    double scale = policy == "not_larger" ? INFINITY : 0.0;
    for (size_t i = 0; i < axes.size(); ++i) {
      const double r = static_cast<double>(sizes[i]) / static_cast<double>(x[static_cast<size_t>(axes[i])]);
      scale = policy == "not_larger" ? std::min(scale, r) : std::max(scale, r);
    }
    for (size_t i = 0; i < axes.size(); ++i)
      sizes[i] = static_cast<int64_t>(std::floor(scale * static_cast<double>(x[static_cast<size_t>(axes[i])]) + 0.5));
  }
  // As full-rank lists, the other axes unchanged.
  if (!sizes.empty()) {
    std::vector<int64_t> full(x.begin(), x.end());
    for (size_t i = 0; i < axes.size(); ++i) full[static_cast<size_t>(axes[i])] = sizes[i];
    sizes = std::move(full);
  } else {
    std::vector<float> full(x.size(), 1.0f);
    for (size_t i = 0; i < axes.size(); ++i) full[static_cast<size_t>(axes[i])] = scales[i];
    scales = std::move(full);
  }
  return Status::ok();
}

Status translate_resize(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  ResizeAttrs a;
  KILN_ASSIGN_OR_RETURN(a.mode, mode_of(c));
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  if (c.opset() < 11) {
    a.coord = CoordTransform::kAsymmetric;
    a.nearest = NearestRounding::kFloor;
    KILN_ASSIGN_OR_RETURN(Tensor s, c.const_value(1));
    scales = s.to_f32();
  } else {
    KILN_ASSIGN_OR_RETURN(a.coord, coord_of(c, c.attr_string("coordinate_transformation_mode", "half_pixel")));
    KILN_ASSIGN_OR_RETURN(a.nearest, rounding_of(c, c.attr_string("nearest_mode", "round_prefer_floor")));
    a.cubic_coeff_a = c.attr_float("cubic_coeff_a", -0.75f);
    a.exclude_outside = c.attr_int("exclude_outside", 0) != 0;  // only cubic has taps outside
    if (c.has_input(3)) { KILN_ASSIGN_OR_RETURN(sizes, c.const_ints(3)); }
    if (sizes.empty() && c.has_input(2)) {
      KILN_ASSIGN_OR_RETURN(Tensor s, c.const_value(2));
      scales = s.to_f32();
    }
    if (scales.empty() && sizes.empty()) return c.bad("neither scales nor sizes is given");
    if (c.opset() >= 18) KILN_RETURN_IF_ERROR(opset18_attributes(c, x, scales, sizes));
  }
  KILN_RETURN_IF_ERROR(resolve_size(c, x, scales, sizes, a));
  if (Shape(x.begin() + 2, x.end()) == a.out_size && std::all_of(a.scales.begin(), a.scales.end(), [](float s) { return s == 1.0f; }))
    return c.alias(0, 0);
  return c.emit(a, {0});
}

Status translate_upsample(NodeContext& c) {
  if (c.opset() < 7) return c.fail("Upsample before opset 7 (experimental, its scales as width_scale/height_scale) is not supported");
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  ResizeAttrs a;
  KILN_ASSIGN_OR_RETURN(a.mode, mode_of(c));
  // Upsample maps output to input coordinates as x_in = x_out / scale.
  a.coord = CoordTransform::kAsymmetric;
  a.nearest = NearestRounding::kFloor;
  std::vector<float> scales = c.attr_floats("scales");
  if (c.opset() >= 9) {
    KILN_ASSIGN_OR_RETURN(Tensor s, c.const_value(1));
    scales = s.to_f32();
  }
  KILN_RETURN_IF_ERROR(resolve_size(c, x, scales, {}, a));
  return c.emit(a, {0});
}

}  // namespace

void register_resize_ops(OpTable& t) {
  t["Resize"] = translate_resize;
  t["Upsample"] = translate_upsample;
}

}  // namespace kiln::onnx_import
