// ONNX element-wise ops: activations, arithmetic with broadcasting, PRelu, Clip.
#include <limits>

#include "import/onnx/importer.h"
#include "core/status_macros.h"

namespace kiln::onnx_import {
namespace {

OpTranslator unary(UnaryKind kind, float alpha_default = 0.0f, float beta_default = 0.0f) {
  return [=](NodeContext& c) -> Status {
    UnaryAttrs a{kind, c.attr_float("alpha", alpha_default), c.attr_float("beta", beta_default)};
    return c.emit(a, {0});
  };
}

Status translate_clip(NodeContext& c) {
  float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
  if (c.opset() < 11) {
    lo = c.attr_float("min", lo);
    hi = c.attr_float("max", hi);
  } else {
    if (c.has_input(1)) { KILN_ASSIGN_OR_RETURN(Tensor t, c.const_value(1)); lo = t.to_f32().at(0); }
    if (c.has_input(2)) { KILN_ASSIGN_OR_RETURN(Tensor t, c.const_value(2)); hi = t.to_f32().at(0); }
  }
  // Clip(0, inf) is a ReLU: say so, so that it fuses like one.
  if (lo == 0.0f && hi == std::numeric_limits<float>::max()) return c.emit(UnaryAttrs{UnaryKind::kRelu}, {0});
  return c.emit(UnaryAttrs{UnaryKind::kClip, lo, hi}, {0});
}

OpTranslator binary(BinaryKind kind) {
  return [=](NodeContext& c) -> Status {
    if (c.num_inputs() != 2) return c.fail("only two inputs are supported");
    if (kind == BinaryKind::kPRelu && c.opset() < 7) {
      // Before opset 7 a 1-D slope was per channel (axis 1), not NumPy-aligned.
      KILN_ASSIGN_OR_RETURN(Shape a, c.shape(0));
      KILN_ASSIGN_OR_RETURN(Shape b, c.shape(1));
      if (b.size() == 1 && b[0] != 1 && a.size() > 2) return c.fail("legacy per-channel PRelu slope is not supported");
    }
    if (c.opset() < 7 && c.attr_int("broadcast", 0) != 0 && c.has_attr("axis")) {
      // Legacy (opset < 7) broadcasting aligns the second operand at `axis`; it equals NumPy's
      // only when that alignment is the trailing one.
      KILN_ASSIGN_OR_RETURN(Shape a, c.shape(0));
      KILN_ASSIGN_OR_RETURN(Shape b, c.shape(1));
      int64_t axis = c.attr_int("axis", 0);
      if (axis < 0) axis += static_cast<int64_t>(a.size());
      if (axis + static_cast<int64_t>(b.size()) != static_cast<int64_t>(a.size()))
        return c.fail("legacy broadcasting at a non-trailing axis is not supported");
    }
    return c.emit(BinaryAttrs{kind}, {0, 1});
  };
}

// Sum/Max/Min with any number of inputs: a chain of binary ops sharing the node's name.
OpTranslator variadic(BinaryKind kind) {
  return [=](NodeContext& c) -> Status {
    if (c.num_inputs() == 1) return c.alias(0, 0);
    if (c.num_inputs() == 2) return c.emit(BinaryAttrs{kind}, {0, 1});
    return c.fail("more than two inputs are not supported");
  };
}

Status translate_dropout(NodeContext& c) {
  if (c.node().output_size() > 1 && !c.node().output(1).empty()) {
    // The mask output is all ones at inference; only allowed when nothing reads it.
    return c.fail("the mask output of Dropout is not supported");
  }
  if (c.has_input(2)) {  // training_mode (opset 12+)
    auto training = c.const_ints(2);
    if (!training) return training.error();
    if (!training->empty() && (*training)[0] != 0) return c.fail("training-mode Dropout is not supported");
  }
  return c.alias(0, 0);
}

}  // namespace

void register_elementwise_ops(OpTable& t) {
  t["Relu"] = unary(UnaryKind::kRelu);
  t["LeakyRelu"] = unary(UnaryKind::kLeakyRelu, 0.01f);
  t["Elu"] = unary(UnaryKind::kElu, 1.0f);
  t["Sigmoid"] = unary(UnaryKind::kSigmoid);
  t["Tanh"] = unary(UnaryKind::kTanh);
  t["HardSigmoid"] = unary(UnaryKind::kHardSigmoid, 0.2f, 0.5f);
  t["HardSwish"] = unary(UnaryKind::kHardSwish);
  t["Exp"] = unary(UnaryKind::kExp);
  t["Abs"] = unary(UnaryKind::kAbs);
  t["Sqrt"] = unary(UnaryKind::kSqrt);
  t["Neg"] = unary(UnaryKind::kNeg);
  t["Clip"] = translate_clip;
  t["Add"] = binary(BinaryKind::kAdd);
  t["Sub"] = binary(BinaryKind::kSub);
  t["Mul"] = binary(BinaryKind::kMul);
  t["Div"] = binary(BinaryKind::kDiv);
  t["PRelu"] = binary(BinaryKind::kPRelu);
  t["Sum"] = variadic(BinaryKind::kAdd);
  t["Max"] = variadic(BinaryKind::kMax);
  t["Min"] = variadic(BinaryKind::kMin);
  t["Identity"] = [](NodeContext& c) { return c.alias(0, 0); };
  t["Dropout"] = translate_dropout;
}

}  // namespace kiln::onnx_import
