#include "import/tf/importer.h"
#include "import/tf/graph_listing.h"
#include "core/status_macros.h"

#include <algorithm>
#include <queue>

namespace kiln::tf_import {

namespace {
const Binding& dead_binding() {
  static const Binding b = [] {
    Binding d;
    d.dead = true;
    return d;
  }();
  return b;
}

// Nodes that are never a model's result even when nothing reads them.
bool never_an_output(const std::string& op) {
  return op == "NoOp" || op == "Const" || op == "Placeholder" || op == "PlaceholderWithDefault" ||
         op == "Assert" || op == "VarHandleOp" || op == "VariableV2" || op == "SaveV2" || op == "RestoreV2";
}
}  // namespace

std::pair<std::string, int> split_tensor(const std::string& name) {
  OutputRef r = split_output_name(!name.empty() && name[0] == '^' ? name.substr(1) : name);
  return {std::move(r.node), r.index};
}

std::string canonical_tensor(const std::string& name) {
  auto [node, k] = split_tensor(name);
  return k == 0 ? node : node + ":" + std::to_string(k);
}

const Binding* Importer::lookup(const std::string& tensor) const {
  auto it = bindings_.find(tensor);
  if (it != bindings_.end()) return &it->second;
  if (dead_nodes_.count(split_tensor(tensor).first)) return &dead_binding();
  return nullptr;
}

int Importer::node_index(const std::string& node) const {
  auto it = node_index_.find(node);
  return it == node_index_.end() ? -1 : it->second;
}

int Importer::readers(const std::string& tensor) const {
  auto it = readers_.find(tensor);
  return it == readers_.end() ? 0 : it->second;
}

Expected<Shape> Importer::kiln_shape(const Operand& o) const {
  if (o.is_const) return o.constant.shape();
  if (o.value < 0 || o.value >= static_cast<int>(out_.graph.values.size()))
    return internal_error("operand without a value");
  return out_.graph.values[o.value].shape;
}

Expected<Shape> Importer::tf_shape(const Binding& b, const std::string& reader) {
  if (b.dead) return internal_error(reader + ": reads a pruned tensor");
  if (b.deferred)
    return unsupported(reader + ": reads the output of SpaceToBatchND, which kiln supports only as part of a "
                                "dilated convolution (SpaceToBatchND -> Conv2D -> BatchToSpaceND)");
  if (b.placeholder >= 0) return placeholder_shape(b.placeholder);
  KILN_ASSIGN_OR_RETURN(Shape s, kiln_shape(b.operand));
  if (b.layout == Layout::kNchw) return Shape{s[0], s[2], s[3], s[1]};
  return s;
}

Expected<Operand> Importer::operand(const Binding& b, Layout want, const std::string& reader) {
  if (b.dead) return internal_error(reader + ": reads a pruned tensor");
  if (b.deferred) {
    KILN_RETURN_IF_ERROR(tf_shape(b, reader).status());
  }
  if (b.placeholder >= 0) {
    KILN_ASSIGN_OR_RETURN(int v, placeholder_value(b.placeholder, reader));
    return convert(Operand::of_value(v), Layout::kPlain, want, reader);
  }
  return convert(b.operand, b.layout, want, reader);
}

Expected<Operand> Importer::convert(const Operand& x, Layout from, Layout to, const std::string& reader) {
  if (from == to) return x;
  KILN_ASSIGN_OR_RETURN(Shape s, kiln_shape(x));
  if (s.size() != 4)
    return unsupported(reader + ": a rank-" + std::to_string(s.size()) +
                       " tensor cannot change between NHWC and NCHW (only 4-D tensors can)");
  const std::vector<int64_t>& perm = to == Layout::kNchw ? kToNchw : kToNhwc;
  if (x.is_const) {
    KILN_ASSIGN_OR_RETURN(Tensor t, fold_constant(TransposeAttrs{perm}, {x.constant}));
    return Operand::of_const(std::move(t), x.weight_name);
  }
  auto key = std::make_pair(x.value, to);
  if (auto it = converted_.find(key); it != converted_.end()) return Operand::of_value(it->second);
  Shape out;
  std::vector<int64_t> moved;  // the non-unit axes in their new order
  for (int64_t p : perm) {
    out.push_back(s[p]);
    if (s[p] != 1) moved.push_back(p);
  }
  // Moving only unit axes keeps the memory order: a reshape, not a transpose.
  bool order_kept = std::is_sorted(moved.begin(), moved.end());
  std::string name = out_.graph.values[x.value].name + (to == Layout::kNchw ? "/nchw" : "/nhwc");
  OpAttrs attrs = order_kept ? OpAttrs{ReshapeAttrs{out}} : OpAttrs{TransposeAttrs{perm}};
  int v = out_.graph.add_node(name, order_kept ? "Reshape" : "Transpose", attrs, {x.value}, out, name);
  converted_[key] = v;
  // A later request for the original layout returns the original value.
  converted_[std::make_pair(v, from)] = x.value;
  return Operand::of_value(v);
}

Expected<int> Importer::value_of(const Operand& o, const std::string& reader) {
  if (!o.is_const) return o.value;
  Tensor t = o.constant;
  if (t.dtype() == DType::kF64) t = Tensor::from_floats(t.shape(), t.to_f32());
  if (t.dtype() != DType::kF32)
    return unsupported(reader + ": reads a " + std::string(dtype_name(t.dtype())) + " constant ('" + o.weight_name +
                       "') as a run-time tensor; kiln computes in float32");
  auto key = std::make_pair(static_cast<const void*>(o.constant.raw()), o.constant.shape());
  if (auto it = weight_values_.find(key); it != weight_values_.end()) return it->second.first;
  std::string base = o.weight_name.empty() ? std::string("const") : o.weight_name;
  std::string name = base;
  for (int k = 1; out_.weights.tensors.count(name) || out_.graph.find_value(name); ++k)
    name = base + "/" + std::to_string(k);
  int id = out_.graph.add_weight(name, DType::kF32, t.shape());
  out_.graph.values[id].origin = o.origin;
  out_.weights.tensors[name] = t;
  weight_values_[key] = {id, o.constant};  // holding the buffer keeps its address unique
  return id;
}

Expected<Operand> Importer::add_op(const std::string& name, const std::string& source_op, OpAttrs attrs,
                                   const std::vector<Operand>& ins, const std::string& reader) {
  bool all_const = std::all_of(ins.begin(), ins.end(), [](const Operand& o) { return o.is_const; });
  if (all_const) {
    std::vector<Tensor> ts;
    for (const Operand& o : ins) ts.push_back(o.constant);
    auto folded = fold_constant(attrs, ts);
    if (!folded) return folded.error().with_context(reader);
    return Operand::of_const(std::move(*folded), name);
  }
  std::vector<int> ids;
  std::vector<Shape> shapes;
  for (const Operand& o : ins) {
    KILN_ASSIGN_OR_RETURN(int id, value_of(o, reader));
    ids.push_back(id);
    shapes.push_back(out_.graph.values[id].shape);
  }
  auto shape = infer_shape(attrs, shapes);
  if (!shape) return shape.error().with_context(reader);
  return Operand::of_value(out_.graph.add_node(name, source_op, std::move(attrs), std::move(ids), *shape, name));
}

Expected<Shape> Importer::placeholder_shape(int node) {
  const tf::NodeDef& n = g_.node(node);
  const Shape* requested = nullptr;
  for (const std::string& key : {n.name(), n.name() + ":0"})
    if (auto it = options_.input_shapes.find(key); !requested && it != options_.input_shapes.end()) requested = &it->second;
  if (!requested && node == first_input_)
    if (auto it = options_.input_shapes.find(""); it != options_.input_shapes.end()) requested = &it->second;
  const std::string hint = "; give its shape (ImportOptions::input_shapes, kiln --input-shape) in TensorFlow's "
                           "layout, e.g. [N,H,W,C]";
  auto a = n.attr().find("shape");
  const bool has_shape =
      a != n.attr().end() && a->second.value_case() == tf::AttrValue::kShape && !a->second.shape().unknown_rank();
  if (!has_shape && !requested) return invalid_argument("graph input '" + n.name() + "' has no shape in the file" + hint);
  Shape declared;  // -1: unknown
  if (has_shape)
    for (const auto& dim : a->second.shape().dim()) declared.push_back(dim.size() > 0 ? dim.size() : -1);
  int unknown = -1;
  Shape s = resolve_input_shape(declared, requested, unknown);
  if (unknown >= 0)
    return invalid_argument("graph input '" + n.name() + "' has an unknown size on axis " + std::to_string(unknown) + hint);
  return s;
}

Expected<int> Importer::placeholder_value(int node, const std::string& reader) {
  if (auto it = input_values_.find(node); it != input_values_.end()) return it->second;
  const tf::NodeDef& n = g_.node(node);
  auto a = n.attr().find("dtype");
  int dt = a == n.attr().end() ? tf::DT_FLOAT : static_cast<int>(a->second.type());
  if (dt != tf::DT_FLOAT)
    return unsupported(reader + ": graph input '" + n.name() + "' is " + tf_dtype_name(dt) +
                       "; kiln takes float32 inputs");
  KILN_ASSIGN_OR_RETURN(Shape s, placeholder_shape(node));
  for (int64_t d : s)
    if (d <= 0) return invalid_argument("graph input '" + n.name() + "': shape " + shape_to_string(s) + " is not positive");
  int v = out_.graph.add_input(n.name(), DType::kF32, s);
  input_values_[node] = v;
  return v;
}

Status Importer::index_nodes() {
  if (g_.node_size() == 0) return invalid_model("not a TensorFlow GraphDef with nodes: the graph is empty");
  for (int i = 0; i < g_.node_size(); ++i) {
    const std::string& name = g_.node(i).name();
    if (name.empty()) return invalid_model("node " + std::to_string(i) + " has no name");
    if (!node_index_.emplace(name, i).second) return invalid_model("two nodes are named '" + name + "'");
  }
  for (const auto& [key, shape] : options_.input_shapes) {
    if (key.empty()) continue;
    int n = node_index(split_tensor(key).first);
    if (n < 0 || (g_.node(n).op() != "Placeholder" && g_.node(n).op() != "PlaceholderWithDefault"))
      return invalid_argument("an input shape is given for '" + key + "', but the graph has no input of that name");
  }
  return Status::ok();
}

Expected<std::vector<std::pair<std::string, std::string>>> Importer::choose_outputs(bool& defaulted) {
  std::vector<std::pair<std::string, std::string>> outs;
  defaulted = options_.outputs.empty();
  for (const std::string& o : options_.outputs) {
    std::string t = canonical_tensor(o);
    if (node_index(split_tensor(t).first) < 0)
      return not_found("no node named '" + split_tensor(t).first + "' in the graph (asked for as output '" + o + "')");
    outs.emplace_back(t, o);
  }
  if (!defaulted) return outs;
  std::unordered_set<std::string> read;
  for (const auto& n : g_.node())
    for (const auto& in : n.input()) read.insert(split_tensor(in).first);
  for (const auto& n : g_.node())
    if (!read.count(n.name()) && !never_an_output(n.op())) outs.emplace_back(n.name(), n.name());
  return outs;
}

Expected<std::vector<int>> Importer::live_order(const std::vector<std::pair<std::string, std::string>>& outs) {
  // Everything the outputs depend on, through data and control inputs.
  std::vector<bool> live(g_.node_size(), false);
  std::vector<int> stack;
  for (const auto& o : outs) {
    const int n = node_index(split_tensor(o.first).first);
    // (A node named like a tensor, "a:1", is read as output 1 of a node "a" that may not exist.)
    if (n < 0) return invalid_model("output '" + o.first + "' is not produced by any node in the graph");
    stack.push_back(n);
  }
  while (!stack.empty()) {
    int n = stack.back();
    stack.pop_back();
    if (live[n]) continue;
    live[n] = true;
    for (const auto& in : g_.node(n).input()) {
      int src = node_index(split_tensor(in).first);
      if (src < 0)
        return invalid_model("node '" + g_.node(n).name() + "' (" + g_.node(n).op() + ") reads '" + in +
                             "', which no node in the graph produces");
      if (!live[src]) stack.push_back(src);
    }
  }
  // Topological order, preferring file order (Kahn's algorithm).
  std::vector<int> pending(g_.node_size(), 0);
  std::vector<std::vector<int>> readers(g_.node_size());
  size_t count = 0;
  for (int n = 0; n < g_.node_size(); ++n) {
    if (!live[n]) continue;
    ++count;
    for (const auto& in : g_.node(n).input()) {
      ++pending[n];
      readers[node_index(split_tensor(in).first)].push_back(n);
      if (in.empty() || in[0] != '^') ++readers_[canonical_tensor(in)];
    }
    const tf::NodeDef& nd = g_.node(n);
    if (first_input_ < 0 && nd.op() == "Placeholder" && !options_.constant_inputs.count(nd.name()) &&
        !options_.constant_inputs.count(nd.name() + ":0")) {
      auto dt = nd.attr().find("dtype");
      if (dt == nd.attr().end() || dt->second.type() == tf::DT_FLOAT) first_input_ = n;
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int n = 0; n < g_.node_size(); ++n)
    if (live[n] && pending[n] == 0) ready.push(n);
  std::vector<int> order;
  while (!ready.empty()) {
    int n = ready.top();
    ready.pop();
    order.push_back(n);
    for (int r : readers[n])
      if (--pending[r] == 0) ready.push(r);
  }
  if (order.size() != count) {
    for (int n = 0; n < g_.node_size(); ++n)
      if (live[n] && pending[n] > 0)
        return unsupported("the graph has a cycle through node '" + g_.node(n).name() + "' (" + g_.node(n).op() +
                           "), a while loop; kiln imports graphs without loops");
  }
  return order;
}

Status Importer::translate(int index) {
  const tf::NodeDef& n = g_.node(index);
  std::vector<std::string> data;
  std::vector<const Binding*> bindings;
  bool dead = false, any_dead = false, all_dead = true;
  for (const auto& in : n.input()) {
    if (!in.empty() && in[0] == '^') {
      dead = dead || dead_nodes_.count(in.substr(1)) != 0;
      continue;
    }
    std::string t = canonical_tensor(in);
    const Binding* b = lookup(t);
    if (!b) {
      auto [src, k] = split_tensor(t);
      const tf::NodeDef& s = g_.node(node_index(src));
      return unsupported("node '" + n.name() + "' (" + n.op() + ") reads '" + in + "': output " + std::to_string(k) +
                         " of node '" + src + "' (" + s.op() + ") is not supported by kiln");
    }
    data.push_back(t);
    bindings.push_back(b);
    any_dead = any_dead || b->dead;
    all_dead = all_dead && b->dead;
  }
  // A node on an untaken Switch branch is dead; Merge is alive while one input is.
  if (dead || (n.op() == "Merge" ? (!data.empty() && all_dead) : any_dead)) {
    dead_nodes_.insert(n.name());
    return Status::ok();
  }
  const OpTable& table = op_table();
  auto it = table.find(n.op());
  if (it == table.end()) return unsupported("node '" + n.name() + "' (" + n.op() + "): operator is not supported by kiln");
  NodeContext ctx(*this, n, std::move(data), std::move(bindings));
  return it->second(ctx);
}

Status Importer::finish_outputs(const std::vector<std::pair<std::string, std::string>>& outs, bool defaulted) {
  Graph& g = out_.graph;
  for (const auto& [tensor, display] : outs) {
    const Binding* b = lookup(tensor);
    if (!b) return unsupported("output '" + display + "' is not produced (kiln does not support that output)");
    if (b->dead) {
      if (defaulted) continue;
      return invalid_argument("output '" + display + "' lies on a branch that inference never takes (a Switch on the "
                              "learning phase)");
    }
    if (b->operand.is_const && b->placeholder < 0 && !b->deferred) {
      if (defaulted) continue;
      return unsupported("output '" + display + "' is a constant (it does not depend on any input)");
    }
    std::string reader = "output '" + display + "'";
    KILN_ASSIGN_OR_RETURN(Operand o, operand(*b, Layout::kPlain, reader));
    int id = o.value;
    if (g.values[id].kind != ValueKind::kActivation || g.is_output(id))
      id = g.add_node(display + "/identity", "Identity", std::monostate{}, {id}, g.values[id].shape);
    if (auto other = g.find_value(display); other && *other != id)
      g.values[*other].name = display + (b->layout == Layout::kNchw ? "/nchw" : "/orig");
    g.values[id].name = display;
    g.mark_output(id);
  }
  if (g.outputs.empty())
    return invalid_model("the graph has no outputs: every node is read by another node, constant or pruned; name "
                         "the outputs explicitly");
  return Status::ok();
}

Expected<ImportedModel> Importer::run() {
  KILN_RETURN_IF_ERROR(index_nodes());
  bool defaulted = false;
  KILN_ASSIGN_OR_RETURN(auto outs, choose_outputs(defaulted));
  for (const auto& o : outs) output_tensors_.insert(o.first);
  KILN_ASSIGN_OR_RETURN(std::vector<int> order, live_order(outs));
  for (int n : order) KILN_RETURN_IF_ERROR(translate(n));
  KILN_RETURN_IF_ERROR(finish_outputs(outs, defaulted));
  // Graph inputs in file order, however their first use ordered them.
  std::map<int, int> node_of;
  for (const auto& [node, v] : input_values_) node_of[v] = node;
  std::sort(out_.graph.inputs.begin(), out_.graph.inputs.end(),
            [&](int a, int b) { return node_of[a] < node_of[b]; });
  if (out_.graph.inputs.empty()) return invalid_model("the outputs do not depend on any graph input (Placeholder)");
  out_.graph.remove_dead();
  KILN_RETURN_IF_ERROR(out_.graph.verify());
  out_.producer = "tensorflow (GraphDef producer " + std::to_string(g_.versions().producer()) + ")";
  return std::move(out_);
}

}  // namespace kiln::tf_import
