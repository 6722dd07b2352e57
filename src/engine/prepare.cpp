#include "engine/prepare.h"

#include "core/mapped_file.h"

#include <cstdio>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/clock.h"
#include "core/memory.h"
#include "core/process_memory.h"
#include "core/status_macros.h"
#include "import/import.h"
#include "import/weight_file.h"
#include "ops/compile.h"
#include "plan/quantization.h"
#include "plan/timing_cache.h"
#include "weights/pack.h"

namespace kiln {

std::shared_ptr<const Architecture> Architectures::find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : it->second.lock();
}

void Architectures::add(const std::shared_ptr<const Architecture>& a) {
  std::lock_guard<std::mutex> lock(mu_);
  by_key_[a->key] = a;
  // Forget plans whose last model has gone, so that the map does not grow with every size seen.
  std::erase_if(by_key_, [](const auto& entry) { return entry.second.expired(); });
}

std::string architecture_key(const Graph& g, const CompileOptions& options) {
  std::string k = fingerprint_hex(fingerprint(g)) + "/" + precision_name(options.precision) + "/isa" +
                  std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa())) + "/conv-" +
                  conv_algorithm_name(options.conv_algorithm);
  for (const std::string& layer : options.float_layers) k.append("/float:").append(layer);
  if (options.keep_values) k.append("/keep-values");
  for (int in : g.inputs) k.append("/").append(shape_to_string(g.values[in].shape));
  return k;
}

Expected<Calibration> weights_calibration(const std::string& calibration, const std::string& model,
                                          const std::string& weights) {
  auto c = load_calibration(!calibration.empty() ? calibration : default_calibration_path(weights.empty() ? model : weights));
  if (!c) return c.error().with_context("int8 precision");
  return c;
}

std::string slower_than_fp32_note(const Plan& plan) {
  const CompileOptions& o = plan.options;
  std::string option;
  if (o.precision == Precision::kBF16 || o.precision == Precision::kInt8)
    option = std::string("--precision ") + precision_name(o.precision);
  else if (o.conv_algorithm == ConvAlgorithm::kWinograd)
    option = "--conv winograd";
  if (option.empty() || plan.conv_fp32_direct_ms <= 0 || plan.conv_ms <= 1.05 * plan.conv_fp32_direct_ms) return "";
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%s is slower than fp32 direct on this CPU: its convolutions measured %.1f ms against %.1f ms in fp32 "
                "direct (each timed alone while compiling); --precision auto (or auto-bf16) chooses per layer",
                option.c_str(), plan.conv_ms, plan.conv_fp32_direct_ms);
  return buf;
}

