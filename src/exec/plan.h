// The compiled, immutable form of one architecture at one input shape: what plan/ and ops/
// build and exec/ runs.
//
//   auto plan = kiln::compile_plan(graph, {});          // ops/compile.h: Expected<std::shared_ptr<const Plan>>
//   auto weights = kiln::pack(**plan, raw_weights);     // weights/pack.h
//   kiln::Runner runner;                                // exec/runner.h
//   auto outputs = runner.run(**plan, **weights, {input});
//
// A Plan holds oneDNN primitives (which hold no data), the arena layout, and one weight
// slot per packed weight tensor with the recipe that produces it. It never points at
// weight values, so any number of weight packs can run on one plan.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "graph/graph.h"
#include "kiln/compile_options.h"

namespace kiln {

// Channels [first, first + count) of the calibrated activation `value` (plan/quantization.h
// says which activation's scales each int8 value has).
struct ScaleSegment {
  std::string value;
  int64_t first = 0, count = 0;
  bool operator==(const ScaleSegment&) const = default;
};

struct CompileOptions {
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kDirect;
  Precision precision = Precision::kF32;
  // Gives every activation storage of its own for the whole run and lists them in
  // Plan::values, so that all of them can be read after a run (calibration).
  bool keep_values = false;
  // int8: convolutions (by node name) kept out of int8 (bf16 where the CPU has AVX512_BF16,
  // else fp32), chosen by kiln quantize where int8 moved the output too far (recorded in
  // the calibration).
  std::vector<std::string> float_layers;
};

// Where a tensor lives at run time: in a buffer of the arena, or in a weight slot.
struct TensorRef {
  dnnl::memory::desc md;
  int buffer = -1;       // arena buffer id (resolved to an offset through Plan::buffers)
  int weight_slot = -1;  // or a weight slot of the weight pack
  bool is_weight() const { return weight_slot >= 0; }
};

// An arena buffer: bound to a storage (which the memory planner places) at a byte offset.
// Buffers of values that alias (reshape, in-place concat) share a storage.
struct Buffer {
  int storage = -1;
  size_t offset_in_storage = 0;
};

// How a weight slot's packed contents are made from raw weights.
enum class WeightTransform : uint8_t {
  kCopy,          // source 0, reinterpreted with `source_tag`, reordered to the packed layout
  kConvWeights,   // as kCopy, each output channel scaled by a folded batch norm if present
  kConvBias,      // bias (or zeros) adjusted by a folded batch norm if present
  kUpsampledConvWeights,  // as kConvWeights, then the 2x2 kernel -> the kernel of output
                          // phase `phase` of ConvAttrs::reads_upsampled_2x
  // int8 convolutions (sources: weights, then a folded batch norm's four; `bias_source`;
  // `upsampled`: phase `phase` of an upsampled conv). The input's per-channel scales
  // s_in[c] (plan/quantization.h) are folded into the weights, w'[m, c] = w[m, c] * s_in[c],
  // which are quantized per output channel with ws[m] = max|w'[m]| / 127; the output's
  // scales are s_out[m] (1 when the output is fp32).
  kConvWeightsS8,  // round(w' / ws[m])
  kConvBiasS8,     // b / ws[m]: the accumulator's units, where oneDNN adds the bias
  kConvScalesS8,   // ws[m] / s_out[m], as a [1, M, 1, 1] binary-mul post-op operand
  kActivationScale,  // [C]: s_in[c], or 1 / s_in[c] when `inverse` (quantizing)
};

struct WeightSlot {
  WeightTransform transform = WeightTransform::kCopy;
  // Graph weight names this slot reads: [w or b, (gamma, beta, mean, var)]; for kConvBias
  // without a bias, the first name is empty.
  std::vector<std::string> sources;
  std::vector<Shape> source_shapes;
  dnnl::memory::format_tag source_tag = dnnl::memory::format_tag::undef;
  dnnl::memory::desc packed_md;
  bool folded_bn = false;
  float bn_epsilon = 0.0f;
  int64_t out_channels = 0;  // for the batch-norm transforms
  int phase = 0;             // kUpsampledConvWeights: output row parity * 2 + column parity
  // The int8 transforms (see WeightTransform).
  bool upsampled = false;    // kConv*S8 of an upsampled conv's phase `phase`
  std::string bias_source;   // kConv*S8: the bias ("" for none)
  std::vector<ScaleSegment> input_scales, output_scales;  // output_scales empty: fp32 output
  bool inverse = false;
  // The reorder from the plain source layout to `packed_md`, made once with the plan so that
  // packing another model's weights only executes it (creating 50 reorders per pack cost
  // as much as the copying).
  dnnl::reorder pack_reorder;
  std::string describe() const;
  dnnl::memory::desc source_md() const {
    return dnnl::memory::desc(packed_md.dims(), dnnl::memory::data_type::f32, source_tag);
  }
};

struct ExecContext;

class Step {
 public:
  virtual ~Step() = default;
  // Errors a step can hit at run time (a reference kernel refusing its inputs) come back as
  // values; oneDNN's own failures are exceptions the runner turns into a Status.
  virtual Status run(ExecContext& ctx) const = 0;

  std::string name;      // the graph node it comes from (or a description)
  std::string kind;      // e.g. "conv", "reorder", "pool", "reference:Pad"
  std::string impl;      // the implementation oneDNN chose, e.g. "brg:avx512_core"
  double flops = 0;
  // Convolutions: the computation chosen (e.g. "bf16 direct") and, where measured while
  // compiling, the alternatives' times ("fp32 direct 1.204, bf16 direct 0.731").
  std::string variant, measured;
  std::vector<TensorRef> reads, writes;
};

struct PlanIO {
  std::string name;
  Shape shape;
  TensorRef ref;  // plain row-major f32
};

// The one CPU engine of the process: plans, weight packs and runners all use it.
const dnnl::engine& cpu_engine();

struct Plan {
  dnnl::engine engine = cpu_engine();
  std::vector<std::unique_ptr<Step>> steps;
  std::vector<Buffer> buffers;
  std::vector<size_t> storage_offsets;
  size_t arena_bytes = 0;
  int scratchpad_buffer = -1;
  std::vector<WeightSlot> weight_slots;
  std::vector<PlanIO> inputs, outputs;
  uint64_t fingerprint = 0;
  // Hash of every weight slot's packed layout: a pack made for another plan of the same
  // architecture (another algorithm choice) must not be used with this one.
  uint64_t weight_layout = 0;
  CompileOptions options;
  double flops = 0;
  size_t weight_bytes = 0;  // packed weight bytes a weight pack for this plan holds
  // Over the convolutions timed while compiling: the measured time of what was chosen, and
  // of fp32 direct for the same layers; and how many layers run each computation.
  double conv_ms = 0, conv_fp32_direct_ms = 0;
  std::map<std::string, int> conv_variants;
  // With CompileOptions::keep_values: every activation by name, where it is after a run.
  std::vector<std::pair<std::string, TensorRef>> values;

  // Where an arena tensor (not a weight: those are in the weight pack) lies in `arena`.
  void* arena_address(const TensorRef& r, uint8_t* arena) const;
};

}  // namespace kiln
