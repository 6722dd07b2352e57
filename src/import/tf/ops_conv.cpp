// TensorFlow convolutions -> kiln ConvAttrs / ConvTransposeAttrs. Filters are constants and
// are re-laid out here into the layout kiln's convolutions take (ONNX's):
//   Conv2D                HWIO [kh,kw,ci,co] -> OIHW [co,ci,kh,kw]
//   DepthwiseConv2dNative HWCM [kh,kw,C,M]   -> grouped [C*M,1,kh,kw], group = C
//   Conv2DBackpropInput   HWOI [kh,kw,co,ci] -> [ci,co,kh,kw] (ConvTranspose)
// and stored as weights under the TensorFlow Const's name.
#include "import/tf/importer.h"
#include "core/status_macros.h"
#include "import/tf/spatial.h"

namespace kiln::tf_import {
namespace {

Expected<Tensor> filter(const NodeContext& c, size_t i) {
  if (!c.is_const(i)) return c.fail("the filter must be a constant (a frozen graph's weights)");
  KILN_ASSIGN_OR_RETURN(Tensor f, c.const_value(i));
  if (f.shape().size() != 4) return c.bad("the filter must be 4-D, it is " + shape_to_string(f.shape()));
  if (f.dtype() != DType::kF32) return c.fail("only float32 filters are supported");
  return f;
}

int64_t channels_of(const Shape& tf_shape, Layout layout) { return layout == Layout::kNchw ? tf_shape[3] : tf_shape[1]; }

// A convolution on a SpaceToBatchND output: finished as a dilated convolution by the
// BatchToSpaceND that follows.
Status defer_dilated_conv(NodeContext& c, ConvAttrs a, Operand w, Layout layout, bool depthwise) {
  const Deferred& s2b = *c.binding(0).deferred;
  if (layout != Layout::kNchw || c.attr_string("padding", "") != "VALID" || a.strides != Spatial{1, 1} ||
      a.dilations != Spatial{1, 1})
    return c.fail("a convolution on SpaceToBatchND must be NHWC, VALID, with strides and dilations 1");
  KILN_ASSIGN_OR_RETURN(Shape xs, c.importer().tf_shape(s2b.source, c.where()));
  if (xs.size() != 4) return c.fail("only 4-D inputs are supported");
  int64_t ci = depthwise ? 1 : w.constant.shape()[1];
  if ((!depthwise && xs[3] % ci != 0) || (depthwise && w.constant.shape()[0] % xs[3] != 0))
    return c.bad("input channels do not match the filter");
  a.group = depthwise ? xs[3] : xs[3] / ci;
  auto d = std::make_shared<Deferred>(s2b);
  std::string name = c.name(), op = c.op();
  Binding source = s2b.source;
  Spatial block = s2b.block;
  d->finish = [a, w, name, op, source, block](NodeContext& b2s, Spatial pads) mutable -> Status {
    a.dilations = block;
    a.pads = pads;
    KILN_ASSIGN_OR_RETURN(Operand x, b2s.importer().operand(source, Layout::kNchw, b2s.where()));
    KILN_ASSIGN_OR_RETURN(Operand r, b2s.importer().add_op(name, op, a, {x, w}, b2s.where()));
    return b2s.bind(0, r, Layout::kNchw);
  };
  Binding out;
  out.deferred = d;
  return c.bind_binding(0, out);
}

Status translate_conv(NodeContext& c, bool depthwise) {
  KILN_ASSIGN_OR_RETURN(Layout layout, c.data_format_layout());
  KILN_ASSIGN_OR_RETURN(Tensor f, filter(c, 1));
  const Shape& fs = f.shape();
  ConvAttrs a;
  a.kernel = {fs[0], fs[1]};
  KILN_ASSIGN_OR_RETURN(a.strides, hw_attr(c, "strides", layout));
  KILN_ASSIGN_OR_RETURN(a.dilations, hw_attr(c, "dilations", layout));
  Tensor w;
  if (depthwise) {
    KILN_ASSIGN_OR_RETURN(w, fold_constant(TransposeAttrs{{2, 3, 0, 1}}, {f}));
    w = w.reshaped({fs[2] * fs[3], 1, fs[0], fs[1]});
  } else {
    KILN_ASSIGN_OR_RETURN(w, fold_constant(TransposeAttrs{{3, 2, 0, 1}}, {f}));
  }
  WeightOrigin origin = depthwise ? WeightOrigin{WeightLayout::kHwcmToGrouped, WeightRole::kDepthwiseKernel}
                                  : WeightOrigin{WeightLayout::kHwioToOihw, WeightRole::kKernel};
  Operand wo = Operand::of_const(w, c.binding(1).operand.weight_name, origin);
  if (c.binding(0).deferred) return defer_dilated_conv(c, a, wo, layout, depthwise);
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  if (xs.size() != 4) return c.fail("only 2-D convolutions (4-D input) are supported; input is " + shape_to_string(xs));
  int64_t channels = channels_of(xs, layout);
  if (depthwise) {
    if (channels != fs[2]) return c.bad("input has " + std::to_string(channels) + " channels, the filter " + std::to_string(fs[2]));
    a.group = channels;
  } else {
    // (channels 0 made the group count 0 and the check below a division by zero: fuzzing)
    if (fs[2] <= 0 || channels <= 0 || channels % fs[2] != 0 || fs[3] % (channels / fs[2]) != 0)
      return c.bad("input has " + std::to_string(channels) + " channels, the filter " + shape_to_string(fs) +
                   " does not divide them");
    a.group = channels / fs[2];
  }
  KILN_ASSIGN_OR_RETURN(a.pads, window_pads(c, layout, hw_of(xs, layout), a.kernel, a.strides, a.dilations));
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, layout));
  return c.emit(a, {x, wo}, layout);
}

