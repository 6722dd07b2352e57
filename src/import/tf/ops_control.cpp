// Graph plumbing: Placeholder, Const, identities, and the training-phase leftovers of Keras
// graphs. Switch on the learning phase takes its false branch (inference), Merge forwards
// whichever input is alive, and "Dropout" (a function call the Defun-built graphs name so)
// is the identity at inference.
#include "import/tf/importer.h"
#include "core/status_macros.h"

namespace kiln::tf_import {
namespace {

const Tensor* option_for(const std::map<std::string, Tensor>& m, const std::string& node) {
  for (const std::string& key : {node, node + ":0"})
    if (auto it = m.find(key); it != m.end()) return &it->second;
  return nullptr;
}

Status translate_placeholder(NodeContext& c) {
  if (const Tensor* t = option_for(c.importer().options().constant_inputs, c.name())) return c.set_const(0, *t);
  Binding b;
  b.placeholder = c.importer().node_index(c.name());
  return c.bind_binding(0, b);
}

// A placeholder with a default value is an input only when the user gives its shape.
Status translate_placeholder_with_default(NodeContext& c) {
  const auto& shapes = c.importer().options().input_shapes;
  if (shapes.count(c.name()) || shapes.count(c.name() + ":0")) return translate_placeholder(c);
  return c.alias(0, 0);
}

Status translate_const(NodeContext& c) {
  const tf::AttrValue* v = c.find_attr("value");
  if (!v || v->value_case() != tf::AttrValue::kTensor) return c.bad("has no tensor value");
  auto t = tensor_from_proto(v->tensor());
  if (!t) return t.error().with_context(c.where());
  return c.set_const(0, std::move(*t));
}

Status translate_identity_n(NodeContext& c) {
  for (size_t i = 0; i < c.num_inputs(); ++i) KILN_RETURN_IF_ERROR(c.alias(i, i));
  return Status::ok();
}

Status translate_switch(NodeContext& c) {
  if (c.num_inputs() != 2) return c.bad("expects data and predicate inputs");
  const Binding& pred = c.binding(1);
  bool take_true = false;
  if (pred.operand.is_const && pred.placeholder < 0) {
    std::vector<int64_t> p = pred.operand.constant.to_i64();
    if (p.size() != 1) return c.bad("the predicate must be a scalar");
    take_true = p[0] != 0;
  } else if (pred.placeholder >= 0) {
    const tf::NodeDef& n = c.importer().node(pred.placeholder);
    auto dt = n.attr().find("dtype");
    if (dt == n.attr().end() || dt->second.type() != tf::DT_BOOL)
      return c.fail("the predicate must be a boolean");
    // A boolean graph input steering a Switch is the learning phase: false at inference.
  } else {
    return c.fail("a predicate computed at run time is not supported (only constants and the learning phase)");
  }
  Binding dead;
  dead.dead = true;
  KILN_RETURN_IF_ERROR(c.bind_binding(0, take_true ? dead : c.binding(0)));
  return c.bind_binding(1, take_true ? c.binding(0) : dead);
}

Status translate_merge(NodeContext& c) {
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    if (c.binding(i).dead) continue;
    KILN_RETURN_IF_ERROR(c.alias(0, i));
    return c.set_const(1, Tensor::from_i64({}, {static_cast<int64_t>(i)}));
  }
  return c.bad("every input is pruned");
}

}  // namespace

void register_control_ops(OpTable& t) {
  t["Placeholder"] = translate_placeholder;
  t["PlaceholderWithDefault"] = translate_placeholder_with_default;
  t["Const"] = translate_const;
  for (const char* op : {"Identity", "StopGradient", "PreventGradient", "Snapshot", "CheckNumerics", "Dropout"})
    t[op] = [](NodeContext& c) { return c.alias(0, 0); };
  t["IdentityN"] = translate_identity_n;
  t["NoOp"] = [](NodeContext&) { return Status::ok(); };
  t["Switch"] = translate_switch;
  t["Merge"] = translate_merge;
}

const OpTable& op_table() {
  static const OpTable table = [] {
    OpTable t;
    register_control_ops(t);
    register_conv_ops(t);
    register_pool_ops(t);
    register_elementwise_ops(t);
    register_tensor_ops(t);
    register_shape_ops(t);
    register_quantized_ops(t);
    return t;
  }();
  return table;
}

}  // namespace kiln::tf_import
