#include "import/keras/config.h"
#include "core/status_macros.h"

#include <algorithm>
#include <map>

namespace kiln::keras_import {

using nlohmann::json;

namespace {

// json::value() throws when the key holds another type; this never does.
std::string string_of(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// [layer, node, tensor(, kwargs)] of Keras 2, or Keras 3's keras_history of the same form.
bool parse_ref(const json& j, TensorRef& r) {
  if (!j.is_array() || j.size() < 3 || !j[0].is_string() || !j[1].is_number_integer() || !j[2].is_number_integer())
    return false;
  r = {j[0].get<std::string>(), j[1].get<int>(), j[2].get<int>()};
  return true;
}

// Keras 3 call arguments: every tensor ({"class_name": "__keras_tensor__", "config":
// {"keras_history": [...]}}) in argument order, lists (Concatenate's) flattened.
void collect_keras3(const json& j, std::vector<TensorRef>& out) {
  if (j.is_object()) {
    if (string_of(j, "class_name") == "__keras_tensor__" && j.contains("config") && j["config"].is_object() &&
        j["config"].contains("keras_history")) {
      TensorRef r;
      if (parse_ref(j["config"]["keras_history"], r)) out.push_back(r);
      return;
    }
    for (const auto& [k, v] : j.items()) collect_keras3(v, out);
  } else if (j.is_array()) {
    for (const json& e : j) collect_keras3(e, out);
  }
}

Status parse_calls(const json& inbound, KerasLayer& layer, const std::string& where) {
  if (inbound.is_null()) return Status::ok();
  if (!inbound.is_array()) return invalid_model(where + ": inbound_nodes is not a list");
  for (const json& node : inbound) {
    std::vector<TensorRef> ins;
    if (node.is_object()) {  // Keras 3
      if (node.contains("args")) collect_keras3(node["args"], ins);
    } else if (node.is_array()) {  // Keras 2: a list of [layer, node, tensor, kwargs]
      for (const json& e : node) {
        TensorRef r;
        if (!parse_ref(e, r)) return invalid_model(where + ": an inbound node entry is not [layer, node, tensor]");
        ins.push_back(r);
      }
    } else {
      return invalid_model(where + ": an inbound node is neither a list nor an object");
    }
    layer.calls.push_back(std::move(ins));
  }
  return Status::ok();
}

// input_layers / output_layers: [[name, node, tensor], ...] or a single [name, node, tensor].
Status parse_refs(const json& j, std::vector<TensorRef>& out, const std::string& what, const std::string& where) {
  TensorRef r;
  if (parse_ref(j, r)) {
    out.push_back(r);
    return Status::ok();
  }
  if (!j.is_array()) return invalid_model(where + ": " + what + " is not a list");
  for (const json& e : j) {
    if (!parse_ref(e, r)) return invalid_model(where + ": an entry of " + what + " is not [layer, node, tensor]");
    out.push_back(r);
  }
  return Status::ok();
}

Expected<KerasLayer> parse_layer(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("class_name") || !j["class_name"].is_string())
    return invalid_model(where + ": a layer has no class_name");
  KerasLayer l;
  l.class_name = j["class_name"].get<std::string>();
  if (j.contains("config") && j["config"].is_object()) l.config = j["config"];
  else l.config = json::object();
  if (j.contains("name") && j["name"].is_string()) l.name = j["name"].get<std::string>();
  else if (l.config.contains("name") && l.config["name"].is_string()) l.name = l.config["name"].get<std::string>();
  if (l.name.empty()) return invalid_model(where + ": a " + l.class_name + " layer has no name");
  if (j.contains("inbound_nodes")) {
    KILN_RETURN_IF_ERROR(parse_calls(j["inbound_nodes"], l, where + ": layer '" + l.name + "'"));
  }
  return l;
}

Expected<ModelConfig> parse_sequential(const json& cfg, const std::string& where) {
  const json& list = cfg.is_array() ? cfg : cfg.contains("layers") ? cfg["layers"] : json();
  if (!list.is_array() || list.empty()) return invalid_model(where + ": the Sequential model has no layers");
  ModelConfig m;
  m.class_name = "Sequential";
  for (const json& lj : list) {
    KILN_ASSIGN_OR_RETURN(KerasLayer l, parse_layer(lj, where));
    l.calls.clear();
    m.layers.push_back(std::move(l));
  }
  if (m.layers[0].class_name != "InputLayer") {
    // Keras names the implicit input "<first layer>_input" and gives it the first layer's shape.
    KerasLayer in;
    in.class_name = "InputLayer";
    in.name = m.layers[0].name + "_input";
    in.config = json::object();
    for (const char* key : {"batch_input_shape", "batch_shape"})
      if (m.layers[0].config.contains(key)) in.config[key] = m.layers[0].config[key];
    m.layers.insert(m.layers.begin(), std::move(in));
  }
  m.inputs.push_back({m.layers[0].name, 0, 0});
  for (size_t i = 1; i < m.layers.size(); ++i) m.layers[i].calls.push_back({{m.layers[i - 1].name, 0, 0}});
  m.outputs.push_back({m.layers.back().name, 0, 0});
  return m;
}

Expected<ModelConfig> parse_functional(const std::string& cls, const json& cfg, const std::string& where) {
  if (!cfg.is_object() || !cfg.contains("layers") || !cfg["layers"].is_array())
    return invalid_model(where + ": the model_config has no layer list");
  ModelConfig m;
  m.class_name = cls;
  for (const json& lj : cfg["layers"]) {
    KILN_ASSIGN_OR_RETURN(KerasLayer l, parse_layer(lj, where));
    m.layers.push_back(std::move(l));
  }
  KILN_RETURN_IF_ERROR(parse_refs(cfg.contains("input_layers") ? cfg["input_layers"] : json(), m.inputs,
                                  "input_layers", where));
  KILN_RETURN_IF_ERROR(parse_refs(cfg.contains("output_layers") ? cfg["output_layers"] : json(), m.outputs,
                                  "output_layers", where));
  if (m.inputs.empty() || m.outputs.empty()) return invalid_model(where + ": the model has no inputs or no outputs");
  return m;
}

bool is_model_class(const std::string& cls) { return cls == "Functional" || cls == "Model" || cls == "Sequential"; }

constexpr int kMaxNesting = 16;      // models inside models, deeper than any real network
constexpr size_t kMaxCalls = 4096;   // calls of one layer, far more than any real network makes

Expected<ModelConfig> parse_config(const std::string& cls, const json& cfg, const std::string& where, int depth);

// Replaces each nested model layer of `m` by its (already flattened) layers, named
// "<model>/<layer>"; call k of the model becomes call k of each of its layers (a layer called
// n times inside the model: calls k*n .. k*n+n-1), and every reference to the model's outputs
// is redirected to the layers that compute them.
Status inline_nested(ModelConfig& m, const std::string& where, int depth) {
  if (std::none_of(m.layers.begin(), m.layers.end(), [](const KerasLayer& l) { return is_model_class(l.class_name); }))
    return Status::ok();
  std::map<std::string, std::vector<std::vector<TensorRef>>> model_outputs;  // model -> call -> its outputs
  std::vector<KerasLayer> flat;
  for (KerasLayer& l : m.layers) {
    if (!is_model_class(l.class_name)) {
      flat.push_back(std::move(l));
      continue;
    }
    const std::string inner_where = where + ": nested model '" + l.name + "'";
    KILN_ASSIGN_OR_RETURN(ModelConfig inner, parse_config(l.class_name, l.config, inner_where, depth + 1));
    std::map<std::string, int> inner_calls;  // inner layer -> its number of calls
    for (const KerasLayer& il : inner.layers) inner_calls[il.name] = static_cast<int>(il.calls.size());
    // An inner reference, seen from call k of the model (whose inputs are `args`).
    auto outer_ref = [&](const TensorRef& r, int k, const std::vector<TensorRef>& args) -> Expected<TensorRef> {
      for (size_t i = 0; i < inner.inputs.size(); ++i)
        if (inner.inputs[i].layer == r.layer) {
          if (i >= args.size())
            return invalid_model(inner_where + ": call " + std::to_string(k) + " passes " + std::to_string(args.size()) +
                                 " inputs, the model has " + std::to_string(inner.inputs.size()));
          return args[i];
        }
      auto it = inner_calls.find(r.layer);
      if (it == inner_calls.end()) return invalid_model(inner_where + ": a layer reads '" + r.layer + "', which is not in the model");
      return TensorRef{l.name + "/" + r.layer, k * it->second + r.node, r.index};
    };
    for (int k = 0; k < static_cast<int>(l.calls.size()); ++k) {
      std::vector<TensorRef> outs;
      for (const TensorRef& r : inner.outputs) {
        KILN_ASSIGN_OR_RETURN(TensorRef o, outer_ref(r, k, l.calls[static_cast<size_t>(k)]));
        outs.push_back(o);
      }
      model_outputs[l.name].push_back(std::move(outs));
    }
    for (const KerasLayer& il : inner.layers) {
      if (il.class_name == "InputLayer") continue;
      KerasLayer fl = il;
      fl.name = l.name + "/" + il.name;
      fl.weight_group = l.name;  // Keras saves a nested model's weights in its group, by variable name
      fl.weight_scope = il.weight_scope.empty() ? il.name : il.weight_scope;
      fl.calls.clear();
      // Calls multiply through nesting levels; a hostile file must not make billions.
      if (l.calls.size() * il.calls.size() > kMaxCalls)
        return unsupported(inner_where + ": layer '" + il.name + "' would be called " +
                           std::to_string(l.calls.size() * il.calls.size()) + " times (kiln's limit is " +
                           std::to_string(kMaxCalls) + ")");
      for (int k = 0; k < static_cast<int>(l.calls.size()); ++k)
        for (const auto& call : il.calls) {
          std::vector<TensorRef> ins;
          for (const TensorRef& r : call) {
            KILN_ASSIGN_OR_RETURN(TensorRef o, outer_ref(r, k, l.calls[static_cast<size_t>(k)]));
            ins.push_back(o);
          }
          fl.calls.push_back(std::move(ins));
        }
      flat.push_back(std::move(fl));
    }
  }
  m.layers = std::move(flat);
  // A model's output may be a model's input, which may be another model's output: follow.
  auto resolve = [&](TensorRef& r) -> Status {
    for (size_t hops = 0; hops <= model_outputs.size(); ++hops) {
      auto it = model_outputs.find(r.layer);
      if (it == model_outputs.end()) return Status::ok();
      if (r.node < 0 || r.node >= static_cast<int>(it->second.size()) || r.index < 0 ||
          r.index >= static_cast<int>(it->second[static_cast<size_t>(r.node)].size()))
        return invalid_model(where + ": a layer reads output " + std::to_string(r.index) + " of call " +
                             std::to_string(r.node) + " of nested model '" + r.layer + "', which it does not have");
      r = it->second[static_cast<size_t>(r.node)][static_cast<size_t>(r.index)];
    }
    return invalid_model(where + ": nested models read each other's outputs in a cycle");
  };
  for (KerasLayer& l : m.layers)
    for (auto& call : l.calls)
      for (TensorRef& r : call) KILN_RETURN_IF_ERROR(resolve(r));
  for (TensorRef& r : m.outputs) KILN_RETURN_IF_ERROR(resolve(r));
  return Status::ok();
}

Expected<ModelConfig> parse_config(const std::string& cls, const json& cfg, const std::string& where, int depth) {
  if (depth > kMaxNesting)
    return unsupported(where + ": models are nested more than " + std::to_string(kMaxNesting) + " deep");
  Expected<ModelConfig> m = cls == "Sequential" ? parse_sequential(cfg, where) : parse_functional(cls, cfg, where);
  if (!m) return m;
  for (const TensorRef& r : m->outputs)
    m->output_names.push_back(r.node == 0 ? r.layer : r.layer + "_" + std::to_string(r.node));
  KILN_RETURN_IF_ERROR(inline_nested(*m, where, depth));
  return m;
}

}  // namespace

Expected<ModelConfig> parse_model_config(const std::string& text, const std::string& where) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid_model(where + ": the model_config attribute is not valid JSON");
  std::string cls = string_of(doc, "class_name");
  if (!is_model_class(cls))
    return unsupported(where + ": model class '" + cls + "' is not supported (kiln reads Functional, Model and "
                       "Sequential models; save a subclassed model's functional equivalent)");
  return parse_config(cls, doc.contains("config") ? doc["config"] : json(), where, 0);
}

}  // namespace kiln::keras_import
