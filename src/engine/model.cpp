#include "kiln/model.h"

#include <chrono>
#include <cstring>
#include <optional>

#include "engine/runner.h"
#include "engine/shape_plans.h"
#include "import/import.h"
#include "optimize/optimize.h"
#include "plan/plan.h"
#include "plan/steps.h"
#include "engine/weight_binding.h"
#include "weights/pack_cache.h"
#include "weights/pack_file.h"
#include "weights/weights.h"

namespace kiln {

// A plan for input shapes other than the compiled ones, with the weights packed for it.
struct ShapePlan {
  std::map<std::string, Shape> shapes;
  std::shared_ptr<const Plan> plan;
  std::shared_ptr<const Weights> weights;
};

struct Model::Impl {
  ModelInfo info;
  std::shared_ptr<const Plan> plan;
  std::shared_ptr<const Weights> weights;
  Runner runner;
  // What another input shape needs: the file and options to import again (and to read the
  // weights again when the new plan lays them out differently).
  std::string path;
  ModelOptions options;
  CompileOptions compile_options;
  WeightSignature signature;
  std::optional<Calibration> calibration;  // int8: read once at load
  bool channels_last = false;  // TensorFlow and Keras models take NHWC
  ShapePlans<ShapePlan> shape_plans{4};  // sized from the options at load

