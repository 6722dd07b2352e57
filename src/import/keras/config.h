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
  std::string class_name, name;  // a layer of a nested model: "outer/inner"
  // Where its weights are: the file's group for the layer (a nested model's layers: the
  // outermost model's group) and, inside it, the datasets under "<weight_scope>/" (the
  // layer's own name; empty: every dataset of the group).
  std::string weight_group, weight_scope;
  nlohmann::json config;                      // the layer's "config" object
  std::vector<std::vector<TensorRef>> calls;  // the inputs of each call (InputLayer: none)
};

struct ModelConfig {
  std::string class_name;  // "Functional", "Model" or "Sequential"
  std::vector<KerasLayer> layers;
  std::vector<TensorRef> inputs, outputs;
  std::vector<std::string> output_names;  // as Keras names them (a nested model's output: its name)
};

// Layers that are models themselves (Functional, Model, Sequential: a backbone, a decoder
// built separately) are inlined: their layers become "outer/inner" layers, calls of the
// nested model become calls of its layers, one per call of the model (a model applied twice
// shares its weights as a shared layer does).
// `where` (the file's path) prefixes errors. Never throws.
Expected<ModelConfig> parse_model_config(const std::string& json, const std::string& where);

}  // namespace kiln::keras_import