// Conv2DBackpropInput(input_sizes, filter, out_backprop): the gradient of a convolution
// whose input had input_sizes, i.e. a transposed convolution producing exactly that size.
Status translate_conv_transpose(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Layout layout, c.data_format_layout());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, c.const_ints(0));
  KILN_ASSIGN_OR_RETURN(Tensor f, filter(c, 1));
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(2));
  const Shape& fs = f.shape();
  if (xs.size() != 4 || sizes.size() != 4) return c.fail("only 2-D transposed convolutions (4-D tensors) are supported");
  if (channels_of(xs, layout) != fs[3] || channels_of(sizes, layout) != fs[2] || sizes[0] != xs[0])
    return c.bad("input " + shape_to_string(xs) + ", filter " + shape_to_string(fs) + " and input_sizes " +
                 shape_to_string(sizes) + " do not agree");
  ConvTransposeAttrs a;
  a.kernel = {fs[0], fs[1]};
  KILN_ASSIGN_OR_RETURN(a.strides, hw_attr(c, "strides", layout));
  KILN_ASSIGN_OR_RETURN(a.dilations, hw_attr(c, "dilations", layout));
  Spatial in = hw_of(xs, layout), out = hw_of(sizes, layout);
  // The pads of the forward convolution (out -> in) are the transposed one's crop.
  KILN_ASSIGN_OR_RETURN(auto fwd, window_pads(c, layout, out, a.kernel, a.strides, a.dilations));
  for (int i = 0; i < 2; ++i) {
    int64_t span = (a.kernel[i] - 1) * a.dilations[i] + 1;
    if ((out[i] + fwd[i] + fwd[i + 2] - span) / a.strides[i] + 1 != in[i] || out[i] + fwd[i] + fwd[i + 2] < span)
      return c.bad("input_sizes " + shape_to_string(sizes) + " do not produce the input " + shape_to_string(xs));
    int64_t full = (in[i] - 1) * a.strides[i] + span;
    a.pads[i] = fwd[i];
    a.pads[i + 2] = full - out[i] - fwd[i];  // negative: extra rows at the end (output padding)
  }
  KILN_ASSIGN_OR_RETURN(Tensor w, fold_constant(TransposeAttrs{{3, 2, 0, 1}}, {f}));
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(2, layout));
  WeightOrigin origin{WeightLayout::kHwoiToIohw, WeightRole::kKernel};
  return c.emit(a, {x, Operand::of_const(w, c.binding(1).operand.weight_name, origin)}, layout);
}

