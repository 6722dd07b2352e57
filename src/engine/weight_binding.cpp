#include "engine/weight_binding.h"

#include "kiln/calibration.h"
#include "plan/quantization.h"

#include <set>

#include <oneapi/dnnl/dnnl.hpp>

#include "import/import.h"
#include "import/safetensors.h"
#ifdef KILN_WITH_TF
#include "import/keras/keras_file.h"
#include "import/keras/weight_match.h"
#endif
#include "optimize/optimize.h"

namespace kiln {

WeightSignature weight_signature(const Graph& g) {
  WeightSignature s;
  std::set<int> seen;
  for (const Node& n : g.nodes)
    for (int in : n.inputs)
      if (g.values[in].kind == ValueKind::kWeight && seen.insert(in).second) {
        s.names.push_back(g.values[in].name);
        s.shapes.push_back(g.values[in].shape);
      }
  return s;
}

std::string architecture_key(const Graph& g, const CompileOptions& options) {
  std::string k = fingerprint_hex(fingerprint(g)) + "/" + precision_name(options.precision) + "/isa" +
                  std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa())) + "/conv-" +
                  conv_algorithm_name(options.conv_algorithm);
  for (const std::string& layer : options.float_layers) k.append("/float:").append(layer);
  for (int in : g.inputs) k.append("/").append(shape_to_string(g.values[in].shape));
  return k;
}

Expected<RawWeights> bind_weights(const RawWeights& file, const std::string& file_label,
                                  const std::map<std::string, std::string>& name_map, const WeightSignature& own,
                                  const WeightSignature& target) {
  // Apply the name map: file name -> graph name.
  std::map<std::string, const Tensor*> by_graph_name;
  for (const auto& [name, t] : file.tensors) {
    auto it = name_map.find(name);
    by_graph_name[it == name_map.end() ? name : it->second] = &t;
  }
  RawWeights out;
  std::set<std::string> used;
  for (size_t i = 0; i < own.names.size(); ++i) {
    auto it = by_graph_name.find(own.names[i]);
    if (it == by_graph_name.end())
      return invalid_argument(file_label + ": weight '" + own.names[i] + "' (shape " + shape_to_string(own.shapes[i]) +
                              ") is missing");
    const Tensor& t = *it->second;
    if (t.dtype() != DType::kF32)
      return invalid_argument(file_label + ": weight '" + own.names[i] + "' is " + dtype_name(t.dtype()) +
                              ", expected float32");
    if (t.shape() != own.shapes[i])
      return invalid_argument(file_label + ": weight '" + own.names[i] + "' has shape " + shape_to_string(t.shape()) +
                              ", the architecture needs " + shape_to_string(own.shapes[i]));
    used.insert(own.names[i]);
    out.tensors[target.names[i]] = t;
  }
  for (const auto& [name, t] : by_graph_name)
    if (!used.count(name))
      return invalid_argument(file_label + ": tensor '" + name + "' is not a weight of this architecture");
  return out;
}

Expected<RawWeights> read_weight_file(const std::string& path, const std::map<std::string, std::string>& name_map,
                                      const Graph& own_graph, const WeightSignature& target,
                                      const std::map<std::string, Shape>& input_shapes) {
  auto ends_with = [&](const char* s) {
    std::string suffix(s);
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".safetensors")) {
    KILN_ASSIGN_OR_RETURN(RawWeights file, read_safetensors(path));
    return bind_weights(file, "'" + path + "'", name_map, weight_signature(own_graph), target);
  }
  if (ends_with(".onnx")) {
    ImportOptions opt;
    opt.input_shapes = input_shapes;
    KILN_ASSIGN_OR_RETURN(ImportedModel m, import_onnx(path, opt));
    optimize(m.graph);
    uint64_t want = fingerprint(own_graph), got = fingerprint(m.graph);
    if (want != got)
      return invalid_argument("'" + path + "' has another architecture (fingerprint " + fingerprint_hex(got) +
                              ", the model's is " + fingerprint_hex(want) + ")");
    // Same architecture: its weights bind by canonical position, whatever their names.
    WeightSignature theirs = weight_signature(m.graph);
    RawWeights used;  // initializers the optimised graph no longer reads are not "extra"
    for (const std::string& n : theirs.names) used.tensors[n] = m.weights.tensors.at(n);
    return bind_weights(used, "'" + path + "'", {}, theirs, target);
  }
  if (ends_with(".h5") || ends_with(".hdf5")) {
#ifdef KILN_WITH_TF
    // Keras names and layouts: matched per weight by name or by layer and role, and re-laid
    // out as the graph's importer laid out its own tensors (import/keras/weight_match.h).
    KILN_ASSIGN_OR_RETURN(keras_import::KerasFile file, keras_import::read_keras_file(path));
    KILN_ASSIGN_OR_RETURN(RawWeights mapped, keras_import::keras_weights_for_graph(file, own_graph, name_map));
    return bind_weights(mapped, "'" + path + "'", {}, weight_signature(own_graph), target);
#else
    return unsupported("'" + path + "': this kiln was built without the Keras importer");
#endif
  }
  return invalid_argument("'" + path + "': weight files are .onnx, .safetensors or Keras .h5");
}

Expected<RawWeights> model_or_file_weights(const ImportedModel& m, const std::string& file,
                                           const std::map<std::string, std::string>& name_map,
                                           const WeightSignature& sig, const std::map<std::string, Shape>& input_shapes) {
  if (!file.empty()) return read_weight_file(file, name_map, m.graph, sig, input_shapes);
  RawWeights raw;
  for (const std::string& n : sig.names) raw.tensors[n] = m.weights.tensors.at(n);
  return raw;
}

Expected<Calibration> weights_calibration(const std::string& calibration, const std::string& model,
                                          const std::string& weights) {
  auto c = load_calibration(!calibration.empty() ? calibration : default_calibration_path(weights.empty() ? model : weights));
  if (!c) return c.error().with_context("int8 precision");
  return c;
}

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

}  // namespace kiln
