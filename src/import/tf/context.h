// The per-node view a TensorFlow op translator works with: typed attribute access, inputs
// that are constants or graph values held in a known layout, and ways to emit kiln nodes
// or folded constants.
//
// Layout. TensorFlow image models are NHWC; kiln computes NCHW. Every TensorFlow tensor is
// bound to a kiln operand in one of two layouts: kPlain (the kiln tensor is TensorFlow's
// tensor as it is) or kNchw (TensorFlow's tensor is 4-D NHWC and kiln holds it transposed
// by (0,3,1,2)). Spatial ops with data_format NHWC ask for kNchw inputs and produce kNchw
// outputs; element-wise ops keep their input's layout; shape-manipulating ops (Reshape,
// MatMul, Squeeze, ...) ask for kPlain. A Transpose is inserted only where a consumer asks
// for the other layout (once per tensor), so a chain of NHWC ops runs transposition-free.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/graph.h"
#include "import/constant_fold.h"
#include "import/import.h"
#include "import/tf/proto/graph.pb.h"

namespace kiln::tf_import {

class Importer;
class NodeContext;

enum class Layout : uint8_t { kPlain, kNchw };

// Axis permutations between TensorFlow's NHWC and kiln's NCHW: out axis k = in axis perm[k].
inline const std::vector<int64_t> kToNchw = {0, 3, 1, 2};
inline const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};
// The kiln axis that holds TensorFlow axis `tf_axis` (0 <= tf_axis < rank) in `layout`.
int64_t kiln_axis(int64_t tf_axis, Layout layout);

// A tensor as one op reads or produces it: a constant (folded at import) or a kiln value.
struct Operand {
  bool is_const = false;
  Tensor constant;
  std::string weight_name;  // a constant's name should it become a weight (its TF Const)
  int value = -1;
  WeightOrigin origin;      // how `constant` derives from the Const, recorded on its weight

  static Operand of_const(Tensor t, std::string weight_name, WeightOrigin origin = {}) {
    return {true, std::move(t), std::move(weight_name), -1, origin};
  }
  static Operand of_value(int v) { return {false, {}, {}, v, {}}; }
};

struct Deferred;

// What one TensorFlow tensor name ("node" for output 0, "node:k") is bound to.
struct Binding {
  Operand operand;  // constants are always held in TensorFlow's own layout (kPlain)
  Layout layout = Layout::kPlain;
  bool dead = false;     // on a Switch branch not taken at inference
  int placeholder = -1;  // a graph input created on first use: its node index
  std::shared_ptr<Deferred> deferred;
};

// SpaceToBatchND -> Conv2D -> BatchToSpaceND is how TensorFlow writes a dilated convolution.
// SpaceToBatchND binds a Deferred; the convolution reading it sets `finish`; BatchToSpaceND
// calls it with the final pads, emitting one dilated convolution.
struct Deferred {
  Spatial block{1, 1};
  Spatial pads{0, 0, 0, 0};  // {top, left, bottom, right}
  Binding source;                            // the tensor SpaceToBatchND read
  std::function<Status(NodeContext&, Spatial pads)> finish;
};

class NodeContext {
 public:
  NodeContext(Importer& imp, const tf::NodeDef& node, std::vector<std::string> inputs,
              std::vector<const Binding*> bindings)
      : imp_(imp), node_(node), inputs_(std::move(inputs)), bindings_(std::move(bindings)) {}

  const tf::NodeDef& node() const { return node_; }
  const std::string& name() const { return node_.name(); }
  const std::string& op() const { return node_.op(); }
  std::string where() const { return "node '" + name() + "' (" + op() + ")"; }
  Importer& importer() { return imp_; }

  // Attributes (defaults as TensorFlow's op registry gives them).
  const tf::AttrValue* find_attr(const std::string& n) const;
  bool has_attr(const std::string& n) const { return find_attr(n) != nullptr; }
  int64_t attr_int(const std::string& n, int64_t def) const;
  float attr_float(const std::string& n, float def) const;
  bool attr_bool(const std::string& n, bool def) const;
  std::string attr_string(const std::string& n, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& n, std::vector<int64_t> def = {}) const;
  int attr_type(const std::string& n, int def) const;
  // data_format: NHWC computes in kNchw, NCHW in kPlain (kiln's own layout).
  Expected<Layout> data_format_layout() const;

