// TensorFlow element-wise ops: activations, arithmetic with NumPy broadcasting, BiasAdd,
// FusedBatchNorm, Softmax/LogSoftmax, LRN. All keep the layout their input is held in.
#include <algorithm>

#include "import/tf/importer.h"
#include "core/status_macros.h"

namespace kiln::tf_import {
namespace {

OpTranslator unary(UnaryKind kind, float alpha = 0.0f, float beta = 0.0f, const char* alpha_attr = nullptr) {
  return [=](NodeContext& c) -> Status {
    float a = alpha_attr ? c.attr_float(alpha_attr, alpha) : alpha;
    Layout l = c.layout(0);
    KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, l));
    return c.emit(UnaryAttrs{kind, a, beta}, {x}, l);
  };
}

// Binary ops over inputs a and b (indices), broadcast as TensorFlow does.
Status emit_binary(NodeContext& c, BinaryKind kind, size_t a, size_t b) {
  KILN_ASSIGN_OR_RETURN(Layout l, c.elementwise_layout({a, b}));
  KILN_ASSIGN_OR_RETURN(Shape sa, c.shape(a));
  KILN_ASSIGN_OR_RETURN(Shape sb, c.shape(b));
  size_t rank = std::max(sa.size(), sb.size());
  KILN_ASSIGN_OR_RETURN(Operand x, c.broadcast_operand(a, l, rank));
  KILN_ASSIGN_OR_RETURN(Operand y, c.broadcast_operand(b, l, rank));
  return c.emit(BinaryAttrs{kind}, {x, y}, l);
}

OpTranslator binary(BinaryKind kind) {
  return [=](NodeContext& c) -> Status {
    if (c.num_inputs() != 2) return c.bad("expects 2 inputs, has " + std::to_string(c.num_inputs()));
    if (kind == BinaryKind::kAdd && c.layout(0) == Layout::kNchw) {
      // conv + per-channel constant: the convolution's bias.
      KILN_ASSIGN_OR_RETURN(bool fused, try_fuse_bias(c, Layout::kNchw));
      if (fused) return Status::ok();
    }
    return emit_binary(c, kind, 0, 1);
  };
}

Status translate_add_n(NodeContext& c) {
  if (c.num_inputs() == 1) return c.alias(0, 0);
  std::vector<size_t> all(c.num_inputs());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  KILN_ASSIGN_OR_RETURN(Layout l, c.elementwise_layout(all));
  size_t rank = 0;
  for (size_t i : all) {
    KILN_ASSIGN_OR_RETURN(Shape s, c.shape(i));
    rank = std::max(rank, s.size());
  }
  KILN_ASSIGN_OR_RETURN(Operand acc, c.broadcast_operand(0, l, rank));
  for (size_t i = 1; i < all.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(Operand y, c.broadcast_operand(i, l, rank));
    std::string suffix = i + 1 == all.size() ? std::string() : "/add" + std::to_string(i);
    KILN_ASSIGN_OR_RETURN(acc, c.compute(BinaryAttrs{BinaryKind::kAdd}, {acc, y}, suffix));
  }
  return c.bind(0, acc, l);
}

Status translate_bias_add(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Layout df, c.data_format_layout());
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  KILN_ASSIGN_OR_RETURN(Shape bs, c.shape(1));
  if (bs.size() != 1) return c.bad("the bias must be 1-D, it is " + shape_to_string(bs));
  if (df == Layout::kPlain && xs.size() >= 3) {
    // NCHW: the bias runs along axis 1.
    if (xs.size() == 4 && c.layout(0) == Layout::kPlain) {
      KILN_ASSIGN_OR_RETURN(bool fused, try_fuse_bias(c, Layout::kPlain));
      if (fused) return Status::ok();
    }
    KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, Layout::kPlain));
    KILN_ASSIGN_OR_RETURN(Operand b, c.operand(1, Layout::kPlain));
    Shape s(xs.size() - 1, 1);
    s[0] = bs[0];
    KILN_ASSIGN_OR_RETURN(b, c.compute(ReshapeAttrs{s}, {b}, "/bias"));
    return c.emit(BinaryAttrs{BinaryKind::kAdd}, {x, b}, Layout::kPlain);
  }
  // NHWC (or rank < 3): the bias runs along the last axis, as broadcasting does.
  if (xs.size() == 4 && c.layout(0) == Layout::kNchw) {
    KILN_ASSIGN_OR_RETURN(bool fused, try_fuse_bias(c, Layout::kNchw));
    if (fused) return Status::ok();
  }
  return emit_binary(c, BinaryKind::kAdd, 0, 1);
}

