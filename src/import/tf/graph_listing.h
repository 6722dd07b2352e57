// A TensorFlow GraphDef as a list of operations, for what TensorFlow's C API answers about a
// graph before anything runs (src/tfcompat): each node's name, op type, inputs, and the type
// and (where the graph says) shape of each output. Protobuf stays inside import/: callers get
// plain structs.
//
//   KILN_ASSIGN_OR_RETURN(PrefixedGraphDef g, prefix_graphdef(bytes.data(), bytes.size(), "model_a"));
//   for (const TfNode& n : g.nodes) std::cout << n.name << " " << n.op << "\n";
//   // g.bytes: the GraphDef with the prefix applied; serialized GraphDefs concatenate into
//   // one (protobuf appends repeated fields), so graphs imported one after another are one file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {
struct ParsedModel;  // import/tf/parsed_model.h
}

namespace kiln::tf_import {

struct TfNode {
  std::string name, op, device;
  std::vector<std::string> inputs;          // data inputs: "node" or "node:k"
  std::vector<std::string> control_inputs;  // "^node" without the '^'
  std::vector<int> output_types;            // TensorFlow DataType numbers, one per output
  // Per output, its shape where the graph states it (a Placeholder's shape, a Const's value,
  // an "_output_shapes" attribute); -1 on an unknown axis; nullopt: unknown rank.
  std::vector<std::optional<std::vector<int64_t>>> output_shapes;
};

struct PrefixedGraphDef {
  // The GraphDef parsed, names prefixed: what the engine imports (kiln/engine.h's
  // LoadSpec::parsed), so that the GraphDef is parsed once.
  std::shared_ptr<const ParsedModel> parsed;
  std::string bytes;  // with a prefix: the binary GraphDef re-serialized; without, empty (the input is it)
  std::vector<TfNode> nodes;
};

// "node:k" -> {"node", k}; "node" -> {"node", 0}: how a GraphDef names an operation's output.
struct OutputRef {
  std::string node;
  int index = 0;
};
OutputRef split_output_name(const std::string& name);

// Parses a binary GraphDef; with a prefix, every node is renamed "<prefix>/<name>" and its
// inputs with it, as TF_ImportGraphDefOptionsSetPrefix does. Errors name what is wrong.
Expected<PrefixedGraphDef> prefix_graphdef(const void* data, size_t size, const std::string& prefix);

}  // namespace kiln::tf_import
