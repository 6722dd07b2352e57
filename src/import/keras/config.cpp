#include "import/keras/config.h"
#include "core/status_macros.h"

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

}  // namespace

Expected<ModelConfig> parse_model_config(const std::string& text, const std::string& where) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid_model(where + ": the model_config attribute is not valid JSON");
  std::string cls = string_of(doc, "class_name");
  const json& cfg = doc.contains("config") ? doc["config"] : json();
  if (cls == "Sequential") return parse_sequential(cfg, where);
  if (cls != "Functional" && cls != "Model")
    return unsupported(where + ": model class '" + cls + "' is not supported (kiln reads Functional, Model and "
                       "Sequential models; save a subclassed model's functional equivalent)");
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

}  // namespace kiln::keras_import
