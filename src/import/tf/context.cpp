#include "import/tf/context.h"
#include "core/status_macros.h"

#include "import/tf/importer.h"

namespace kiln::tf_import {

int64_t kiln_axis(int64_t tf_axis, Layout layout) {
  if (layout == Layout::kPlain) return tf_axis;
  static constexpr int64_t kFromNhwc[4] = {0, 2, 3, 1};  // TF axis -> kiln axis (inverse of kToNchw)
  return kFromNhwc[tf_axis];
}

const std::string& NodeContext::input_name(size_t i) const {
  static const std::string none;
  return i < inputs_.size() ? inputs_[i] : none;
}

const Binding& NodeContext::binding(size_t i) const {
  static const Binding missing = [] {
    Binding b;
    b.dead = true;
    return b;
  }();
  return i < bindings_.size() ? *bindings_[i] : missing;
}

const tf::AttrValue* NodeContext::find_attr(const std::string& n) const {
  auto it = node_.attr().find(n);
  return it == node_.attr().end() ? nullptr : &it->second;
}

int64_t NodeContext::attr_int(const std::string& n, int64_t def) const {
  const auto* a = find_attr(n);
  return a && a->value_case() == tf::AttrValue::kI ? a->i() : def;
}

float NodeContext::attr_float(const std::string& n, float def) const {
  const auto* a = find_attr(n);
  return a && a->value_case() == tf::AttrValue::kF ? a->f() : def;
}

bool NodeContext::attr_bool(const std::string& n, bool def) const {
  const auto* a = find_attr(n);
  return a && a->value_case() == tf::AttrValue::kB ? a->b() : def;
}

std::string NodeContext::attr_string(const std::string& n, const std::string& def) const {
  const auto* a = find_attr(n);
  return a && a->value_case() == tf::AttrValue::kS ? a->s() : def;
}

std::vector<int64_t> NodeContext::attr_ints(const std::string& n, std::vector<int64_t> def) const {
  const auto* a = find_attr(n);
  if (!a || a->value_case() != tf::AttrValue::kList) return def;
  return {a->list().i().begin(), a->list().i().end()};
}

int NodeContext::attr_type(const std::string& n, int def) const {
  const auto* a = find_attr(n);
  return a && a->value_case() == tf::AttrValue::kType ? static_cast<int>(a->type()) : def;
}

Expected<Layout> NodeContext::data_format_layout() const {
  std::string f = attr_string("data_format", "NHWC");
  if (f == "NHWC") return Layout::kNchw;
  if (f == "NCHW") return Layout::kPlain;
  return fail("data_format '" + f + "' is not supported (kiln reads NHWC and NCHW)");
}

Expected<Tensor> NodeContext::const_value(size_t i) const {
  if (i >= num_inputs()) return bad("input " + std::to_string(i) + " is missing");
  if (!is_const(i))
    return fail("input " + std::to_string(i) + " ('" + input_name(i) +
                "') must be a constant, but it is computed at run time");
  return binding(i).operand.constant;
}

Expected<std::vector<int64_t>> NodeContext::const_ints(size_t i) const {
  KILN_ASSIGN_OR_RETURN(Tensor t, const_value(i));
  return t.to_i64();
}

Expected<Shape> NodeContext::shape(size_t i) const {
  if (i >= num_inputs()) return bad("input " + std::to_string(i) + " is missing");
  return imp_.tf_shape(binding(i), where());
}

Expected<Operand> NodeContext::operand(size_t i, Layout want) {
  if (i >= num_inputs()) return bad("input " + std::to_string(i) + " is missing");
  return imp_.operand(binding(i), want, where());
}

Expected<Operand> NodeContext::broadcast_operand(size_t i, Layout want, size_t out_rank) {
  KILN_ASSIGN_OR_RETURN(Shape s, shape(i));
  if (want == Layout::kPlain || s.size() == 4 || out_rank != 4) return operand(i, want);
  if (shape_elements(s) == 1) return operand(i, Layout::kPlain);  // broadcasts alike in any layout
  // Lower rank: align to the trailing (channel) axes as TensorFlow does, then transpose.
  KILN_ASSIGN_OR_RETURN(Operand x, operand(i, Layout::kPlain));
  Shape s4(4 - s.size(), 1);
  s4.insert(s4.end(), s.begin(), s.end());
  KILN_ASSIGN_OR_RETURN(Operand r, compute(ReshapeAttrs{s4}, {x}, "/rank4_" + std::to_string(i)));
  return imp_.convert(r, Layout::kPlain, Layout::kNchw, where());
}

Expected<Layout> NodeContext::elementwise_layout(const std::vector<size_t>& ins) const {
  size_t rank = 0;
  bool nchw = false;
  for (size_t i : ins) {
    KILN_ASSIGN_OR_RETURN(Shape s, shape(i));
    rank = std::max(rank, s.size());
    nchw = nchw || (s.size() == 4 && layout(i) == Layout::kNchw);
  }
  return rank == 4 && nchw ? Layout::kNchw : Layout::kPlain;
}

Expected<Shape> NodeContext::operand_shape(const Operand& o) const { return imp_.kiln_shape(o); }

Expected<Operand> NodeContext::compute(OpAttrs attrs, std::vector<Operand> ins, const std::string& suffix) {
  return imp_.add_op(name() + suffix, op(), std::move(attrs), ins, where());
}

Status NodeContext::emit(OpAttrs attrs, std::vector<Operand> ins, Layout layout) {
  KILN_ASSIGN_OR_RETURN(Operand r, compute(std::move(attrs), std::move(ins)));
  return bind(0, std::move(r), layout);
}

std::string NodeContext::output_name(size_t out) const {
  return out == 0 ? name() : name() + ":" + std::to_string(out);
}

Status NodeContext::bind(size_t out, Operand r, Layout layout) {
  Binding b;
  if (r.is_const && layout == Layout::kNchw) {
    // Constants are kept in TensorFlow's layout.
    KILN_ASSIGN_OR_RETURN(r, imp_.convert(r, Layout::kNchw, Layout::kPlain, where()));
    layout = Layout::kPlain;
  }
  b.operand = std::move(r);
  b.layout = layout;
  return bind_binding(out, std::move(b));
}

Status NodeContext::bind_binding(size_t out, Binding b) {
  imp_.bind(output_name(out), std::move(b));
  return Status::ok();
}

Status NodeContext::set_const(size_t out, Tensor t) {
  return bind(out, Operand::of_const(std::move(t), output_name(out)), Layout::kPlain);
}

Status NodeContext::alias(size_t out, size_t in) {
  if (in >= num_inputs()) return bad("input " + std::to_string(in) + " is missing");
  return bind_binding(out, binding(in));
}

Status NodeContext::fail(const std::string& what) const { return unsupported(where() + ": " + what); }

Status NodeContext::bad(const std::string& what) const { return invalid_model(where() + ": " + what); }

}  // namespace kiln::tf_import
