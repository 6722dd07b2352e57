#include "kiln/engine.h"

#include <sys/resource.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "engine/runner_pool.h"
#include "engine/shape_plans.h"
#include "engine/weight_binding.h"
#include "import/import.h"
#include "optimize/optimize.h"
#include "plan/plan.h"
#include "weights/pack_cache.h"
#include "weights/pack_file.h"
#include "weights/storage_pool.h"
#include "weights/weights.h"

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

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

size_t current_rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// A compiled plan and the weight names (canonical order) its slots were made with.
struct Architecture {
  std::shared_ptr<const Plan> plan;
  WeightSignature signature;
  size_t compile_rss_bytes = 0;
  // Storage for its models' packed weights: a buffer freed by an unload or a weight swap is
  // kept for the next pack instead of being unmapped.
  std::shared_ptr<StoragePool> storage;
};

struct ModelEntry {
  std::string name;
  LoadSpec spec;
  mutable std::mutex mu;
  std::condition_variable changed;
  ModelStatus status;
  std::shared_ptr<const Architecture> arch;
  Graph graph;  // this model's optimised graph: its own weight names, for later weight files
  std::shared_ptr<const Weights> weights;
  uint64_t pack_key = kAnyKey;  // content key of `weights`, when known
  // Where `weights` came from (the load spec's, or the last load_weights file): what a plan
  // for another input size packs again when it lays weights out differently.
  std::string weight_file;
  std::map<std::string, std::string> weight_name_map;
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
  ShapePlans<OtherShape> other_shapes{4};  // plans for other input sizes kept per model
};

bool ends_with(const std::string& s, const char* suffix) {
  std::string x(suffix);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}


}  // namespace

struct Engine::Impl {
  EngineOptions opt;
  mutable std::mutex mu;  // models and archs
  std::map<std::string, std::shared_ptr<ModelEntry>> models;
  std::map<std::string, std::weak_ptr<const Architecture>> archs;

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

  void set_phase(ModelEntry& e, const std::string& phase, double progress) {
    std::lock_guard<std::mutex> lock(e.mu);
    e.status.phase = phase;
    e.status.progress = progress;
    e.changed.notify_all();
  }

  // `calibration`: the calibration of these weights, for int8 plans (else null).
  Expected<std::shared_ptr<const Weights>> pack_with_cache(const Architecture& arch, const std::string& key_text,
                                                           const RawWeights& raw, const Calibration* calibration,
                                                           bool& from_cache, uint64_t& key) {
    PackCache cache{opt.cache_dir, opt.cache_limit_bytes};
    if (!calibration)
      return pack_cached(cache, *arch.plan, raw, arch.signature.names, key_text, from_cache, key, arch.storage.get());
    RawWeights with = raw;
    std::vector<std::string> names = arch.signature.names;
    KILN_RETURN_IF_ERROR(add_calibration(*calibration, arch.plan->options, with, names));
    return pack_cached(cache, *arch.plan, with, names, key_text, from_cache, key, arch.storage.get());
  }
  struct Prepared {
    Graph graph;
    std::shared_ptr<const Architecture> arch;
    std::shared_ptr<const Weights> weights;
    bool shared = false, from_cache = false;
    uint64_t content_key = kAnyKey;
    double import_ms = 0, compile_ms = 0, pack_ms = 0;
  };
  // `shapes`: the input shapes to compile for; `reuse`: weights to keep if the plan lays
  // its weights out as they are (otherwise the model's weights are packed again).
  Expected<Prepared> import_and_pack(ModelEntry& e, const std::map<std::string, Shape>& shapes,
                                     std::shared_ptr<const Weights> reuse = nullptr);
  Expected<ModelEntry::OtherShape> other_shape(ModelEntry& e, const std::vector<Tensor>& inputs);
  Status prepare(ModelEntry& e);
  void work();
};

