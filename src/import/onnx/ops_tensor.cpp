// ONNX layout and shape ops: Concat, Reshape, Flatten, Squeeze, Unsqueeze, Transpose,
// Pad, Slice. Everything static about them (target shapes, pads) is resolved here.
#include <algorithm>

#include "import/shape_rules.h"
#include "core/status_macros.h"
#include <limits>

#include "import/onnx/importer.h"

namespace kiln::onnx_import {
namespace {

int64_t norm_axis(int64_t axis, size_t rank) { return axis < 0 ? axis + static_cast<int64_t>(rank) : axis; }

Status translate_concat(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  int64_t axis = norm_axis(c.attr_int("axis", 1), x.size());
  if (axis < 0 || axis >= static_cast<int64_t>(x.size())) return c.bad("axis out of range");
  std::vector<size_t> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    if (!c.has_input(i)) continue;
    KILN_ASSIGN_OR_RETURN(Shape s, c.shape(i));
    if (s.size() == x.size() && s[axis] == 0) continue;  // empty inputs contribute nothing
    ins.push_back(i);
  }
  if (ins.size() == 1) return c.alias(0, ins[0]);
  return c.emit(ConcatAttrs{axis}, ins);
}

Status emit_reshape(NodeContext& c, Shape target) { return c.emit(ReshapeAttrs{std::move(target)}, {0}); }

Status translate_reshape(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  std::vector<int64_t> spec;
  if (c.opset() < 5) spec = c.attr_ints("shape");
  else { KILN_ASSIGN_OR_RETURN(spec, c.const_ints(1)); }
  auto out = reshaped_shape(x, spec, /*zero_copies_input=*/c.attr_int("allowzero", 0) == 0);
  if (!out) return c.bad(out.error().message());
  return emit_reshape(c, *out);
}

Status translate_flatten(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  int64_t axis = norm_axis(c.attr_int("axis", 1), x.size());
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) (i < axis ? a : b) *= x[i];
  return emit_reshape(c, {a, b});
}

Expected<std::vector<int64_t>> axes_of(NodeContext& c) {
  if (c.opset() >= 13) {
    if (!c.has_input(1)) return std::vector<int64_t>{};
    return c.const_ints(1);
  }
  return c.attr_ints("axes");
}

Status translate_squeeze(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(auto axes, axes_of(c));
  for (auto& a : axes) a = norm_axis(a, x.size());
  auto out = squeezed_shape(x, axes);
  if (!out) return c.bad(out.error().message());
  return emit_reshape(c, *out);
}

Status translate_unsqueeze(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(auto axes, axes_of(c));
  size_t rank = x.size() + axes.size();
  for (auto& a : axes) a = norm_axis(a, rank);
  std::sort(axes.begin(), axes.end());
  Shape out = x;
  for (int64_t a : axes) {
    if (a < 0 || a > static_cast<int64_t>(out.size())) return c.bad("axis out of range");
    out.insert(out.begin() + a, 1);
  }
  return emit_reshape(c, out);
}

Status translate_transpose(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  std::vector<int64_t> perm = c.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = static_cast<int64_t>(x.size()) - 1; i >= 0; --i) perm.push_back(i);
  return c.emit(TransposeAttrs{perm}, {0});
}

Status translate_pad(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  PadAttrs a;
  std::string mode = c.attr_string("mode", "constant");
  if (mode == "constant") a.mode = PadMode::kConstant;
  else if (mode == "reflect") a.mode = PadMode::kReflect;
  else if (mode == "edge") a.mode = PadMode::kEdge;
  else if (mode == "wrap") return c.fail("pad mode 'wrap' (opset 19) is not supported");
  else return c.fail("pad mode '" + mode + "' is not supported");
  std::vector<int64_t> pads;
  if (c.opset() < 11) {
    pads = c.attr_ints("pads");
    a.value = c.attr_float("value", 0.0f);
  } else {
    KILN_ASSIGN_OR_RETURN(pads, c.const_ints(1));
    if (c.has_input(2)) { KILN_ASSIGN_OR_RETURN(Tensor v, c.const_value(2)); a.value = v.to_f32().at(0); }
    if (c.has_input(3)) {  // opset 18: pads for these axes only, the others unpadded
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.const_ints(3));
      if (pads.size() != 2 * axes.size()) return c.bad("pads must have twice as many values as axes");
      const int64_t rank = static_cast<int64_t>(x.size());
      std::vector<int64_t> full(2 * x.size(), 0);
      for (size_t i = 0; i < axes.size(); ++i) {
        const int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (axis < 0 || axis >= rank) return c.bad("axis " + std::to_string(axes[i]) + " is outside the input's rank");
        full[static_cast<size_t>(axis)] = pads[i];
        full[static_cast<size_t>(axis + rank)] = pads[i + axes.size()];
      }
      pads = std::move(full);
    }
  }
  if (pads.size() != 2 * x.size()) return c.bad("pads must have twice the input's rank values");
  a.begin.assign(pads.begin(), pads.begin() + static_cast<long>(x.size()));
  a.end.assign(pads.begin() + static_cast<long>(x.size()), pads.end());
  return c.emit(a, {0});
}

