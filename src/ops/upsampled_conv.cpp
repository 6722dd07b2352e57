// ConvAttrs::reads_upsampled_2x: a 2x2 convolution (pads {0,0,1,1}) over an input upsampled
// 2x by nearest neighbour, computed on the small input as four phase convolutions.
//
// Output pixel (2i+a, 2j+b) of the 2x2 conv reads upsampled rows 2i+a and 2i+a+1, i.e. input
// rows i, i (a = 0) or i, i+1 (a = 1); the same for columns. So each parity pair (a, b) is an
// ordinary convolution of the input with a (a+1) x (b+1) kernel derived from the 2x2 one
// (WeightTransform::kUpsampledConvWeights), writing an H x W phase image; an interleave step
// then places the four phases into the 2H x 2W output. 9 taps per 2x2 output block instead
// of 16, and the upsampled tensor is never written or read.
// (oneDNN's stride-2 transposed convolution does the same arithmetic but ran 2-4x slower
// than the unfused pair here, measured on U-Net-64, 2026-11-26.)
#include <omp.h>

#include <cstring>

#include "ops/common.h"
#include "core/status_macros.h"

namespace kiln::ops {

namespace {

// Copies the four phase images (same layout: nchw, nChw8c or nChw16c) into their places.
class InterleaveStep : public Step {
 public:
  InterleaveStep(Shape phase_shape, int block, size_t elem) : phase_(std::move(phase_shape)), block_(block), elem_(elem) {}

  Status run(ExecContext& ctx) const override {
    ctx.stream.wait();  // the phase convolutions must have finished
    const int64_t N = phase_[0], C = phase_[1], H = phase_[2], W = phase_[3];
    const int64_t blocks = (C + block_ - 1) / block_;
    const size_t chunk = static_cast<size_t>(block_) * elem_;  // one pixel's channel block
    const uint8_t* src[4];
    for (int p = 0; p < 4; ++p) src[p] = static_cast<const uint8_t*>(ctx.ptr(reads[p]));
    uint8_t* dst = static_cast<uint8_t*>(ctx.ptr(writes[0]));
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t nb = 0; nb < N * blocks; ++nb)
      for (int64_t i = 0; i < H; ++i) {
        const size_t in_row = static_cast<size_t>((nb * H + i) * W) * chunk;
        for (int a = 0; a < 2; ++a) {
          uint8_t* out_row = dst + static_cast<size_t>((nb * 2 * H + 2 * i + a) * 2 * W) * chunk;
          const uint8_t* even = src[a * 2] + in_row;
          const uint8_t* odd = src[a * 2 + 1] + in_row;
          for (int64_t j = 0; j < W; ++j) {
            std::memcpy(out_row + static_cast<size_t>(2 * j) * chunk, even + static_cast<size_t>(j) * chunk, chunk);
            std::memcpy(out_row + static_cast<size_t>(2 * j + 1) * chunk, odd + static_cast<size_t>(j) * chunk, chunk);
          }
        }
      }
    return Status::ok();
  }

 private:
  Shape phase_;
  int block_;
  size_t elem_;
};

// One phase's convolution: stride 1, taps at offsets 0 (and 1), zero beyond the end.
dnnl::convolution_forward::desc upsampled_phase_desc(const Node& n, const Shape& w, int phase, bool with_bias,
                                                     const md_t& src_md, memory::data_type w_dt, const md_t& phase_md) {
  (void)n;
  const int kh = phase / 2 + 1, kw = phase % 2 + 1;
  md_t w_any({w[0], w[1], kh, kw}, w_dt, tag::any);
  md_t b_any({w[0]}, memory::data_type::f32, tag::any);
  ConvAttrs phase_conv;
  phase_conv.kernel = {kh, kw};
  phase_conv.pads = {0, 0, kh - 1, kw - 1};
  return conv_desc(algorithm::convolution_direct, with_bias, src_md, w_any, b_any, phase_md, phase_conv);
}

// The phases share one layout so that the interleave is a copy of channel blocks (nhwc for
// int8: one block of all channels).
tag phase_layout(bool int8, const Shape& w) { return int8 ? tag::acdb : w[0] % 16 == 0 ? tag::aBcd16b : tag::abcd; }

}  // namespace

