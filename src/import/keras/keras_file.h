// A Keras HDF5 file read into memory: the model_config JSON of a model.save() file (empty
// for save_weights() files) and every layer's weights, by the names Keras gave them.
//
// Layout of the file: model.save() puts the weights under the group "model_weights",
// save_weights() at the root. That group's attribute "layer_names" lists the layers; each
// layer group's attribute "weight_names" lists its datasets by path within the group,
// e.g. "conv2d_7/kernel:0". Keras splits long attributes into "name0", "name1", ...
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::keras_import {

struct KerasLayerWeights {
  std::string layer;               // the layer's group name
  std::vector<std::string> names;  // weight_names, e.g. "conv2d_7/kernel:0"
  std::vector<Tensor> values;      // float32, in the file's (TensorFlow's) layout
};

struct KerasFile {
  std::string path;
  std::string model_config;  // JSON; empty when the file holds only weights
  std::string keras_version, backend;
  std::vector<KerasLayerWeights> layers;  // in layer_names order

  const KerasLayerWeights* find_layer(const std::string& name) const;
};

// Reads the whole file (the file is closed when this returns). Errors name the file and
// the group, attribute or dataset that failed.
Expected<KerasFile> read_keras_file(const std::string& path);

// The variable a weight name stands for: "conv2d_7/kernel:0" -> "kernel".
std::string keras_variable(const std::string& weight_name);

}  // namespace kiln::keras_import