  // Data inputs (control inputs "^x" are not listed).
  size_t num_inputs() const { return inputs_.size(); }
  // Out of range: an empty name and a pruned binding (translators check num_inputs()).
  const std::string& input_name(size_t i) const;
  const Binding& binding(size_t i) const;
  bool is_const(size_t i) const { return i < num_inputs() && binding(i).operand.is_const; }
  Expected<Tensor> const_value(size_t i) const;  // error names the input if it is computed
  Expected<std::vector<int64_t>> const_ints(size_t i) const;
  Expected<Shape> shape(size_t i) const;  // TensorFlow's shape of input i
  Layout layout(size_t i) const { return binding(i).layout; }
  // Input i in the requested layout (inserting a transpose, or transposing a constant).
  Expected<Operand> operand(size_t i, Layout want);
  // Input i as an operand of an element-wise op whose output has `out_rank` axes, computed in
  // `want`: NumPy broadcasting aligns trailing axes, so a [C] tensor beside an NHWC tensor
  // held as NCHW becomes [1,C,1,1].
  Expected<Operand> broadcast_operand(size_t i, Layout want, size_t out_rank);
  // The layout an element-wise op over `ins` computes in: kNchw when its output is 4-D and a
  // 4-D input is held as kNchw, else kPlain.
  Expected<Layout> elementwise_layout(const std::vector<size_t>& ins) const;

  // Outputs. compute() adds a node (named after this node plus `suffix`) or folds it when
  // every operand is a constant; emit() computes and binds output 0.
  Expected<Operand> compute(OpAttrs attrs, std::vector<Operand> ins, const std::string& suffix = {});
  Status emit(OpAttrs attrs, std::vector<Operand> ins, Layout layout);
  Status bind(size_t out, Operand r, Layout layout);
  Status bind_binding(size_t out, Binding b);
  Status set_const(size_t out, Tensor t);
  Status alias(size_t out, size_t in);
  Expected<Shape> operand_shape(const Operand& o) const;  // kiln's shape of an operand

  Status fail(const std::string& what) const;  // kUnsupported naming node and op
  Status bad(const std::string& what) const;   // kInvalidModel naming node and op
  std::string output_name(size_t out) const;

 private:
  Importer& imp_;
  const tf::NodeDef& node_;
  std::vector<std::string> inputs_;
  std::vector<const Binding*> bindings_;
};

using OpTranslator = std::function<Status(NodeContext&)>;
using OpTable = std::unordered_map<std::string, OpTranslator>;

void register_control_ops(OpTable& t);
void register_conv_ops(OpTable& t);
void register_pool_ops(OpTable& t);
void register_elementwise_ops(OpTable& t);
void register_tensor_ops(OpTable& t);
void register_shape_ops(OpTable& t);
void register_quantized_ops(OpTable& t);
const OpTable& op_table();

// A TensorFlow TensorProto as a kiln Tensor: floating types become float32 (float64 stays),
// integer types int64, bool bool.
Expected<Tensor> tensor_from_proto(const tf::TensorProto& t);
const char* tf_dtype_name(int dtype);
bool is_float_dtype(int dtype);  // DT_FLOAT, DT_HALF, DT_BFLOAT16, DT_DOUBLE

// Evaluates an op on constant tensors; TensorFlow's integer division floors.
inline Expected<Tensor> fold_constant(const OpAttrs& attrs, const std::vector<Tensor>& inputs) {
  return kiln::fold_constant(attrs, inputs, IntegerDivision::kFloor);
}

// Conv2D / BiasAdd fusion: when input 0 of a BiasAdd is a kiln convolution nothing else reads,
// the bias becomes the convolution's own. Returns true when it did so (output 0 bound).
Expected<bool> try_fuse_bias(NodeContext& c, Layout layout);

}  // namespace kiln::tf_import
