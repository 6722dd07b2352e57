#include "kiln/model.h"

#include "core/status_macros.h"
#include "engine/prepare.h"
#include "import/import.h"
#include "kiln/engine.h"

namespace kiln {

namespace {

constexpr const char* kModelName = "model";

EngineOptions engine_options(const ModelOptions& o) {
  EngineOptions e;
  e.runners = 1;
  e.threads = o.threads;
  e.cache_dir = o.cache_dir;
  e.conv_algorithm = o.conv_algorithm;
  e.precision = o.precision;
  e.warm_up = o.warm_up;
  return e;
}

LoadSpec load_spec(const std::string& path, const ModelOptions& o) {
  LoadSpec s;
  s.model = path;
  s.weights = o.weights;
  s.name_map = o.name_map;
  s.input_shapes = o.input_shapes;
  s.image_size = o.image_size;
  s.constant_inputs = o.constant_inputs;
  s.outputs = o.outputs;
  s.calibration = o.calibration;
  s.calibration_data = o.calibration_data;
  s.max_shape_plans = o.max_shape_plans;
  return s;
}

}  // namespace

// One model on an engine of its own with one runner: the same preparation, plan cache for
// other input sizes and runner thread as every engine model (design-notes 2: requests run
// on the thread whose OpenMP team was warmed).
struct Model::Impl {
  explicit Impl(const ModelOptions& o) : engine(engine_options(o)) {}
  Engine engine;
  ModelInfo info;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const ModelInfo& Model::info() const { return impl_->info; }

Expected<ModelInfo> describe_model(const std::string& path, const ModelOptions& options) {
  return describe(load_spec(path, options));
}

bool takes_channels_last(const std::string& path) { return takes_nhwc_inputs(path); }

Expected<Model> Model::load(const std::string& path, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  KILN_RETURN_IF_ERROR(impl->engine.load(kModelName, load_spec(path, options)));
  // The engine's own failure, not wait_ready's summary of it: the code and message a caller
  // of load() acts on.
  (void)impl->engine.wait_ready(kModelName, std::chrono::hours(24 * 365));
  KILN_ASSIGN_OR_RETURN(ModelStatus st, impl->engine.status(kModelName));
  if (st.state != ModelState::kReady) return Status(st.error_code, st.error);
  KILN_ASSIGN_OR_RETURN(impl->info, impl->engine.info(kModelName));
  return Model(std::move(impl));
}

Expected<std::vector<Tensor>> Model::run(const std::vector<Tensor>& inputs) {
  return impl_->engine.run(kModelName, inputs);
}

Expected<std::vector<StepProfile>> Model::profile(const std::vector<Tensor>& inputs) {
  return impl_->engine.profile(kModelName, inputs);
}

Expected<std::vector<Tensor>> Model::run_tiled(const Tensor& image, const TileOptions& options) {
  return impl_->engine.run_tiled(kModelName, image, options);
}

}  // namespace kiln
