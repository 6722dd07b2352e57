// Binding a weight file to an architecture: checks and renames, never packs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "kiln/calibration.h"
#include "plan/plan.h"

namespace kiln {

// The names and shapes of a graph's weights in canonical order (first use by a node, nodes
// in topological order): the order that identifies weight slots across exports.
struct WeightSignature {
  std::vector<std::string> names;
  std::vector<Shape> shapes;
};
WeightSignature weight_signature(const Graph& g);

// What a plan is keyed on: fingerprint, input shapes, precision and CPU ISA.
std::string architecture_key(const Graph& g, const CompileOptions& options);

// Checks `file` (tensors by their names in the file, after `name_map`) against `own`, the
// names and shapes the model's graph uses; then returns them renamed to `target` names by
// canonical position. The first missing, extra or mismatched tensor is the error.
Expected<RawWeights> bind_weights(const RawWeights& file, const std::string& file_label,
                                  const std::map<std::string, std::string>& name_map, const WeightSignature& own,
                                  const WeightSignature& target);

// Reads weights for an architecture from an .onnx (same fingerprint), a .safetensors file, or
// a Keras .h5 (model.save() or save_weights(); matched by Keras names and re-laid out as the
// graph's importer recorded, see import/keras/weight_match.h).
Expected<RawWeights> read_weight_file(const std::string& path, const std::map<std::string, std::string>& name_map,
                                      const Graph& own_graph, const WeightSignature& target,
                                      const std::map<std::string, Shape>& input_shapes);

// The raw weights the plans of `m` pack: those of `file` (read_weight_file) when given,
// else `m`'s own initializers.
struct ImportedModel;
Expected<RawWeights> model_or_file_weights(const ImportedModel& m, const std::string& file,
                                           const std::map<std::string, std::string>& name_map,
                                           const WeightSignature& sig, const std::map<std::string, Shape>& input_shapes);

// int8: the calibration that belongs to a model's weights: `calibration` when named, else
// "<weights file or model>.calibration.json" (kiln/calibration.h).
Expected<Calibration> weights_calibration(const std::string& calibration, const std::string& model,
                                          const std::string& weights);
// int8 packs: the calibration joins the raw weights as one [C] tensor per activation
// (plan/quantization.h names them), and their names are appended to `names` so that a pack
// cache key covers them. Fails when it keeps other layers out of int8 than the plan was compiled with.
Status add_calibration(const Calibration& c, const CompileOptions& plan_options, RawWeights& raw,
                       std::vector<std::string>& names);

}  // namespace kiln
