// ONNX LRN (one node), LayerNormalization (opset 17) and InstanceNormalization as kiln nodes: mean and variance
// are reductions over the normalised axes, the rest element-wise arithmetic, as the ONNX spec
// defines them (its "expanded" function bodies compute the same):
//   mean = ReduceMean(x), d = x - mean, inv = 1 / sqrt(ReduceMean(d * d) + epsilon),
//   y = d * inv * scale + bias.
#include <numeric>

#include "core/status_macros.h"
#include "import/onnx/importer.h"

namespace kiln::onnx_import {
namespace {

struct Normalised {
  std::string y_unscaled, mean, inv_std;
};

Expected<Normalised> normalise(NodeContext& c, const std::vector<int64_t>& axes, float epsilon) {
  Normalised n;
  const std::string x = c.input_name(0);
  KILN_ASSIGN_OR_RETURN(n.mean, c.step(ReduceAttrs{ReduceKind::kMean, axes, true}, {x}, "mean"));
  KILN_ASSIGN_OR_RETURN(std::string d, c.step(BinaryAttrs{BinaryKind::kSub}, {x, n.mean}, "centred"));
  KILN_ASSIGN_OR_RETURN(std::string d2, c.step(BinaryAttrs{BinaryKind::kMul}, {d, d}, "squared"));
  KILN_ASSIGN_OR_RETURN(std::string var, c.step(ReduceAttrs{ReduceKind::kMean, axes, true}, {d2}, "variance"));
  const std::string eps = c.constant_operand(Tensor::from_floats({}, {epsilon}));
  KILN_ASSIGN_OR_RETURN(std::string ve, c.step(BinaryAttrs{BinaryKind::kAdd}, {var, eps}, "plus_epsilon"));
  KILN_ASSIGN_OR_RETURN(std::string sd, c.step(UnaryAttrs{UnaryKind::kSqrt}, {ve}, "std"));
  KILN_ASSIGN_OR_RETURN(n.inv_std, c.step(UnaryAttrs{UnaryKind::kReciprocal}, {sd}, "inv_std"));
  KILN_ASSIGN_OR_RETURN(n.y_unscaled, c.step(BinaryAttrs{BinaryKind::kMul}, {d, n.inv_std}, "normalised"));
  return n;
}

// y * scale (+ bias), the parameters reshaped to `param_shape` to broadcast as the op means.
Expected<std::string> scale_and_shift(NodeContext& c, std::string y, const Shape& param_shape) {
  KILN_ASSIGN_OR_RETURN(std::string scale, c.step(ReshapeAttrs{param_shape}, {c.input_name(1)}, "scale_shape"));
  KILN_ASSIGN_OR_RETURN(y, c.step(BinaryAttrs{BinaryKind::kMul}, {y, scale}, "scaled"));
  if (c.has_input(2)) {
    KILN_ASSIGN_OR_RETURN(std::string bias, c.step(ReshapeAttrs{param_shape}, {c.input_name(2)}, "bias_shape"));
    KILN_ASSIGN_OR_RETURN(y, c.step(BinaryAttrs{BinaryKind::kAdd}, {y, bias}, "shifted"));
  }
  return y;
}

Status translate_layer_norm(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(Shape scale, c.shape(1));
  const int64_t rank = static_cast<int64_t>(x.size());
  int64_t axis = c.attr_int("axis", -1);
  if (axis < -rank || axis >= rank) return c.bad("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  if (axis < 0) axis += rank;
  std::vector<int64_t> axes(static_cast<size_t>(rank - axis));
  std::iota(axes.begin(), axes.end(), axis);
  KILN_ASSIGN_OR_RETURN(Normalised n, normalise(c, axes, c.attr_float("epsilon", 1e-5f)));
  // Scale and bias broadcast against the normalised axes (NumPy-aligned): as given.
  KILN_ASSIGN_OR_RETURN(std::string y, scale_and_shift(c, n.y_unscaled, scale));
  KILN_RETURN_IF_ERROR(c.output(0, y));
  if (c.node().output_size() > 1) KILN_RETURN_IF_ERROR(c.output(1, n.mean));
  if (c.node().output_size() > 2) KILN_RETURN_IF_ERROR(c.output(2, n.inv_std));
  return Status::ok();
}

Status translate_instance_norm(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  if (x.size() < 3) return c.bad("input has rank " + std::to_string(x.size()) + "; InstanceNormalization needs N, C and spatial axes");
  if (!c.has_input(2)) return c.bad("the bias input is missing");
  std::vector<int64_t> axes(x.size() - 2);
  std::iota(axes.begin(), axes.end(), 2);
  KILN_ASSIGN_OR_RETURN(Normalised n, normalise(c, axes, c.attr_float("epsilon", 1e-5f)));
  // Scale and bias are per channel: [C, 1, ...] against [N, C, spatial...].
  Shape per_channel(x.size() - 1, 1);
  per_channel[0] = x[1];
  KILN_ASSIGN_OR_RETURN(std::string y, scale_and_shift(c, n.y_unscaled, per_channel));
  return c.output(0, y);
}

Status translate_lrn(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  if (x.size() < 3) return c.bad("input " + shape_to_string(x) + " has no channels and spatial axes");
  LrnAttrs a{c.attr_int("size", 0), c.attr_float("alpha", 1e-4f), c.attr_float("beta", 0.75f), c.attr_float("bias", 1.0f)};
  if (a.size < 1) return c.bad("size must be positive");
  return c.emit(a, {0});
}

}  // namespace

void register_normalization_ops(OpTable& t) {
  t["LRN"] = translate_lrn;
  t["LayerNormalization"] = translate_layer_norm;
  t["InstanceNormalization"] = translate_instance_norm;
}

}  // namespace kiln::onnx_import
