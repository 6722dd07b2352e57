// ONNX layout and shape ops: Concat, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Pad,
// Slice, Split, DepthToSpace, SpaceToDepth, Tile, Expand; and BatchNormalization, Softmax/LogSoftmax/Hardmax,
// Gemm, MatMul. Everything static about them (target shapes, pads) is resolved here.
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
    pads = c.attr_ints(c.opset() < 2 ? "paddings" : "pads");  // renamed at opset 2
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
  if (c.opset() < 9 && c.attr_int("spatial", 1) == 0) return c.fail("spatial=0 (statistics per element, opset < 9) is not supported");
  for (int i = 1; i < c.node().output_size(); ++i)
    if (!c.node().output(i).empty()) return c.fail("training-mode outputs (running mean/var) are not supported");
  if (c.attr_int("training_mode", 0) != 0) return c.fail("training_mode=1 is not supported");
  for (size_t i = 1; i < 5; ++i)
    if (!c.is_const(i)) return c.fail("scale, bias, mean and variance must be constant initializers");
  return c.emit(BatchNormAttrs{c.attr_float("epsilon", 1e-5f)}, {0, 1, 2, 3, 4});
}

OpTranslator softmax(SoftmaxKind kind) {
  return [=](NodeContext& c) -> Status {
    KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
    int64_t axis = norm_axis(c.attr_int("axis", c.opset() >= 13 ? -1 : 1), x.size());
    if (axis < 0 || axis >= static_cast<int64_t>(x.size())) return c.bad("axis out of range");
    int64_t inner = 1;
    for (size_t i = axis + 1; i < x.size(); ++i) inner *= x[i];
    if (c.opset() < 13 && inner != 1) {
      // Before opset 13 these flattened the input to 2-D at `axis` and normalised over all
      // the axes from it on: over one axis of [outer, rest] reshaped, then back.
      Shape flat(x.begin(), x.begin() + axis);
      flat.push_back(x[axis] * inner);
      KILN_ASSIGN_OR_RETURN(std::string f, c.step(ReshapeAttrs{flat}, {c.input_name(0)}, "flatten"));
      KILN_ASSIGN_OR_RETURN(std::string y, c.step(SoftmaxAttrs{axis, kind}, {f}, "normalise"));
      KILN_ASSIGN_OR_RETURN(std::string back, c.step(ReshapeAttrs{x}, {y}, "unflatten"));
      return c.output(0, back);
    }
    return c.emit(SoftmaxAttrs{axis, kind}, {0});
  };
}

// Split into the node's outputs along one axis: one Slice each. The sizes come from the
// `split` attribute (opset < 13) or input (13+), or else equal parts (opset 18: num_outputs,
// the last part smaller when the axis does not divide).
Status translate_split(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  int64_t axis = norm_axis(c.attr_int("axis", 0), x.size());
  if (axis < 0 || axis >= static_cast<int64_t>(x.size())) return c.bad("axis out of range");
  const int64_t outputs = c.node().output_size();
  if (outputs < 1) return c.bad("has no outputs");
  std::vector<int64_t> sizes;
  if (c.opset() < 13 && c.has_attr("split")) sizes = c.attr_ints("split");
  else if (c.has_input(1)) { KILN_ASSIGN_OR_RETURN(sizes, c.const_ints(1)); }
  const int64_t dim = x[axis];
  if (sizes.empty()) {
    const int64_t parts = c.opset() >= 18 && c.has_attr("num_outputs") ? c.attr_int("num_outputs", outputs) : outputs;
    if (parts != outputs) return c.bad("num_outputs is " + std::to_string(parts) + " but the node has " + std::to_string(outputs) + " outputs");
    const int64_t each = (dim + parts - 1) / parts;
    if (c.opset() < 18 && dim % parts != 0)
      return c.bad("axis of size " + std::to_string(dim) + " does not split into " + std::to_string(parts) + " equal parts");
    for (int64_t i = 0, left = dim; i < parts; ++i, left -= each) sizes.push_back(std::max<int64_t>(0, std::min(each, left)));
  }
  if (static_cast<int64_t>(sizes.size()) != outputs)
    return c.bad(std::to_string(sizes.size()) + " split sizes for " + std::to_string(outputs) + " outputs");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) return c.bad("a negative split size");
    total += s;
  }
  if (total != dim) return c.bad("split sizes add up to " + std::to_string(total) + ", not the axis's " + std::to_string(dim));
  int64_t start = 0;
  for (int64_t i = 0; i < outputs; ++i) {
    KILN_ASSIGN_OR_RETURN(std::string part, c.step(axis_slice(x, axis, start, start + sizes[i]), {c.input_name(0)}, "part"));
    start += sizes[i];
    KILN_RETURN_IF_ERROR(c.output(static_cast<size_t>(i), part));
  }
  return Status::ok();
}

// Reshape, transpose, reshape: how the ONNX spec defines both.
Status reshape_transpose_reshape(NodeContext& c, Shape expanded, std::vector<int64_t> perm, Shape out) {
  KILN_ASSIGN_OR_RETURN(std::string a, c.step(ReshapeAttrs{std::move(expanded)}, {c.input_name(0)}, "expand"));
  KILN_ASSIGN_OR_RETURN(std::string b, c.step(TransposeAttrs{std::move(perm)}, {a}, "permute"));
  KILN_ASSIGN_OR_RETURN(std::string y, c.step(ReshapeAttrs{std::move(out)}, {b}, "collapse"));
  return c.output(0, y);
}

