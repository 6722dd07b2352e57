// kiln's graph IR: what importers produce and optimisation passes rewrite.
//
//   kiln::Graph g;
//   int x = g.add_input("x", kiln::DType::kF32, {1, 3, 32, 32});
//   int w = g.add_weight("w", kiln::DType::kF32, {8, 3, 3, 3});
//   kiln::ConvAttrs conv; conv.kernel = {3, 3}; conv.pads = {1, 1, 1, 1};
//   int y = g.add_node("conv1", "Conv", conv, {x, w}, {8, 8, 32, 32} /*shape*/);
//   g.mark_output(y);
//
// Values are referred to by index. Nodes are kept in topological order. Weight values
// carry only shape and dtype: their contents live in RawWeights, keyed by the same name,
// so one graph (one architecture) can be paired with any number of weight sets.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "graph/attrs.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

enum class ValueKind : uint8_t { kActivation, kInput, kWeight };

// Where an importer got a weight: how its source file lays the tensor out and what the tensor
// is in its layer. Binding another file of the same framework (a Keras .h5 into a graph
// imported from a TensorFlow .pb) looks tensors up by role and applies the same re-layout
// the importer applied. Not structural: the fingerprint ignores it.
enum class WeightLayout : uint8_t {
  kUnknown,         // the importer did not say (ONNX: files already hold kiln's layout)
  kAsIs,            // the file's tensor is the graph's (biases, batch-norm vectors)
  kHwioToOihw,      // convolution kernel [kh,kw,ci,co] -> [co,ci,kh,kw]
  kHwcmToGrouped,   // depthwise kernel [kh,kw,C,M] -> grouped [C*M,1,kh,kw]
  kHwoiToIohw,      // transposed-convolution kernel [kh,kw,co,ci] -> [ci,co,kh,kw]
  kOnes,            // not in the file: the importer made it all ones (batch norm with scale=False)
  kZeros,           // not in the file: all zeros (batch norm with center=False)
  kIoToOi11,        // Dense kernel [ci,co] applied to an image's channels -> 1x1 convolution [co,ci,1,1]
};
enum class WeightRole : uint8_t {
  kUnknown, kKernel, kDepthwiseKernel, kPointwiseKernel, kBias, kGamma, kBeta, kMovingMean, kMovingVariance,
  kAlpha,  // PReLU's slopes
};
struct WeightOrigin {
  WeightLayout layout = WeightLayout::kUnknown;
  WeightRole role = WeightRole::kUnknown;
  bool operator==(const WeightOrigin&) const = default;
};

struct Value {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  ValueKind kind = ValueKind::kActivation;
  int producer = -1;  // node index, for activations
  WeightOrigin origin;  // weights only
};

struct Node {
  std::string name;     // the source framework's node name, for error messages
  std::string source_op;  // e.g. "Conv", "Conv2D": what the user's file called it
  OpAttrs attrs;
  std::vector<int> inputs;
  std::vector<int> outputs;

  OpKind kind() const;
};

// One model's weights before packing, by the names the graph's weight values carry.
struct RawWeights {
  std::map<std::string, Tensor> tensors;
  const Tensor* find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
};

class Graph {
 public:
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;
  std::vector<int> outputs;

  int add_input(std::string name, DType dtype, Shape shape);
  int add_weight(std::string name, DType dtype, Shape shape);
  // Adds a node with one output value of the given shape; returns the output value index.
  int add_node(std::string name, std::string source_op, OpAttrs attrs, std::vector<int> inputs,
               Shape out_shape, std::string out_name = {});
  void mark_output(int value) { outputs.push_back(value); }

  std::optional<int> find_value(const std::string& name) const;
  // Node indices that read value v.
  std::vector<int> consumers(int v) const;
  bool is_output(int v) const;
  // Replaces every read of `from` (in nodes and graph outputs) by `to`.
  void replace_uses(int from, int to);
  // Drops nodes whose outputs nobody reads and weight values nobody reads; keeps order.
  void remove_dead();
  // Checks indices, topological order, and that each weight has a shape.
  Status verify() const;

  int64_t parameter_count() const;
};

// Output shape of a node from its attributes and input shapes: the one shape rule per op.
Expected<Shape> infer_shape(const OpAttrs& attrs, const std::vector<Shape>& inputs);

// Floating-point operations (multiply-add = 2) of one node at the graph's shapes.
double node_flops(const Graph& g, const Node& n);

// Stable structural hash: ops, attributes, connectivity, weight shapes and dtypes; never
// weight values or names (DESIGN.md "Architecture fingerprint").
uint64_t fingerprint(const Graph& g);
std::string fingerprint_hex(uint64_t fp);

// The names and shapes of a graph's weights in canonical order (first use by a node, nodes
// in topological order): the order that identifies weight slots across exports.
struct WeightSignature {
  std::vector<std::string> names;
  std::vector<Shape> shapes;
};
WeightSignature weight_signature(const Graph& g);

}  // namespace kiln
