// ONNX element-wise ops: activations, math functions, arithmetic with broadcasting, PRelu, Clip,
// and the variadic Sum, Max, Min and Mean.
#include <cstring>
#include <limits>

#include "import/onnx/importer.h"
#include "core/status_macros.h"

namespace kiln::onnx_import {
namespace {

// `alpha` and `beta` name the ONNX attributes the kind's alpha and beta come from.
OpTranslator unary(UnaryKind kind, float alpha_default = 0.0f, float beta_default = 0.0f, const char* alpha = "alpha",
                   const char* beta = "beta") {
  return [=](NodeContext& c) -> Status {
    UnaryAttrs a{kind, c.attr_float(alpha, alpha_default), c.attr_float(beta, beta_default)};
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

// Sum/Max/Min with any number of inputs: a chain of binary ops, each broadcasting; Mean is the
// Sum times 1/n.
OpTranslator variadic(BinaryKind kind, bool mean = false) {
  return [=](NodeContext& c) -> Status {
    if (c.num_inputs() == 0) return c.bad("has no inputs");
    for (size_t i = 0; i < c.num_inputs(); ++i)
      if (!c.has_input(i)) return c.bad("input " + std::to_string(i) + " is missing");
    if (c.num_inputs() == 2 && !mean) return c.emit(BinaryAttrs{kind}, {0, 1});
    std::string acc = c.input_name(0);
    for (size_t i = 1; i < c.num_inputs(); ++i) {
      KILN_ASSIGN_OR_RETURN(acc, c.step(BinaryAttrs{kind}, {acc, c.input_name(i)}, binary_kind_name(kind)));
    }
    if (mean && c.num_inputs() > 1) {
      const std::string k = c.constant_operand(Tensor::from_floats({}, {1.0f / static_cast<float>(c.num_inputs())}));
      KILN_ASSIGN_OR_RETURN(acc, c.step(BinaryAttrs{BinaryKind::kMul}, {acc, k}, "mean"));
    }
    return c.output(0, acc);
  };
}

// Inference-mode Dropout passes its input through; its mask output (opset 7+), when asked
// for, is all true: a constant, which constant-only readers fold and a graph output refuses.
Status translate_dropout(NodeContext& c) {
  if (c.has_input(2)) {  // training_mode (opset 12+)
    auto training = c.const_ints(2);
    if (!training) return training.error();
    if (!training->empty() && (*training)[0] != 0) return c.fail("training-mode Dropout is not supported");
  }
  if (c.node().output_size() > 1 && !c.node().output(1).empty()) {
    KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
    Tensor mask = Tensor::zeros(DType::kBool, x);
    std::memset(mask.raw(), 1, mask.bytes());
    KILN_RETURN_IF_ERROR(c.set_const(1, std::move(mask)));
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
  t["Log"] = unary(UnaryKind::kLog);
  t["Reciprocal"] = unary(UnaryKind::kReciprocal);
  t["Softplus"] = unary(UnaryKind::kSoftplus);
  t["Softsign"] = unary(UnaryKind::kSoftsign);
  t["Selu"] = unary(UnaryKind::kSelu, 1.67326319217681884765625f, 1.05070102214813232421875f, "alpha", "gamma");
  t["ThresholdedRelu"] = unary(UnaryKind::kThresholdedRelu, 1.0f);
  t["Shrink"] = unary(UnaryKind::kShrink, 0.5f, 0.0f, "lambd", "bias");
  t["Celu"] = unary(UnaryKind::kCelu, 1.0f);
  t["Erf"] = unary(UnaryKind::kErf);
  t["Sin"] = unary(UnaryKind::kSin);
  t["Cos"] = unary(UnaryKind::kCos);
  t["Tan"] = unary(UnaryKind::kTan);
  t["Asin"] = unary(UnaryKind::kAsin);
  t["Acos"] = unary(UnaryKind::kAcos);
  t["Atan"] = unary(UnaryKind::kAtan);
  t["Sinh"] = unary(UnaryKind::kSinh);
  t["Cosh"] = unary(UnaryKind::kCosh);
  t["Asinh"] = unary(UnaryKind::kAsinh);
  t["Acosh"] = unary(UnaryKind::kAcosh);
  t["Atanh"] = unary(UnaryKind::kAtanh);
  t["Ceil"] = unary(UnaryKind::kCeil);
  t["Floor"] = unary(UnaryKind::kFloor);
  t["Round"] = unary(UnaryKind::kRound);
  t["Sign"] = unary(UnaryKind::kSign);
  t["Pow"] = binary(BinaryKind::kPow);
  t["Clip"] = translate_clip;
  t["Add"] = binary(BinaryKind::kAdd);
  t["Sub"] = binary(BinaryKind::kSub);
  t["Mul"] = binary(BinaryKind::kMul);
  t["Div"] = binary(BinaryKind::kDiv);
  t["PRelu"] = binary(BinaryKind::kPRelu);
  t["Sum"] = variadic(BinaryKind::kAdd);
  t["Max"] = variadic(BinaryKind::kMax);
  t["Min"] = variadic(BinaryKind::kMin);
  t["Mean"] = variadic(BinaryKind::kAdd, /*mean=*/true);
  t["Identity"] = [](NodeContext& c) { return c.alias(0, 0); };
  t["Dropout"] = translate_dropout;
}

}  // namespace kiln::onnx_import
