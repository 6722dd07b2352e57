// Helpers shared by the op compilers in this directory.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "exec/steps.h"
#include "plan/compile_context.h"

namespace kiln::ops {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

// Every primitive uses a user-managed scratchpad, placed in the arena.
dnnl::primitive_attr base_attr();

// Adds a oneDNN primitive step. Args with DST/TO ids are writes, the rest reads; the
// scratchpad argument is added when the primitive needs one.
// `flops` is the step's own work when the node is split into several steps (default: the node's).
void add_primitive(CompileContext& ctx, const Node& n, const std::string& kind, dnnl::primitive prim,
                   const dnnl::primitive_desc_base& pd, std::vector<std::pair<int, TensorRef>> args,
                   double flops = -1);

// Runs the node's naive reference kernel on plain layouts: for ops oneDNN cannot do.
Status add_reference_step(CompileContext& ctx, const Node& n);

// The oneDNN eltwise algorithm for a unary function, if there is one.
struct Eltwise {
  algorithm alg;
  float alpha, beta;
};
std::optional<Eltwise> eltwise_of(const UnaryAttrs& u);

// Appends the node's fused post-ops to `attr`; tensors they read become `args`. Returns how
// many it fused: oneDNN 2.6's JIT kernels keep one eltwise injector per algorithm, so a second
// activation of an algorithm already used with other alpha/beta (LeakyRelu then Relu, two
// Clips) would silently run with the first one's parameters. That post-op and the ones after
// it are left to add_post_op_steps.
Expected<size_t> apply_post_ops(CompileContext& ctx, const Node& n, const std::vector<PostOp>& post_ops,
                                dnnl::primitive_attr& attr, std::vector<std::pair<int, TensorRef>>& args);
// Runs post_ops[from..] as separate in-place steps on `dst`, the node's output.
Status add_post_op_steps(CompileContext& ctx, const Node& n, const std::vector<PostOp>& post_ops, size_t from,
                         const TensorRef& dst);

// Convolution helpers shared by conv.cpp and upsampled_conv.cpp.
// The weight slot of input `first_input` of a Conv node (-1: a zero bias), with the node's
// folded batch norm recorded as sources.
WeightSlot conv_weight_slot(const Graph& g, const Node& n, const ConvAttrs& a, WeightTransform t, int first_input);
// Activations of >= 16 channels as nChw16c, others as oneDNN likes.
md_t conv_activation_md(const Shape& s, memory::data_type dt);
// A forward-inference convolution of `a`'s strides, dilations and pads (bias when `with_bias`),
// and its primitive descriptor, or nullopt where oneDNN has no kernel for it.
using ConvPd = dnnl::convolution_forward::primitive_desc;
dnnl::convolution_forward::desc conv_desc(algorithm algo, bool with_bias, const md_t& src, const md_t& w,
                                          const md_t& b, const md_t& dst, const ConvAttrs& a);
std::optional<ConvPd> try_pd(const dnnl::convolution_forward::desc& d, const dnnl::primitive_attr& attr,
                             const dnnl::engine& engine);
// How a floating-point convolution computes (conv_choice.cpp): its source and destination
// types and algorithm.
struct ConvVariant {
  memory::data_type src_dt = memory::data_type::f32, dst_dt = memory::data_type::f32;
  algorithm algo = algorithm::convolution_direct;
};
std::string conv_variant_name(const ConvVariant& v);  // "fp32 direct", "bf16 direct", "fp32 winograd"
// The variants the plan's options allow for a convolution from x to y, the plain fp32 direct
// one (where allowed) first.
std::vector<ConvVariant> conv_variants(const CompileContext& ctx, const Shape& x, const Shape& y, bool winograd_eligible);
struct ConvChoice {
  ConvVariant variant;
  double chosen_ms = 0, fp32_direct_ms = 0;  // measured (0: not measured)
  std::string measured;                      // "fp32 direct 1.204, bf16 direct 0.731"
};
// A floating-point convolution node's variants and the bare primitives (no post-ops) of
// each; none where oneDNN has no kernel. (The node and context must outlive it.)
struct ConvCandidates {
  std::vector<ConvVariant> variants;
  bool with_bias = false;
  std::function<std::vector<ConvPd>(const ConvVariant&)> bare_pds;
};
ConvCandidates conv_candidates(const CompileContext& ctx, const Node& n);            // conv.cpp
ConvCandidates upsampled_conv_candidates(const CompileContext& ctx, const Node& n);  // upsampled_conv.cpp
// Times each variant, adding the reorder of `input` where its producer stored it otherwise
// and, for an output in another type than the plan's float type, the reorder back; keeps the
// fastest (the first unless another is 10% faster).
ConvChoice choose_conv_variant(CompileContext& ctx, int input, const ConvCandidates& candidates);
// Where bf16 is allowed by measurement (auto-bf16, int8 plans): the type the plan's float
// activations keep, bf16 if the convolutions in bf16 measured 10% faster in total than each
// in its fastest fp32 computation. Switching types costs reorders, so a layer leaves the
// plan's type only where it gains more than that.
memory::data_type choose_float_type(CompileContext& ctx);
// Records a choice on the node's last step and in the plan's totals.
void record_conv_choice(CompileContext& ctx, const ConvChoice& c);
// Records an int8 convolution the same way, timed (bare primitives) against fp32 direct.
void record_int8_conv(CompileContext& ctx, int input, const std::vector<ConvPd>& bare, bool with_bias,
                      const std::vector<ConvPd>& fp32_direct_bare);
Status compile_upsampled_conv(CompileContext& ctx, const Node& n);

// int8 convolutions (conv_int8.cpp). Whether the node computes in int8 in this plan:
// uint8 input, int8 weights.
bool runs_int8(const CompileContext& ctx, const Node& n);
md_t int8_activation_md(const Shape& s, memory::data_type dt);  // nhwc
// An int8 convolution's output type: uint8 when non-negative and read by int8 convolutions
// only, else fp32.
memory::data_type int8_output_dt(const CompileContext& ctx, int y);
// The per-channel rescaling: a binary-mul post-op appended to `attr` (returns its index,
// before the node's own post-ops), whose operand is a weight slot made by int8_rescale_arg
// once the primitive exists. `phase` is the phase of an upsampled conv, or -1.
int append_int8_rescale(dnnl::primitive_attr& attr, int64_t out_channels);
std::pair<int, TensorRef> int8_rescale_arg(CompileContext& ctx, const Node& n, int phase, bool f32_out, int post_op);
// The int8 weight and bias slots for `pd`, as WEIGHTS and BIAS arguments.
void add_int8_weights(CompileContext& ctx, const Node& n, int phase, bool f32_out, const ConvPd& pd,
                      std::vector<std::pair<int, TensorRef>>& args);
Status compile_int8_conv(CompileContext& ctx, const Node& n);

Status compile_conv(CompileContext& ctx, const Node& n);
Status compile_conv_transpose(CompileContext& ctx, const Node& n);
Status compile_pool(CompileContext& ctx, const Node& n);
Status compile_batch_norm(CompileContext& ctx, const Node& n);
Status compile_unary(CompileContext& ctx, const Node& n);
Status compile_binary(CompileContext& ctx, const Node& n);
Status compile_softmax(CompileContext& ctx, const Node& n);
Status compile_lrn(CompileContext& ctx, const Node& n);
Status compile_concat(CompileContext& ctx, const Node& n);
Status compile_resize(CompileContext& ctx, const Node& n);
Status compile_reshape(CompileContext& ctx, const Node& n);
Status compile_identity(CompileContext& ctx, const Node& n);
Status compile_transpose(CompileContext& ctx, const Node& n);

}  // namespace kiln::ops

namespace kiln {
// Compiles one node into steps: the op kind -> compiler table (dispatch.cpp).
Status compile_node(CompileContext& ctx, const Node& node);

}  // namespace kiln