Status translate_slice(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset() < 10) {
    starts = c.attr_ints("starts");
    ends = c.attr_ints("ends");
    axes = c.attr_ints("axes");
  } else {
    KILN_ASSIGN_OR_RETURN(starts, c.const_ints(1));
    KILN_ASSIGN_OR_RETURN(ends, c.const_ints(2));
    if (c.has_input(3)) { KILN_ASSIGN_OR_RETURN(axes, c.const_ints(3)); }
    if (c.has_input(4)) { KILN_ASSIGN_OR_RETURN(steps, c.const_ints(4)); }
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return c.bad("starts, ends, axes and steps differ in length");
  SliceAttrs a;
  a.starts.assign(x.size(), 0);
  a.ends = x;
  a.steps.assign(x.size(), 1);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t ax = norm_axis(axes[i], x.size());
    if (ax < 0 || ax >= static_cast<int64_t>(x.size())) return c.bad("axis out of range");
    int64_t dim = x[ax], step = steps[i];
    if (step == 0) return c.bad("step 0");
    auto clampi = [](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (ends[i] == std::numeric_limits<int64_t>::min()) e = -1;
    if (step > 0) { s = clampi(s, 0, dim); e = clampi(e, 0, dim); }
    else { s = clampi(s, 0, dim - 1); e = clampi(e, -1, dim - 1); }
    a.starts[ax] = s;
    a.ends[ax] = e;
    a.steps[ax] = step;
  }
  return c.emit(a, {0});
}

Status translate_batch_norm(NodeContext& c) {
  for (int i = 1; i < c.node().output_size(); ++i)
    if (!c.node().output(i).empty()) return c.fail("training-mode outputs (running mean/var) are not supported");
  if (c.attr_int("training_mode", 0) != 0) return c.fail("training_mode=1 is not supported");
  for (size_t i = 1; i < 5; ++i)
    if (!c.is_const(i)) return c.fail("scale, bias, mean and variance must be constant initializers");
  return c.emit(BatchNormAttrs{c.attr_float("epsilon", 1e-5f)}, {0, 1, 2, 3, 4});
}

Status translate_softmax(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  int64_t axis = norm_axis(c.attr_int("axis", c.opset() >= 13 ? -1 : 1), x.size());
  if (c.opset() < 13 && axis != static_cast<int64_t>(x.size()) - 1) {
    // Before opset 13 Softmax flattened the input to 2-D at `axis`; that equals a
    // softmax over one axis only when the axes after it have size 1.
    int64_t inner = 1;
    for (size_t i = axis + 1; i < x.size(); ++i) inner *= x[i];
    if (inner != 1) return c.fail("opset<13 softmax over several flattened axes is not supported");
  }
  return c.emit(SoftmaxAttrs{axis}, {0});
}

Status translate_gemm(NodeContext& c) {
  MatMulAttrs a;
  a.trans_a = c.attr_int("transA", 0) != 0;
  a.trans_b = c.attr_int("transB", 0) != 0;
  a.alpha = c.attr_float("alpha", 1.0f);
  a.beta = c.attr_float("beta", 1.0f);
  a.has_c = c.has_input(2);
  std::vector<size_t> ins = {0, 1};
  if (a.has_c) ins.push_back(2);
  return c.emit(a, ins);
}

Status translate_matmul(NodeContext& c) {
  MatMulAttrs a;
  a.batched = true;
  return c.emit(a, {0, 1});
}

}  // namespace

void register_tensor_ops(OpTable& t) {
  t["Concat"] = translate_concat;
  t["Reshape"] = translate_reshape;
  t["Flatten"] = translate_flatten;
  t["Squeeze"] = translate_squeeze;
  t["Unsqueeze"] = translate_unsqueeze;
  t["Transpose"] = translate_transpose;
  t["Pad"] = translate_pad;
  t["Slice"] = translate_slice;
  t["BatchNormalization"] = translate_batch_norm;
  t["Softmax"] = translate_softmax;
  t["Gemm"] = translate_gemm;
  t["MatMul"] = translate_matmul;
}

}  // namespace kiln::onnx_import
