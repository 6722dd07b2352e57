#include "import/import.h"

#include "core/clock.h"
#include "core/status_macros.h"

namespace kiln {

bool takes_nhwc_inputs(const std::string& path) {
  for (const char* ext : {".pb", ".pbtxt", ".h5", ".hdf5"})
    if (path.ends_with(ext)) return true;
  return false;
}

Shape resolve_input_shape(const Shape& declared, const Shape* requested, int& unknown_axis) {
  unknown_axis = -1;
  Shape s = requested ? *requested : declared;
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] >= 0) continue;  // a size (0 too: an empty tensor asked for)
    // A -1 requested keeps the file's size; one the file does not know either is a batch of
    // 1 or an error.
    if (requested && d < declared.size() && declared.size() == requested->size() && declared[d] > 0) s[d] = declared[d];
    else if (d == 0) s[d] = 1;
    else if (unknown_axis < 0) unknown_axis = static_cast<int>(d);
  }
  return s;
}

Expected<ImportedModel> import_model(const std::string& path, const ImportOptions& options,
                                     const ParsedModel* parsed) {
#ifdef KILN_WITH_TF
  if (parsed) return import_tf_graphdef(*parsed, path, options);  // the one kind made in memory
#else
  if (parsed) return unsupported("'" + path + "': this kiln was built without the TensorFlow importer");
#endif
  const bool keras = path.ends_with(".h5") || path.ends_with(".hdf5");
  if (path.ends_with(".keras"))
    return unsupported("'" + path + "': Keras 3 .keras archives are not supported; save the model as HDF5 "
                       "(model.save('model.h5')) or export a frozen .pb / .onnx");
#ifdef KILN_WITH_TF
  if (path.ends_with(".pb") || path.ends_with(".pbtxt")) return import_tf_graphdef(path, options);
  if (keras) return import_keras_h5(path, options);
#else
  if (path.ends_with(".pb") || path.ends_with(".pbtxt"))
    return unsupported("'" + path + "': this kiln was built without the TensorFlow importer");
  if (keras) return unsupported("'" + path + "': this kiln was built without the Keras importer");
#endif
  if (!options.outputs.empty()) {
    // ONNX: pick outputs by name after import.
    KILN_ASSIGN_OR_RETURN(ImportedModel m, import_onnx(path, options));
    std::vector<int> outs;
    for (const std::string& name : options.outputs) {
      auto v = m.graph.find_value(name);
      if (!v || m.graph.values[*v].kind != ValueKind::kActivation)
        return not_found("'" + path + "': no computed tensor named '" + name + "'");
      outs.push_back(*v);
    }
    m.graph.outputs = outs;
    m.graph.remove_dead();
    return m;
  }
  return import_onnx(path, options);
}

Expected<ReadGraph> read_graph(const std::string& path, const ImportOptions& options, const ParsedModel* parsed) {
  ReadGraph r;
  auto t0 = Clock::now();
  KILN_ASSIGN_OR_RETURN(r.model, import_model(path, options, parsed));
  r.import_ms = ms_since(t0);
  for (const Node& n : r.model.graph.nodes) {
    ++r.source_ops[n.source_op];
    for (int o : n.outputs) r.computed.emplace_back(r.model.graph.values[o].name, r.model.graph.values[o].shape);
  }
  t0 = Clock::now();
  r.optimizations = optimize(r.model.graph);
  r.optimize_ms = ms_since(t0);
  return r;
}

}  // namespace kiln
