// Conv on oneDNN: layouts chosen by oneDNN ("any"), fused post-ops, and weight slots whose
// recipes fold a batch norm at packing time.
#include <chrono>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "ops/common.h"
#include "core/clock.h"
#include "core/status_macros.h"

namespace kiln::ops {

// Weights as oneDNN wants their logical dims: [M, C, k...] or [g, M/g, C/g, k...].
static memory::dims conv_weight_dims(const Shape& w, int64_t group) {
  if (group == 1) return to_dims(w);
  memory::dims d = {group, w[0] / group};
  d.insert(d.end(), w.begin() + 1, w.end());
  return d;
}

// The plain layouts of ONNX's weights: [M, C, k...] (oi + spatial), grouped [g, M/g, C/g, k...];
// transposed convolutions' [C, M/g, k...] is the io + spatial view of [M, C, k...].
static tag plain_weight_tag(size_t spatial, bool grouped, bool transposed) {
  static const tag direct[2][3] = {{tag::abc, tag::abcd, tag::abcde}, {tag::abcd, tag::abcde, tag::abcdef}};
  static const tag swapped[2][3] = {{tag::bac, tag::bacd, tag::bacde}, {tag::acbd, tag::acbde, tag::acbdef}};
  return (transposed ? swapped : direct)[grouped][spatial - 1];
}

// oneDNN's strides, dilations (0 = dense) and begin/end pads from kiln's spatial attributes.
struct WindowDims {
  memory::dims strides, dilates, pad_l, pad_r;
};
static WindowDims window_dims(const Spatial& strides, const Spatial& dilations, const Spatial& pads) {
  const size_t d = strides.size();
  WindowDims w;
  for (size_t i = 0; i < d; ++i) {
    w.strides.push_back(strides[i]);
    w.dilates.push_back(dilations[i] - 1);
    w.pad_l.push_back(pads[i]);
    w.pad_r.push_back(pads[d + i]);
  }
  return w;
}

WeightSlot conv_weight_slot(const Graph& g, const Node& n, const ConvAttrs& a, WeightTransform t, int first_input) {
  WeightSlot s;
  s.transform = t;
  s.out_channels = g.values[n.inputs[1]].shape[0];
  auto add_source = [&](int input_index) {
    if (input_index < 0) {
      s.sources.emplace_back();
      s.source_shapes.push_back({s.out_channels});
      return;
    }
    const Value& v = g.values[n.inputs[input_index]];
    s.sources.push_back(v.name);
    s.source_shapes.push_back(v.shape);
  };
  add_source(first_input);
  if (a.folded_bn.present) {
    s.folded_bn = true;
    s.bn_epsilon = a.folded_bn.epsilon;
    for (int i : {a.folded_bn.gamma_input, a.folded_bn.beta_input, a.folded_bn.mean_input, a.folded_bn.var_input})
      add_source(i);
  }
  return s;
}

// Activations in channel blocks of 16 (nChw16c) wherever the channel count allows: oneDNN's
// direct AVX-512 convolutions run fastest on them, and a concat of such tensors along
// channels can be done in place (see concat.cpp).
// (Measured on U-Net-64: oneDNN's own choice, "any", picks nhwc brgconv kernels that ran
// 2% slower here and make channel concats copies.)
md_t conv_activation_md(const Shape& s, memory::data_type dt) {
  if (s.size() == 4 && s[1] % 16 == 0) return md_t(to_dims(s), dt, tag::aBcd16b);
  return any_md(s, dt);
}

dnnl::convolution_forward::desc conv_desc(algorithm algo, bool with_bias, const md_t& src, const md_t& w,
                                          const md_t& b, const md_t& dst, const ConvAttrs& a) {
  const WindowDims d = window_dims(a.strides, a.dilations, a.pads);
  return with_bias ? dnnl::convolution_forward::desc(prop_kind::forward_inference, algo, src, w, b, dst, d.strides,
                                                     d.dilates, d.pad_l, d.pad_r)
                   : dnnl::convolution_forward::desc(prop_kind::forward_inference, algo, src, w, dst, d.strides,
                                                     d.dilates, d.pad_l, d.pad_r);
}

// oneDNN refuses configurations it has no kernel for by throwing.
std::optional<ConvPd> try_pd(const dnnl::convolution_forward::desc& d, const dnnl::primitive_attr& attr,
                             const dnnl::engine& engine) {
  try {
    return ConvPd(d, attr, engine, /*allow_empty=*/false);
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
}

namespace {

// The convolution of variant `v` (types, algorithm) with `attr`'s post-ops.
dnnl::convolution_forward::desc conv_variant_desc(const CompileContext& ctx, const Node& n, const ConvVariant& v) {
  const auto& a = std::get<ConvAttrs>(n.attrs);
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& w = ctx.shape(n.inputs[1]);
  const Shape& y = ctx.shape(n.outputs[0]);
  md_t w_any(conv_weight_dims(w, a.group), v.src_dt, tag::any);
  md_t b_any({w[0]}, memory::data_type::f32, tag::any);
  return conv_desc(v.algo, a.has_bias || a.folded_bn.present, conv_activation_md(x, v.src_dt), w_any, b_any,
                   conv_activation_md(y, v.dst_dt), a);
}

}  // namespace

ConvCandidates conv_candidates(const CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConvAttrs>(n.attrs);
  if (a.reads_upsampled_2x) return upsampled_conv_candidates(ctx, n);
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& w = ctx.shape(n.inputs[1]);
  const Shape& y = ctx.shape(n.outputs[0]);
  // Winograd needs blocked activations.
  const bool winograd_eligible = x.size() == 4 && a.group == 1 && w[2] == 3 && w[3] == 3 && a.strides[0] == 1 &&
                                 a.strides[1] == 1 && a.dilations[0] == 1 && a.dilations[1] == 1 && x[1] % 16 == 0 &&
                                 y[1] % 16 == 0;
  ConvCandidates c;
  c.variants = conv_variants(ctx, x, y, winograd_eligible);
  c.with_bias = a.has_bias || a.folded_bn.present;
  c.bare_pds = [&ctx, &n](const ConvVariant& v) {
    auto pd = try_pd(conv_variant_desc(ctx, n, v), base_attr(), ctx.engine());
    return pd ? std::vector<ConvPd>{*pd} : std::vector<ConvPd>{};
  };
  return c;
}

Status compile_conv(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConvAttrs>(n.attrs);
  if (a.reads_upsampled_2x) return compile_upsampled_conv(ctx, n);
  if (runs_int8(ctx, n)) return compile_int8_conv(ctx, n);
  const Graph& g = ctx.graph();
  const bool with_bias = a.has_bias || a.folded_bn.present;

  std::vector<std::pair<int, TensorRef>> args;
  dnnl::primitive_attr attr = base_attr();
  KILN_ASSIGN_OR_RETURN(size_t fused, apply_post_ops(ctx, n, a.post_ops, attr, args));
  // Which computation (fp32 or bf16, direct or Winograd): as the options force, or the
  // fastest measured (conv_choice.cpp).
  ConvChoice choice = choose_conv_variant(ctx, n.inputs[0], conv_candidates(ctx, n));
  auto desc_of = [&](const ConvVariant& v) { return conv_variant_desc(ctx, n, v); };
  // With the node's post-ops oneDNN may refuse the choice (Winograd fuses fewer post-ops, a
  // mix of types may have no kernel): then direct in the same types, then fp32 direct.
  std::optional<ConvPd> chosen;
  const ConvVariant f32_direct{};
  for (ConvVariant v : {choice.variant, ConvVariant{choice.variant.src_dt, choice.variant.dst_dt}, f32_direct}) {
    chosen = try_pd(desc_of(v), attr, ctx.engine());
    if (chosen) {
      choice.variant = v;
      break;
    }
  }
  if (!chosen) return unsupported("oneDNN has no convolution for this configuration");
  const algorithm algo = choice.variant.algo;
  const ConvPd& pd = *chosen;

  args.emplace_back(DNNL_ARG_SRC, ctx.read(n.inputs[0], pd.src_desc()));
  WeightSlot ws = conv_weight_slot(g, n, a, WeightTransform::kConvWeights, 1);
  ws.source_tag = plain_weight_tag(a.kernel.size(), a.group != 1, /*transposed=*/false);
  ws.packed_md = pd.weights_desc();
  args.emplace_back(DNNL_ARG_WEIGHTS, ctx.weight(std::move(ws)));
  if (with_bias) {
    WeightSlot bs = conv_weight_slot(g, n, a, WeightTransform::kConvBias, a.has_bias ? 2 : -1);
    bs.source_tag = tag::a;
    bs.packed_md = pd.bias_desc();
    args.emplace_back(DNNL_ARG_BIAS, ctx.weight(std::move(bs)));
  }
  TensorRef dst = ctx.define(n.outputs[0], pd.dst_desc());
  args.emplace_back(DNNL_ARG_DST, dst);
  add_primitive(ctx, n, algo == algorithm::convolution_winograd ? "conv.winograd" : "conv",
                dnnl::convolution_forward(pd), pd, std::move(args));
  record_conv_choice(ctx, choice);
  return add_post_op_steps(ctx, n, a.post_ops, fused, dst);
}

Status compile_conv_transpose(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConvTransposeAttrs>(n.attrs);
  const Graph& g = ctx.graph();
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& w = ctx.shape(n.inputs[1]);  // [C, M/g, k...]
  const Shape& y = ctx.shape(n.outputs[0]);
  // oneDNN pads must be non-negative; output_padding (a negative end pad) goes the slow way.
  for (int64_t p : a.pads)
    if (p < 0) return add_reference_step(ctx, n);
  int64_t m = y[1];
  memory::dims wdims = a.group == 1 ? memory::dims{m, w[0]} : memory::dims{a.group, m / a.group, w[0] / a.group};
  wdims.insert(wdims.end(), w.begin() + 2, w.end());
  md_t w_any(wdims, memory::data_type::f32, tag::any);
  const auto [strides, dilates, pad_l, pad_r] = window_dims(a.strides, a.dilations, a.pads);
  std::vector<std::pair<int, TensorRef>> args;
  dnnl::primitive_attr attr = base_attr();
  KILN_ASSIGN_OR_RETURN(size_t fused, apply_post_ops(ctx, n, a.post_ops, attr, args));
  md_t b_any({m}, memory::data_type::f32, tag::any);
  auto desc = a.has_bias ? dnnl::deconvolution_forward::desc(prop_kind::forward_inference,
                                                             algorithm::deconvolution_direct, any_md(x), w_any, b_any,
                                                             any_md(y), strides, dilates, pad_l, pad_r)
                         : dnnl::deconvolution_forward::desc(prop_kind::forward_inference,
                                                             algorithm::deconvolution_direct, any_md(x), w_any,
                                                             any_md(y), strides, dilates, pad_l, pad_r);
  dnnl::deconvolution_forward::primitive_desc pd(desc, attr, ctx.engine());
  args.emplace_back(DNNL_ARG_SRC, ctx.read(n.inputs[0], pd.src_desc()));
  // ONNX stores [C_in, C_out/g, k...]: exactly oneDNN's "io..." view of [C_out, C_in, k...].
  WeightSlot ws;
  ws.transform = WeightTransform::kCopy;
  ws.sources = {g.values[n.inputs[1]].name};
  ws.source_shapes = {w};
  ws.source_tag = plain_weight_tag(a.kernel.size(), a.group != 1, /*transposed=*/true);
  ws.packed_md = pd.weights_desc();
  args.emplace_back(DNNL_ARG_WEIGHTS, ctx.weight(std::move(ws)));
  if (a.has_bias) args.emplace_back(DNNL_ARG_BIAS, ctx.read(n.inputs[2], pd.bias_desc()));
  TensorRef dst = ctx.define(n.outputs[0], pd.dst_desc());
  args.emplace_back(DNNL_ARG_DST, dst);
  add_primitive(ctx, n, "deconv", dnnl::deconvolution_forward(pd), pd, std::move(args));
  return add_post_op_steps(ctx, n, a.post_ops, fused, dst);
}

}  // namespace kiln::ops
