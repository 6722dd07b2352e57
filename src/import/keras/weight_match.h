// Binding a Keras weight file (model.save() or save_weights()) to a graph that any importer
// made: a TensorFlow .pb frozen from Keras, a Keras .h5, or an ONNX file.
//
//   KILN_ASSIGN_OR_RETURN(KerasFile f, read_keras_file("other.h5"));
//   KILN_ASSIGN_OR_RETURN(RawWeights w, keras_weights_for_graph(f, graph, {}));
//   // w holds one tensor per graph weight, by the graph's names, in the graph's layout.
//
// Each graph weight is matched to one dataset of the file, first that succeeds:
//  1. the caller's name map (Keras dataset name -> graph weight name);
//  2. by name: the graph weight's name without TensorFlow's read suffixes (":0", "/read",
//     "/ReadVariableOp", ...) equals a dataset's name without ":0", or ends with it after a
//     '/' ("model/conv2d_7/kernel" and "conv2d_7/kernel:0");
//  3. by layer and role: a '/'-separated part of the graph weight's name is a layer of the
//     file, and the role the importer recorded (WeightOrigin::role) names the variable:
//     TensorFlow 2 freezes a kernel as "conv2d_7/Conv2D/ReadVariableOp", read by a Conv2D,
//     so it is "conv2d_7/kernel:0".
// The dataset is then re-laid out as the importer laid out the graph's own tensor
// (WeightOrigin::layout). For weights without a recorded layout (ONNX) the one re-layout
// that yields the graph's shape is used; two that fit differently are an error. Weights the
// importer made (kOnes / kZeros) are made again, not looked up. The first graph weight
// without a match or with the wrong shape, then the first dataset nothing matched, is the
// error.
#pragma once

#include <map>
#include <string>

#include "graph/graph.h"
#include "core/status_macros.h"
#include "import/keras/keras_file.h"

namespace kiln::keras_import {

Expected<RawWeights> keras_weights_for_graph(const KerasFile& file, const Graph& graph,
                                             const std::map<std::string, std::string>& name_map);

// "conv2d_7/kernel/read:0" -> "conv2d_7/kernel" (exposed for tests).
std::string strip_read_suffixes(const std::string& tf_name);

}  // namespace kiln::keras_import