  Expected<const ShapePlan*> plan_for(const std::vector<Tensor>& inputs);
};

namespace {

bool is_pack_file(const std::string& path) { return path.size() > 4 && path.compare(path.size() - 4, 4, ".kwp") == 0; }

// The raw weights `m`'s plans pack: its own initializers, or those of options.weights, and
// in int8 the calibration's tensors. `names`: what a pack cache key hashes.
Expected<RawWeights> raw_weights(const ImportedModel& m, const ModelOptions& options, const CompileOptions& co,
                                 const std::optional<Calibration>& calibration, const WeightSignature& sig,
                                 const std::map<std::string, Shape>& shapes, std::vector<std::string>& names) {
  if (is_pack_file(options.weights))
    return invalid_argument("a .kwp weight pack serves only the input shape it was made for");
  KILN_ASSIGN_OR_RETURN(RawWeights raw, model_or_file_weights(m, options.weights, options.name_map, sig, shapes));
  names = sig.names;
  if (calibration) KILN_RETURN_IF_ERROR(add_calibration(*calibration, co, raw, names));
  return raw;
}

}  // namespace

Expected<const ShapePlan*> Model::Impl::plan_for(const std::vector<Tensor>& inputs) {
  std::map<std::string, Shape> shapes;
  for (size_t i = 0; i < inputs.size() && i < info.inputs.size(); ++i) shapes[info.inputs[i].name] = inputs[i].shape();
  if (const ShapePlan* known = shape_plans.find(shapes)) return known;
  std::string what = "input shape";
  for (const auto& [name, shape] : shapes) what += " " + name + "=" + shape_to_string(shape);
  ImportOptions io;
  io.input_shapes = shapes;
  io.constant_inputs = options.constant_inputs;
  io.outputs = options.outputs;
  auto imported = import_model(path, io);
  if (!imported) return imported.error().with_context(what);
  ImportedModel& m = *imported;
  optimize(m.graph);
  auto compiled = compile_plan(m.graph, compile_options);
  if (!compiled) return compiled.error().with_context(what);
  std::shared_ptr<const Plan> p = *compiled;
  if (weight_signature(m.graph).shapes != signature.shapes)  // cannot happen for one file; cheap to check
    return internal_error(what + ": the weights came out differently at this shape");
  ShapePlan sp{shapes, p, weights};
  if (p->weight_layout != plan->weight_layout) {  // oneDNN chose other weight formats at this size
    std::vector<std::string> names;
    auto raw = raw_weights(m, options, compile_options, calibration, signature, shapes, names);
    if (!raw) return raw.error().with_context(what);
    KILN_ASSIGN_OR_RETURN(sp.weights, pack(*p, *raw));
  }
  return &shape_plans.add(std::move(sp));
}

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
  impl->path = path;
  impl->options = options;
  impl->shape_plans = ShapePlans<ShapePlan>(options.max_shape_plans);
  impl->channels_last = takes_nhwc_inputs(path);
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
  if (co.precision == Precision::kInt8) {
    auto cal = options.calibration_data ? Expected<Calibration>(*options.calibration_data)
                                        : weights_calibration(options.calibration, path, options.weights);
    if (!cal) return cal.error().with_context("'" + path + "'");
    co.float_layers = cal->float_layers;
    impl->calibration = std::move(*cal);
  }
  impl->compile_options = co;
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
  impl->signature = sig;
  bool from_cache = false;
  uint64_t key = 0;
  Expected<std::shared_ptr<const Weights>> w = internal_error("unset");
  if (is_pack_file(options.weights)) {
    w = map_pack_file(options.weights, *impl->plan, kAnyKey);
    from_cache = true;
  } else {
    std::vector<std::string> names;
    auto raw = raw_weights(m, options, co, impl->calibration, sig, options.input_shapes, names);
    if (!raw) return raw.error().with_context("'" + path + "'");
    w = pack_cached(PackCache{options.cache_dir}, *impl->plan, *raw, names, architecture_key(m.graph, co), from_cache, key);
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
  bool compiled_shape = inputs.size() == impl_->info.inputs.size();
  for (size_t i = 0; compiled_shape && i < inputs.size(); ++i)
    compiled_shape = inputs[i].shape() == impl_->info.inputs[i].shape;
  if (compiled_shape || inputs.size() != impl_->info.inputs.size())  // a count mismatch: the runner says so
    return impl_->runner.run(*impl_->plan, *impl_->weights, inputs);
  KILN_ASSIGN_OR_RETURN(const ShapePlan* sp, impl_->plan_for(inputs));
  return impl_->runner.run(*sp->plan, *sp->weights, inputs);
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

namespace kiln {

namespace {

// Tile origins along an axis of `length`: every `tile - overlap`, the last one flush with the end.
std::vector<int64_t> tile_origins(int64_t length, int64_t tile, int64_t overlap) {
  std::vector<int64_t> at;
  for (int64_t p = 0;; p += tile - overlap) {
    if (p + tile >= length) {
      at.push_back(std::max<int64_t>(0, length - tile));
      break;
    }
    at.push_back(p);
  }
  return at;
}

// Blend weight at offset x of a tile at `origin` with `size` pixels in an axis of `length`.
// Near an edge shared with a neighbour a tile is wrong (its zero padding stands where the
// image goes on), so each tile gives up the outer half of every overlap: weight 0 there,
// 1 inside, and a short linear ramp across the middle of the overlap so that no seam shows.
// A pixel's value then comes from tiles in which it lies at least (overlap - ramp) / 2
// from any edge that has a neighbour.
float blend_weight(int64_t x, int64_t origin, int64_t size, int64_t length, int64_t overlap) {
  const double ramp = static_cast<double>(std::max<int64_t>(1, std::min<int64_t>(16, overlap / 2)));
  const double start = (static_cast<double>(overlap) - ramp) / 2;
  auto side = [&](double distance) { return std::clamp((distance - start) / ramp, 0.0, 1.0); };
  double w = 1.0;
  if (origin > 0) w = std::min(w, side(static_cast<double>(x) + 0.5));
  if (origin + size < length) w = std::min(w, side(static_cast<double>(size - x) - 0.5));
  return static_cast<float>(w);
}

}  // namespace

Expected<std::vector<Tensor>> Model::run_tiled(const Tensor& image, const TileOptions& options) {
  const ModelInfo& info = impl_->info;
  if (info.inputs.size() != 1)
    return invalid_argument("tiled inference takes models with one input; this one has " +
                            std::to_string(info.inputs.size()));
  const Shape& ms = info.inputs[0].shape;
  const bool last = impl_->channels_last;
  const int ca = last ? 3 : 1, ha = last ? 1 : 2, wa = last ? 2 : 3;
  const Shape& is = image.shape();
  if (ms.size() != 4 || is.size() != 4 || is[0] != 1 || is[ca] != ms[ca] || image.dtype() != DType::kF32)
    return invalid_argument("tiled inference: image " + shape_to_string(is) + " does not fit input '" +
                            info.inputs[0].name + "' " + shape_to_string(ms) + " (float32, batch 1, " +
                            std::to_string(ms.size() == 4 ? ms[ca] : 0) + " channels, " + (last ? "NHWC" : "NCHW") +
                            ")");
  const int64_t H = is[ha], W = is[wa], C = is[ca];
  const int64_t th = std::min(H, ms[ha]), tw = std::min(W, ms[wa]);
  if (options.overlap < 0 || ((H > th || W > tw) && options.overlap >= std::min(th, tw)))
    return invalid_argument("tiled inference: overlap " + std::to_string(options.overlap) +
                            " must be at least 0 and less than the tile (" + std::to_string(th) + "x" +
                            std::to_string(tw) + ")");
  Shape tile_shape = last ? Shape{1, th, tw, C} : Shape{1, C, th, tw};
  Tensor tile = Tensor::zeros(DType::kF32, tile_shape);
  std::vector<int64_t> ys = tile_origins(H, th, options.overlap), xs = tile_origins(W, tw, options.overlap);
  std::vector<Tensor> sums;
  std::vector<float> weight_sum(static_cast<size_t>(H * W), 0.0f);
  std::vector<float> wy(static_cast<size_t>(th)), wx(static_cast<size_t>(tw));
  const float* src = image.data<float>();
  for (int64_t y0 : ys) {
    for (int64_t y = 0; y < th; ++y) wy[y] = blend_weight(y, y0, th, H, options.overlap);
    for (int64_t x0 : xs) {
      for (int64_t x = 0; x < tw; ++x) wx[x] = blend_weight(x, x0, tw, W, options.overlap);
      // Cut the tile out (row segments are contiguous in both layouts).
      float* t = tile.data<float>();
      if (last) {
        for (int64_t y = 0; y < th; ++y)
          std::memcpy(t + y * tw * C, src + ((y0 + y) * W + x0) * C, static_cast<size_t>(tw * C) * sizeof(float));
      } else {
        for (int64_t c = 0; c < C; ++c)
          for (int64_t y = 0; y < th; ++y)
            std::memcpy(t + (c * th + y) * tw, src + (c * H + y0 + y) * W + x0, static_cast<size_t>(tw) * sizeof(float));
      }
      KILN_ASSIGN_OR_RETURN(std::vector<Tensor> outs, run({tile}));
      if (sums.empty()) {
        for (size_t k = 0; k < outs.size(); ++k) {
          const Shape& os = outs[k].shape();
          if (os.size() != 4 || os[0] != 1 || os[ha] != th || os[wa] != tw)
            return invalid_argument("tiled inference needs outputs as high and wide as the input; output '" +
                                    info.outputs[k].name + "' is " + shape_to_string(os) + " for a tile " +
                                    shape_to_string(tile_shape));
          Shape full = os;
          full[ha] = H;
          full[wa] = W;
          sums.push_back(Tensor::zeros(DType::kF32, full));
        }
      }
      for (int64_t y = 0; y < th; ++y)
        for (int64_t x = 0; x < tw; ++x) weight_sum[(y0 + y) * W + x0 + x] += wy[y] * wx[x];
      for (size_t k = 0; k < outs.size(); ++k) {
        const int64_t K = outs[k].shape()[ca];
        const float* o = outs[k].data<float>();
        float* acc = sums[k].data<float>();
        for (int64_t y = 0; y < th; ++y)
          for (int64_t x = 0; x < tw; ++x) {
            float w = wy[y] * wx[x];
            for (int64_t c = 0; c < K; ++c) {
              int64_t from = last ? (y * tw + x) * K + c : (c * th + y) * tw + x;
              int64_t to = last ? ((y0 + y) * W + x0 + x) * K + c : (c * H + y0 + y) * W + x0 + x;
              acc[to] += w * o[from];
            }
          }
      }
    }
  }
  for (Tensor& t : sums) {
    const int64_t K = t.shape()[ca];
    float* acc = t.data<float>();
    for (int64_t p = 0; p < H * W; ++p)
      for (int64_t c = 0; c < K; ++c) acc[last ? p * K + c : c * H * W + p] /= weight_sum[p];
  }
  return sums;
}

}  // namespace kiln
