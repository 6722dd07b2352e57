// State of one TensorFlow GraphDef import: TensorFlow tensor names bound to constants or
// kiln values (with their layout), graph inputs created on first use, and the pruning of
// what inference never runs (Switch branches on the learning phase, unread nodes).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "import/tf/context.h"

namespace kiln::tf_import {

// "node:0" -> "node"; "node:2" stays; "^node" (a control input) -> "node".
std::string canonical_tensor(const std::string& name);
// Splits "node:k" into ("node", k); k = 0 without a suffix (split_output_name, without a
// control input's '^').
std::pair<std::string, int> split_tensor(const std::string& name);

class Importer {
 public:
  Importer(const tf::GraphDef& g, const ImportOptions& options) : g_(g), options_(options) {}

  Expected<ImportedModel> run();

  // Bindings. lookup() returns null when nothing is bound to that name.
  const Binding* lookup(const std::string& tensor) const;
  void bind(const std::string& tensor, Binding b) { bindings_[tensor] = std::move(b); }

  // A binding in the requested layout; creates graph inputs and transposes on demand.
  Expected<Operand> operand(const Binding& b, Layout want, const std::string& reader);
  // Re-expresses a 4-D operand held in `from` in `to` (one cached transpose per value).
  Expected<Operand> convert(const Operand& x, Layout from, Layout to, const std::string& reader);
  // TensorFlow's shape of a bound tensor.
  Expected<Shape> tf_shape(const Binding& b, const std::string& reader);
  Expected<Shape> kiln_shape(const Operand& o) const;
  // The kiln value of an operand: a float32 constant becomes a weight on first use.
  Expected<int> value_of(const Operand& o, const std::string& reader);
  // Adds a node (folding when every input is constant); its output value is named `name`.
  Expected<Operand> add_op(const std::string& name, const std::string& source_op, OpAttrs attrs,
                           const std::vector<Operand>& ins, const std::string& reader);

  // How many live nodes read a tensor, and whether the user asked for it as an output.
  int readers(const std::string& tensor) const;
  bool is_output(const std::string& tensor) const { return output_tensors_.count(tensor) != 0; }

  int node_index(const std::string& node) const;  // -1 when no node has that name
  const tf::NodeDef& node(int index) const { return g_.node(index); }
  Graph& graph() { return out_.graph; }
  const ImportOptions& options() const { return options_; }

 private:
  Status index_nodes();
  Expected<std::vector<std::pair<std::string, std::string>>> choose_outputs(bool& defaulted);
  Expected<std::vector<int>> live_order(const std::vector<std::pair<std::string, std::string>>& outs);
  Status translate(int node);
  Expected<Shape> placeholder_shape(int node);
  Expected<int> placeholder_value(int node, const std::string& reader);
  Status finish_outputs(const std::vector<std::pair<std::string, std::string>>& outs, bool defaulted);

  const tf::GraphDef& g_;
  const ImportOptions& options_;
  ImportedModel out_;
  std::unordered_map<std::string, int> node_index_;
  std::unordered_map<std::string, Binding> bindings_;
  std::unordered_set<std::string> dead_nodes_;
  std::unordered_map<std::string, int> readers_;
  std::set<std::string> output_tensors_;
  int first_input_ = -1;                          // the placeholder the key "" stands for
  std::map<int, int> input_values_;               // placeholder node -> graph input value
  std::map<std::pair<int, Layout>, int> converted_;  // (value, layout) -> transposed value
  std::map<std::pair<const void*, Shape>, std::pair<int, Tensor>> weight_values_;  // constant -> weight value
};

}  // namespace kiln::tf_import
