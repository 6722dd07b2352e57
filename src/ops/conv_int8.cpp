// Convolutions in int8 plans: uint8 activations (zero point 0: the input is known to be
// non-negative), int8 weights with a scale per output channel, int32 accumulation (VNNI).
//
// oneDNN 2.6's CPU convolutions take output scales only as constants baked into the
// primitive, which would tie the plan to one model's weights. So the rescaling is a binary
// multiply post-op by a [1, M, 1, 1] tensor that lives in the weight pack
// (WeightTransform::kConvScalesS8), and the plan stays shared by every model of the
// architecture. Activations are nhwc: oneDNN's int8 kernels (brgconv) have no blocked
// uint8 layout; measured here on U-Net-64's 3x3 layers, 870-1000 GFLOP/s vs 235 for fp32.
#include <algorithm>

#include "ops/common.h"
#include "core/status_macros.h"

namespace kiln::ops {

bool runs_int8(const CompileContext& ctx, const Node& n) {
  if (ctx.options().precision != Precision::kInt8) return false;
  const auto& a = std::get<ConvAttrs>(n.attrs);
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& y = ctx.shape(n.outputs[0]);
  if (a.group != 1 || x.size() != 4 || ctx.is_weight(n.inputs[0])) return false;
  // Thin layers (the image in, a segmentation head out) stay out of int8: they cost little
  // and decide the output's precision.
  if (x[1] < 16 || y[1] < 16) return false;
  for (const PostOp& p : a.post_ops)
    if (p.kind != PostOp::Kind::kUnary) return false;
  const auto& keep = ctx.options().float_layers;
  if (std::find(keep.begin(), keep.end(), n.name) != keep.end()) return false;
  return ctx.quantization().nonneg[n.inputs[0]];
}

md_t int8_activation_md(const Shape& s, memory::data_type dt) { return md_t(to_dims(s), dt, tag::acdb); }

namespace {

// Whether every computation that reads `v` (looking through the ops that only move bytes:
// pools, identities, concats) is an int8 convolution. A value some floating-point layer
// reads is not rounded to uint8: that would hand the layer the rounding it was kept out of
// int8 to avoid (the thin head, layers `kiln quantize` chose), and a quantizing read costs
// the int8 readers no more than a dequantizing one would cost the other reader.
bool only_int8_readers(const CompileContext& ctx, int v) {
  const Graph& g = ctx.graph();
  if (g.is_output(v)) return false;
  for (int c : g.consumers(v)) {
    const Node& n = g.nodes[c];
    switch (n.kind()) {
      case OpKind::kConv:
        if (n.inputs[0] != v || !runs_int8(ctx, n)) return false;
        break;
      case OpKind::kPool:
      case OpKind::kIdentity:
      case OpKind::kConcat:
        if (!only_int8_readers(ctx, n.outputs[0])) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

memory::data_type int8_output_dt(const CompileContext& ctx, int y) {
  return ctx.quantization().nonneg[y] && only_int8_readers(ctx, y) ? memory::data_type::u8 : memory::data_type::f32;
}

WeightSlot int8_conv_slot(const CompileContext& ctx, const Node& n, WeightTransform t, int phase, bool f32_out) {
  const auto& a = std::get<ConvAttrs>(n.attrs);
  const Graph& g = ctx.graph();
  WeightSlot s = conv_weight_slot(g, n, a, t, 1);
  s.upsampled = phase >= 0;
  s.phase = std::max(phase, 0);
  if (a.has_bias) s.bias_source = g.values[n.inputs[2]].name;
  s.input_scales = ctx.quantization().scales[n.inputs[0]];
  if (!f32_out) s.output_scales = ctx.quantization().scales[n.outputs[0]];
  return s;
}

int append_int8_rescale(dnnl::primitive_attr& attr, int64_t out_channels) {
  dnnl::post_ops po = attr.get_post_ops();
  po.append_binary(algorithm::binary_mul, md_t({1, out_channels, 1, 1}, memory::data_type::f32, tag::abcd));
  attr.set_post_ops(po);
  return po.len() - 1;
}

std::pair<int, TensorRef> int8_rescale_arg(CompileContext& ctx, const Node& n, int phase, bool f32_out, int post_op) {
  const int64_t m = ctx.shape(n.inputs[1])[0];
  WeightSlot s = int8_conv_slot(ctx, n, WeightTransform::kConvScalesS8, phase, f32_out);
  s.source_tag = tag::abcd;
  s.packed_md = md_t({1, m, 1, 1}, memory::data_type::f32, tag::abcd);
  return {DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op) | DNNL_ARG_SRC_1, ctx.weight(std::move(s))};
}

void add_int8_weights(CompileContext& ctx, const Node& n, int phase, bool f32_out, const ConvPd& pd,
                      std::vector<std::pair<int, TensorRef>>& args) {
  WeightSlot ws = int8_conv_slot(ctx, n, WeightTransform::kConvWeightsS8, phase, f32_out);
  ws.source_tag = tag::oihw;
  ws.packed_md = pd.weights_desc();
  args.emplace_back(DNNL_ARG_WEIGHTS, ctx.weight(std::move(ws)));
  WeightSlot bs = int8_conv_slot(ctx, n, WeightTransform::kConvBiasS8, phase, f32_out);
  bs.source_tag = tag::a;
  bs.packed_md = pd.bias_desc();
  args.emplace_back(DNNL_ARG_BIAS, ctx.weight(std::move(bs)));
}

Status compile_int8_conv(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConvAttrs>(n.attrs);
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& w = ctx.shape(n.inputs[1]);
  const Shape& y = ctx.shape(n.outputs[0]);
  const memory::data_type dst_dt = int8_output_dt(ctx, n.outputs[0]);
  const bool f32_out = dst_dt == memory::data_type::f32;
  std::vector<std::pair<int, TensorRef>> args;
  dnnl::primitive_attr attr = base_attr();
  const int rescale = append_int8_rescale(attr, w[0]);
  KILN_ASSIGN_OR_RETURN(size_t fused, apply_post_ops(ctx, n, a.post_ops, attr, args));
  md_t src_md = int8_activation_md(x, memory::data_type::u8), dst_md = int8_activation_md(y, dst_dt);
  md_t w_any({w[0], w[1], w[2], w[3]}, memory::data_type::s8, tag::any);
  md_t b_any({w[0]}, memory::data_type::f32, tag::any);
  auto pd = try_pd(conv_desc(algorithm::convolution_direct, /*with_bias=*/true, src_md, w_any, b_any, dst_md, a), attr,
                   ctx.engine());
  if (!pd) return unsupported("oneDNN has no int8 convolution for this configuration");
  args.push_back(int8_rescale_arg(ctx, n, -1, f32_out, rescale));
  args.emplace_back(DNNL_ARG_SRC, ctx.read(n.inputs[0], pd->src_desc()));
  add_int8_weights(ctx, n, -1, f32_out, *pd, args);
  TensorRef dst = ctx.define(n.outputs[0], pd->dst_desc());
  args.emplace_back(DNNL_ARG_DST, dst);
  add_primitive(ctx, n, "conv.int8", dnnl::convolution_forward(*pd), *pd, std::move(args));
  // Timed bare (without the rescaling and the node's post-ops) against fp32 direct, so that
  // an int8 plan can tell when it is slower than fp32 (kiln/model_info.h).
  auto bare = try_pd(conv_desc(algorithm::convolution_direct, true, src_md, w_any, b_any, dst_md, a), base_attr(),
                     ctx.engine());
  md_t w_f32({w[0], w[1], w[2], w[3]}, memory::data_type::f32, tag::any);
  auto plain = try_pd(conv_desc(algorithm::convolution_direct, true, conv_activation_md(x, memory::data_type::f32), w_f32,
                                b_any, conv_activation_md(y, memory::data_type::f32), a),
                      base_attr(), ctx.engine());
  record_int8_conv(ctx, n.inputs[0], bare ? std::vector<ConvPd>{*bare} : std::vector<ConvPd>{}, true,
                   plain ? std::vector<ConvPd>{*plain} : std::vector<ConvPd>{});
  return add_post_op_steps(ctx, n, a.post_ops, fused, dst);
}

}  // namespace kiln::ops
