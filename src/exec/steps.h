// What a step sees while a Runner walks a plan, and the step that runs one oneDNN primitive.
// (Steps that run a naive reference kernel are ops/reference_step.h: exec/ knows no op.)
#pragma once

#include <unordered_map>

#include "exec/plan.h"
#include "exec/weights.h"

namespace kiln {

struct ExecContext {
  const Plan& plan;
  const Weights& weights;
  uint8_t* arena;
  dnnl::stream& stream;

  void* ptr(const TensorRef& r) const {
    return r.is_weight() ? const_cast<void*>(weights.slot_data(r.weight_slot)) : plan.arena_address(r, arena);
  }
  dnnl::memory mem(const TensorRef& r) const { return dnnl::memory(r.md, plan.engine, ptr(r)); }
};

// One oneDNN primitive with its arguments (the scratchpad, when it needs one, lives in the arena).
class PrimitiveStep : public Step {
 public:
  PrimitiveStep(dnnl::primitive p, std::vector<std::pair<int, TensorRef>> args)
      : prim_(std::move(p)), args_(std::move(args)) {}
  Status run(ExecContext& ctx) const override;

 private:
  dnnl::primitive prim_;
  std::vector<std::pair<int, TensorRef>> args_;  // the scratchpad is one of them
};

}  // namespace kiln
