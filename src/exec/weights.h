// A weight pack: one model's weights, transformed and laid out for one plan.
//
//   kiln::Expected<std::shared_ptr<const kiln::Weights>> w = kiln::pack(*plan, raw_weights);
//   if (!w) { /* names the first missing or mismatched tensor */ }
//
// Packing runs each weight slot's recorded recipe (batch-norm folding, layout reorder) on
// the raw tensors; nothing in the plan changes, so another model of the same architecture
// packs its own weights for the same plan.
#pragma once

#include <memory>
#include <vector>

#include "graph/graph.h"
#include "plan/plan.h"

namespace kiln {

class Weights {
 public:
  // Weights over existing storage (a heap block, or a mapped pack file).
  static std::shared_ptr<const Weights> from_storage(std::shared_ptr<uint8_t> storage, std::vector<size_t> offsets,
                                                     size_t bytes, uint64_t plan_layout, bool mapped);

  const void* slot_data(int slot) const { return storage_.get() + offsets_[slot]; }
  size_t bytes() const { return bytes_; }
  // Plan::weight_layout of the plans these weights fit: any plan whose slots are laid out
  // alike (e.g. one architecture compiled for several input sizes) can run them.
  uint64_t plan_layout() const { return layout_; }
  bool mapped() const { return mapped_; }  // from a pack file rather than packed here

 private:
  std::shared_ptr<uint8_t> storage_;
  std::vector<size_t> offsets_;
  size_t bytes_ = 0;
  uint64_t layout_ = 0;
  bool mapped_ = false;
};

class StoragePool;

// Storage comes from `pool` when given (see weights/storage_pool.h), else freshly mapped.
Expected<std::shared_ptr<const Weights>> pack(const Plan& plan, const RawWeights& raw, StoragePool* pool = nullptr);
// The bytes pack() lays out for `plan`: every slot, 64-byte aligned.
size_t packed_weight_bytes(const Plan& plan);

}  // namespace kiln
