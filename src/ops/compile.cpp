#include "ops/compile.h"
#include "core/status_macros.h"

#include "core/hash.h"
#include "ops/common.h"

namespace kiln {

Expected<std::shared_ptr<const Plan>> compile_plan(const Graph& g, const CompileOptions& options) {
  KILN_RETURN_IF_ERROR(g.verify());
  if (options.precision == Precision::kBF16 && !cpu_has(dnnl::cpu_isa::avx512_core_bf16))
    return unsupported("bf16 precision needs a CPU with AVX512_BF16 (vdpbf16ps); this one has not got it: use fp32");
  // Without VNNI oneDNN's int8 kernels multiply in 16 bits and may saturate (and run no faster).
  if (options.precision == Precision::kInt8 && !cpu_has(dnnl::cpu_isa::avx512_core_vnni))
    return unsupported("int8 precision needs a CPU with AVX512_VNNI (vpdpbusd); this one has not got it: use fp32");
  auto plan = std::make_shared<Plan>();
  plan->options = options;
  CompileContext ctx(g, *plan);
  // The type float activations stay in: bf16 where forced, or where allowed and measured
  // faster over the whole network (ops/conv_choice.cpp), else fp32.
  if (options.precision == Precision::kBF16) ctx.set_float_type(dnnl::memory::data_type::bf16);
  if ((options.precision == Precision::kAutoBF16 || options.precision == Precision::kInt8) &&
      cpu_has(dnnl::cpu_isa::avx512_core_bf16))
    ctx.set_float_type(ops::choose_float_type(ctx));
  for (int v : g.inputs) {
    if (g.values[v].dtype != DType::kF32)
      return unsupported("input '" + g.values[v].name + "' is " + dtype_name(g.values[v].dtype) + "; kiln takes float32");
    TensorRef r = ctx.define(v, plain_md(g.values[v].shape));
    plan->inputs.push_back({g.values[v].name, g.values[v].shape, r});
  }
  for (const Node& n : g.nodes) {
    try {
      Status s = compile_node(ctx, n);
      if (!s) return s.with_context("compiling node '" + n.name + "' (" + n.source_op + ")");
    } catch (const dnnl::error& e) {
      // oneDNN reports configurations it cannot build by throwing; keep that inside.
      return unsupported("compiling node '" + n.name + "' (" + n.source_op + "): oneDNN: " + e.what());
    }
    plan->flops += node_flops(g, n);
  }
  try {
    KILN_RETURN_IF_ERROR(ctx.finish());
  } catch (const dnnl::error& e) {
    return internal_error(std::string("finishing the plan: oneDNN: ") + e.what());
  }
  uint64_t layout = 0x6c61796f7574;
  for (const WeightSlot& s : plan->weight_slots) {
    plan->weight_bytes += s.packed_md.get_size();
    // The C descriptor is plain data (format kind, dims, blocking or Winograd parameters).
    layout = hash_bytes(&s.packed_md.data, sizeof s.packed_md.data, layout);
  }
  plan->weight_layout = layout;
  plan->fingerprint = fingerprint(g);
  return std::shared_ptr<const Plan>(std::move(plan));
}

}  // namespace kiln
