#include "plan/steps.h"

#include <cstring>

#include "weights/weights.h"

namespace kiln {

void* Plan::address(const TensorRef& r, uint8_t* arena, const Weights& w) const {
  if (r.is_weight()) return const_cast<void*>(w.slot_data(r.weight_slot));
  const Buffer& b = buffers[r.buffer];
  return arena + storage_offsets[b.storage] + b.offset_in_storage;
}

Status PrimitiveStep::run(ExecContext& ctx) const {
  std::unordered_map<int, dnnl::memory> args;
  args.reserve(args_.size() + 1);
  for (const auto& [id, ref] : args_) args.emplace(id, ctx.mem(ref));
  prim_.execute(ctx.stream, args);
  return Status::ok();
}

Status ReferenceStep::run(ExecContext& ctx) const {
  std::vector<Tensor> ins;
  ins.reserve(reads.size());
  for (size_t i = 0; i < reads.size(); ++i)
    ins.push_back(Tensor::from_bytes(DType::kF32, in_shapes_[i], ctx.ptr(reads[i]),
                                     static_cast<size_t>(shape_elements(in_shapes_[i])) * sizeof(float)));
  Expected<Tensor> out = reference::run(attrs_, ins);
  // Shapes were checked when the plan was compiled, so a failure here is a kiln bug.
  if (!out) return internal_error("step '" + name + "' (" + kind + "): " + out.error().message());
  if (out->bytes() != static_cast<size_t>(shape_elements(out_shape_)) * sizeof(float))
    return internal_error("step '" + name + "' (" + kind + ") produced shape " + shape_to_string(out->shape()) +
                          ", the plan expects " + shape_to_string(out_shape_));
  std::memcpy(ctx.ptr(writes[0]), out->raw(), out->bytes());
  return Status::ok();
}

}  // namespace kiln
