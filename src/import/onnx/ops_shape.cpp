// Ops that only ever compute constants in image models: shape arithmetic exporters emit
// around Resize and Reshape. They are folded at import; on run-time data they are refused.
#include <cmath>
#include <cstring>

#include "import/onnx/importer.h"
#include "core/status_macros.h"

namespace kiln::onnx_import {
namespace {

Status translate_shape(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  int64_t r = static_cast<int64_t>(x.size());
  int64_t start = c.attr_int("start", 0), end = c.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, start, r);
  std::vector<int64_t> dims(x.begin() + start, x.begin() + end);
  return c.set_const(0, Tensor::from_i64({static_cast<int64_t>(dims.size())}, dims));
}

Status translate_size(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  return c.set_const(0, Tensor::from_i64({}, {shape_elements(x)}));
}

Status translate_gather(NodeContext& c) {
  if (!c.is_const(0)) return c.fail("Gather on run-time data is not supported (only on constants such as shapes)");
  KILN_ASSIGN_OR_RETURN(Tensor data, c.const_value(0));
  KILN_ASSIGN_OR_RETURN(Tensor idx_t, c.const_value(1));
  const Shape& ds = data.shape();
  if (ds.empty()) return c.bad("Gather on a scalar");
  int64_t axis = c.attr_int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(ds.size());
  std::vector<int64_t> idx = idx_t.to_i64();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= ds[i];
  for (size_t i = axis + 1; i < ds.size(); ++i) inner *= ds[i];
  Shape out_shape(ds.begin(), ds.begin() + axis);
  out_shape.insert(out_shape.end(), idx_t.shape().begin(), idx_t.shape().end());
  out_shape.insert(out_shape.end(), ds.begin() + axis + 1, ds.end());
  Tensor out = Tensor::zeros(data.dtype(), out_shape);
  size_t es = dtype_size(data.dtype());
  const auto* src = static_cast<const uint8_t*>(data.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t k = 0; k < idx.size(); ++k) {
      int64_t j = idx[k] < 0 ? idx[k] + ds[axis] : idx[k];
      if (j < 0 || j >= ds[axis]) return c.bad("Gather index " + std::to_string(idx[k]) + " out of range");
      std::memcpy(dst + ((o * idx.size() + k) * inner) * es, src + ((o * ds[axis] + j) * inner) * es, inner * es);
    }
  return c.set_const(0, std::move(out));
}

Status translate_cast(NodeContext& c) {
  if (c.opset() < 6) return c.fail("Cast before opset 6 (its type given as a string) is not supported");
  int64_t to = c.attr_int("to", 1);
  if (!c.is_const(0)) {
    if (to == onnx::TensorProto::FLOAT) return c.alias(0, 0);  // run-time tensors are float32 already
    return c.fail("casting run-time data to element type " + std::to_string(to) + " is not supported");
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, c.const_value(0));
  switch (to) {
    case onnx::TensorProto::FLOAT: return c.set_const(0, Tensor::from_floats(t.shape(), t.to_f32()));
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::INT32: return c.set_const(0, Tensor::from_i64(t.shape(), t.to_i64()));
    default: return c.fail("cast to element type " + std::to_string(to) + " is not supported");
  }
}

Status translate_constant(NodeContext& c) {
  if (const auto* a = c.find_attr("value")) {
    auto t = tensor_from_proto(a->t(), ".");
    if (!t) return t.error().with_context("node '" + c.name() + "' (Constant)");
    return c.set_const(0, std::move(*t));
  }
  if (const auto* a = c.find_attr("value_float")) return c.set_const(0, Tensor::from_floats({}, {a->f()}));
  if (const auto* a = c.find_attr("value_floats")) {
    std::vector<float> v(a->floats().begin(), a->floats().end());
    return c.set_const(0, Tensor::from_floats({static_cast<int64_t>(v.size())}, v));
  }
  if (const auto* a = c.find_attr("value_int")) return c.set_const(0, Tensor::from_i64({}, {a->i()}));
  if (const auto* a = c.find_attr("value_ints")) {
    std::vector<int64_t> v(a->ints().begin(), a->ints().end());
    return c.set_const(0, Tensor::from_i64({static_cast<int64_t>(v.size())}, v));
  }
  return c.fail("only tensor, float(s) and int(s) constants are supported");
}

Status translate_constant_of_shape(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(auto dims, c.const_ints(0));
  Tensor fill = Tensor::from_floats({1}, {0.0f});
  if (const auto* a = c.find_attr("value")) {
    auto t = tensor_from_proto(a->t(), ".");
    if (!t) return t.error();
    fill = *t;
  }
  Tensor out = Tensor::zeros(fill.dtype(), dims);
  size_t es = dtype_size(fill.dtype());
  for (int64_t i = 0; i < out.elements(); ++i)
    std::memcpy(static_cast<uint8_t*>(out.raw()) + i * es, fill.raw(), es);
  return c.set_const(0, std::move(out));
}

Status translate_range(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor start, c.const_value(0));
  KILN_ASSIGN_OR_RETURN(Tensor limit, c.const_value(1));
  KILN_ASSIGN_OR_RETURN(Tensor delta, c.const_value(2));
  auto r = range_constant(start, limit, delta);
  if (!r) return c.bad(r.error().message());
  return c.set_const(0, std::move(*r));
}

}  // namespace

void register_shape_ops(OpTable& t) {
  t["Shape"] = translate_shape;
  t["Size"] = translate_size;
  t["Gather"] = translate_gather;
  t["Cast"] = translate_cast;
  t["Constant"] = translate_constant;
  t["ConstantOfShape"] = translate_constant_of_shape;
  t["Range"] = translate_range;
}

const OpTable& op_table() {
  static const OpTable table = [] {
    OpTable t;
    register_conv_ops(t);
    register_pool_ops(t);
    register_elementwise_ops(t);
    register_tensor_ops(t);
    register_resize_ops(t);
    register_shape_ops(t);
    register_reduce_ops(t);
    register_normalization_ops(t);
    return t;
  }();
  return table;
}

}  // namespace kiln::onnx_import
