// import_keras_h5: a model.save() file's model_config and weights -> kiln Graph. Layer calls
// are translated in dependency order (a shared layer's later call may come after layers
// that appear later in the list); the file's layer order is only the tie-break.
#include <algorithm>
#include <set>

#include "import/import.h"
#include "core/status_macros.h"
#include "import/keras/builder.h"

namespace kiln::keras_import {
namespace {

const LayerTable& layer_table() {
  static const LayerTable table = [] {
    LayerTable t;
    register_conv_layers(t);
    register_other_layers(t);
    return t;
  }();
  return table;
}

const std::vector<int64_t> kToNchw = {0, 3, 1, 2};
const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};

class Importer {
 public:
  Importer(const KerasFile& file, const ModelConfig& cfg, const ImportOptions& options)
      : file_(file), cfg_(cfg), options_(options), b_(file, options) {}

  Expected<ImportedModel> run() {
    KILN_RETURN_IF_ERROR(check_names());
    for (size_t i = 0; i < cfg_.inputs.size(); ++i) KILN_RETURN_IF_ERROR(add_input(cfg_.inputs[i], i == 0));
    KILN_RETURN_IF_ERROR(translate_calls());
    KILN_RETURN_IF_ERROR(mark_outputs());
    Graph& g = b_.graph();
    g.remove_dead();
    KILN_RETURN_IF_ERROR(g.verify());
    ImportedModel& m = b_.model();
    m.producer = "keras " + (file_.keras_version.empty() ? std::string("(version unknown)") : file_.keras_version) +
                 (file_.backend.empty() ? std::string() : " (" + file_.backend + ")");
    return std::move(m);
  }

 private:
  std::string where() const { return "'" + file_.path + "'"; }

  Status check_names() {
    for (size_t i = 0; i < cfg_.layers.size(); ++i)
      if (!layer_index_.emplace(cfg_.layers[i].name, i).second)
        return invalid_model(where() + ": two layers are named '" + cfg_.layers[i].name + "'");
    for (const auto& [key, shape] : options_.input_shapes) {
      if (key.empty()) continue;
      std::string name = key.size() > 2 && key.compare(key.size() - 2, 2, ":0") == 0 ? key.substr(0, key.size() - 2) : key;
      bool found = std::any_of(cfg_.inputs.begin(), cfg_.inputs.end(), [&](const TensorRef& r) { return r.layer == name; });
      if (!found) return invalid_argument("an input shape is given for '" + key + "', but the model has no input of that name");
    }
    return Status::ok();
  }

  const Shape* shape_option(const std::string& name, bool first) const {
    for (const std::string& key : {name, name + ":0"})
      if (auto it = options_.input_shapes.find(key); it != options_.input_shapes.end()) return &it->second;
    if (first)
      if (auto it = options_.input_shapes.find(""); it != options_.input_shapes.end()) return &it->second;
    return nullptr;
  }

  // A 4-D value re-expressed with its axes permuted; a Reshape when only unit axes move.
  int permuted(int v, const std::vector<int64_t>& perm, const std::string& name) {
    Graph& g = b_.graph();
    const Shape s = g.values[v].shape;
    Shape out;
    std::vector<int64_t> moved;
    for (int64_t p : perm) {
      out.push_back(s[p]);
      if (s[p] != 1) moved.push_back(p);
    }
    bool order_kept = std::is_sorted(moved.begin(), moved.end());
    OpAttrs attrs = order_kept ? OpAttrs{ReshapeAttrs{out}} : OpAttrs{TransposeAttrs{perm}};
    return g.add_node(name, order_kept ? "Reshape" : "Transpose", attrs, {v}, out, name);
  }

  Status add_input(const TensorRef& ref, bool first) {
    auto it = layer_index_.find(ref.layer);
    if (it == layer_index_.end() || cfg_.layers[it->second].class_name != "InputLayer")
      return invalid_model(where() + ": model input '" + ref.layer + "' is not an InputLayer of the model");
    const KerasLayer& l = cfg_.layers[it->second];
    const std::string hint = "; give its shape (ImportOptions::input_shapes, kiln --input-shape) in Keras's layout, "
                             "e.g. [N,H,W,C]";
    const Shape* requested = shape_option(l.name, first);
    const nlohmann::json* dims = nullptr;
    for (const char* key : {"batch_input_shape", "batch_shape"})
      if (l.config.contains(key) && l.config[key].is_array()) dims = &l.config[key];
    if (!dims && !requested) return invalid_argument("model input '" + l.name + "' has no shape in the file" + hint);
    Shape declared;  // -1: unknown (None)
    for (size_t d = 0; dims && d < dims->size(); ++d) {
      const nlohmann::json& v = (*dims)[d];
      declared.push_back(v.is_number_integer() && v.get<int64_t>() > 0 ? v.get<int64_t>() : -1);
    }
    int unknown = -1;
    Shape shape = resolve_input_shape(declared, requested, unknown);
    if (unknown >= 0)
      return invalid_argument("model input '" + l.name + "' has an unknown size on axis " + std::to_string(unknown) + hint);
    if (shape.size() != 4)
      return unsupported("model input '" + l.name + "' has shape " + shape_to_string(shape) +
                         "; kiln's Keras importer reads image models with 4-D [N,H,W,C] inputs");
    for (int64_t d : shape)
      if (d <= 0) return invalid_argument("model input '" + l.name + "': shape " + shape_to_string(shape) + " is not positive");
    int v = b_.graph().add_input(l.name, DType::kF32, shape);
    tensors_[{l.name, 0, 0}] = permuted(v, kToNchw, l.name + "/nchw");
    return Status::ok();
  }

