#include "kiln/engine.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/process_memory.h"
#include "core/status_macros.h"
#include "engine/prepare.h"
#include "engine/runner_pool.h"
#include "engine/shape_plans.h"
#include "engine/tiling.h"
#include "plan/timing_cache.h"

namespace kiln {

const char* model_state_name(ModelState s) {
  switch (s) {
    case ModelState::kLoading: return "loading";
    case ModelState::kPreparing: return "preparing";
    case ModelState::kReady: return "ready";
    case ModelState::kFailed: return "failed";
  }
  return "?";
}

namespace {

struct ModelEntry {
  std::string name;
  // What it was loaded from; `weights` and `name_map` follow load_weights, so that a plan
  // for another input size packs the weights the model has now.
  LoadSpec spec;
  mutable std::mutex mu;
  std::condition_variable changed;
  ModelStatus status;
  ModelInfo info;
  std::shared_ptr<const Architecture> arch;
  Graph graph;  // this model's optimised graph: its own weight names, for later weight files
  std::shared_ptr<const Weights> weights;
  uint64_t pack_key = kAnyKey;  // content key of `weights`, when known
  // int8: the calibration of `weights`, read once (at the first preparation, or by
  // load_weights with the new weights) and used again by plans for other input sizes.
  std::shared_ptr<const Calibration> calibration;
  // Plans (shared with other models of the architecture) and weights for input sizes other
  // than the loaded one, most recently used first; dropped when the weights are swapped.
  struct OtherShape {
    std::map<std::string, Shape> shapes;
    std::shared_ptr<const Architecture> arch;
    std::shared_ptr<const Weights> weights;
  };
  ShapePlans<OtherShape> other_shapes{4};

  // The plan and weights a run starts with: it keeps these weights even if they are swapped
  // meanwhile.
  std::pair<std::shared_ptr<const Architecture>, std::shared_ptr<const Weights>> current() const {
    std::lock_guard<std::mutex> lock(mu);
    return {arch, weights};
  }
};

}  // namespace

struct Engine::Impl {
  EngineOptions opt;
  mutable std::mutex mu;  // models
  std::map<std::string, std::shared_ptr<ModelEntry>> models;
  Architectures architectures;

  std::unique_ptr<RunnerPool> runners;

  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::deque<std::shared_ptr<ModelEntry>> queue;
  bool stopping = false;
  std::thread worker;

  std::shared_ptr<ModelEntry> find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = models.find(name);
    return it == models.end() ? nullptr : it->second;
  }
  // A model that is ready, or why not.
  Expected<std::shared_ptr<ModelEntry>> find_ready(const std::string& name) const {
    auto e = find(name);
    if (!e) return not_found("no model named '" + name + "'");
    std::lock_guard<std::mutex> lock(e->mu);
    if (e->status.state != ModelState::kReady)
      return unavailable("model '" + name + "' is " + model_state_name(e->status.state) +
                         (e->status.error.empty() ? "" : ": " + e->status.error));
    return e;
  }

  CompileOptions compile_options() const {
    CompileOptions co;
    co.conv_algorithm = opt.conv_algorithm;
    co.precision = opt.precision;
    return co;
  }
  PrepareSettings settings() const { return {PackCache{opt.cache_dir, opt.cache_limit_bytes}, opt.recycle_weight_bytes}; }

  void set_phase(ModelEntry& e, const std::string& phase, double progress) {
    std::lock_guard<std::mutex> lock(e.mu);
    e.status.phase = phase;
    e.status.progress = progress;
    e.changed.notify_all();
  }

  Status prepare_model(ModelEntry& e);
  Status warm_up(const Plan& plan, const Weights& weights);
  Expected<ModelEntry::OtherShape> other_shape(ModelEntry& e, const std::vector<Tensor>& inputs);
  void work();
};

