#include "ops/reference_step.h"

#include <cstring>

#include "reference/reference.h"

namespace kiln::ops {

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
  if (out->bytes() > 0) std::memcpy(ctx.ptr(writes[0]), out->raw(), out->bytes());  // an empty tensor has no storage
  return Status::ok();
}

}  // namespace kiln::ops
