// What an op's compile function sees: the graph, where each value lives and in which
// layout, and ways to add steps, weight slots and arena buffers.
#pragma once

#include <map>
#include <optional>

#include "plan/layout.h"
#include "exec/plan.h"
#include "exec/steps.h"
#include "plan/quantization.h"

namespace kiln {

// Whether this CPU has (at least) the instructions of `want`.
bool cpu_has(dnnl::cpu_isa want);

class CompileContext {
 public:
  CompileContext(const Graph& g, Plan& plan) : g_(g), plan_(plan), values_(g.values.size()) {
    plan_.scratchpad_buffer = new_buffer(0);
    if (plan_.options.precision == Precision::kInt8) quant_ = analyse_quantization(g);
  }

  const Graph& graph() const { return g_; }
  const dnnl::engine& engine() const { return plan_.engine; }
  const CompileOptions& options() const { return plan_.options; }
  const Shape& shape(int v) const { return g_.values[v].shape; }
  bool is_weight(int v) const { return g_.values[v].kind == ValueKind::kWeight; }
  // The type float activations (of >= 16 channels) stay in where that is chosen by
  // measurement (ops::choose_float_type); fp32 otherwise.
  dnnl::memory::data_type float_type() const { return float_type_.value_or(dnnl::memory::data_type::f32); }
  bool float_type_chosen() const { return float_type_.has_value(); }
  void set_float_type(dnnl::memory::data_type t) { float_type_ = t; }

  // The layout value `v` currently has (activations and inputs; weights are plain), as real
  // numbers: a quantized (uint8) activation shows as fp32 in its layout, so an op that knows
  // nothing of quantization reads it through a dequantizing reorder.
  md_t md(int v) const;
  // The layout and type `v` is stored in (uint8 for quantized activations).
  md_t stored_md(int v) const;
  // `v` in layout `want`: the value itself, or a reorder of it (made once and reused);
  // converting to or from uint8 scales by the activation's calibrated scale.
  // A weight yields a weight slot packed to `want`.
  TensorRef read(int v, const md_t& want);
  // int8 plans: non-negativity and scales of the graph's values (else empty).
  const QuantizationInfo& quantization() const { return quant_; }
  // The [C] weight slot holding v's per-channel scales (or their inverses).
  TensorRef activation_scale(int v, bool inverse);
  TensorRef read_as_is(int v) { return read(v, md(v)); }
  // Gives activation `v` storage of its own in layout `md`.
  TensorRef define(int v, const md_t& md);
  // Makes activation `v` a view of `src`'s bytes with another shape/layout (reshape).
  TensorRef define_alias(int v, const TensorRef& src, const md_t& md);
  // Storage for an intermediate a node's steps produce and consume among themselves.
  TensorRef temporary(const md_t& md) {
    TensorRef r;
    r.md = md;
    r.buffer = new_buffer(md.get_size());
    return r;
  }
  // A weight slot with an explicit recipe.
  TensorRef weight(WeightSlot slot);

  // Adds a step; its reads/writes extend the lifetimes of the buffers they touch.
  void add_step(std::unique_ptr<Step> step);
  // Labels the last step with the computation a convolution runs and what was measured, and
  // adds the times (where both were measured) to the plan's totals.
  void note_conv_choice(const std::string& variant, const std::string& measured, double chosen_ms,
                        double fp32_direct_ms);
  // oneDNN's scratchpad for a primitive; one shared region sized for the largest need.
  TensorRef scratchpad(const md_t& md) {
    scratchpad_bytes_ = std::max(scratchpad_bytes_, md.get_size());
    TensorRef r;
    r.md = md;
    r.buffer = plan_.scratchpad_buffer;
    return r;
  }
  // Redirects buffer `b` into the storage of buffer `into` at a byte offset (in-place concat).
  bool place_inside(int b, int into, size_t offset);
  // True when buffer `b` belongs to exactly one value and nobody was placed inside it.
  bool owns_storage(int b) const;
  const TensorRef& ref(int v) const { return values_[v].ref; }

  // Finishes the plan: graph I/O, memory planning.
  Status finish();

 private:
  struct ValueState {
    TensorRef ref;
    bool defined = false;
    std::map<std::string, TensorRef> converted;  // keyed by layout string, for reuse
  };
  int new_buffer(size_t bytes);

  const Graph& g_;
  Plan& plan_;
  QuantizationInfo quant_;
  std::vector<ValueState> values_;
  std::vector<size_t> storage_bytes_;
  std::vector<int> storage_first_, storage_last_;
  std::vector<int> buffer_first_, buffer_last_;
  size_t scratchpad_bytes_ = 0;
  std::optional<dnnl::memory::data_type> float_type_;
};

}  // namespace kiln
