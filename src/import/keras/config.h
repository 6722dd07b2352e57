// A Keras model_config (the JSON model.save() stores) as a list of layers and the calls
// that connect them. Reads the Functional / Model format of Keras 2 (inbound_nodes as
// [[layer, node, tensor, kwargs], ...]) and of Keras 3 (args holding "keras_history"), and
// Sequential models (a chain, with an input made from the first layer's batch_input_shape
// when there is no InputLayer).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/status.h"

namespace kiln::keras_import {

// Output `index` of call `node` of a layer: Keras's (layer, node_index, tensor_index).
struct TensorRef {
  std::string layer;
  int node = 0;
  int index = 0;
  bool operator<(const TensorRef& o) const {
    return layer != o.layer ? layer < o.layer : node != o.node ? node < o.node : index < o.index;
  }
};

struct KerasLayer {
  std::string class_name, name;
  nlohmann::json config;                      // the layer's "config" object
  std::vector<std::vector<TensorRef>> calls;  // the inputs of each call (InputLayer: none)
};

struct ModelConfig {
  std::string class_name;  // "Functional", "Model" or "Sequential"
  std::vector<KerasLayer> layers;
  std::vector<TensorRef> inputs, outputs;
};

// `where` (the file's path) prefixes errors. Never throws.
Expected<ModelConfig> parse_model_config(const std::string& json, const std::string& where);

}  // namespace kiln::keras_import
