#include "graph/graph.h"

#include <algorithm>
#include <set>

namespace kiln {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::kConv: return "Conv";
    case OpKind::kConvTranspose: return "ConvTranspose";
    case OpKind::kPool: return "Pool";
    case OpKind::kBatchNorm: return "BatchNorm";
    case OpKind::kUnary: return "Unary";
    case OpKind::kBinary: return "Binary";
    case OpKind::kSoftmax: return "Softmax";
    case OpKind::kConcat: return "Concat";
    case OpKind::kResize: return "Resize";
    case OpKind::kPad: return "Pad";
    case OpKind::kReshape: return "Reshape";
    case OpKind::kTranspose: return "Transpose";
    case OpKind::kMatMul: return "MatMul";
    case OpKind::kSlice: return "Slice";
    case OpKind::kIdentity: return "Identity";
    case OpKind::kReduce: return "Reduce";
    case OpKind::kLrn: return "LRN";
  }
  return "?";
}

const char* unary_kind_name(UnaryKind k) {
  switch (k) {
    case UnaryKind::kRelu: return "Relu";
    case UnaryKind::kLeakyRelu: return "LeakyRelu";
    case UnaryKind::kElu: return "Elu";
    case UnaryKind::kSigmoid: return "Sigmoid";
    case UnaryKind::kTanh: return "Tanh";
    case UnaryKind::kClip: return "Clip";
    case UnaryKind::kHardSigmoid: return "HardSigmoid";
    case UnaryKind::kHardSwish: return "HardSwish";
    case UnaryKind::kExp: return "Exp";
    case UnaryKind::kAbs: return "Abs";
    case UnaryKind::kSqrt: return "Sqrt";
    case UnaryKind::kNeg: return "Neg";
    case UnaryKind::kLog: return "Log";
    case UnaryKind::kReciprocal: return "Reciprocal";
    case UnaryKind::kSoftplus: return "Softplus";
    case UnaryKind::kSoftsign: return "Softsign";
    case UnaryKind::kSelu: return "Selu";
    case UnaryKind::kThresholdedRelu: return "ThresholdedRelu";
    case UnaryKind::kShrink: return "Shrink";
    case UnaryKind::kCelu: return "Celu";
    case UnaryKind::kErf: return "Erf";
    case UnaryKind::kSin: return "Sin";
    case UnaryKind::kCos: return "Cos";
    case UnaryKind::kTan: return "Tan";
    case UnaryKind::kAsin: return "Asin";
    case UnaryKind::kAcos: return "Acos";
    case UnaryKind::kAtan: return "Atan";
    case UnaryKind::kSinh: return "Sinh";
    case UnaryKind::kCosh: return "Cosh";
    case UnaryKind::kAsinh: return "Asinh";
    case UnaryKind::kAcosh: return "Acosh";
    case UnaryKind::kAtanh: return "Atanh";
    case UnaryKind::kCeil: return "Ceil";
    case UnaryKind::kFloor: return "Floor";
    case UnaryKind::kRound: return "Round";
    case UnaryKind::kSign: return "Sign";
  }
  return "?";
}

const char* binary_kind_name(BinaryKind k) {
  switch (k) {
    case BinaryKind::kAdd: return "Add";
    case BinaryKind::kSub: return "Sub";
    case BinaryKind::kMul: return "Mul";
    case BinaryKind::kDiv: return "Div";
    case BinaryKind::kMax: return "Max";
    case BinaryKind::kMin: return "Min";
    case BinaryKind::kPRelu: return "PRelu";
    case BinaryKind::kPow: return "Pow";
  }
  return "?";
}

const char* reduce_kind_name(ReduceKind k) {
  switch (k) {
    case ReduceKind::kSum: return "ReduceSum";
    case ReduceKind::kMean: return "ReduceMean";
    case ReduceKind::kMax: return "ReduceMax";
    case ReduceKind::kMin: return "ReduceMin";
    case ReduceKind::kProd: return "ReduceProd";
    case ReduceKind::kSumSquare: return "ReduceSumSquare";
    case ReduceKind::kL1: return "ReduceL1";
    case ReduceKind::kL2: return "ReduceL2";
    case ReduceKind::kLogSum: return "ReduceLogSum";
    case ReduceKind::kLogSumExp: return "ReduceLogSumExp";
    case ReduceKind::kArgMax: return "ArgMax";
    case ReduceKind::kArgMin: return "ArgMin";
  }
  return "?";
}

