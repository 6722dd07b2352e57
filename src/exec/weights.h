// A weight pack as a run sees it: one model's weights, transformed and laid out for the
// plans of one weight layout (weights/pack.h makes them; weights/pack_file.h maps them).
//
//   std::shared_ptr<const kiln::Weights> w = *kiln::pack(plan, raw_weights);   // weights/pack.h
//   runner.run(plan, *w, inputs);                                                // exec/runner.h
//
// Nothing in a plan points at weight values and nothing here knows how to execute: two
// models of one architecture run one plan with two of these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

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

}  // namespace kiln
