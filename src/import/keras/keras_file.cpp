#include "import/keras/keras_file.h"
#include "core/status_macros.h"

#include "import/keras/hdf5.h"

namespace kiln::keras_import {

namespace {

// A string-list attribute, joined from Keras's chunks ("layer_names0", "layer_names1", ...)
// when it was too large for one HDF5 attribute.
Expected<std::vector<std::string>> read_chunked(hid_t obj, const std::string& name, const std::string& where) {
  if (h5_has_attr(obj, name)) return h5_read_strings(obj, name, where);
  std::vector<std::string> all;
  for (int k = 0; h5_has_attr(obj, name + std::to_string(k)); ++k) {
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> part, h5_read_strings(obj, name + std::to_string(k), where));
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

Expected<std::string> read_string(hid_t obj, const std::string& name, const std::string& where) {
  if (!h5_has_attr(obj, name)) return std::string();
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> v, h5_read_strings(obj, name, where));
  return v.empty() ? std::string() : v[0];
}

}  // namespace

const KerasLayerWeights* KerasFile::find_layer(const std::string& name) const {
  for (const KerasLayerWeights& l : layers)
    if (l.layer == name) return &l;
  return nullptr;
}

std::string keras_variable(const std::string& weight_name) {
  std::string v = weight_name;
  if (size_t colon = v.rfind(':'); colon != std::string::npos && v.find('/', colon) == std::string::npos)
    v = v.substr(0, colon);
  if (size_t slash = v.rfind('/'); slash != std::string::npos) v = v.substr(slash + 1);
  return v;
}

Expected<KerasFile> read_keras_file(const std::string& path) {
  H5Session session;
  KILN_ASSIGN_OR_RETURN(H5Id file, h5_open_file(path));
  KerasFile out;
  out.path = path;
  hid_t root = file.get();
  KILN_ASSIGN_OR_RETURN(out.model_config, read_string(root, "model_config", path));
  H5Id weights_group;
  hid_t weights = root;
  if (h5_has_link(root, "model_weights")) {
    KILN_ASSIGN_OR_RETURN(weights_group, h5_open_group(root, "model_weights", path));
    weights = weights_group.get();
  }
  KILN_ASSIGN_OR_RETURN(out.keras_version, read_string(weights, "keras_version", path));
  KILN_ASSIGN_OR_RETURN(out.backend, read_string(weights, "backend", path));
  if (out.keras_version.empty()) { KILN_ASSIGN_OR_RETURN(out.keras_version, read_string(root, "keras_version", path)); }
  if (!h5_has_attr(weights, "layer_names") && !h5_has_attr(weights, "layer_names0") && h5_has_link(root, "layers"))
    return unsupported("'" + path + "' is in Keras 3's weights format (groups 'layers/<name>/vars'), which kiln does not "
                       "read; save with Keras's legacy HDF5 format (model.save('model.h5') / save_weights('w.h5') in "
                       "Keras 2, or keras.src.legacy.saving in Keras 3)");
  if (!h5_has_attr(weights, "layer_names") && !h5_has_attr(weights, "layer_names0"))
    return invalid_model("'" + path + "' is an HDF5 file but not a Keras one: it has no 'layer_names' attribute " +
                         (weights == root ? std::string("at the root") : std::string("on 'model_weights'")));
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> layer_names, read_chunked(weights, "layer_names", path));
  for (const std::string& layer : layer_names) {
    KILN_ASSIGN_OR_RETURN(H5Id g, h5_open_group(weights, layer, path));
    KerasLayerWeights lw;
    lw.layer = layer;
    KILN_ASSIGN_OR_RETURN(lw.names, read_chunked(g.get(), "weight_names", path + "', layer '" + layer));
    for (const std::string& name : lw.names) {
      KILN_ASSIGN_OR_RETURN(Tensor t, h5_read_tensor(g.get(), name, path + "', layer '" + layer));
      lw.values.push_back(std::move(t));
    }
    out.layers.push_back(std::move(lw));
  }
  return out;
}

}  // namespace kiln::keras_import