// 1 / f(x) and x * x, as kiln ops (usually folded: batch-norm arithmetic on constants).
Status emit_reciprocal(NodeContext& c, bool sqrt_first) {
  Layout l = c.layout(0);
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, l));
  if (sqrt_first) { KILN_ASSIGN_OR_RETURN(x, c.compute(UnaryAttrs{UnaryKind::kSqrt}, {x}, "/sqrt")); }
  Operand one = Operand::of_const(Tensor::from_floats({}, {1.0f}), c.name() + "/one");
  return c.emit(BinaryAttrs{BinaryKind::kDiv}, {one, x}, l);
}

Status translate_square(NodeContext& c) {
  Layout l = c.layout(0);
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, l));
  return c.emit(BinaryAttrs{BinaryKind::kMul}, {x, x}, l);
}

// Softmax and LogSoftmax: over TensorFlow's last axis.
Status translate_softmax(NodeContext& c, SoftmaxKind kind) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  if (xs.empty()) return c.bad("softmax of a scalar");
  Layout l = c.layout(0);
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, l));
  return c.emit(SoftmaxAttrs{kiln_axis(static_cast<int64_t>(xs.size()) - 1, l), kind}, {x}, l);
}

// TensorFlow's LRN over the channels of NHWC data: x / (bias + alpha * sum of squares over
// channels c - r .. c + r)^beta. kiln's LRN is ONNX's (alpha divided by the window's size),
// so the window is 2r + 1 and alpha is scaled by it.
Status translate_lrn(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  if (xs.size() != 4) return c.fail("only 4-D NHWC input is supported");
  const int64_t r = c.attr_int("depth_radius", 5);
  if (r < 0) return c.bad("depth_radius must not be negative");
  const int64_t size = 2 * r + 1;
  LrnAttrs a{size, c.attr_float("alpha", 1.0f) * static_cast<float>(size), c.attr_float("beta", 0.5f),
             c.attr_float("bias", 1.0f)};
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, Layout::kNchw));
  return c.emit(a, {x}, Layout::kNchw);
}

// FusedBatchNorm's input i: a constant of one value per channel (`what` names the group).
Expected<Operand> channel_parameter(NodeContext& c, size_t i, int64_t channels, const char* what) {
  if (!c.is_const(i)) return c.fail(std::string(what) + " must be constants");
  KILN_ASSIGN_OR_RETURN(Tensor t, c.const_value(i));
  if (t.shape() != Shape{channels})
    return c.bad("input " + std::to_string(i) + " has shape " + shape_to_string(t.shape()) + ", not [" +
                 std::to_string(channels) + "]");
  return c.operand(i, Layout::kPlain);
}

// is_training=true (as frozen graphs of some Keras versions carry it): normalised with the
// batch's own statistics over N, H and W, y = (x - mean) / sqrt(var + epsilon) * scale + offset
// with the biased variance, as TensorFlow computes y. Only y is given (not the batch mean and
// variance outputs, which only training reads).
Status training_batch_norm(NodeContext& c, Layout layout, int64_t channels) {
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, layout));  // NCHW either way
  const ReduceAttrs mean_of{ReduceKind::kMean, {0, 2, 3}, true};
  KILN_ASSIGN_OR_RETURN(Operand mean, c.compute(mean_of, {x}, "/batch_mean"));
  KILN_ASSIGN_OR_RETURN(Operand d, c.compute(BinaryAttrs{BinaryKind::kSub}, {x, mean}, "/centred"));
  KILN_ASSIGN_OR_RETURN(Operand d2, c.compute(BinaryAttrs{BinaryKind::kMul}, {d, d}, "/squared"));
  KILN_ASSIGN_OR_RETURN(Operand var, c.compute(mean_of, {d2}, "/batch_variance"));
  Operand eps = Operand::of_const(Tensor::from_floats({}, {c.attr_float("epsilon", 1e-4f)}), c.name() + "/epsilon");
  KILN_ASSIGN_OR_RETURN(Operand ve, c.compute(BinaryAttrs{BinaryKind::kAdd}, {var, eps}, "/plus_epsilon"));
  KILN_ASSIGN_OR_RETURN(Operand sd, c.compute(UnaryAttrs{UnaryKind::kSqrt}, {ve}, "/std"));
  KILN_ASSIGN_OR_RETURN(Operand y, c.compute(BinaryAttrs{BinaryKind::kDiv}, {d, sd}, "/normalised"));
  for (size_t i = 1; i <= 2; ++i) {
    KILN_ASSIGN_OR_RETURN(Operand p, channel_parameter(c, i, channels, "scale and offset"));
    KILN_ASSIGN_OR_RETURN(p, c.compute(ReshapeAttrs{{1, channels, 1, 1}}, {p}, i == 1 ? "/scale" : "/offset"));
    KILN_ASSIGN_OR_RETURN(y, c.compute(BinaryAttrs{i == 1 ? BinaryKind::kMul : BinaryKind::kAdd}, {y, p},
                                       i == 1 ? "/scaled" : "/shifted"));
  }
  return c.bind(0, y, layout);
}

