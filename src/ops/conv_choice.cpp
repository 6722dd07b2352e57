// Which computation a floating-point convolution runs: fp32 or bf16, direct or Winograd.
// Where the plan's options leave a choice (precision auto and auto-bf16, the layers of an
// int8 plan that are not int8, --conv auto) each candidate is timed on this CPU, with the
// conversion of its input when the producer stored it otherwise, and the fastest is kept.
// CPU flags do not decide: on a Xeon whose bf16 dot runs at half the fp32 rate bf16 ran a
// U-Net at 0.54x fp32, on Zen 4 at 2x. Timings are cached (plan/timing_cache.h).
// Forced options are timed against fp32 direct too, so that a plan slower than plain fp32
// can say so (Plan::conv_ms, Plan::conv_fp32_direct_ms).
#include <omp.h>

#include <cstring>
#include <unordered_map>

#include "core/clock.h"
#include "core/hash.h"
#include "ops/common.h"
#include "plan/timing_cache.h"

namespace kiln::ops {

namespace {

bool is_bf16(memory::data_type dt) { return dt == memory::data_type::bf16; }

// Best of two runs after one untimed, on zero-filled buffers.
double time_primitive_ms(const dnnl::primitive& prim, const std::vector<std::pair<int, md_t>>& mds,
                         const dnnl::engine& engine) {
  dnnl::stream stream(engine);
  std::unordered_map<int, dnnl::memory> args;
  for (const auto& [arg, md] : mds) {
    dnnl::memory m(md, engine);
    if (md.get_size() > 0) std::memset(m.get_data_handle(), 0, md.get_size());
    args[arg] = m;
  }
  prim.execute(stream, args);
  stream.wait();
  double best = 1e30;
  for (int k = 0; k < 2; ++k) {
    auto t0 = Clock::now();
    prim.execute(stream, args);
    stream.wait();
    best = std::min(best, ms_since(t0));
  }
  return best;
}

std::string md_key(const md_t& md) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_bytes(&md.data, sizeof md.data)));
  return hex;
}

double conv_ms(const ConvPd& pd, bool with_bias, const dnnl::engine& engine) {
  const std::string key = std::string("conv ") + pd.impl_info_str() + " " + md_key(pd.src_desc()) + " " +
                          md_key(pd.weights_desc()) + " " + md_key(pd.dst_desc()) + (with_bias ? " bias" : "") +
                          " threads " + std::to_string(omp_get_max_threads());
  return timing_cache().get_or_time(key, [&] {
    std::vector<std::pair<int, md_t>> mds = {{DNNL_ARG_SRC, pd.src_desc()},
                                             {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                             {DNNL_ARG_DST, pd.dst_desc()},
                                             {DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc()}};
    if (with_bias) mds.push_back({DNNL_ARG_BIAS, pd.bias_desc()});
    return time_primitive_ms(dnnl::convolution_forward(pd), mds, engine);
  });
}

double reorder_ms(const md_t& from, const md_t& to, const dnnl::engine& engine) {
  const std::string key = "reorder " + md_key(from) + " " + md_key(to) + " threads " + std::to_string(omp_get_max_threads());
  return timing_cache().get_or_time(key, [&] {
    dnnl::reorder::primitive_desc pd(engine, from, engine, to);
    return time_primitive_ms(dnnl::reorder(pd), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}, engine);
  });
}

// The time of `pds` (-1 when empty), plus the reorder of `input` where its producer stored
// it otherwise (another type or layout).
double pds_cost_ms(CompileContext& ctx, int input, const std::vector<ConvPd>& pds, bool with_bias) {
  if (pds.empty()) return -1;
  double ms = 0;
  for (const ConvPd& pd : pds) ms += conv_ms(pd, with_bias, ctx.engine());
  const md_t stored = ctx.stored_md(input);
  if (stored != pds[0].src_desc() && !ctx.is_weight(input)) ms += reorder_ms(stored, pds[0].src_desc(), ctx.engine());
  return ms;
}

}  // namespace

