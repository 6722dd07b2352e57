#include "import/keras/layout.h"

#include <array>

namespace kiln::keras_import {

namespace {

// out axis k = in axis perm[k], for 4-D float32 tensors.
Tensor permute4(const Tensor& t, std::array<int, 4> perm) {
  const Shape& s = t.shape();
  Shape o = {s[perm[0]], s[perm[1]], s[perm[2]], s[perm[3]]};
  Tensor out = Tensor::zeros(DType::kF32, o);
  const std::array<int64_t, 4> stride{s[1] * s[2] * s[3], s[2] * s[3], s[3], 1};
  const float* in = t.data<float>();
  float* p = out.data<float>();
  for (int64_t a = 0; a < o[0]; ++a)
    for (int64_t b = 0; b < o[1]; ++b)
      for (int64_t c = 0; c < o[2]; ++c)
        for (int64_t d = 0; d < o[3]; ++d)
          *p++ = in[a * stride[perm[0]] + b * stride[perm[1]] + c * stride[perm[2]] + d * stride[perm[3]]];
  return out;
}

}  // namespace

bool is_made_weight(WeightLayout layout) { return layout == WeightLayout::kOnes || layout == WeightLayout::kZeros; }

Expected<Tensor> to_kiln_layout(const Tensor& t, WeightLayout layout) {
  if (layout == WeightLayout::kUnknown || layout == WeightLayout::kAsIs) return t;
  if (is_made_weight(layout)) return internal_error("a made weight has no file tensor to re-lay out");
  if (t.dtype() != DType::kF32) return invalid_argument("a kernel must be float32");
  const Shape& s = t.shape();
  if (s.size() != 4)
    return invalid_argument("a " + std::string(weight_layout_name(layout)) + " kernel must be 4-D, this one is " +
                            shape_to_string(s));
  switch (layout) {
    case WeightLayout::kHwioToOihw:
    case WeightLayout::kHwoiToIohw:  // [kh,kw,a,b] -> [b,a,kh,kw] either way
      return permute4(t, {3, 2, 0, 1});
    case WeightLayout::kHwcmToGrouped:  // [kh,kw,C,M] -> [C,M,kh,kw] = [C*M,1,kh,kw]: output c*M+m
      return permute4(t, {2, 3, 0, 1}).reshaped({s[2] * s[3], 1, s[0], s[1]});
    default:
      return internal_error("unhandled weight layout");
  }
}

Expected<Tensor> make_weight(WeightLayout layout, const Shape& shape) {
  if (!is_made_weight(layout)) return internal_error("not a made weight");
  Tensor t = Tensor::zeros(DType::kF32, shape);
  if (layout == WeightLayout::kOnes)
    for (int64_t i = 0; i < t.elements(); ++i) t.data<float>()[i] = 1.0f;
  return t;
}

const char* weight_layout_name(WeightLayout layout) {
  switch (layout) {
    case WeightLayout::kUnknown: return "unknown";
    case WeightLayout::kAsIs: return "as stored";
    case WeightLayout::kHwioToOihw: return "HWIO->OIHW";
    case WeightLayout::kHwcmToGrouped: return "HWCM->grouped";
    case WeightLayout::kHwoiToIohw: return "HWOI->IOHW";
    case WeightLayout::kOnes: return "ones";
    case WeightLayout::kZeros: return "zeros";
  }
  return "?";
}

const char* weight_role_variable(WeightRole role) {
  switch (role) {
    case WeightRole::kUnknown: return "";
    case WeightRole::kKernel: return "kernel";
    case WeightRole::kDepthwiseKernel: return "depthwise_kernel";
    case WeightRole::kPointwiseKernel: return "pointwise_kernel";
    case WeightRole::kBias: return "bias";
    case WeightRole::kGamma: return "gamma";
    case WeightRole::kBeta: return "beta";
    case WeightRole::kMovingMean: return "moving_mean";
    case WeightRole::kMovingVariance: return "moving_variance";
  }
  return "";
}

}  // namespace kiln::keras_import
