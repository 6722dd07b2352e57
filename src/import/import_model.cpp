#include "import/import.h"

namespace kiln {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

bool takes_nhwc_inputs(const std::string& path) {
  for (const char* ext : {".pb", ".pbtxt", ".h5", ".hdf5"})
    if (ends_with(path, ext)) return true;
  return false;
}

Expected<ImportedModel> import_model(const std::string& path, const ImportOptions& options) {
  const bool keras = ends_with(path, ".h5") || ends_with(path, ".hdf5");
  if (ends_with(path, ".keras"))
    return unsupported("'" + path + "': Keras 3 .keras archives are not supported; save the model as HDF5 "
                       "(model.save('model.h5')) or export a frozen .pb / .onnx");
#ifdef KILN_WITH_TF
  if (ends_with(path, ".pb") || ends_with(path, ".pbtxt")) return import_tf_graphdef(path, options);
  if (keras) return import_keras_h5(path, options);
#else
  if (ends_with(path, ".pb") || ends_with(path, ".pbtxt"))
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

}  // namespace kiln
