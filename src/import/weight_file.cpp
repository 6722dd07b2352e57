#include "import/weight_file.h"

#include <set>

#include "core/status_macros.h"
#include "import/import.h"
#include "import/safetensors.h"
#ifdef KILN_WITH_TF
#include "import/keras/keras_file.h"
#include "import/keras/weight_match.h"
#endif

namespace kiln {

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

Expected<RawWeights> own_weights(const Graph& g, const RawWeights& initializers, const std::string& label,
                                 const WeightSignature& target) {
  WeightSignature own = weight_signature(g);
  RawWeights used;  // initializers the optimised graph no longer reads are not "extra"
  for (const std::string& n : own.names) used.tensors[n] = initializers.tensors.at(n);
  return bind_weights(used, label, {}, own, target);
}

Expected<RawWeights> read_weight_file(const std::string& path, const std::map<std::string, std::string>& name_map,
                                      const Graph& own_graph, const WeightSignature& target,
                                      const std::map<std::string, Shape>& input_shapes) {
  const std::string label = "'" + path + "'";
  if (path.ends_with(".safetensors")) {
    KILN_ASSIGN_OR_RETURN(RawWeights file, read_safetensors(path));
    return bind_weights(file, label, name_map, weight_signature(own_graph), target);
  }
  if (path.ends_with(".onnx")) {
    ImportOptions opt;
    opt.input_shapes = input_shapes;
    // The first stage of every preparation: the fingerprint is that of the optimised graph.
    KILN_ASSIGN_OR_RETURN(ReadGraph other, read_graph(path, opt));
    uint64_t want = fingerprint(own_graph), got = fingerprint(other.model.graph);
    if (want != got)
      return invalid_argument(label + " has another architecture (fingerprint " + fingerprint_hex(got) +
                              ", the model's is " + fingerprint_hex(want) + ")");
    // Same architecture: its weights bind by canonical position, whatever their names.
    return own_weights(other.model.graph, other.model.weights, label, target);
  }
  if (path.ends_with(".h5") || path.ends_with(".hdf5")) {
#ifdef KILN_WITH_TF
    // Keras names and layouts: matched per weight by name or by layer and role, and re-laid
    // out as the graph's importer laid out its own tensors (import/keras/weight_match.h).
    KILN_ASSIGN_OR_RETURN(keras_import::KerasFile file, keras_import::read_keras_file(path));
    KILN_ASSIGN_OR_RETURN(RawWeights mapped, keras_import::keras_weights_for_graph(file, own_graph, name_map));
    return bind_weights(mapped, label, {}, weight_signature(own_graph), target);
#else
    return unsupported(label + ": this kiln was built without the Keras importer");
#endif
  }
  return invalid_argument(label + ": weight files are .onnx, .safetensors or Keras .h5");
}

}  // namespace kiln