ConvCandidates upsampled_conv_candidates(const CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConvAttrs>(n.attrs);
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& y = ctx.shape(n.outputs[0]);
  ConvCandidates c;
  c.variants = conv_variants(ctx, x, y, /*winograd_eligible=*/false);
  c.with_bias = a.has_bias || a.folded_bn.present;
  c.bare_pds = [&ctx, &n, with_bias = c.with_bias](const ConvVariant& v) {
    const Shape& x = ctx.shape(n.inputs[0]);
    const Shape& w = ctx.shape(n.inputs[1]);
    const Shape phase_shape = {x[0], w[0], x[2], x[3]};
    std::vector<ConvPd> pds;
    for (int phase = 0; phase < 4; ++phase) {
      auto pd = try_pd(upsampled_phase_desc(n, w, phase, with_bias, conv_activation_md(x, v.src_dt), v.src_dt,
                                            md_t(to_dims(phase_shape), v.dst_dt, phase_layout(false, w))),
                       base_attr(), ctx.engine());
      if (!pd) return std::vector<ConvPd>{};
      pds.push_back(*pd);
    }
    return pds;
  };
  return c;
}

Status compile_upsampled_conv(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConvAttrs>(n.attrs);
  const Graph& g = ctx.graph();
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape& w = ctx.shape(n.inputs[1]);
  const Shape& y = ctx.shape(n.outputs[0]);
  for (const PostOp& p : a.post_ops)
    if (p.kind != PostOp::Kind::kUnary) return add_reference_step(ctx, n);  // post-ops must be per pixel
  const bool with_bias = a.has_bias || a.folded_bn.present;
  const Shape phase_shape = {x[0], w[0], x[2], x[3]};
  // int8: uint8 nhwc in (see conv_int8.cpp), uint8 or fp32 nhwc out, int8 weights per phase.
  const bool int8 = runs_int8(ctx, n);
  const int block = int8 ? static_cast<int>(w[0]) : w[0] % 16 == 0 ? 16 : 1;
  const tag layout = phase_layout(int8, w);
  auto phase_desc = [&](int phase, const md_t& src_md, memory::data_type w_dt, const md_t& phase_md) {
    return upsampled_phase_desc(n, w, phase, with_bias || int8, src_md, w_dt, phase_md);
  };
  // Floating point: fp32 or bf16 as the options force or as measured (conv_choice.cpp).
  ConvChoice choice;
  if (!int8) choice = choose_conv_variant(ctx, n.inputs[0], upsampled_conv_candidates(ctx, n));
  memory::data_type src_dt = int8 ? memory::data_type::u8 : choice.variant.src_dt;
  memory::data_type dst_dt = int8 ? int8_output_dt(ctx, n.outputs[0]) : choice.variant.dst_dt;
  const bool f32_out = dst_dt == memory::data_type::f32;
  md_t src_md = int8 ? int8_activation_md(x, src_dt) : conv_activation_md(x, src_dt);
  md_t phase_md(to_dims(phase_shape), dst_dt, layout);
  md_t out_md(to_dims(y), dst_dt, layout);

  // All four primitives first: if any configuration has no oneDNN kernel, the node goes to
  // the reference kernel whole, with nothing of it left in the plan.
  std::vector<ConvPd> pds;
  int rescale = -1;
  for (int phase = 0; phase < 4; ++phase) {
    std::vector<std::pair<int, TensorRef>> no_args;  // unary post-ops read no tensors
    dnnl::primitive_attr attr = base_attr();
    if (int8) rescale = append_int8_rescale(attr, w[0]);
    KILN_ASSIGN_OR_RETURN(size_t fused, apply_post_ops(ctx, n, a.post_ops, attr, no_args));
    if (fused != a.post_ops.size()) return add_reference_step(ctx, n);
    auto pd = try_pd(phase_desc(phase, src_md, int8 ? memory::data_type::s8 : src_dt, phase_md), attr, ctx.engine());
    if (!pd) return add_reference_step(ctx, n);  // the reference upsamples, then convolves
    pds.push_back(*pd);
    // One source layout for all ("any" is resolved by the first), the phase layout as asked,
    // and a real kernel (oneDNN's "ref" ones are slower than kiln's reference path).
    if (pds.back().src_desc() != pds[0].src_desc() || pds.back().dst_desc() != phase_md ||
        std::string(pds.back().impl_info_str()).rfind("ref", 0) == 0)
      return add_reference_step(ctx, n);
  }
  TensorRef src = ctx.read(n.inputs[0], pds[0].src_desc());
  std::optional<TensorRef> bias;
  std::vector<TensorRef> phases;
  for (int phase = 0; phase < 4; ++phase) {
    const ConvPd& pd = pds[static_cast<size_t>(phase)];
    const int kh = phase / 2 + 1, kw = phase % 2 + 1;
    std::vector<std::pair<int, TensorRef>> args = {{DNNL_ARG_SRC, src}};
    if (int8) {
      args.push_back(int8_rescale_arg(ctx, n, phase, f32_out, rescale));
      add_int8_weights(ctx, n, phase, f32_out, pd, args);
    } else {
      WeightSlot ws = conv_weight_slot(g, n, a, WeightTransform::kUpsampledConvWeights, 1);
      ws.phase = phase;
      ws.source_tag = tag::oihw;
      ws.packed_md = pd.weights_desc();
      args.emplace_back(DNNL_ARG_WEIGHTS, ctx.weight(std::move(ws)));
      if (with_bias) {
        if (!bias) {
          WeightSlot bs = conv_weight_slot(g, n, a, WeightTransform::kConvBias, a.has_bias ? 2 : -1);
          bs.source_tag = tag::a;
          bs.packed_md = pd.bias_desc();
          bias = ctx.weight(std::move(bs));
        }
        args.emplace_back(DNNL_ARG_BIAS, *bias);
      }
    }
    TensorRef out = ctx.temporary(phase_md);
    args.emplace_back(DNNL_ARG_DST, out);
    phases.push_back(out);
    double flops = 2.0 * static_cast<double>(shape_elements(phase_shape)) * static_cast<double>(w[1] * kh * kw);
    add_primitive(ctx, n, (int8 ? "conv.int8.phase" : "conv.phase") + std::to_string(phase), dnnl::convolution_forward(pd), pd, std::move(args),
                  flops);
  }
  if (!int8) {
    record_conv_choice(ctx, choice);
  } else {
    std::vector<ConvPd> bare, plain;
    for (int phase = 0; phase < 4; ++phase) {
      auto b = try_pd(phase_desc(phase, src_md, memory::data_type::s8, phase_md), base_attr(), ctx.engine());
      auto p = try_pd(phase_desc(phase, conv_activation_md(x, memory::data_type::f32), memory::data_type::f32,
                                 md_t(to_dims(phase_shape), memory::data_type::f32, phase_layout(false, w))),
                      base_attr(), ctx.engine());
      if (b) bare.push_back(*b);
      if (p) plain.push_back(*p);
    }
    if (bare.size() != 4) bare.clear();
    if (plain.size() != 4) plain.clear();
    record_int8_conv(ctx, n.inputs[0], bare, true, plain);
  }
  TensorRef dst = ctx.define(n.outputs[0], out_md);
  auto step = std::make_unique<InterleaveStep>(phase_shape, block, memory::data_type_size(dst_dt));
  step->name = n.name;
  step->kind = "interleave";
  step->impl = "kiln";
  step->reads = phases;
  step->writes = {dst};
  ctx.add_step(std::move(step));
  return Status::ok();
}

}  // namespace kiln::ops