OpKind Node::kind() const {
  // The variant's alternatives are listed in OpKind order.
  return static_cast<OpKind>(attrs.index());
}

int Graph::add_input(std::string name, DType dtype, Shape shape) {
  values.push_back({std::move(name), dtype, std::move(shape), ValueKind::kInput, -1, {}});
  int id = static_cast<int>(values.size()) - 1;
  inputs.push_back(id);
  return id;
}

int Graph::add_weight(std::string name, DType dtype, Shape shape) {
  values.push_back({std::move(name), dtype, std::move(shape), ValueKind::kWeight, -1, {}});
  return static_cast<int>(values.size()) - 1;
}

int Graph::add_node(std::string name, std::string source_op, OpAttrs attrs,
                    std::vector<int> node_inputs, Shape out_shape, std::string out_name) {
  int out = static_cast<int>(values.size());
  if (out_name.empty()) out_name = name + ":0";
  values.push_back({std::move(out_name), DType::kF32, std::move(out_shape), ValueKind::kActivation,
                    static_cast<int>(nodes.size()), {}});
  nodes.push_back({std::move(name), std::move(source_op), std::move(attrs), std::move(node_inputs), {out}});
  return out;
}

std::optional<int> Graph::find_value(const std::string& name) const {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].name == name) return static_cast<int>(i);
  return std::nullopt;
}

std::vector<int> Graph::consumers(int v) const {
  std::vector<int> out;
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int in : nodes[n].inputs)
      if (in == v) { out.push_back(static_cast<int>(n)); break; }
  return out;
}

bool Graph::is_output(int v) const {
  return std::find(outputs.begin(), outputs.end(), v) != outputs.end();
}

void Graph::replace_uses(int from, int to) {
  for (Node& n : nodes)
    for (int& in : n.inputs)
      if (in == from) in = to;
  for (int& o : outputs)
    if (o == from) o = to;
}

void Graph::remove_dead() {
  std::vector<bool> live_value(values.size(), false);
  for (int o : outputs) live_value[o] = true;
  std::vector<bool> keep(nodes.size(), false);
  for (int n = static_cast<int>(nodes.size()) - 1; n >= 0; --n) {
    bool used = false;
    for (int o : nodes[n].outputs) used = used || live_value[o];
    if (!used) continue;
    keep[n] = true;
    for (int in : nodes[n].inputs) live_value[in] = true;
  }
  std::vector<Node> kept;
  for (size_t n = 0; n < nodes.size(); ++n)
    if (keep[n]) kept.push_back(std::move(nodes[n]));
  nodes = std::move(kept);
  for (Value& v : values) v.producer = -1;
  for (size_t n = 0; n < nodes.size(); ++n)
    for (int o : nodes[n].outputs) values[o].producer = static_cast<int>(n);
  // Values stay in place (indices are stable); unused weights simply have no reader.
}

Status Graph::verify() const {
  std::vector<bool> defined(values.size(), false);
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].kind != ValueKind::kActivation) defined[i] = true;
  for (const Node& n : nodes) {
    for (int in : n.inputs) {
      if (in < 0 || in >= static_cast<int>(values.size()))
        return internal_error("node '" + n.name + "' reads a value index out of range");
      if (!defined[in])
        return invalid_model("node '" + n.name + "' (" + n.source_op + ") reads '" + values[in].name +
                             "' before it is produced (graph not in topological order, or a cycle)");
    }
    for (int o : n.outputs) defined[o] = true;
  }
  for (int o : outputs)
    if (!defined[o]) return invalid_model("graph output '" + values[o].name + "' is never produced");
  return Status::ok();
}

int64_t Graph::parameter_count() const {
  std::set<int> used;
  for (const Node& n : nodes)
    for (int in : n.inputs)
      if (values[in].kind == ValueKind::kWeight) used.insert(in);
  int64_t total = 0;
  for (int v : used) total += shape_elements(values[v].shape);
  return total;
}

}  // namespace kiln