namespace {

ImportOptions import_options(const LoadSpec& spec) {
  ImportOptions io;
  io.input_shapes = spec.input_shapes;
  io.constant_inputs = spec.constant_inputs;
  io.outputs = spec.outputs;
  // An image size leaves the batch at 1 and the channels to the file (-1: as declared).
  if (spec.image_size) {
    const int64_t h = spec.image_size->height, w = spec.image_size->width;
    io.input_shapes[""] = takes_nhwc_inputs(spec.model) ? Shape{1, h, w, -1} : Shape{1, -1, h, w};
  }
  return io;
}

// What the file and its optimised graph say (everything but the plan's and the weights' figures).
void describe_graph(ModelInfo& info, const ReadGraph& r, const std::string& path) {
  const Graph& g = r.model.graph;
  info.producer = r.model.producer;
  info.opset = r.model.opset;
  info.source_ops = r.source_ops;
  for (const auto& [name, shape] : r.computed) info.tensors.push_back({name, shape});
  info.optimizations = r.optimizations.applied;
  info.parameters = g.parameter_count();
  for (int v : g.inputs) info.inputs.push_back({g.values[v].name, g.values[v].shape});
  for (int v : g.outputs) {
    const int p = g.values[v].producer;
    const auto* r = p >= 0 ? std::get_if<ReduceAttrs>(&g.nodes[p].attrs) : nullptr;
    const bool class_map = r && (r->kind == ReduceKind::kArgMax || r->kind == ReduceKind::kArgMin);
    info.outputs.push_back({g.values[v].name, g.values[v].shape, class_map});
  }
  info.channels_last = takes_nhwc_inputs(path);
  info.fingerprint = fingerprint_hex(fingerprint(g));
  info.flops = 0;
  for (const Node& n : g.nodes) info.flops += node_flops(g, n);
  info.import_ms = r.import_ms;
  info.optimize_ms = r.optimize_ms;
}

// int8 packs: the calibration joins the raw weights as one [C] tensor per activation
// (plan/quantization.h names them), and their names are appended to `names` so that a pack
// cache key covers them. Fails when it keeps other layers out of int8 than the plan was compiled with.
Status add_calibration(const Calibration& c, const CompileOptions& plan_options, RawWeights& raw,
                       std::vector<std::string>& names) {
  if (c.float_layers != plan_options.float_layers)
    return invalid_argument("int8 precision: the calibration keeps " + std::to_string(c.float_layers.size()) +
                            " layers out of int8, the plan " + std::to_string(plan_options.float_layers.size()) +
                            " others: weights with another calibration need a model of their own");
  for (const auto& [value, clips] : c.clip) {
    Tensor t = Tensor::zeros(DType::kF32, {static_cast<int64_t>(clips.size())});
    std::copy(clips.begin(), clips.end(), t.data<float>());
    std::string name = calibration_tensor_name(value);
    raw.tensors[name] = t;
    names.push_back(name);
  }
  return Status::ok();
}

// Raw weights already bound to `arch`'s slot names, packed through the cache.
Expected<PackedWeights> pack_raw(const Architecture& arch, RawWeights raw, const Calibration* calibration,
                                 const PrepareSettings& settings) {
  std::vector<std::string> names = arch.signature.names;
  if (calibration) KILN_RETURN_IF_ERROR(add_calibration(*calibration, arch.plan->options, raw, names));
  PackedWeights w;
  KILN_ASSIGN_OR_RETURN(w.weights, pack_cached(settings.cache, *arch.plan, raw, names, arch.key, w.from_cache,
                                               w.content_key, arch.storage.get()));
  return w;
}

// A file that changed while it was read (rewritten or truncated in place: the pages it lost
// read as zeros, core/mapped_file.h) is not used: its weights may be half old, half new.
Status unchanged_since(const std::string& path, const std::optional<FileIdentity>& before) {
  if (before && file_identity(path) == before) return Status::ok();
  return io_error("'" + path + "' changed while it was being read (rewritten or truncated in place), so nothing of it "
                  "is used: write a new file beside it and rename it into place");
}

}  // namespace

Expected<PackedWeights> pack_weight_file(const Architecture& arch, const Graph& own, const std::string& file,
                                         const std::map<std::string, std::string>& name_map,
                                         const std::map<std::string, Shape>& shapes, const Calibration* calibration,
                                         const PrepareSettings& settings) {
  MappedTensorsScope weights_are_mapped;  // read once, packed once (core/memory.h)
  if (file.ends_with(".kwp")) {  // packed already; its header says which plans it fits
    PackedWeights w;
    KILN_ASSIGN_OR_RETURN(w.weights, map_pack_file(file, *arch.plan, kAnyKey));
    w.from_cache = true;
    return w;
  }
  const auto before = file_identity(file);
  KILN_ASSIGN_OR_RETURN(RawWeights raw, read_weight_file(file, name_map, own, arch.signature, shapes));
  KILN_ASSIGN_OR_RETURN(PackedWeights packed, pack_raw(arch, std::move(raw), calibration, settings));
  KILN_RETURN_IF_ERROR(unchanged_since(file, before));
  return packed;
}

Expected<ModelInfo> describe(const LoadSpec& spec) {
  KILN_ASSIGN_OR_RETURN(ReadGraph r, read_graph(spec.model, import_options(spec), spec.parsed.get()));
  ModelInfo info;
  describe_graph(info, r, spec.model);
  return info;
}