Expected<Engine::Impl::Prepared> Engine::Impl::import_and_pack(ModelEntry& e,
                                                               const std::map<std::string, Shape>& shapes,
                                                               std::shared_ptr<const Weights> reuse) {
  Prepared p;
  auto t0 = Clock::now();
  // A model being prepared reports its phases; a ready one compiling for another size does not.
  auto phase = [&](const char* what, double progress) {
    if (!reuse) set_phase(e, what, progress);
  };
  phase("importing", 0.05);
  ImportOptions io;
  io.input_shapes = shapes;
  io.outputs = e.spec.outputs;
  KILN_ASSIGN_OR_RETURN(ImportedModel m, import_model(e.spec.model, io));
  optimize(m.graph);
  CompileOptions co;
  co.conv_algorithm = opt.conv_algorithm;
  co.precision = opt.precision;
  // int8: the calibration of the weights being packed.
  std::shared_ptr<const Calibration> calibration;
  if (co.precision == Precision::kInt8) {
    {
      std::lock_guard<std::mutex> lock(e.mu);
      calibration = e.calibration;
    }
    if (!calibration) {
      KILN_ASSIGN_OR_RETURN(Calibration c, weights_calibration(e.spec.calibration, e.spec.model, e.weight_file));
      calibration = std::make_shared<const Calibration>(std::move(c));
      std::lock_guard<std::mutex> lock(e.mu);
      e.calibration = calibration;
    }
    co.float_layers = calibration->float_layers;
  }
  std::string key = architecture_key(m.graph, co);
  double import_ms = ms_since(t0);

  std::shared_ptr<const Architecture> arch;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = archs.find(key);
    if (it != archs.end()) arch = it->second.lock();
  }
  bool shared = arch != nullptr;
  auto tc = Clock::now();
  if (!arch) {
    phase("compiling plan", 0.2);
    size_t rss0 = current_rss_bytes();
    auto plan = compile_plan(m.graph, co);
    if (!plan) return plan.error().with_context("'" + e.spec.model + "'");
    auto a = std::make_shared<Architecture>();
    a->plan = *plan;
    a->signature = weight_signature(m.graph);
    a->compile_rss_bytes = current_rss_bytes() - std::min(rss0, current_rss_bytes());
    size_t bytes = packed_weight_bytes(*a->plan);
    a->storage = std::make_shared<StoragePool>(bytes, bytes <= opt.recycle_weight_bytes ? 1 : 0);
    arch = a;
    std::lock_guard<std::mutex> lock(mu);
    archs[key] = arch;
  }

  double compile_ms = ms_since(tc);
  phase("packing weights", 0.5);
  auto tp = Clock::now();
  RawWeights raw;
  bool from_cache = false;
  uint64_t content_key = kAnyKey;
  std::shared_ptr<const Weights> weights;
  if (reuse && reuse->plan_layout() == arch->plan->weight_layout) {
    weights = std::move(reuse);  // the same packed layout: nothing to pack
  } else if (ends_with(e.weight_file, ".kwp")) {
    if (reuse) return invalid_argument("a .kwp weight pack serves only the input size it was made for");
    KILN_ASSIGN_OR_RETURN(weights, map_pack_file(e.weight_file, *arch->plan, kAnyKey));
    from_cache = true;
  } else if (e.weight_file.empty()) {
    WeightSignature own = weight_signature(m.graph);
    RawWeights used;
    for (const std::string& n : own.names) used.tensors[n] = m.weights.tensors.at(n);
    KILN_ASSIGN_OR_RETURN(raw, bind_weights(used, "'" + e.spec.model + "'", {}, own, arch->signature));
  } else {
    KILN_ASSIGN_OR_RETURN(raw, read_weight_file(e.weight_file, e.weight_name_map, m.graph, arch->signature, shapes));
  }
  if (!weights) {
    KILN_ASSIGN_OR_RETURN(weights, pack_with_cache(*arch, key, raw, calibration.get(), from_cache, content_key));
  }
  p.pack_ms = ms_since(tp);
  p.import_ms = import_ms;
  p.compile_ms = compile_ms;
  p.shared = shared;
  p.from_cache = from_cache;
  p.content_key = content_key;
  p.graph = std::move(m.graph);
  p.arch = std::move(arch);
  p.weights = std::move(weights);
  return p;
}

Status Engine::Impl::prepare(ModelEntry& e) {
  auto t0 = Clock::now();
  // Importing and packing run on a runner's thread: oneDNN's reorders then use the runners'
  // OpenMP team (a team of the preparation thread would spin after packing and slow the next
  // request: measured 1.4x on the first run after preparing 10 models), and no preparation
  // competes for the two cores with a runner team spinning after a request (which made
  // imports 3x slower). A request waits for the few ms this takes on its runner.
  KILN_ASSIGN_OR_RETURN(Prepared p,
                        runners->execute([&](Runner&) { return import_and_pack(e, e.spec.input_shapes); }));
  auto& arch = p.arch;
  auto& weights = p.weights;
  bool shared = p.shared;

  auto tw = Clock::now();
  if (!shared) {
    // A new plan: every runner grows its arena for it and runs it once on its own thread,
    // so kernels, arena pages and thread teams are all warm before any request. A model
    // sharing a warm plan needs no run: its packed weights are already resident.
    set_phase(e, "warming up", 0.8);
    std::vector<Tensor> zeros;
    for (const PlanIO& in : arch->plan->inputs) zeros.push_back(Tensor::zeros(DType::kF32, in.shape));
    for (size_t i = 0; i < runners->size(); ++i) {
      auto r = runners->execute([&](Runner& runner) { return runner.run(*arch->plan, *weights, zeros); },
                                static_cast<int>(i));
      if (!r) return r.error().with_context("warm-up run");
    }
  }
  std::lock_guard<std::mutex> lock(e.mu);
  e.status.warmup_ms = ms_since(tw);
  e.status.import_ms = p.import_ms;
  e.status.compile_ms = p.compile_ms;
  e.status.pack_ms = p.pack_ms;
  e.status.fingerprint = fingerprint_hex(arch->plan->fingerprint);
  e.status.plan_shared = shared;
  e.status.weights_from_cache = p.from_cache;
  e.status.weight_bytes = weights->bytes();
  for (const PlanIO& io : arch->plan->inputs) e.status.inputs.emplace_back(io.name, io.shape);
  for (const PlanIO& io : arch->plan->outputs) e.status.outputs.emplace_back(io.name, io.shape);
  e.graph = std::move(p.graph);
  e.arch = std::move(arch);
  e.weights = std::move(weights);
  e.pack_key = p.content_key;
  e.status.prepare_ms = ms_since(t0);
  e.status.state = ModelState::kReady;
  e.status.phase = "ready";
  e.status.progress = 1.0;
  e.changed.notify_all();
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
    Status s = prepare(*e);
    if (!s) {
      std::lock_guard<std::mutex> lock(e->mu);
      e->status.state = ModelState::kFailed;
      e->status.phase = "failed";
      e->status.error = s.message();
      e->changed.notify_all();
    }
  }
}

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->runners = std::make_unique<RunnerPool>(impl_->opt.runners);
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
  e->weight_file = e->spec.weights;
  e->weight_name_map = e->spec.name_map;
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