// Ones of `shape`, of x's type when x is an integer constant (shape arithmetic), else float32.
Tensor ones_like_operand(NodeContext& c, const Shape& shape) {
  auto dt = c.dtype(0);
  const bool integer = c.is_const(0) && dt && (*dt == DType::kI64 || *dt == DType::kI32);
  if (integer) return Tensor::from_i64(shape, std::vector<int64_t>(static_cast<size_t>(shape_elements(shape)), 1));
  return Tensor::from_floats(shape, std::vector<float>(static_cast<size_t>(shape_elements(shape)), 1.0f));
}

// Tile as a broadcast: x [d0, d1, ...] reshaped to [1, d0, 1, d1, ...] times ones
// [r0, 1, r1, 1, ...] is [r0, d0, r1, d1, ...], which reshaped to [r0*d0, r1*d1, ...] repeats
// each axis's block r times, exactly as Tile does (axes with r = 1 are left as they are).
Status translate_tile(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, c.const_ints(1));
  if (repeats.size() != x.size()) return c.bad(std::to_string(repeats.size()) + " repeats for input " + shape_to_string(x));
  Shape split, ones, out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (repeats[i] < 0) return c.bad("a negative repeat");
    if (repeats[i] != 1) {
      split.push_back(1);
      ones.push_back(repeats[i]);
    }
    split.push_back(x[i]);
    ones.push_back(1);
    out.push_back(x[i] * repeats[i]);
  }
  if (out == x) return c.alias(0, 0);
  KILN_ASSIGN_OR_RETURN(std::string a, c.step(ReshapeAttrs{split}, {c.input_name(0)}, "split_axes"));
  const std::string k = c.constant_operand(ones_like_operand(c, ones));
  KILN_ASSIGN_OR_RETURN(std::string b, c.step(BinaryAttrs{BinaryKind::kMul}, {a, k}, "repeat"));
  KILN_ASSIGN_OR_RETURN(std::string y, c.step(ReshapeAttrs{out}, {b}, "join_axes"));
  return c.output(0, y);
}

// Expand: x times ones broadcast to the target, the ones only as large as the axes that grow.
Status translate_expand(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> target, c.const_ints(1));
  const size_t rank = std::max(x.size(), target.size());
  Shape ones(rank, 1);
  bool grows = rank != x.size();
  for (size_t i = 0; i < rank; ++i) {
    const int64_t xd = i + x.size() >= rank ? x[i + x.size() - rank] : 1;
    const int64_t td = i + target.size() >= rank ? target[i + target.size() - rank] : 1;
    if (xd != td && xd != 1 && td != 1)
      return c.bad("cannot expand " + shape_to_string(x) + " to " + shape_to_string(target));
    if (xd == 1 && td != 1) {
      ones[i] = td;
      grows = true;
    }
  }
  if (!grows) return c.alias(0, 0);
  const std::string k = c.constant_operand(ones_like_operand(c, ones));
  KILN_ASSIGN_OR_RETURN(std::string y, c.step(BinaryAttrs{BinaryKind::kMul}, {c.input_name(0), k}, "expand"));
  return c.output(0, y);
}

Status translate_depth_to_space(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  if (x.size() != 4) return c.fail("only 4-D NCHW input is supported");
  const int64_t b = c.attr_int("blocksize", 0);
  if (b < 1 || x[1] % (b * b) != 0) return c.bad("blocksize " + std::to_string(b) + " does not divide the channels " + std::to_string(x[1]));
  const int64_t n = x[0], ch = x[1] / (b * b), h = x[2], w = x[3];
  const std::string mode = c.attr_string("mode", "DCR");
  Shape out = {n, ch, h * b, w * b};
  if (mode == "DCR") return reshape_transpose_reshape(c, {n, b, b, ch, h, w}, {0, 3, 4, 1, 5, 2}, out);
  if (mode == "CRD") return reshape_transpose_reshape(c, {n, ch, b, b, h, w}, {0, 1, 4, 2, 5, 3}, out);
  return c.bad("mode '" + mode + "' is neither DCR nor CRD");
}

Status translate_space_to_depth(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  if (x.size() != 4) return c.fail("only 4-D NCHW input is supported");
  const int64_t b = c.attr_int("blocksize", 0);
  if (b < 1 || x[2] % b != 0 || x[3] % b != 0) return c.bad("blocksize " + std::to_string(b) + " does not divide the height and width");
  const int64_t n = x[0], ch = x[1], h = x[2] / b, w = x[3] / b;
  return reshape_transpose_reshape(c, {n, ch, h, b, w, b}, {0, 3, 5, 1, 2, 4}, {n, ch * b * b, h, w});
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
  t["Softmax"] = softmax(SoftmaxKind::kSoftmax);
  t["LogSoftmax"] = softmax(SoftmaxKind::kLogSoftmax);
  t["Hardmax"] = softmax(SoftmaxKind::kHardmax);
  t["Split"] = translate_split;
  t["DepthToSpace"] = translate_depth_to_space;
  t["SpaceToDepth"] = translate_space_to_depth;
  t["Tile"] = translate_tile;
  t["Expand"] = translate_expand;
  t["Gemm"] = translate_gemm;
  t["MatMul"] = translate_matmul;
}

}  // namespace kiln::onnx_import
