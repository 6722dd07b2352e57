#include "import/keras/layout.h"
#include "core/status_macros.h"

#include <vector>

#include "reference/reference.h"

namespace kiln::keras_import {

namespace {

// out axis k = in axis perm[k] (the reference transpose kernel does the copying).
Expected<Tensor> permute(const Tensor& t, std::vector<int64_t> perm) {
  Tensor in[] = {t};
  return reference::run(TransposeAttrs{std::move(perm)}, in);  // through the one entry point, as constant folding
}

}  // namespace

bool is_made_weight(WeightLayout layout) { return layout == WeightLayout::kOnes || layout == WeightLayout::kZeros; }

Expected<Tensor> to_kiln_layout(const Tensor& t, WeightLayout layout) {
  if (layout == WeightLayout::kUnknown || layout == WeightLayout::kAsIs) return t;
  if (is_made_weight(layout)) return internal_error("a made weight has no file tensor to re-lay out");
  if (t.dtype() != DType::kF32) return invalid_argument("a kernel must be float32");
  const Shape& s = t.shape();
  if (layout == WeightLayout::kIoToOi11) {
    if (s.size() != 2) return invalid_argument("a Dense kernel must be 2-D, this one is " + shape_to_string(s));
    KILN_ASSIGN_OR_RETURN(Tensor p, permute(t, {1, 0}));
    return p.reshaped({s[1], s[0], 1, 1});
  }
  if (s.size() != 4)
    return invalid_argument("a " + std::string(weight_layout_name(layout)) + " kernel must be 4-D, this one is " +
                            shape_to_string(s));
  switch (layout) {
    case WeightLayout::kHwioToOihw:
    case WeightLayout::kHwoiToIohw:  // [kh,kw,a,b] -> [b,a,kh,kw] either way
      return permute(t, {3, 2, 0, 1});
    case WeightLayout::kHwcmToGrouped: {  // [kh,kw,C,M] -> [C,M,kh,kw] = [C*M,1,kh,kw]: output c*M+m
      KILN_ASSIGN_OR_RETURN(Tensor p, permute(t, {2, 3, 0, 1}));
      return p.reshaped({s[2] * s[3], 1, s[0], s[1]});
    }
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
    case WeightLayout::kIoToOi11: return "IO->OI11";
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
    case WeightRole::kAlpha: return "alpha";
  }
  return "";
}

}  // namespace kiln::keras_import