Expected<Spatial> block_of(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(auto b, c.const_ints(1));
  if (b.size() != 2 || b[0] < 1 || b[1] < 1) return c.fail("only a 2-D block_shape is supported");
  return Spatial{b[0], b[1]};
}

Expected<Spatial> pairs_of(NodeContext& c, size_t i) {  // [[t,b],[l,r]] -> {t,l,b,r}
  KILN_ASSIGN_OR_RETURN(auto p, c.const_ints(i));
  if (p.size() != 4) return c.fail("only 2-D paddings/crops are supported");
  return Spatial{p[0], p[2], p[1], p[3]};
}

Status translate_space_to_batch(NodeContext& c) {
  auto d = std::make_shared<Deferred>();
  KILN_ASSIGN_OR_RETURN(d->block, block_of(c));
  KILN_ASSIGN_OR_RETURN(d->pads, pairs_of(c, 2));
  d->source = c.binding(0);
  Binding out;
  out.deferred = d;
  return c.bind_binding(0, out);
}

Status translate_batch_to_space(NodeContext& c) {
  const Binding& in = c.binding(0);
  if (!in.deferred || !in.deferred->finish)
    return c.fail("supported only after SpaceToBatchND and a convolution (a dilated convolution)");
  KILN_ASSIGN_OR_RETURN(auto block, block_of(c));
  KILN_ASSIGN_OR_RETURN(auto crops, pairs_of(c, 2));
  if (block != in.deferred->block) return c.fail("block_shape differs from the SpaceToBatchND's");
  Spatial pads(4, 0);
  for (int i = 0; i < 4; ++i) {
    pads[i] = in.deferred->pads[i] - crops[i];
    if (pads[i] < 0) return c.fail("crops larger than the SpaceToBatchND paddings are not supported");
  }
  return in.deferred->finish(c, pads);
}

}  // namespace

Expected<bool> try_fuse_bias(NodeContext& c, Layout layout) {
  const Binding& x = c.binding(0);
  if (x.operand.is_const || x.placeholder >= 0 || x.deferred || x.layout != layout || !c.is_const(1)) return false;
  Importer& imp = c.importer();
  Graph& g = imp.graph();
  int v = x.operand.value;
  if (g.values[v].kind != ValueKind::kActivation || g.values[v].shape.size() != 4) return false;
  if (imp.readers(c.input_name(0)) != 1 || imp.is_output(c.input_name(0)) || !g.consumers(v).empty()) return false;
  Node& n = g.nodes[g.values[v].producer];
  bool* has_bias = nullptr;
  if (auto* a = std::get_if<ConvAttrs>(&n.attrs); a && a->post_ops.empty() && !a->folded_bn.present) has_bias = &a->has_bias;
  if (auto* a = std::get_if<ConvTransposeAttrs>(&n.attrs); a && a->post_ops.empty()) has_bias = &a->has_bias;
  if (!has_bias || *has_bias || n.inputs.size() != 2) return false;
  KILN_ASSIGN_OR_RETURN(Tensor bias, c.const_value(1));
  if (bias.dtype() != DType::kF32 || bias.shape() != Shape{g.values[v].shape[1]}) return false;
  WeightOrigin origin{WeightLayout::kAsIs, WeightRole::kBias};
  KILN_ASSIGN_OR_RETURN(int b, imp.value_of(Operand::of_const(bias, c.binding(1).operand.weight_name, origin), c.where()));
  n.inputs.push_back(b);
  *has_bias = true;
  g.values[v].name = c.name();
  KILN_RETURN_IF_ERROR(c.bind(0, Operand::of_value(v), layout));
  return true;
}

void register_conv_ops(OpTable& t) {
  t["Conv2D"] = [](NodeContext& c) { return translate_conv(c, false); };
  t["DepthwiseConv2dNative"] = [](NodeContext& c) { return translate_conv(c, true); };
  t["Conv2DBackpropInput"] = translate_conv_transpose;
  t["SpaceToBatchND"] = translate_space_to_batch;
  t["BatchToSpaceND"] = translate_batch_to_space;
}

}  // namespace kiln::tf_import
