#include "exec/steps.h"

namespace kiln {

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

void* Plan::arena_address(const TensorRef& r, uint8_t* arena) const {
  const Buffer& b = buffers[r.buffer];
  return arena + storage_offsets[b.storage] + b.offset_in_storage;
}

std::string WeightSlot::describe() const {
  std::string s = sources.empty() || sources[0].empty() ? std::string("(zero bias)") : sources[0];
  if (folded_bn) s += " + folded batch norm";
  return s;
}

Status PrimitiveStep::run(ExecContext& ctx) const {
  std::unordered_map<int, dnnl::memory> args;
  args.reserve(args_.size() + 1);
  for (const auto& [id, ref] : args_) args.emplace(id, ctx.mem(ref));
  prim_.execute(ctx.stream, args);
  return Status::ok();
}

}  // namespace kiln