Expected<Prepared> prepare(const LoadSpec& spec, const CompileOptions& options, const PrepareSettings& settings,
                           Architectures& architectures, std::shared_ptr<const Calibration> calibration,
                           std::shared_ptr<const Weights> reuse, const PrepareProgress& progress) {
  auto phase = [&](const char* what, double fraction) {
    if (progress) progress(what, fraction);
  };
  MappedTensorsScope weights_are_mapped;  // imported, re-laid out and packed once (core/memory.h)
  const std::string where = "'" + spec.model + "'";
  phase("importing", 0.05);
  const ImportOptions io = import_options(spec);
  // A model parsed in memory is not read from its file: nothing there can change under it.
  const auto model_before = spec.parsed ? std::nullopt : file_identity(spec.model);
  KILN_ASSIGN_OR_RETURN(ReadGraph read, read_graph(spec.model, io, spec.parsed.get()));
  Prepared p;
  describe_graph(p.info, read, spec.model);
  Graph& g = read.model.graph;

  CompileOptions co = options;
  if (co.precision == Precision::kInt8) {
    if (!calibration) {
      auto c = spec.calibration_data ? Expected<Calibration>(*spec.calibration_data)
                                     : weights_calibration(spec.calibration, spec.model, spec.weights);
      if (!c) return c.error().with_context(where);
      calibration = std::make_shared<const Calibration>(std::move(*c));
    }
    co.float_layers = calibration->float_layers;
  }
  p.calibration = calibration;

  const std::string key = architecture_key(g, co);
  auto t0 = Clock::now();
  std::shared_ptr<const Architecture> arch = architectures.find(key);
  p.info.plan_shared = arch != nullptr;
  if (!arch) {
    phase("compiling plan", 0.2);
    const size_t rss0 = resident_bytes();
    // Compiling times the candidate computations of the convolutions (ops/conv_choice.cpp);
    // with a cache directory those timings are kept for the next start on this CPU.
    const std::string timing_dir = settings.cache.dir.empty() ? timing_cache().default_dir() : settings.cache.dir;
    if (!timing_dir.empty()) timing_cache().load(timing_dir);
    const size_t measured_before = timing_cache().measured();
    auto plan = compile_plan(g, co);
    p.info.timings_measured = timing_cache().measured() - measured_before;
    if (!timing_dir.empty()) timing_cache().save(timing_dir);
    if (!plan) return plan.error().with_context(where);
    auto a = std::make_shared<Architecture>();
    a->key = key;
    a->plan = *plan;
    a->signature = weight_signature(g);
    const size_t rss1 = resident_bytes();
    a->compile_rss_bytes = rss1 - std::min(rss0, rss1);
    const size_t bytes = packed_weight_bytes(*a->plan);
    a->storage = std::make_shared<StoragePool>(bytes, bytes <= settings.recycle_weight_bytes ? 1 : 0);
    architectures.add(a);
    arch = std::move(a);
  }
  p.info.compile_ms = ms_since(t0);

  phase("packing weights", 0.5);
  t0 = Clock::now();
  if (reuse && reuse->plan_layout() == arch->plan->weight_layout) {
    p.packed.weights = std::move(reuse);  // laid out alike: nothing to pack
  } else if (reuse && spec.weights.ends_with(".kwp")) {
    return invalid_argument(where + ": a .kwp weight pack serves only the input shape it was made for");
  } else {
    Expected<PackedWeights> packed = internal_error("unset");
    if (spec.weights.empty()) {
      // The file's own initializers: already checked by its import, bound by position to the
      // slots of a plan that another export of the architecture may have compiled.
      auto raw = own_weights(g, read.model.weights, "its own weights", arch->signature);
      packed = raw ? pack_raw(*arch, std::move(*raw), calibration.get(), settings) : Expected<PackedWeights>(raw.error());
    } else {
      packed = pack_weight_file(*arch, g, spec.weights, spec.name_map, io.input_shapes, calibration.get(), settings);
    }
    if (!packed) return packed.error().with_context(where);
    p.packed = std::move(*packed);
  }
  // The model file's own weights are read (as views into its mapping) until they are packed.
  if (!spec.parsed) KILN_RETURN_IF_ERROR(unchanged_since(spec.model, model_before));
  p.info.pack_ms = ms_since(t0);

  const Plan& plan = *arch->plan;
  p.info.steps = plan.steps.size();
  p.info.conv_variants = plan.conv_variants;
  p.info.conv_ms = plan.conv_ms;
  p.info.conv_fp32_direct_ms = plan.conv_fp32_direct_ms;
  p.info.slower_than_fp32 = slower_than_fp32_note(plan);
  for (const auto& s : plan.steps) p.info.reference_steps += s->kind.starts_with("reference:");
  p.info.arena_bytes = plan.arena_bytes;
  p.info.plan_bytes = arch->compile_rss_bytes;
  p.info.weight_bytes = p.packed.weights->bytes();
  p.info.weights_from_cache = p.packed.from_cache;
  p.graph = std::move(g);
  p.arch = std::move(arch);
  return p;
}

}  // namespace kiln