std::string conv_variant_name(const ConvVariant& v) {
  return std::string(is_bf16(v.src_dt) || is_bf16(v.dst_dt) ? "bf16" : "fp32") +
         (v.algo == algorithm::convolution_winograd ? " winograd" : " direct");
}

std::vector<ConvVariant> conv_variants(const CompileContext& ctx, const Shape& x, const Shape& y, bool winograd_eligible) {
  const CompileOptions& o = ctx.options();
  // bf16 only for tensors of >= 16 channels: the image in, a thin head and its sigmoid stay
  // fp32, where they cost little and where the output's precision is decided.
  auto bf16_of = [](const Shape& s) {
    return s.size() == 4 && s[1] % 16 == 0 ? memory::data_type::bf16 : memory::data_type::f32;
  };
  const auto f32 = memory::data_type::f32;
  const bool measured = o.precision == Precision::kAuto || o.precision == Precision::kAutoBF16 ||
                        o.precision == Precision::kInt8;
  std::vector<ConvVariant> v;
  if (o.precision == Precision::kBF16) {
    v.push_back({bf16_of(x), bf16_of(y), algorithm::convolution_direct});
    return v;  // oneDNN has no bf16 Winograd
  }
  // Algorithms: as asked, or measured where the precision is chosen by measurement.
  const bool wino_forced = o.conv_algorithm == ConvAlgorithm::kWinograd && winograd_eligible;
  const bool wino_candidate = winograd_eligible && (o.conv_algorithm == ConvAlgorithm::kAuto || measured);
  const bool bf16_allowed = (o.precision == Precision::kAutoBF16 || o.precision == Precision::kInt8) &&
                            cpu_has(dnnl::cpu_isa::avx512_core_bf16) && (bf16_of(x) != f32 || bf16_of(y) != f32);
  // Activations of >= 16 channels keep the plan's float type once it is chosen: mixing
  // measured slower over a whole U-Net than either type alone (reorders between layers, and
  // concats of mixed inputs are copies, not in place: U-Net-16 18.4 ms against 17.5 in bf16,
  // 2026-12-06). A layer with a thin output (the head) chooses its type freely.
  const bool free_type = !ctx.float_type_chosen() || bf16_of(y) == f32;
  const bool f32_ok = !bf16_allowed || free_type || ctx.float_type() == f32;
  const bool bf16_ok = bf16_allowed && (free_type || ctx.float_type() == memory::data_type::bf16);
  if (f32_ok && !wino_forced) v.push_back({f32, f32, algorithm::convolution_direct});
  if (f32_ok && (wino_forced || wino_candidate)) v.push_back({f32, f32, algorithm::convolution_winograd});
  if (bf16_ok) v.push_back({bf16_of(x), bf16_of(y), algorithm::convolution_direct});
  return v;
}