Status Engine::Impl::prepare_model(ModelEntry& e) {
  auto t0 = Clock::now();
  // Preparation runs on a runner's thread: oneDNN's reorders then use the runners' OpenMP
  // team (a team of the preparation thread would spin after packing and slow the next
  // request: measured 1.4x on the first run after preparing 10 models), and no preparation
  // competes for the two cores with a runner team spinning after a request (which made
  // imports 3x slower). A request waits for the few ms this takes on its runner.
  Expected<Prepared> prepared = runners->execute([&](Runner&) {
    return prepare(e.spec, compile_options(), settings(), architectures, nullptr, nullptr,
                   [&](const char* phase, double progress) { set_phase(e, phase, progress); });
  });
  {
    // A model parsed in memory is imported: its parse is not kept (another size reads the file).
    std::lock_guard<std::mutex> lock(e.mu);
    e.spec.parsed.reset();
  }
  KILN_ASSIGN_OR_RETURN(Prepared p, std::move(prepared));
  auto tw = Clock::now();
  if (!p.info.plan_shared) {
    // A new plan: every runner grows its arena for it and runs it once on its own thread,
    // so kernels, arena pages and thread teams are all warm before any request. A model
    // sharing a warm plan needs no run: its packed weights are already resident.
    if (opt.warm_up) set_phase(e, "warming up", 0.8);
    KILN_RETURN_IF_ERROR(warm_up(*p.arch->plan, *p.packed.weights));
  }
  std::lock_guard<std::mutex> lock(e.mu);
  e.info = std::move(p.info);
  if (opt.warm_up && !e.info.plan_shared) e.info.warmup_ms = ms_since(tw);
  ModelStatus& st = e.status;
  st.import_ms = e.info.import_ms + e.info.optimize_ms;
  st.compile_ms = e.info.compile_ms;
  st.pack_ms = e.info.pack_ms;
  st.warmup_ms = e.info.warmup_ms;
  st.fingerprint = e.info.fingerprint;
  st.plan_shared = e.info.plan_shared;
  st.weights_from_cache = e.info.weights_from_cache;
  st.weight_bytes = e.info.weight_bytes;
  for (const TensorInfo& t : e.info.inputs) st.inputs.emplace_back(t.name, t.shape);
  for (const TensorInfo& t : e.info.outputs) st.outputs.emplace_back(t.name, t.shape);
  e.graph = std::move(p.graph);
  e.arch = std::move(p.arch);
  e.weights = std::move(p.packed.weights);
  e.pack_key = p.packed.content_key;
  e.calibration = std::move(p.calibration);
  e.other_shapes = ShapePlans<ModelEntry::OtherShape>(e.spec.max_shape_plans);
  st.prepare_ms = ms_since(t0);
  st.state = ModelState::kReady;
  st.phase = "ready";
  st.progress = 1.0;
  e.changed.notify_all();
  return Status::ok();
}

// Every runner reserves its arena for `plan` and, with warm_up, runs it once on its thread.
Status Engine::Impl::warm_up(const Plan& plan, const Weights& weights) {
  std::vector<Tensor> zeros;
  for (const PlanIO& in : plan.inputs) zeros.push_back(Tensor::zeros(DType::kF32, in.shape));
  for (size_t i = 0; i < runners->size(); ++i) {
    Status s = runners->execute(
        [&](Runner& runner) -> Status {
          if (!opt.warm_up) {
            runner.reserve(plan);
            return Status::ok();
          }
          return runner.run(plan, weights, zeros).status();
        },
        static_cast<int>(i));
    if (!s) return s.with_context("warm-up run");
  }
  return Status::ok();
}

void Engine::Impl::work() {
  for (;;) {
    std::shared_ptr<ModelEntry> e;
    {
      std::unique_lock<std::mutex> lock(queue_mu);
      queue_cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, nothing left
      e = queue.front();
      queue.pop_front();
    }
    {
      std::lock_guard<std::mutex> lock(e->mu);
      e->status.state = ModelState::kPreparing;
    }
    Status s = prepare_model(*e);
    if (!s) {
      std::lock_guard<std::mutex> lock(e->mu);
      e->status.state = ModelState::kFailed;
      e->status.phase = "failed";
      e->status.error = s.message();
      e->status.error_code = s.code();
      e->changed.notify_all();
    }
  }
}

void set_timing_cache_dir(const std::string& dir) { timing_cache().set_default_dir(dir); }

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->runners = std::make_unique<RunnerPool>(impl_->opt.runners, impl_->opt.threads);
  impl_->worker = std::thread([this] { impl_->work(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(impl_->queue_mu);
    impl_->stopping = true;
  }
  impl_->queue_cv.notify_all();
  impl_->worker.join();
}

Status Engine::load(const std::string& name, LoadSpec spec) {
  if (name.empty()) return invalid_argument("a model needs a name");
  auto e = std::make_shared<ModelEntry>();
  e->name = name;
  e->spec = std::move(spec);
  e->status.name = name;
  e->status.phase = "queued";
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->models.count(name)) return invalid_argument("a model named '" + name + "' is already loaded");
    impl_->models[name] = e;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->queue_mu);
    impl_->queue.push_back(e);
  }
  impl_->queue_cv.notify_one();
  return Status::ok();
}

