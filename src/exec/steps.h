// The kinds of step a plan executes.
#pragma once

#include <unordered_map>

#include "ops/reference/reference.h"
#include "plan/plan.h"

namespace kiln {

struct ExecContext {
  const Plan& plan;
  const Weights& weights;
  uint8_t* arena;
  dnnl::stream& stream;

  void* ptr(const TensorRef& r) const { return plan.address(r, arena, weights); }
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

// A naive reference kernel on plain layouts, for ops oneDNN has no primitive for.
class ReferenceStep : public Step {
 public:
  ReferenceStep(OpAttrs attrs, std::vector<Shape> in_shapes, Shape out_shape)
      : attrs_(std::move(attrs)), in_shapes_(std::move(in_shapes)), out_shape_(std::move(out_shape)) {}
  Status run(ExecContext& ctx) const override;

 private:
  OpAttrs attrs_;
  std::vector<Shape> in_shapes_;
  Shape out_shape_;
};

}  // namespace kiln
