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

// Weights as oneDNN wants their logical dims: [M, C, kh, kw] or [g, M/g, C/g, kh, kw].
static memory::dims conv_weight_dims(const Shape& w, int64_t group) {
  if (group == 1) return to_dims(w);
  return {group, w[0] / group, w[1], w[2], w[3]};
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

// In bf16 plans, tensors of at least 16 channels are bf16; thinner ones (the input image,
// a segmentation head and its sigmoid) stay fp32, where they cost little and where the
// output's precision is decided. int8 plans compute what does not run in int8 as a bf16
// plan would, where the CPU can: bf16 rounds far less than int8 does, and on the thin demo
// U-Net the fp32 layers around int8 ones made int8 slower than bf16 (42 vs 38 ms).
memory::data_type conv_activation_dt(const CompileContext& ctx, const Shape& s) {
  const Precision p = ctx.options().precision;
  bool bf16 = (p == Precision::kBF16 || (p == Precision::kInt8 && cpu_has(dnnl::cpu_isa::avx512_core_bf16))) &&
              s.size() == 4 && s[1] % 16 == 0;
  return bf16 ? memory::data_type::bf16 : memory::data_type::f32;
}

dnnl::convolution_forward::desc conv_desc(algorithm algo, bool with_bias, const md_t& src, const md_t& w,
                                          const md_t& b, const md_t& dst, const ConvAttrs& a) {
  memory::dims strides{a.strides[0], a.strides[1]};
  memory::dims dilates{a.dilations[0] - 1, a.dilations[1] - 1};
  memory::dims pad_l{a.pads[0], a.pads[1]}, pad_r{a.pads[2], a.pads[3]};
  return with_bias ? dnnl::convolution_forward::desc(prop_kind::forward_inference, algo, src, w, b, dst, strides,
                                                     dilates, pad_l, pad_r)
                   : dnnl::convolution_forward::desc(prop_kind::forward_inference, algo, src, w, dst, strides,
                                                     dilates, pad_l, pad_r);
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

// Best of a few runs of the bare convolution (no post-ops: they cost the same either way),
// on zero-filled buffers.
double time_conv_ms(const ConvPd& pd, bool with_bias, const dnnl::engine& engine) {
  dnnl::stream stream(engine);
  std::unordered_map<int, dnnl::memory> args;
  auto add = [&](int arg, const md_t& md) {
    dnnl::memory m(md, engine);
    std::memset(m.get_data_handle(), 0, md.get_size());
    args[arg] = m;
  };
  add(DNNL_ARG_SRC, pd.src_desc());
  add(DNNL_ARG_WEIGHTS, pd.weights_desc());
  if (with_bias) add(DNNL_ARG_BIAS, pd.bias_desc());
  add(DNNL_ARG_DST, pd.dst_desc());
  add(DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
  dnnl::convolution_forward prim(pd);
  prim.execute(stream, args);
  stream.wait();
  double best = 1e30;
  for (int k = 0; k < 3; ++k) {
    auto t0 = Clock::now();
    prim.execute(stream, args);
    stream.wait();
    best = std::min(best, ms_since(t0));
  }
  return best;
}

// Which algorithm a convolution runs with. Winograd F(4x4,3x3) does 2.25x fewer multiplies
// on 3x3 stride-1 layers but spends time on its input/output transforms, so under kAuto it
// must win by 10% in a measurement (and a near tie stays direct, so that repeated
// compilations, whose packs are cached by layout, mostly choose alike).
algorithm choose_algorithm(const CompileContext& ctx, const ConvAttrs& a, const Shape& w, bool with_bias,
                           const md_t& src, const md_t& wmd, const md_t& bmd, const md_t& dst) {
  ConvAlgorithm want = ctx.options().conv_algorithm;
  bool eligible = a.group == 1 && w[2] == 3 && w[3] == 3 && a.strides[0] == 1 && a.strides[1] == 1 &&
                  a.dilations[0] == 1 && a.dilations[1] == 1 && src.data.format_kind == dnnl_blocked &&
                  dst.data.format_kind == dnnl_blocked;
  if (want == ConvAlgorithm::kDirect || !eligible) return algorithm::convolution_direct;
  auto wino = try_pd(conv_desc(algorithm::convolution_winograd, with_bias, src, wmd, bmd, dst, a), base_attr(),
                     ctx.engine());
  if (!wino) return algorithm::convolution_direct;
  if (want == ConvAlgorithm::kWinograd) return algorithm::convolution_winograd;
  auto direct = try_pd(conv_desc(algorithm::convolution_direct, with_bias, src, wmd, bmd, dst, a), base_attr(),
                       ctx.engine());
  if (!direct) return algorithm::convolution_winograd;
  double t_direct = time_conv_ms(*direct, with_bias, ctx.engine());
  double t_wino = time_conv_ms(*wino, with_bias, ctx.engine());
  return t_wino < 0.9 * t_direct ? algorithm::convolution_winograd : algorithm::convolution_direct;
}

}  // namespace

Status compile_conv(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConvAttrs>(n.attrs);
  if (a.reads_upsampled_2x) return compile_upsampled_conv(ctx, n);
  if (runs_int8(ctx, n)) return compile_int8_conv(ctx, n);
  const Graph& g = ctx.graph();
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& w = ctx.shape(n.inputs[1]);
  const Shape& y = ctx.shape(n.outputs[0]);
  bool with_bias = a.has_bias || a.folded_bn.present;
  memory::dims wdims = conv_weight_dims(w, a.group);
  md_t b_any({w[0]}, memory::data_type::f32, tag::any);

  std::vector<std::pair<int, TensorRef>> args;
  dnnl::primitive_attr attr = base_attr();
  KILN_ASSIGN_OR_RETURN(size_t fused, apply_post_ops(ctx, n, a.post_ops, attr, args));
  // Weights take the source's type. If oneDNN has no kernel for a mix of types (say fp32
  // in, bf16 out), the layer computes in fp32 and reorders convert around it.
  std::optional<ConvPd> chosen;
  algorithm algo = algorithm::convolution_direct;
  for (bool all_f32 : {false, true}) {
    memory::data_type src_dt = all_f32 ? memory::data_type::f32 : conv_activation_dt(ctx, x);
    memory::data_type dst_dt = all_f32 ? memory::data_type::f32 : conv_activation_dt(ctx, y);
    md_t src_md = conv_activation_md(x, src_dt), dst_md = conv_activation_md(y, dst_dt);
    md_t w_any(wdims, src_dt, tag::any);
    algo = choose_algorithm(ctx, a, w, with_bias, src_md, w_any, b_any, dst_md);
    chosen = try_pd(conv_desc(algo, with_bias, src_md, w_any, b_any, dst_md, a), attr, ctx.engine());
    if (!chosen && algo == algorithm::convolution_winograd) {  // e.g. a post-op Winograd cannot fuse
      algo = algorithm::convolution_direct;
      chosen = try_pd(conv_desc(algo, with_bias, src_md, w_any, b_any, dst_md, a), attr, ctx.engine());
    }
    if (chosen) break;
  }
  if (!chosen) return unsupported("oneDNN has no convolution for this configuration");
  const ConvPd& pd = *chosen;

  args.emplace_back(DNNL_ARG_SRC, ctx.read(n.inputs[0], pd.src_desc()));
  WeightSlot ws = conv_weight_slot(g, n, a, WeightTransform::kConvWeights, 1);
  ws.source_tag = a.group == 1 ? tag::oihw : tag::goihw;
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
  return add_post_op_steps(ctx, n, a.post_ops, fused, dst);
}

Status compile_conv_transpose(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConvTransposeAttrs>(n.attrs);
  const Graph& g = ctx.graph();
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& w = ctx.shape(n.inputs[1]);  // [C, M/g, kh, kw]
  const Shape& y = ctx.shape(n.outputs[0]);
  // oneDNN pads must be non-negative; output_padding (a negative end pad) goes the slow way.
  for (int64_t p : a.pads)
    if (p < 0) return add_reference_step(ctx, n);
  int64_t m = y[1];
  memory::dims wdims = a.group == 1 ? memory::dims{m, w[0], w[2], w[3]}
                                    : memory::dims{a.group, m / a.group, w[0] / a.group, w[2], w[3]};
  md_t w_any(wdims, memory::data_type::f32, tag::any);
  memory::dims strides{a.strides[0], a.strides[1]};
  memory::dims dilates{a.dilations[0] - 1, a.dilations[1] - 1};
  memory::dims pad_l{a.pads[0], a.pads[1]}, pad_r{a.pads[2], a.pads[3]};
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
  // ONNX stores [C_in, C_out/g, kh, kw]: exactly oneDNN's "iohw" view of [C_out, C_in, kh, kw].
  WeightSlot ws;
  ws.transform = WeightTransform::kCopy;
  ws.sources = {g.values[n.inputs[1]].name};
  ws.source_shapes = {w};
  ws.source_tag = a.group == 1 ? tag::iohw : tag::giohw;
  ws.packed_md = pd.weights_desc();
  args.emplace_back(DNNL_ARG_WEIGHTS, ctx.weight(std::move(ws)));
  if (a.has_bias) args.emplace_back(DNNL_ARG_BIAS, ctx.read(n.inputs[2], pd.bias_desc()));
  TensorRef dst = ctx.define(n.outputs[0], pd.dst_desc());
  args.emplace_back(DNNL_ARG_DST, dst);
  add_primitive(ctx, n, "deconv", dnnl::deconvolution_forward(pd), pd, std::move(args));
  return add_post_op_steps(ctx, n, a.post_ops, fused, dst);
}

}  // namespace kiln::ops
