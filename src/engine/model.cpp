#include "kiln/model.h"

#include <chrono>

#include "engine/runner.h"
#include "import/import.h"
#include "optimize/optimize.h"
#include "plan/plan.h"
#include "plan/steps.h"
#include "engine/weight_binding.h"
#include "weights/pack_cache.h"
#include "weights/pack_file.h"
#include "weights/weights.h"

namespace kiln {

struct Model::Impl {
  ModelInfo info;
  std::shared_ptr<const Plan> plan;
  std::shared_ptr<const Weights> weights;
  Runner runner;
};

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const ModelInfo& Model::info() const { return impl_->info; }

Expected<Model> Model::load(const std::string& path, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  ModelInfo& info = impl->info;
  auto t0 = std::chrono::steady_clock::now();
  ImportOptions io;
  io.input_shapes = options.input_shapes;
  io.constant_inputs = options.constant_inputs;
  io.outputs = options.outputs;
  KILN_ASSIGN_OR_RETURN(ImportedModel m, import_model(path, io));
  info.import_ms = ms_since(t0);
  info.producer = m.producer;
  info.opset = m.opset;
  for (const Node& n : m.graph.nodes) {
    ++info.source_ops[n.source_op];
    for (int o : n.outputs) info.tensors.push_back({m.graph.values[o].name, m.graph.values[o].shape});
  }

  t0 = std::chrono::steady_clock::now();
  OptimizeReport rep = optimize(m.graph);
  info.optimize_ms = ms_since(t0);
  info.optimizations = rep.applied;
  info.parameters = m.graph.parameter_count();
  for (int v : m.graph.inputs) info.inputs.push_back({m.graph.values[v].name, m.graph.values[v].shape});
  for (int v : m.graph.outputs) info.outputs.push_back({m.graph.values[v].name, m.graph.values[v].shape});

  t0 = std::chrono::steady_clock::now();
  CompileOptions co;
  co.conv_algorithm = options.conv_algorithm;
  co.precision = options.precision;
  auto plan = compile_plan(m.graph, co);
  if (!plan) return plan.error().with_context("'" + path + "'");
  impl->plan = *plan;
  info.compile_ms = ms_since(t0);
  info.fingerprint = fingerprint_hex(impl->plan->fingerprint);
  info.flops = impl->plan->flops;
  info.steps = impl->plan->steps.size();
  for (const auto& s : impl->plan->steps) info.reference_steps += s->kind.rfind("reference:", 0) == 0;
  info.arena_bytes = impl->plan->arena_bytes;

  t0 = std::chrono::steady_clock::now();
  WeightSignature sig = weight_signature(m.graph);
  bool from_cache = false;
  uint64_t key = 0;
  Expected<std::shared_ptr<const Weights>> w = internal_error("unset");
  if (options.weights.size() > 4 && options.weights.compare(options.weights.size() - 4, 4, ".kwp") == 0) {
    w = map_pack_file(options.weights, *impl->plan, kAnyKey);
    from_cache = true;
  } else {
    RawWeights raw;
    if (options.weights.empty()) {
      for (const std::string& n : sig.names) raw.tensors[n] = m.weights.tensors.at(n);
    } else {
      KILN_ASSIGN_OR_RETURN(raw, read_weight_file(options.weights, options.name_map, m.graph, sig, options.input_shapes));
    }
    w = pack_cached(PackCache{options.cache_dir}, *impl->plan, raw, sig.names, architecture_key(m.graph, co), from_cache, key);
  }
  if (!w) return w.error().with_context("'" + path + "'");
  impl->weights = *w;
  info.weights_from_cache = from_cache;
  info.weight_bytes = impl->weights->bytes();
  impl->runner.reserve(*impl->plan);
  info.pack_ms = ms_since(t0);

  if (options.warm_up) {
    t0 = std::chrono::steady_clock::now();
    std::vector<Tensor> inputs;
    for (const auto& in : info.inputs) inputs.push_back(Tensor::zeros(DType::kF32, in.shape));
    auto r = impl->runner.run(*impl->plan, *impl->weights, inputs);
    if (!r) return r.error().with_context("warm-up run of '" + path + "'");
    info.warmup_ms = ms_since(t0);
  }
  return Model(std::move(impl));
}

Expected<std::vector<Tensor>> Model::run(const std::vector<Tensor>& inputs) {
  return impl_->runner.run(*impl_->plan, *impl_->weights, inputs);
}

Expected<std::vector<StepProfile>> Model::profile(const std::vector<Tensor>& inputs) {
  impl_->runner.set_profiling(true);
  auto r = impl_->runner.run(*impl_->plan, *impl_->weights, inputs);
  impl_->runner.set_profiling(false);
  if (!r) return r.error();
  std::vector<StepProfile> out;
  const auto& ms = impl_->runner.step_ms();
  for (size_t i = 0; i < impl_->plan->steps.size(); ++i) {
    const Step& s = *impl_->plan->steps[i];
    out.push_back({s.name, s.kind, s.impl, ms[i], s.flops});
  }
  return out;
}

}  // namespace kiln