Expected<std::vector<Tensor>> Engine::run(const std::string& name, const std::vector<Tensor>& inputs) {
  auto e = impl_->find(name);
  if (!e) return not_found("no model named '" + name + "'");
  std::shared_ptr<const Architecture> arch;
  std::shared_ptr<const Weights> weights;
  {
    std::lock_guard<std::mutex> lock(e->mu);
    if (e->status.state != ModelState::kReady)
      return invalid_argument("model '" + name + "' is " + model_state_name(e->status.state) +
                              (e->status.error.empty() ? "" : ": " + e->status.error));
    arch = e->arch;
    weights = e->weights;  // this run keeps these weights even if they are swapped meanwhile
  }
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

// A plan for inputs of another size: found among the model's recent ones, or compiled (or
// shared with another model of the architecture at that size) on this request's thread,
// with the model's packed weights if the plan lays them out alike, else packed again.
Expected<ModelEntry::OtherShape> Engine::Impl::other_shape(ModelEntry& e, const std::vector<Tensor>& inputs) {
  std::map<std::string, Shape> shapes;
  std::shared_ptr<const Weights> current;
  {
    std::lock_guard<std::mutex> lock(e.mu);
    for (size_t i = 0; i < inputs.size() && i < e.status.inputs.size(); ++i)
      shapes[e.status.inputs[i].first] = inputs[i].shape();
    if (const ModelEntry::OtherShape* known = e.other_shapes.find(shapes)) return *known;
    current = e.weights;
  }
  std::string what = "model '" + e.name + "' at input shape";
  for (const auto& [name, shape] : shapes) what += " " + name + "=" + shape_to_string(shape);
  auto p = runners->execute([&](Runner&) { return import_and_pack(e, shapes, current); });
  if (!p) return p.error().with_context(what);
  ModelEntry::OtherShape other{shapes, p->arch, p->weights};
  std::lock_guard<std::mutex> lock(e.mu);
  if (e.weights == current) {  // not swapped meanwhile: keep it
    e.other_shapes.add(other);
  }
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
      return invalid_argument("model '" + name + "' is " + model_state_name(e->status.state) + "; weights can be swapped once it is ready");
    arch = e->arch;
    shapes = e->spec.input_shapes;
    graph = &e->graph;  // written only by preparation, which is over
  }
  bool from_cache = false;
  uint64_t key = kAnyKey;
  std::shared_ptr<const Weights> weights;
  std::shared_ptr<const Calibration> calibration;  // int8: the new weights bring their own, "<path>.calibration.json"
  if (ends_with(path, ".kwp")) {
    KILN_ASSIGN_OR_RETURN(weights, map_pack_file(path, *arch->plan, kAnyKey));
    from_cache = true;
  } else {
    KILN_ASSIGN_OR_RETURN(RawWeights raw, read_weight_file(path, name_map, *graph, arch->signature, shapes));
    if (arch->plan->options.precision == Precision::kInt8) {
      KILN_ASSIGN_OR_RETURN(Calibration c, weights_calibration("", path, path));
      calibration = std::make_shared<const Calibration>(std::move(c));
    }
    KILN_ASSIGN_OR_RETURN(weights, impl_->runners->execute([&](Runner&) {
      return impl_->pack_with_cache(*arch, architecture_key(*graph, arch->plan->options), raw, calibration.get(),
                                    from_cache, key);
    }));
  }
  std::lock_guard<std::mutex> lock(e->mu);
  e->weights = std::move(weights);
  if (calibration) e->calibration = std::move(calibration);  // a .kwp carries its scales packed
  e->weight_file = path;
  e->weight_name_map = name_map;
  e->other_shapes.clear();  // packed from the old weights
  e->pack_key = key;
  e->status.weights_from_cache = from_cache;
  e->status.weight_bytes = e->weights->bytes();
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
  auto e = impl_->find(name);
  if (!e) return not_found("no model named '" + name + "'");
  std::lock_guard<std::mutex> lock(e->mu);
  if (e->status.state != ModelState::kReady) return invalid_argument("model '" + name + "' is not ready");
  return write_pack_file(path, *e->arch->plan, *e->weights, e->pack_key);
}

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