  // Translates every layer call once all its inputs exist.
  Status translate_calls() {
    std::vector<std::pair<size_t, int>> pending;
    for (size_t i = 0; i < cfg_.layers.size(); ++i)
      for (int k = 0; k < static_cast<int>(cfg_.layers[i].calls.size()); ++k)
        if (cfg_.layers[i].class_name != "InputLayer") pending.emplace_back(i, k);
    while (!pending.empty()) {
      bool progress = false;
      std::vector<std::pair<size_t, int>> later;
      for (const auto& [i, k] : pending) {
        const auto& ins = cfg_.layers[i].calls[k];
        bool ready = std::all_of(ins.begin(), ins.end(), [&](const TensorRef& r) { return tensors_.count(r) != 0; });
        if (!ready) {
          later.emplace_back(i, k);
          continue;
        }
        KILN_RETURN_IF_ERROR(translate(cfg_.layers[i], k));
        progress = true;
      }
      if (!progress) {
        const KerasLayer& l = cfg_.layers[later[0].first];
        for (const TensorRef& r : l.calls[later[0].second])
          if (!tensors_.count(r))
            return invalid_model(where() + ": layer '" + l.name + "' reads output " + std::to_string(r.index) +
                                 " of call " + std::to_string(r.node) + " of layer '" + r.layer +
                                 "', which the model never computes");
        return internal_error("layer calls could not be ordered");
      }
      pending = std::move(later);
    }
    return Status::ok();
  }

  Status translate(const KerasLayer& l, int call) {
    const LayerTable& table = layer_table();
    auto it = table.find(l.class_name);
    if (it == table.end()) {
      std::string why = l.class_name == "Lambda" ? "Lambda layers hold Python code, which kiln cannot run"
                                                 : "layer type is not supported by kiln";
      return unsupported(where() + ": layer '" + l.name + "' (" + l.class_name + "): " + why);
    }
    std::vector<int> ins;
    for (const TensorRef& r : l.calls[call]) {
      if (r.index != 0) return unsupported(where() + ": layer '" + l.name + "' reads a second output of '" + r.layer + "'");
      ins.push_back(tensors_.at(r));
    }
    const int before = static_cast<int>(b_.graph().values.size());
    LayerCall c(b_, l, std::move(ins), call);
    auto v = table.at(l.class_name)(c);
    if (!v) return v.error().with_context(where());
    // The call's result carries the layer's name, so outputs can be asked for by it.
    if (*v >= before) b_.graph().values[*v].name = c.base();
    tensors_[{l.name, call, 0}] = *v;
    return Status::ok();
  }

  Status mark_outputs() {
    std::vector<std::pair<int, std::string>> outs;  // NCHW value, display name
    if (options_.outputs.empty()) {
      for (size_t i = 0; i < cfg_.outputs.size(); ++i) {
        auto it = tensors_.find(cfg_.outputs[i]);
        if (it == tensors_.end())
          return invalid_model(where() + ": model output '" + cfg_.output_names[i] + "' is never computed");
        outs.emplace_back(it->second, cfg_.output_names[i]);
      }
    }
    for (const std::string& name : options_.outputs) {
      std::string n = name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0 ? name.substr(0, name.size() - 2) : name;
      if (auto it = tensors_.find({n, 0, 0}); it != tensors_.end()) {
        outs.emplace_back(it->second, name);
        continue;
      }
      auto v = b_.graph().find_value(n);
      if (!v || b_.graph().values[*v].kind != ValueKind::kActivation)
        return not_found(where() + ": no layer or computed tensor named '" + name + "'");
      outs.emplace_back(*v, name);
    }
    Graph& g = b_.graph();
    for (const auto& [v, display] : outs) {
      int id = v;
      if (g.values[v].shape.size() == 4) {
        id = permuted(v, kToNhwc, display + "/nhwc");
        if (g.values[v].name == display) g.values[v].name = display + "/nchw";
      } else if (g.values[id].kind != ValueKind::kActivation || g.is_output(id)) {
        id = g.add_node(display + "/identity", "Identity", std::monostate{}, {id}, g.values[id].shape);
      }
      g.values[id].name = display;
      g.mark_output(id);
    }
    return Status::ok();
  }

  const KerasFile& file_;
  const ModelConfig& cfg_;
  const ImportOptions& options_;
  Builder b_;
  std::map<std::string, size_t> layer_index_;
  std::map<TensorRef, int> tensors_;
};

}  // namespace
}  // namespace kiln::keras_import

namespace kiln {

Expected<ImportedModel> import_keras_h5(const std::string& path, const ImportOptions& options) {
  using namespace keras_import;
  KILN_ASSIGN_OR_RETURN(KerasFile file, read_keras_file(path));
  if (file.model_config.empty())
    return invalid_argument("'" + path + "' holds only weights (Keras save_weights), no model_config: load the "
                            "architecture from a model file (a model.save() .h5, .pb or .onnx) and give this file as "
                            "its weights (kiln run MODEL --weights " + path + ")");
  KILN_ASSIGN_OR_RETURN(ModelConfig cfg, parse_model_config(file.model_config, "'" + path + "'"));
  return Importer(file, cfg, options).run();
}

}  // namespace kiln
