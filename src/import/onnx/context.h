// The per-node view an ONNX op translator works with: typed attribute access, inputs that
// may be constants or graph values, and ways to emit a graph node or a folded constant.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/graph.h"
#include "import/constant_fold.h"
#include "import/import.h"
#include "onnx/onnx_pb.h"

namespace kiln::onnx_import {

class Importer;

class NodeContext {
 public:
  NodeContext(Importer& imp, const onnx::NodeProto& node, int opset) : imp_(imp), node_(node), opset_(opset) {}

  const onnx::NodeProto& node() const { return node_; }
  const std::string& op() const { return node_.op_type(); }
  std::string name() const;
  int opset() const { return opset_; }

  // Attributes.
  bool has_attr(const std::string& n) const { return find_attr(n) != nullptr; }
  int64_t attr_int(const std::string& n, int64_t def) const;
  float attr_float(const std::string& n, float def) const;
  std::string attr_string(const std::string& n, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& n, std::vector<int64_t> def = {}) const;
  std::vector<float> attr_floats(const std::string& n) const;
  const onnx::AttributeProto* find_attr(const std::string& n) const;

  // Inputs (an empty name means an omitted optional input).
  size_t num_inputs() const { return static_cast<size_t>(node_.input_size()); }
  bool has_input(size_t i) const { return i < num_inputs() && !node_.input(static_cast<int>(i)).empty(); }
  bool is_const(size_t i) const;
  Expected<Tensor> const_value(size_t i) const;   // error names the input if it is not constant
  Expected<std::vector<int64_t>> const_ints(size_t i) const;
  Expected<Shape> shape(size_t i) const;
  Expected<DType> dtype(size_t i) const;

  // Outputs. emit() folds to a constant when every input is constant.
  Status emit(OpAttrs attrs, const std::vector<size_t>& onnx_inputs);
  Status set_const(size_t out, Tensor value);
  Status alias(size_t out, size_t in);  // output is the same tensor as an input

  // Translations into several kiln nodes work on operands: ONNX names, either one of the
  // node's inputs (input_name) or the result of an earlier step of this node. step() adds a
  // node reading operands (folded to a constant when all are constant) and returns the name
  // of its result; output() makes an ONNX output of the node that operand.
  const std::string& input_name(size_t i) const { return node_.input(static_cast<int>(i)); }
  Expected<std::string> step(OpAttrs attrs, const std::vector<std::string>& operands, const std::string& what);
  Status output(size_t out, const std::string& operand);
  std::string constant_operand(Tensor value);  // a constant operand (a weight where a node reads it)
  Expected<Shape> operand_shape(const std::string& operand) const;

  Status fail(const std::string& what) const;         // kUnsupported naming node and op
  Status bad(const std::string& what) const;          // kInvalidModel naming node and op

 private:
  // Adds a node (or folds a constant) reading operands, its result bound to `result`.
  Status add(OpAttrs attrs, const std::vector<std::string>& operands, const std::string& node_name,
             const std::string& result);

  Importer& imp_;
  const onnx::NodeProto& node_;
  int opset_;
  int steps_ = 0;
};

using OpTranslator = std::function<Status(NodeContext&)>;
using OpTable = std::unordered_map<std::string, OpTranslator>;

void register_conv_ops(OpTable& t);
void register_pool_ops(OpTable& t);
void register_elementwise_ops(OpTable& t);
void register_tensor_ops(OpTable& t);
void register_resize_ops(OpTable& t);
void register_shape_ops(OpTable& t);
void register_reduce_ops(OpTable& t);
void register_normalization_ops(OpTable& t);
const OpTable& op_table();

// Converts an ONNX TensorProto (raw, typed fields or external data) into a Tensor.
Expected<Tensor> tensor_from_proto(const onnx::TensorProto& t, const std::string& base_dir);

// Evaluates an op on constant tensors; ONNX integer division truncates.
inline Expected<Tensor> fold_constant(const OpAttrs& attrs, const std::vector<Tensor>& inputs) {
  return kiln::fold_constant(attrs, inputs, IntegerDivision::kTruncate);
}

}  // namespace kiln::onnx_import
