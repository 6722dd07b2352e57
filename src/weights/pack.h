// Packing: one model's raw weights, transformed and laid out for one plan.
//
//   kiln::Expected<std::shared_ptr<const kiln::Weights>> w = kiln::pack(*plan, raw_weights);
//   if (!w) { /* names the first missing or mismatched tensor */ }
//
// Packing runs each weight slot's recorded recipe (batch-norm folding, layout reorder) on
// the raw tensors; nothing in the plan changes, so another model of the same architecture
// packs its own weights for the same plan.
#pragma once

#include <memory>

#include "exec/plan.h"
#include "exec/weights.h"
#include "graph/graph.h"

namespace kiln {

class StoragePool;

// Storage comes from `pool` when given (see weights/storage_pool.h), else freshly mapped.
Expected<std::shared_ptr<const Weights>> pack(const Plan& plan, const RawWeights& raw, StoragePool* pool = nullptr);
// The bytes pack() lays out for `plan`: every slot, 64-byte aligned.
size_t packed_weight_bytes(const Plan& plan);

}  // namespace kiln
