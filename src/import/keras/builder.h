// What Keras layer translators share: the graph being built, the file's weights (re-laid out
// into kiln's layout and named by their Keras dataset names), typed reading of a layer's
// config, and Keras's activation and padding rules.
//
// Layout. Keras image models are channels_last (NHWC); kiln computes NCHW. Graph inputs keep
// Keras's NHWC shape and are transposed once; every 4-D tensor in between is held as NCHW,
// so each layer maps its NHWC attributes (a concatenation axis, paddings) onto NCHW axes;
// outputs are transposed back to NHWC.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include "import/import.h"
#include "import/keras/config.h"
#include "import/keras/keras_file.h"

namespace kiln::keras_import {

class Builder {
 public:
  Builder(const KerasFile& file, const ImportOptions& options) : file_(file), options_(options) {}

  Graph& graph() { return out_.graph; }
  ImportedModel& model() { return out_; }
  const KerasFile& file() const { return file_; }
  const ImportOptions& options() const { return options_; }
  const Shape& shape(int v) const { return out_.graph.values[v].shape; }
  // Keras 3 changed some defaults (hard_sigmoid's slope); 0 when the file does not say.
  int keras_major() const;

  // A node whose output value is named `name`, with kiln's shape rule's output shape.
  Expected<int> add(const std::string& name, const std::string& source_op, OpAttrs attrs, std::vector<int> ins,
                    const std::string& where);
  // The weight of `layer` for `role`, checked against `keras_shape` (the file's layout),
  // stored re-laid out by `layout`; one graph value per dataset, shared by repeated calls.
  Expected<int> weight(const KerasLayer& layer, WeightRole role, WeightLayout layout, const Shape& keras_shape,
                       const std::string& where);
  // A weight the file does not hold (batch norm without scale or center): ones or zeros.
  Expected<int> made_weight(const std::string& layer, WeightRole role, WeightLayout layout, const Shape& shape);

 private:
  const KerasFile& file_;
  const ImportOptions& options_;
  ImportedModel out_;
  std::map<std::string, int> weight_values_;  // "layer\n dataset" -> value
};

// One call of one layer.
class LayerCall {
 public:
  LayerCall(Builder& b, const KerasLayer& layer, std::vector<int> inputs, int call)
      : b(b), layer(layer), inputs(std::move(inputs)), call(call) {}

  Builder& b;
  const KerasLayer& layer;
  std::vector<int> inputs;  // NCHW values
  int call;

  const std::string& name() const { return layer.name; }
  std::string where() const { return "layer '" + layer.name + "' (" + layer.class_name + ")"; }
  // The name of this call's result ("conv1"; a shared layer's second call: "conv1_1"), and
  // of a node inside it (suffix "/depthwise").
  std::string base() const { return call == 0 ? layer.name : layer.name + "_" + std::to_string(call); }
  Status fail(const std::string& what) const { return unsupported(where() + ": " + what); }
  Status bad(const std::string& what) const { return invalid_model(where() + ": " + what); }

  // Config values: a missing key (or null) gives `def`, a value of another type is an error.
  Expected<int64_t> int_of(const char* key, int64_t def) const;
  Expected<float> float_of(const char* key, float def) const;
  Expected<bool> bool_of(const char* key, bool def) const;
  Expected<std::string> string_of(const char* key, const std::string& def) const;
  // An int or a pair [h, w].
  Expected<Spatial> pair_of(const char* key, Spatial def) const;
  bool has(const char* key) const;
  // ZeroPadding2D / Cropping2D amounts: n, [h, w] or [[top, bottom], [left, right]] as
  // {top, left, bottom, right}.
  Expected<Spatial> sides_of(const char* key) const;
  Status require_channels_last() const;
  Expected<int> one_input() const;                // an image (4-D, held NCHW)
  Expected<int> one_input_of_any_rank() const;    // a flat tensor too (heads: Flatten, Dense)

  // A node named base() + suffix reading `ins`. Its source_op is the layer's class for the
  // call's first node and class + suffix for the others ("SeparableConv2D/pointwise",
  // "Conv2D/activation"), so an op histogram counts layers, not nodes.
  Expected<int> add(OpAttrs attrs, std::vector<int> ins, const std::string& suffix);
  // Applies an activation named in the config ("relu", "linear", ...; Keras 3 may nest it in
  // an object) to x. "linear" and null return x.
  Expected<int> activation(int x, const nlohmann::json& act, const std::string& suffix);
  Expected<int> apply_config_activation(int x);  // the config's "activation" key

 private:
  int nodes_ = 0;
};

using LayerTranslator = Expected<int> (*)(LayerCall&);
using LayerTable = std::map<std::string, LayerTranslator>;
void register_conv_layers(LayerTable& t);
void register_other_layers(LayerTable& t);

// TensorFlow's SAME padding for one axis: {before, after}; the odd row goes after.
Spatial same_padding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation);
// {top, left, bottom, right} for a window op over [H, W] with Keras padding "same"/"valid".
Expected<Spatial> window_pads(const LayerCall& c, const std::string& padding, Spatial in_hw,
                                             Spatial kernel, Spatial strides,
                                             Spatial dilations);

}  // namespace kiln::keras_import
