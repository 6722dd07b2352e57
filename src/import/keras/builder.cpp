#include "import/keras/builder.h"
#include "core/status_macros.h"

#include <algorithm>
#include <cstdlib>

#include "import/keras/layout.h"

namespace kiln::keras_import {

using nlohmann::json;

int Builder::keras_major() const { return std::atoi(file_.keras_version.c_str()); }

Expected<int> Builder::add(const std::string& name, const std::string& source_op, OpAttrs attrs, std::vector<int> ins,
                           const std::string& where) {
  std::vector<Shape> shapes;
  for (int v : ins) shapes.push_back(out_.graph.values[v].shape);
  auto shape = infer_shape(attrs, shapes);
  if (!shape) return shape.error().with_context(where);
  return out_.graph.add_node(name, source_op, std::move(attrs), std::move(ins), *shape, name);
}

Expected<int> Builder::weight(const KerasLayer& layer, WeightRole role, WeightLayout layout, const Shape& keras_shape,
                              const std::string& where) {
  const std::string var = weight_role_variable(role);
  const std::string& group = layer.weight_group.empty() ? layer.name : layer.weight_group;
  const KerasLayerWeights* lw = file_.find_layer(group);
  if (!lw) return invalid_model(where + ": the file holds no weights for this layer (no group '" + group + "')");
  // Inside a nested model's group, this layer's datasets: "<scope>/kernel:0" (TensorFlow may
  // prefix the model's name: "backbone/<scope>/kernel:0").
  auto in_scope = [&](const std::string& n) {
    if (layer.weight_scope.empty()) return true;
    const std::string s = layer.weight_scope + "/";
    return n.rfind(s, 0) == 0 || n.find("/" + s) != std::string::npos;
  };
  size_t found = lw->names.size();
  std::string have;
  for (size_t i = 0; i < lw->names.size(); ++i) {
    if (!in_scope(lw->names[i])) continue;
    if (keras_variable(lw->names[i]) == var) found = i;
    have += (have.empty() ? "'" : ", '") + lw->names[i] + "'";
  }
  if (found == lw->names.size())
    return invalid_model(where + ": the file has no weight '" + var + "' for this layer (it has " +
                         (have.empty() ? std::string("none") : have) + ")");
  const std::string& dataset = lw->names[found];
  const Tensor& t = lw->values[found];
  if (t.shape() != keras_shape)
    return invalid_model(where + ": weight '" + dataset + "' has shape " + shape_to_string(t.shape()) +
                         ", the layer's config and input need " + shape_to_string(keras_shape));
  std::string key = group + "\n" + dataset;
  if (auto it = weight_values_.find(key); it != weight_values_.end()) return it->second;
  // Named by the dataset ("conv2d_7/kernel:0") so that other Keras files bind by name; a
  // clash (Keras 3 may name weights just "kernel") falls back to "layer/dataset".
  std::string name = dataset;
  if (out_.weights.tensors.count(name) || out_.graph.find_value(name)) name = group + "/" + dataset;
  KILN_ASSIGN_OR_RETURN(Tensor k, to_kiln_layout(t, layout));
  int id = out_.graph.add_weight(name, DType::kF32, k.shape());
  out_.graph.values[id].origin = {layout, role};
  out_.weights.tensors[name] = k;
  weight_values_[key] = id;
  return id;
}

Expected<int> Builder::made_weight(const std::string& layer, WeightRole role, WeightLayout layout, const Shape& shape) {
  std::string name = layer + "/" + weight_role_variable(role) + (layout == WeightLayout::kOnes ? ":ones" : ":zeros");
  std::string key = layer + "\n" + name;
  if (auto it = weight_values_.find(key); it != weight_values_.end()) return it->second;
  KILN_ASSIGN_OR_RETURN(Tensor t, make_weight(layout, shape));
  int id = out_.graph.add_weight(name, DType::kF32, shape);
  out_.graph.values[id].origin = {layout, role};
  out_.weights.tensors[name] = t;
  weight_values_[key] = id;
  return id;
}

bool LayerCall::has(const char* key) const {
  auto it = layer.config.find(key);
  return it != layer.config.end() && !it->is_null();
}

Expected<int64_t> LayerCall::int_of(const char* key, int64_t def) const {
  if (!has(key)) return def;
  const json& v = layer.config[key];
  if (v.is_array() && v.size() == 1 && v[0].is_number_integer()) return v[0].get<int64_t>();  // axis: [3]
  if (!v.is_number_integer()) return bad(std::string("'") + key + "' is not an integer");
  return v.get<int64_t>();
}

Expected<float> LayerCall::float_of(const char* key, float def) const {
  if (!has(key)) return def;
  const json& v = layer.config[key];
  if (!v.is_number()) return bad(std::string("'") + key + "' is not a number");
  return v.get<float>();
}

Expected<bool> LayerCall::bool_of(const char* key, bool def) const {
  if (!has(key)) return def;
  const json& v = layer.config[key];
  if (!v.is_boolean()) return bad(std::string("'") + key + "' is not true or false");
  return v.get<bool>();
}

Expected<std::string> LayerCall::string_of(const char* key, const std::string& def) const {
  if (!has(key)) return def;
  const json& v = layer.config[key];
  if (!v.is_string()) return bad(std::string("'") + key + "' is not a string");
  return v.get<std::string>();
}

Expected<Spatial> LayerCall::pair_of(const char* key, Spatial def) const {
  if (!has(key)) return def;
  const json& v = layer.config[key];
  if (v.is_number_integer()) return Spatial{v.get<int64_t>(), v.get<int64_t>()};
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
    return Spatial{v[0].get<int64_t>(), v[1].get<int64_t>()};
  return fail(std::string("'") + key + "' must be an integer or two integers (2-D layers only)");
}

Expected<Spatial> LayerCall::sides_of(const char* key) const {
  if (!has(key)) return bad(std::string("'") + key + "' is missing");
  const json& v = layer.config[key];
  auto is_int = [](const json& j) { return j.is_number_integer() && j.get<int64_t>() >= 0; };
  if (is_int(v)) {
    int64_t n = v.get<int64_t>();
    return Spatial{n, n, n, n};
  }
  if (v.is_array() && v.size() == 2 && is_int(v[0]) && is_int(v[1])) {
    int64_t h = v[0].get<int64_t>(), w = v[1].get<int64_t>();
    return Spatial{h, w, h, w};
  }
  if (v.is_array() && v.size() == 2 && v[0].is_array() && v[1].is_array() && v[0].size() == 2 && v[1].size() == 2 &&
      is_int(v[0][0]) && is_int(v[0][1]) && is_int(v[1][0]) && is_int(v[1][1]))
    return Spatial{v[0][0].get<int64_t>(), v[1][0].get<int64_t>(), v[0][1].get<int64_t>(),
                                  v[1][1].get<int64_t>()};
  return bad(std::string("'") + key + "' must be n, [h, w] or [[top, bottom], [left, right]] of non-negative integers");
}

Status LayerCall::require_channels_last() const {
  KILN_ASSIGN_OR_RETURN(std::string f, string_of("data_format", "channels_last"));
  if (f != "channels_last") return fail("data_format '" + f + "' is not supported (kiln reads channels_last)");
  return Status::ok();
}

Expected<int> LayerCall::one_input_of_any_rank() const {
  if (inputs.size() != 1) return bad("takes one input, is given " + std::to_string(inputs.size()));
  return inputs[0];
}

Expected<int> LayerCall::one_input() const {
  if (inputs.size() != 1) return bad("takes one input, is given " + std::to_string(inputs.size()));
  if (b.shape(inputs[0]).size() != 4)
    return fail("only 4-D (image) tensors are supported; the input is " + shape_to_string(b.shape(inputs[0])));
  return inputs[0];
}

Expected<int> LayerCall::add(OpAttrs attrs, std::vector<int> ins, const std::string& suffix) {
  std::string op = nodes_++ == 0 ? layer.class_name : layer.class_name + suffix;
  return b.add(base() + suffix, op, std::move(attrs), std::move(ins), where());
}

Expected<int> LayerCall::activation(int x, const json& act, const std::string& suffix) {
  std::string name;
  if (act.is_string()) name = act.get<std::string>();
  else if (act.is_object() && act.contains("config") && act["config"].is_string()) name = act["config"].get<std::string>();
  else if (!act.is_null()) return fail("activation " + act.dump() + " is not supported");
  if (name.empty() || name == "linear") return x;
  auto unary = [&](UnaryKind k, float alpha = 0.0f, float beta = 0.0f) { return add(UnaryAttrs{k, alpha, beta}, {x}, suffix); };
  if (name == "relu") return unary(UnaryKind::kRelu);
  if (name == "relu6") return unary(UnaryKind::kClip, 0.0f, 6.0f);
  if (name == "leaky_relu") return unary(UnaryKind::kLeakyRelu, 0.2f);
  if (name == "sigmoid") return unary(UnaryKind::kSigmoid);
  if (name == "tanh") return unary(UnaryKind::kTanh);
  if (name == "elu") return unary(UnaryKind::kElu, 1.0f);
  if (name == "exponential") return unary(UnaryKind::kExp);
  // Keras 2: clip(0.2 x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
  if (name == "hard_sigmoid") return unary(UnaryKind::kHardSigmoid, b.keras_major() >= 3 ? 1.0f / 6.0f : 0.2f, 0.5f);
  if (name == "hard_silu" || name == "hard_swish") return unary(UnaryKind::kHardSwish);
  if (name == "swish" || name == "silu") {
    KILN_ASSIGN_OR_RETURN(int s, add(UnaryAttrs{UnaryKind::kSigmoid}, {x}, suffix + "/sigmoid"));
    return add(BinaryAttrs{BinaryKind::kMul}, {x, s}, suffix);
  }
  if (name == "softmax") {
    if (b.shape(x).size() != 4) return fail("softmax is supported on 4-D tensors only");
    return add(SoftmaxAttrs{1}, {x}, suffix);  // Keras's axis -1: the channels, axis 1 in NCHW
  }
  return fail("activation '" + name + "' is not supported");
}

Expected<int> LayerCall::apply_config_activation(int x) {
  if (!has("activation")) return x;
  return activation(x, layer.config["activation"], "/activation");
}

Spatial same_padding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation) {
  int64_t out = (in + stride - 1) / stride;
  int64_t span = (kernel - 1) * dilation + 1;
  int64_t total = std::max<int64_t>(0, (out - 1) * stride + span - in);
  return {total / 2, total - total / 2};
}

Expected<Spatial> window_pads(const LayerCall& c, const std::string& padding, Spatial in_hw,
                                             Spatial kernel, Spatial strides,
                                             Spatial dilations) {
  for (int i = 0; i < 2; ++i)
    if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1)
      return c.bad("kernel size, strides and dilation rate must be positive");
  if (padding == "valid") return Spatial{0, 0, 0, 0};
  if (padding != "same") return c.fail("padding '" + padding + "' is not supported (kiln reads 'same' and 'valid')");
  auto h = same_padding(in_hw[0], kernel[0], strides[0], dilations[0]);
  auto w = same_padding(in_hw[1], kernel[1], strides[1], dilations[1]);
  return Spatial{h[0], w[0], h[1], w[1]};
}

}  // namespace kiln::keras_import
