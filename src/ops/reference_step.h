// A plan step that runs an op's naive reference kernel (src/reference/) on plain layouts:
// how a plan executes ops oneDNN has no primitive for (design-notes 4).
#pragma once

#include "exec/steps.h"
#include "graph/attrs.h"

namespace kiln::ops {

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

}  // namespace kiln::ops
