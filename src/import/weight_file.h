// Weight files for an architecture: read, checked against the graph, and renamed to the
// names of the plan's weight slots. Binding checks and renames; it never packs.
//
//   WeightSignature target = weight_signature(plan_graph);     // the slots' names, canonical order
//   kiln::Expected<kiln::RawWeights> w = kiln::read_weight_file("cable.safetensors", {}, own_graph, target, shapes);
//   if (!w) { /* names the first missing, extra or mis-shaped tensor */ }
#pragma once

#include <map>
#include <string>

#include "graph/graph.h"

namespace kiln {

// Checks `file` (tensors by their names in the file, after `name_map`) against `own`, the
// names and shapes the model's graph uses; then returns them renamed to `target` names by
// canonical position. The first missing, extra or mismatched tensor is the error.
Expected<RawWeights> bind_weights(const RawWeights& file, const std::string& file_label,
                                  const std::map<std::string, std::string>& name_map, const WeightSignature& own,
                                  const WeightSignature& target);

// A graph's own initializers (those its optimised graph still reads), bound to `target`.
Expected<RawWeights> own_weights(const Graph& g, const RawWeights& initializers, const std::string& label,
                                 const WeightSignature& target);

// Reads weights for an architecture from an .onnx (same fingerprint; bound by position,
// whatever its tensor names), a .safetensors file (by the graph's names), or a Keras .h5
// (model.save() or save_weights(); matched by Keras names and re-laid out as the graph's
// importer recorded, see import/keras/weight_match.h). `own_graph`: the optimised graph of
// the model file the weights are for; `input_shapes`: what it was imported with.
Expected<RawWeights> read_weight_file(const std::string& path, const std::map<std::string, std::string>& name_map,
                                      const Graph& own_graph, const WeightSignature& target,
                                      const std::map<std::string, Shape>& input_shapes);

}  // namespace kiln
