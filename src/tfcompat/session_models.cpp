#include "tfcompat/session_models.h"

#include "core/status_macros.h"

#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

namespace kiln::tfcompat {
namespace {

// A folder of this process's own for the graphs' files, removed at exit.
class TempFolder {
 public:
  const std::string& path() {
    std::call_once(once_, [&] {
      std::error_code ec;
      std::string pattern = (std::filesystem::temp_directory_path(ec) / "kiln-tf-XXXXXX").string();
      if (ec) pattern = "/tmp/kiln-tf-XXXXXX";
      if (mkdtemp(pattern.data())) path_ = pattern;
    });
    return path_;
  }
  ~TempFolder() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }

 private:
  std::once_flag once_;
  std::string path_;
};

TempFolder& temp_folder() {
  static TempFolder f;
  return f;
}

std::atomic<int> next_id{0};

}  // namespace

Engine& engine() {
  static Engine e([] {
    EngineOptions o;
    o.warm_up = true;  // a model is ready after its warm-up: the session's first run is hot
    return o;
  }());
  return e;
}

std::string new_temp_file(const std::string& suffix) {
  const std::string& dir = temp_folder().path();
  return dir.empty() ? std::string() : dir + "/" + std::to_string(next_id++) + suffix;
}

GraphModels::~GraphModels() {
  for (const auto& [key, m] : models_) (void)engine().unload(m.name);
}

void GraphModels::forget_older(int generation) {
  if (generation_ == generation) return;
  for (const auto& [key, m] : models_) (void)engine().unload(m.name);
  models_.clear();
  generation_ = generation;
}

Status GraphModels::load(const std::string& graph_file, const ModelKey& key, const std::map<std::string, Shape>& shapes,
                         const std::map<std::string, Tensor>& constants) {
  GraphModel m;
  m.name = "tf-session-model-" + std::to_string(next_id++);
  LoadSpec spec;
  spec.model = graph_file;
  spec.input_shapes = shapes;
  spec.constant_inputs = constants;
  spec.outputs = key.fetched;
  spec.parsed = std::move(parsed_);
  parsed_.reset();
  m.outputs = key.fetched;
  KILN_RETURN_IF_ERROR(engine().load(m.name, spec));
  models_[key] = m;
  return Status::ok();
}

void GraphModels::start(const std::string& graph_file, int generation, const ModelKey& key,
                        const std::map<std::string, Shape>& shapes) {
  std::lock_guard<std::mutex> lock(mu_);
  forget_older(generation);
  if (models_.count(key)) return;
  (void)load(graph_file, key, shapes, {});  // a failure shows again, with its message, at the first run
}

Expected<GraphModel> GraphModels::get(const std::string& graph_file, int generation, const ModelKey& key,
                                      const std::map<std::string, Shape>& shapes,
                                      const std::map<std::string, Tensor>& constants) {
  std::lock_guard<std::mutex> lock(mu_);
  forget_older(generation);
  if (!models_.count(key)) { KILN_RETURN_IF_ERROR(load(graph_file, key, shapes, constants)); }
  GraphModel& m = models_[key];
  const bool first_use = m.inputs.empty();
  Status ready = engine().wait_ready(m.name, std::chrono::hours(24));
  if (!ready) {
    // Failed preparation (a shape the graph cannot take, an op kiln lacks): forget it, so a
    // later run with other feeds tries again.
    auto st = engine().status(m.name);
    Status why = st && !st->error.empty() ? Status(st->error_code, st->error) : ready;
    (void)engine().unload(m.name);
    models_.erase(key);
    return why;
  }
  if (first_use) {
    KILN_ASSIGN_OR_RETURN(ModelInfo info, engine().info(m.name));
    for (const TensorInfo& t : info.inputs) m.inputs.push_back(t.name);
    // Preparing read the whole GraphDef and re-laid out its weights: buffers freed since, that
    // glibc keeps in its heaps. Give them back, so that a session costs what it holds (its
    // packed weights), not the high-water mark of preparing it.
    malloc_trim(0);
  }
  return m;
}

void GraphModels::keep_parse(std::shared_ptr<const ParsedModel> parsed) {
  std::lock_guard<std::mutex> lock(mu_);
  parsed_ = std::move(parsed);
}

std::vector<ModelStatus> GraphModels::statuses() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ModelStatus> out;
  for (const auto& [key, m] : models_)
    if (auto s = engine().status(m.name)) out.push_back(*s);
  return out;
}

}  // namespace kiln::tfcompat