ConvChoice choose_conv_variant(CompileContext& ctx, int input, const ConvCandidates& candidates) {
  const std::vector<ConvVariant>& variants = candidates.variants;
  const bool with_bias = candidates.with_bias;
  // A forced choice (one variant) is still timed against fp32 direct unless it is fp32
  // direct itself, so that the plan can tell when the option made it slower.
  const ConvVariant plain{memory::data_type::f32, memory::data_type::f32, algorithm::convolution_direct};
  const bool plain_only = variants.size() == 1 && conv_variant_name(variants[0]) == conv_variant_name(plain);
  ConvChoice c;
  c.variant = variants.at(0);
  if (plain_only) return c;  // nothing to choose, nothing to compare with

  auto cost = [&](const ConvVariant& v) {
    std::vector<ConvPd> pds = candidates.bare_pds(v);
    double ms = pds_cost_ms(ctx, input, pds, with_bias);
    // An output of >= 16 channels in another type than the plan keeps costs a reorder back.
    const md_t dst = pds.empty() ? md_t() : pds.back().dst_desc();
    if (ms > 0 && dst.data.ndims == 4 && dst.data.dims[1] % 16 == 0 && dst.data_type() != ctx.float_type()) {
      md_t back = dst;
      back.data.data_type = static_cast<dnnl_data_type_t>(ctx.float_type());
      ms += reorder_ms(dst, back, ctx.engine());
    }
    return ms;
  };
  std::vector<double> ms(variants.size(), -1);
  for (size_t i = 0; i < variants.size(); ++i) ms[i] = cost(variants[i]);
  // The first variant (fp32 direct where allowed: the most exact, the smallest weights) is
  // kept unless another is at least 10% faster; a near tie choosing alike on every start
  // also lets the pack cache, keyed by layout, find its packs.
  size_t best = 0;
  for (size_t i = 1; i < variants.size(); ++i)
    if (ms[i] > 0 && (ms[best] <= 0 || (ms[i] < 0.9 * ms[0] && ms[i] < ms[best]))) best = i;
  c.variant = variants[best];
  c.chosen_ms = ms[best] > 0 ? ms[best] : 0;
  // What the layer costs in a plain fp32 plan: fp32 direct, its input and output fp32 too.
  for (const ConvPd& pd : candidates.bare_pds(plain)) c.fp32_direct_ms += conv_ms(pd, with_bias, ctx.engine());
  char buf[64];
  for (size_t i = 0; i < variants.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%s %.3f", c.measured.empty() ? "" : ", ", conv_variant_name(variants[i]).c_str(), ms[i]);
    c.measured += ms[i] > 0 ? buf : "";
  }
  if (!plain_only && std::none_of(variants.begin(), variants.end(), [&](const ConvVariant& v) {
        return conv_variant_name(v) == conv_variant_name(plain);
      }) && c.fp32_direct_ms > 0) {
    std::snprintf(buf, sizeof buf, "%s(fp32 direct %.3f)", c.measured.empty() ? "" : ", ", c.fp32_direct_ms);
    c.measured += buf;
  }
  return c;
}

memory::data_type choose_float_type(CompileContext& ctx) {
  double f32_ms = 0, bf16_ms = 0;
  for (const Node& n : ctx.graph().nodes) {
    if (n.kind() != OpKind::kConv || runs_int8(ctx, n)) continue;
    ConvCandidates c = conv_candidates(ctx, n);
    double best_f32 = -1, bf16 = -1;
    for (const ConvVariant& v : c.variants) {
      std::vector<ConvPd> pds = c.bare_pds(v);
      if (pds.empty()) continue;
      double ms = 0;
      for (const ConvPd& pd : pds) ms += conv_ms(pd, c.with_bias, ctx.engine());
      if (is_bf16(v.src_dt) || is_bf16(v.dst_dt)) bf16 = ms;
      else if (best_f32 < 0 || ms < best_f32) best_f32 = ms;
    }
    if (best_f32 <= 0) continue;
    f32_ms += best_f32;
    bf16_ms += bf16 > 0 ? bf16 : best_f32;  // layers without a bf16 kernel stay fp32 either way
  }
  return bf16_ms > 0 && bf16_ms < 0.9 * f32_ms ? memory::data_type::bf16 : memory::data_type::f32;
}

void record_int8_conv(CompileContext& ctx, int input, const std::vector<ConvPd>& bare, bool with_bias,
                      const std::vector<ConvPd>& fp32_direct_bare) {
  const double ms = pds_cost_ms(ctx, input, bare, with_bias);
  const double plain = pds_cost_ms(ctx, input, fp32_direct_bare, with_bias);
  char buf[96];
  std::snprintf(buf, sizeof buf, "int8 %.3f, (fp32 direct %.3f)", ms, plain);
  ctx.note_conv_choice("int8", ms > 0 && plain > 0 ? buf : "", ms, plain);
}

void record_conv_choice(CompileContext& ctx, const ConvChoice& c) {
  ctx.note_conv_choice(conv_variant_name(c.variant), c.measured, c.chosen_ms, c.fp32_direct_ms);
}

}  // namespace kiln::ops