Status translate_fused_batch_norm(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Layout layout, c.data_format_layout());
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  if (xs.size() != 4) return c.fail("only 4-D inputs are supported");
  const int64_t channels = layout == Layout::kNchw ? xs[3] : xs[1];
  if (c.attr_bool("is_training", true)) return training_batch_norm(c, layout, channels);
  std::vector<Operand> ins;
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, layout));
  ins.push_back(x);
  static constexpr WeightRole kRoles[] = {WeightRole::kGamma, WeightRole::kBeta, WeightRole::kMovingMean,
                                          WeightRole::kMovingVariance};
  for (size_t i = 1; i <= 4; ++i) {
    KILN_ASSIGN_OR_RETURN(Operand o, channel_parameter(c, i, channels, "scale, offset, mean and variance"));
    o.origin = {WeightLayout::kAsIs, kRoles[i - 1]};
    ins.push_back(o);
  }
  return c.emit(BatchNormAttrs{c.attr_float("epsilon", 1e-4f)}, ins, layout);
}

}  // namespace

void register_elementwise_ops(OpTable& t) {
  t["Relu"] = unary(UnaryKind::kRelu);
  t["Relu6"] = unary(UnaryKind::kClip, 0.0f, 6.0f);
  t["LeakyRelu"] = unary(UnaryKind::kLeakyRelu, 0.2f, 0.0f, "alpha");
  t["Elu"] = unary(UnaryKind::kElu, 1.0f);
  t["Sigmoid"] = unary(UnaryKind::kSigmoid);
  t["Tanh"] = unary(UnaryKind::kTanh);
  t["Exp"] = unary(UnaryKind::kExp);
  t["Abs"] = unary(UnaryKind::kAbs);
  t["Sqrt"] = unary(UnaryKind::kSqrt);
  t["Neg"] = unary(UnaryKind::kNeg);
  t["Log"] = unary(UnaryKind::kLog);
  t["Softplus"] = unary(UnaryKind::kSoftplus);
  t["Softsign"] = unary(UnaryKind::kSoftsign);
  // TensorFlow's fixed SELU constants (scale 1.0507..., alpha 1.6732...).
  t["Selu"] = unary(UnaryKind::kSelu, 1.6732632423543772f, 1.0507009873554805f);
  t["Erf"] = unary(UnaryKind::kErf);
  t["Floor"] = unary(UnaryKind::kFloor);
  t["Ceil"] = unary(UnaryKind::kCeil);
  t["Round"] = unary(UnaryKind::kRound);  // half to even, as TensorFlow rounds
  t["Sign"] = unary(UnaryKind::kSign);
  t["Sin"] = unary(UnaryKind::kSin);
  t["Cos"] = unary(UnaryKind::kCos);
  t["Rsqrt"] = [](NodeContext& c) { return emit_reciprocal(c, true); };
  t["Reciprocal"] = [](NodeContext& c) { return emit_reciprocal(c, false); };
  t["Inv"] = t["Reciprocal"];
  t["Square"] = translate_square;
  t["Add"] = binary(BinaryKind::kAdd);
  t["AddV2"] = binary(BinaryKind::kAdd);
  t["Sub"] = binary(BinaryKind::kSub);
  t["Mul"] = binary(BinaryKind::kMul);
  t["RealDiv"] = binary(BinaryKind::kDiv);
  t["Div"] = binary(BinaryKind::kDiv);
  t["FloorDiv"] = [](NodeContext& c) -> Status {
    // Integer shape arithmetic only: kiln's integer division floors, float division does not.
    for (size_t i = 0; i < c.num_inputs(); ++i)
      if (!c.is_const(i) || c.binding(i).operand.constant.dtype() != DType::kI64)
        return c.fail("only supported on integer constants");
    return emit_binary(c, BinaryKind::kDiv, 0, 1);
  };
  t["Maximum"] = binary(BinaryKind::kMax);
  t["Minimum"] = binary(BinaryKind::kMin);
  t["AddN"] = translate_add_n;
  t["BiasAdd"] = translate_bias_add;
  t["Softmax"] = [](NodeContext& c) { return translate_softmax(c, SoftmaxKind::kSoftmax); };
  t["LogSoftmax"] = [](NodeContext& c) { return translate_softmax(c, SoftmaxKind::kLogSoftmax); };
  t["LRN"] = translate_lrn;
  t["FusedBatchNorm"] = translate_fused_batch_norm;
  t["FusedBatchNormV2"] = translate_fused_batch_norm;
  t["FusedBatchNormV3"] = translate_fused_batch_norm;
}

}  // namespace kiln::tf_import
