// The one way a model file becomes something that runs. Model, Engine (load, other input
// sizes, weight swaps), calibration and describe_model all come through here:
//
//   read_graph      import + optimise (import/import.h); what describe_model stops after
//   options         int8: the calibration of the weights decides the layers kept out of int8
//   plan            the architecture's plan from `Architectures` (keyed by architecture_key)
//                   or compiled now (ops/compile.h)
//   weights         the model's own or a weight file, bound by canonical position to the
//                   plan's slots (import/weight_file.h), plus the calibration in int8;
//                   packed (through the pack cache) or mapped (.kwp), or kept as they are
//                   when the plan lays them out alike
//
//   kiln::Architectures plans;
//   kiln::Expected<kiln::Prepared> p = kiln::prepare(spec, compile_options, settings, plans, {});
//   runner.run(*p->arch->plan, *p->weights, inputs);
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "exec/plan.h"
#include "exec/weights.h"
#include "graph/graph.h"
#include "kiln/engine.h"
#include "kiln/model_info.h"
#include "weights/pack_cache.h"
#include "weights/pack_file.h"
#include "weights/storage_pool.h"

namespace kiln {

// A compiled plan and the weight names (canonical order) its slots were made with: shared
// by every model of the architecture at one input size, precision and algorithm.
struct Architecture {
  std::string key;  // architecture_key
  std::shared_ptr<const Plan> plan;
  WeightSignature signature;
  size_t compile_rss_bytes = 0;  // process RSS growth while compiling (JIT code, descriptors)
  // Storage for its models' packed weights: a buffer freed by an unload or a weight swap is
  // kept for the next pack instead of being unmapped.
  std::shared_ptr<StoragePool> storage;
};

// Plans by architecture key, held weakly: a plan lives as long as a model holds it.
class Architectures {
 public:
  std::shared_ptr<const Architecture> find(const std::string& key) const;
  void add(const std::shared_ptr<const Architecture>& a);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::weak_ptr<const Architecture>> by_key_;
};

// What a plan is keyed on: fingerprint, input shapes, precision, algorithm, layers kept out
// of int8 and the CPU's ISA.
std::string architecture_key(const Graph& g, const CompileOptions& options);

struct PrepareSettings {
  PackCache cache;                    // packed weights on disk (empty dir: none)
  size_t recycle_weight_bytes = 0;    // see EngineOptions::recycle_weight_bytes
};

struct PackedWeights {
  std::shared_ptr<const Weights> weights;
  bool from_cache = false;     // mapped from the pack cache or a .kwp
  uint64_t content_key = kAnyKey;
};

struct Prepared {
  Graph graph;  // the model's optimised graph, with its file's weight names (for weight files)
  std::shared_ptr<const Architecture> arch;
  PackedWeights packed;
  std::shared_ptr<const Calibration> calibration;  // int8: the calibration of the weights
  ModelInfo info;                                  // all but warmup_ms
};

// Called with what preparation is doing and how far it is (0..1).
using PrepareProgress = std::function<void(const char* phase, double progress)>;

// `spec.weights` names the weights to pack ("" for the model's own). `calibration`: int8,
// the weights' calibration when the caller has it already (else read as `spec` says).
// `reuse`: packed weights to keep if the plan lays its weights out as they are.
// For a plan compiled with an option the user forced (bf16, int8, Winograd) whose
// convolutions measured slower than fp32 direct while compiling: says so with the numbers
// (ModelInfo::slower_than_fp32). Empty otherwise; auto keeps fp32 direct wherever nothing
// measured faster, so it has nothing to say.
std::string slower_than_fp32_note(const Plan& plan);

Expected<Prepared> prepare(const LoadSpec& spec, const CompileOptions& options, const PrepareSettings& settings,
                           Architectures& architectures, std::shared_ptr<const Calibration> calibration,
                           std::shared_ptr<const Weights> reuse = nullptr, const PrepareProgress& progress = {});

// The weights stage alone, for a weight swap: `file` (or a .kwp) bound and packed for `arch`.
// `own`: the optimised graph of the model file the weights are for; `shapes`: its input shapes.
Expected<PackedWeights> pack_weight_file(const Architecture& arch, const Graph& own, const std::string& file,
                                         const std::map<std::string, std::string>& name_map,
                                         const std::map<std::string, Shape>& shapes, const Calibration* calibration,
                                         const PrepareSettings& settings);

// The first stage alone: what describe_model reports.
Expected<ModelInfo> describe(const LoadSpec& spec);

// int8: the calibration that belongs to a model's weights: `calibration` when named, else
// "<weights file or model>.calibration.json" (kiln/calibration.h).
Expected<Calibration> weights_calibration(const std::string& calibration, const std::string& model,
                                          const std::string& weights);

}  // namespace kiln
