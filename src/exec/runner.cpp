#include "exec/runner.h"
#include "core/clock.h"
#include "core/status_macros.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/memory.h"
#include "exec/steps.h"

namespace kiln {

Runner::Runner() = default;
Runner::~Runner() = default;

void Runner::reserve(const Plan& plan) {
  if (plan.arena_bytes <= arena_bytes_) return;
  // Populated now, so a request never takes the page faults (core/memory.h).
  auto p = allocate_populated(plan.arena_bytes);
  if (!p) return;  // run() reports it
  arena_ = std::move(p);
  arena_bytes_ = plan.arena_bytes;
}

Expected<std::vector<Tensor>> Runner::run(const Plan& plan, const Weights& weights,
                                          const std::vector<Tensor>& inputs) {
  if (weights.plan_layout() != plan.weight_layout)
    return invalid_argument("the weight pack was made for another plan (weight layout " +
                            fingerprint_hex(weights.plan_layout()) + ", this plan's " + fingerprint_hex(plan.weight_layout) +
                            "): another architecture, precision or convolution algorithm");
  if (inputs.size() != plan.inputs.size())
    return invalid_argument("the model takes " + std::to_string(plan.inputs.size()) + " input(s), got " +
                            std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const PlanIO& io = plan.inputs[i];
    if (inputs[i].dtype() != DType::kF32)
      return invalid_argument("input '" + io.name + "' must be float32, got " + dtype_name(inputs[i].dtype()));
    if (inputs[i].shape() != io.shape)
      return invalid_argument("input '" + io.name + "' must have shape " + shape_to_string(io.shape) + ", got " +
                              shape_to_string(inputs[i].shape()));
  }
  reserve(plan);
  if (arena_bytes_ < plan.arena_bytes) return internal_error("cannot allocate the activation arena");
  ExecContext ctx{plan, weights, arena_.get(), stream_};
  // (Empty tensors have no storage to copy: skip them rather than pass null to memcpy.)
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].bytes() > 0) std::memcpy(ctx.ptr(plan.inputs[i].ref), inputs[i].raw(), inputs[i].bytes());
  try {
    if (profiling_) {
      step_ms_.assign(plan.steps.size(), 0.0);
      for (size_t s = 0; s < plan.steps.size(); ++s) {
        auto t0 = Clock::now();
        KILN_RETURN_IF_ERROR(plan.steps[s]->run(ctx));
        stream_.wait();
        step_ms_[s] = ms_since(t0);
      }
    } else {
      for (const auto& step : plan.steps) KILN_RETURN_IF_ERROR(step->run(ctx));
      stream_.wait();
    }
  } catch (const dnnl::error& e) {
    return internal_error(std::string("oneDNN failed during the run: ") + e.what());
  }
  std::vector<Tensor> outs;
  for (const PlanIO& io : plan.outputs) {
    Tensor t = Tensor::zeros(DType::kF32, io.shape);
    if (t.bytes() > 0) std::memcpy(t.raw(), ctx.ptr(io.ref), t.bytes());
    outs.push_back(std::move(t));
  }
  return outs;
}

}  // namespace kiln