Status Engine::wait_ready(const std::string& name, std::chrono::milliseconds timeout) {
  auto e = impl_->find(name);
  if (!e) return not_found("no model named '" + name + "'");
  std::unique_lock<std::mutex> lock(e->mu);
  bool done = e->changed.wait_for(lock, timeout, [&] {
    return e->status.state == ModelState::kReady || e->status.state == ModelState::kFailed;
  });
  if (!done)
    return internal_error("model '" + name + "' is not ready after " + std::to_string(timeout.count()) + " ms (" +
                          e->status.phase + ")");
  if (e->status.state == ModelState::kFailed) return invalid_model("model '" + name + "' failed: " + e->status.error);
  return Status::ok();
}

Expected<ModelStatus> Engine::status(const std::string& name) const {
  auto e = impl_->find(name);
  if (!e) return not_found("no model named '" + name + "'");
  std::lock_guard<std::mutex> lock(e->mu);
  return e->status;
}

std::vector<ModelStatus> Engine::models() const {
  std::vector<std::shared_ptr<ModelEntry>> all;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const auto& [n, e] : impl_->models) all.push_back(e);
  }
  std::vector<ModelStatus> out;
  for (const auto& e : all) {
    std::lock_guard<std::mutex> lock(e->mu);
    out.push_back(e->status);
  }
  return out;
}

Expected<ModelInfo> Engine::info(const std::string& name) const {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> e, impl_->find_ready(name));
  std::lock_guard<std::mutex> lock(e->mu);
  ModelInfo info = e->info;
  info.threads = impl_->runners->threads_per_runner();
  return info;
}

Expected<std::vector<Tensor>> Engine::run(const std::string& name, const std::vector<Tensor>& inputs) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> e, impl_->find_ready(name));
  // (Not a structured binding: clang 14 cannot capture one in the lambda below.)
  const auto current = e->current();
  std::shared_ptr<const Architecture> arch = current.first;
  std::shared_ptr<const Weights> weights = current.second;
  // Another input count is the runner's to refuse; other shapes get a plan of their own.
  bool other_size = false;
  for (size_t i = 0; inputs.size() == arch->plan->inputs.size() && i < inputs.size(); ++i)
    other_size = other_size || inputs[i].shape() != arch->plan->inputs[i].shape;
  if (other_size) {
    KILN_ASSIGN_OR_RETURN(ModelEntry::OtherShape other, impl_->other_shape(*e, inputs));
    arch = other.arch;
    weights = other.weights;
  }
  return impl_->runners->execute([&](Runner& r) { return r.run(*arch->plan, *weights, inputs); });
}

Expected<std::vector<Tensor>> Engine::run_tiled(const std::string& name, const Tensor& image,
                                               const TileOptions& options) {
  KILN_ASSIGN_OR_RETURN(ModelInfo info, this->info(name));
  return kiln::run_tiled(info, image, options, [&](const Tensor& tile) { return run(name, {tile}); });
}

Expected<std::vector<StepProfile>> Engine::profile(const std::string& name, const std::vector<Tensor>& inputs) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> e, impl_->find_ready(name));
  // (Not a structured binding: clang 14 cannot capture one in the lambda below.)
  const auto current = e->current();
  std::shared_ptr<const Architecture> arch = current.first;
  std::shared_ptr<const Weights> weights = current.second;
  const Plan& plan = *arch->plan;
  return impl_->runners->execute([&](Runner& r) -> Expected<std::vector<StepProfile>> {
    r.set_profiling(true);
    auto out = r.run(plan, *weights, inputs);
    r.set_profiling(false);
    if (!out) return out.error();
    std::vector<StepProfile> steps;
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      const Step& s = *plan.steps[i];
      steps.push_back({s.name, s.kind, s.impl, r.step_ms()[i], s.flops, s.variant, s.measured});
    }
    return steps;
  });
}

// A plan for inputs of another size: found among the model's recent ones, or prepared (its
// plan shared with the architecture's other models at that size) on this request's runner,
// with the model's packed weights if the plan lays them out alike, else packed again.
Expected<ModelEntry::OtherShape> Engine::Impl::other_shape(ModelEntry& e, const std::vector<Tensor>& inputs) {
  std::map<std::string, Shape> shapes;
  LoadSpec spec;
  std::shared_ptr<const Weights> current;
  std::shared_ptr<const Calibration> calibration;
  {
    std::lock_guard<std::mutex> lock(e.mu);
    for (size_t i = 0; i < inputs.size() && i < e.info.inputs.size(); ++i)
      shapes[e.info.inputs[i].name] = inputs[i].shape();
    if (const ModelEntry::OtherShape* known = e.other_shapes.find(shapes)) return *known;
    spec = e.spec;
    current = e.weights;
    calibration = e.calibration;
  }
  spec.input_shapes = shapes;
  spec.image_size.reset();
  std::string what = "model '" + e.name + "' at input shape";
  for (const auto& [name, shape] : shapes) what += " " + name + "=" + shape_to_string(shape);
  auto p = runners->execute(
      [&](Runner&) { return prepare(spec, compile_options(), settings(), architectures, calibration, current); });
  if (!p) return p.error().with_context(what);
  ModelEntry::OtherShape other{shapes, p->arch, p->packed.weights};
  std::lock_guard<std::mutex> lock(e.mu);
  if (e.weights == current) e.other_shapes.add(other);  // not swapped meanwhile: keep it
  return other;
}

Status Engine::load_weights(const std::string& name, const std::string& path,
                            const std::map<std::string, std::string>& name_map) {
  auto e = impl_->find(name);
  if (!e) return not_found("no model named '" + name + "'");
  std::shared_ptr<const Architecture> arch;
  std::map<std::string, Shape> shapes;
  const Graph* graph;
  {
    std::lock_guard<std::mutex> lock(e->mu);
    if (e->status.state != ModelState::kReady)
      return invalid_argument("model '" + name + "' is " + model_state_name(e->status.state) +
                              "; weights can be swapped once it is ready");
    arch = e->arch;
    for (const TensorInfo& t : e->info.inputs) shapes[t.name] = t.shape;
    graph = &e->graph;  // written only by preparation, which is over
  }
  // int8: the new weights bring their own calibration, "<path>.calibration.json" (a .kwp
  // carries its scales packed).
  std::shared_ptr<const Calibration> calibration;
  if (arch->plan->options.precision == Precision::kInt8 && !path.ends_with(".kwp")) {
    KILN_ASSIGN_OR_RETURN(Calibration c, weights_calibration("", path, path));
    calibration = std::make_shared<const Calibration>(std::move(c));
  }
  KILN_ASSIGN_OR_RETURN(PackedWeights packed, impl_->runners->execute([&](Runner&) {
    return pack_weight_file(*arch, *graph, path, name_map, shapes, calibration.get(), impl_->settings());
  }));
  std::lock_guard<std::mutex> lock(e->mu);
  e->weights = std::move(packed.weights);
  if (calibration) e->calibration = std::move(calibration);
  e->spec.weights = path;
  e->spec.name_map = name_map;
  e->other_shapes.clear();  // packed from the old weights
  e->pack_key = packed.content_key;
  e->status.weights_from_cache = e->info.weights_from_cache = packed.from_cache;
  e->status.weight_bytes = e->info.weight_bytes = e->weights->bytes();
  return Status::ok();
}

Status Engine::unload(const std::string& name) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->models.find(name);
  if (it == impl_->models.end()) return not_found("no model named '" + name + "'");
  {
    std::lock_guard<std::mutex> elock(it->second->mu);
    if (it->second->status.state == ModelState::kPreparing || it->second->status.state == ModelState::kLoading)
      return invalid_argument("model '" + name + "' is still being prepared");
  }
  impl_->models.erase(it);  // its weights go with the last run holding them; the plan with its last model
  return Status::ok();
}

Status Engine::export_pack(const std::string& name, const std::string& path) const {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> e, impl_->find_ready(name));
  std::lock_guard<std::mutex> lock(e->mu);
  return write_pack_file(path, *e->arch->plan, *e->weights, e->pack_key);
}

size_t process_resident_bytes() { return resident_bytes(); }
size_t process_memory_limit_bytes() { return memory_limit_bytes(); }

MemoryReport Engine::memory() const {
  MemoryReport r;
  std::lock_guard<std::mutex> lock(impl_->mu);
  // Plans are counted through the models that use them: a plan belongs to the engine
  // exactly as long as a loaded model does.
  std::set<const Architecture*> plans;
  for (const auto& [name, e] : impl_->models) {
    std::lock_guard<std::mutex> elock(e->mu);
    if (!e->weights) continue;
    ++r.models;
    (e->weights->mapped() ? r.weight_bytes_mapped : r.weight_bytes_resident) += e->weights->bytes();
    if (plans.insert(e->arch.get()).second) r.plan_bytes += e->arch->compile_rss_bytes;
  }
  r.plans = plans.size();
  for (const Architecture* a : plans) r.spare_weight_bytes += a->storage->spare_bytes();
  r.arena_bytes = impl_->runners->arena_bytes();
  return r;
}

}  // namespace kiln
