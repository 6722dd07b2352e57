// TensorFlow layout and shape ops on run-time tensors: ConcatV2, Pad / PadV2 / MirrorPad,
// Reshape, Squeeze, ExpandDims, Transpose, MatMul, DepthToSpace / SpaceToDepth, and the image
// resizes. Ops that only move data within an axis keep the input's layout (their axes are
// mapped); ops that reinterpret the element order (Reshape and friends) read TensorFlow's layout.
#include <algorithm>

#include "import/shape_rules.h"
#include "core/status_macros.h"

#include "import/tf/importer.h"

namespace kiln::tf_import {
namespace {

Expected<int64_t> norm_axis(const NodeContext& c, int64_t axis, size_t rank) {
  int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) return c.bad("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
  return axis < 0 ? axis + r : axis;
}

Status translate_concat(NodeContext& c, bool axis_first) {
  size_t n = c.num_inputs();
  if (n < 2) return c.bad("needs the values and an axis");
  size_t axis_input = axis_first ? 0 : n - 1;
  std::vector<size_t> data;
  for (size_t i = 0; i < n; ++i)
    if (i != axis_input) data.push_back(i);
  KILN_ASSIGN_OR_RETURN(auto axv, c.const_ints(axis_input));
  if (axv.size() != 1) return c.bad("the axis must be a scalar");
  KILN_ASSIGN_OR_RETURN(Shape s0, c.shape(data[0]));
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(c, axv[0], s0.size()));
  KILN_ASSIGN_OR_RETURN(Layout l, c.elementwise_layout(data));
  std::vector<Operand> ins;
  for (size_t i : data) {
    KILN_ASSIGN_OR_RETURN(Shape s, c.shape(i));
    if (s.size() != s0.size()) return c.bad("inputs of different ranks");
    if (s[axis] == 0) continue;  // empty inputs contribute nothing
    KILN_ASSIGN_OR_RETURN(Operand o, c.operand(i, l));
    ins.push_back(o);
  }
  if (ins.empty()) return c.fail("concatenating only empty tensors is not supported");
  if (ins.size() == 1) return c.bind(0, ins[0], l);
  return c.emit(ConcatAttrs{kiln_axis(axis, l)}, ins, l);
}

Status translate_pad(NodeContext& c, PadMode mode) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  KILN_ASSIGN_OR_RETURN(auto p, c.const_ints(1));
  if (p.size() != 2 * xs.size()) return c.bad("paddings must be [rank, 2]");
  PadAttrs a;
  a.mode = mode;
  if (c.op() == "PadV2") {
    KILN_ASSIGN_OR_RETURN(Tensor v, c.const_value(2));
    if (v.elements() != 1) return c.bad("constant_values must be a scalar");
    a.value = v.to_f32()[0];
  }
  Layout l = c.layout(0);
  for (size_t j = 0; j < xs.size(); ++j) {
    size_t t = l == Layout::kNchw ? static_cast<size_t>(kToNchw[j]) : j;  // TF axis held at kiln axis j
    a.begin.push_back(p[2 * t]);
    a.end.push_back(p[2 * t + 1]);
  }
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, l));
  return c.emit(a, {x}, l);
}

Status translate_mirror_pad(NodeContext& c) {
  std::string mode = c.attr_string("mode", "");
  if (mode == "REFLECT") return translate_pad(c, PadMode::kReflect);
  return c.fail("mode '" + mode + "' is not supported (kiln reads REFLECT)");
}

Status emit_reshape(NodeContext& c, const Shape& out) {
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, Layout::kPlain));
  return c.emit(ReshapeAttrs{out}, {x}, Layout::kPlain);
}

Status translate_reshape(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  KILN_ASSIGN_OR_RETURN(auto spec, c.const_ints(1));
  auto out = reshaped_shape(xs, spec, /*zero_copies_input=*/false);
  if (!out) return c.bad(out.error().message());
  return emit_reshape(c, *out);
}

Status translate_squeeze(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  std::vector<int64_t> axes = c.attr_ints("squeeze_dims", c.attr_ints("axis"));
  for (auto& a : axes) { KILN_ASSIGN_OR_RETURN(a, norm_axis(c, a, xs.size())); }
  auto out = squeezed_shape(xs, axes);
  if (!out) return c.bad(out.error().message());
  return emit_reshape(c, *out);
}

Status translate_expand_dims(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  KILN_ASSIGN_OR_RETURN(auto axv, c.const_ints(1));
  if (axv.size() != 1) return c.bad("the axis must be a scalar");
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(c, axv[0], xs.size() + 1));
  Shape out = xs;
  out.insert(out.begin() + axis, 1);
  return emit_reshape(c, out);
}

Status translate_transpose(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  KILN_ASSIGN_OR_RETURN(auto perm, c.const_ints(1));
  if (perm.size() != xs.size()) return c.bad("perm has the wrong length");
  Layout l = c.layout(0);
  std::vector<int64_t> kperm;  // composed with the layout the input is held in
  for (int64_t p : perm) {
    KILN_ASSIGN_OR_RETURN(int64_t a, norm_axis(c, p, xs.size()));
    kperm.push_back(kiln_axis(a, l));
  }
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, l));
  bool identity = true;
  for (size_t i = 0; i < kperm.size(); ++i) identity = identity && kperm[i] == static_cast<int64_t>(i);
  if (identity) return c.bind(0, x, Layout::kPlain);  // e.g. NHWC -> NCHW of a tensor kiln holds as NCHW
  return c.emit(TransposeAttrs{kperm}, {x}, Layout::kPlain);
}

Status translate_matmul(NodeContext& c, bool batched) {
  KILN_ASSIGN_OR_RETURN(Operand a, c.operand(0, Layout::kPlain));
  KILN_ASSIGN_OR_RETURN(Operand b, c.operand(1, Layout::kPlain));
  MatMulAttrs m;
  if (batched) {
    if (c.attr_bool("adj_x", false) || c.attr_bool("adj_y", false)) return c.fail("adj_x / adj_y are not supported");
    m.batched = true;
  } else {
    KILN_ASSIGN_OR_RETURN(Shape sa, c.shape(0));
    KILN_ASSIGN_OR_RETURN(Shape sb, c.shape(1));
    if (sa.size() != 2 || sb.size() != 2) return c.bad("MatMul takes 2-D inputs");
    m.trans_a = c.attr_bool("transpose_a", false);
    m.trans_b = c.attr_bool("transpose_b", false);
  }
  return c.emit(m, {a, b}, Layout::kPlain);
}

// TensorFlow's resize coordinate rules, as kiln's (ONNX's) coordinate transforms:
//   nearest: align_corners -> round(x * (in-1)/(out-1)); half_pixel_centers ->
//            floor((x + 0.5) * in/out); neither -> floor(x * in/out)
//   bilinear: align_corners / half_pixel ((x + 0.5) * in/out - 0.5) / asymmetric
Status translate_resize(NodeContext& c, ResizeMode mode) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  if (xs.size() != 4) return c.fail("only 4-D NHWC images can be resized");
  KILN_ASSIGN_OR_RETURN(auto size, c.const_ints(1));
  if (size.size() != 2 || size[0] < 1 || size[1] < 1) return c.bad("size must be two positive values");
  bool align = c.attr_bool("align_corners", false), half = c.attr_bool("half_pixel_centers", false);
  if (align && half) {
    if (mode == ResizeMode::kLinear) return c.bad("align_corners and half_pixel_centers are exclusive");
    return c.fail("align_corners together with half_pixel_centers is not supported");
  }
  ResizeAttrs a;
  a.mode = mode;
  a.out_size = Spatial{size[0], size[1]};
  a.scales = {static_cast<float>(size[0]) / static_cast<float>(xs[1]), static_cast<float>(size[1]) / static_cast<float>(xs[2])};
  if (mode == ResizeMode::kNearest) {
    a.coord = align ? CoordTransform::kAlignCorners : half ? CoordTransform::kTfHalfPixelForNn : CoordTransform::kAsymmetric;
    a.nearest = align ? NearestRounding::kRoundPreferCeil : NearestRounding::kFloor;
  } else {
    a.coord = align ? CoordTransform::kAlignCorners : half ? CoordTransform::kHalfPixel : CoordTransform::kAsymmetric;
  }
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, Layout::kNchw));
  return c.emit(a, {x}, Layout::kNchw);
}

}  // namespace

// DepthToSpace / SpaceToDepth on NHWC data: TensorFlow orders the block's depth as
// (row in block, column in block, channel), ONNX's DCR mode. On the NCHW tensor kiln holds:
// a reshape exposing the block, a transpose, a reshape.
Status block_rearrange(NodeContext& c, bool to_space) {
  if (c.attr_string("data_format", "NHWC") != "NHWC")
    return c.fail("data_format '" + c.attr_string("data_format", "NHWC") + "' is not supported (kiln reads NHWC)");
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  if (xs.size() != 4) return c.bad("the input must be 4-D NHWC");
  const int64_t b = c.attr_int("block_size", 0);
  const int64_t n = xs[0], h = xs[1], w = xs[2], ch = xs[3];
  if (b < 2) return c.bad("block_size must be at least 2");
  Shape split, out;
  std::vector<int64_t> perm;
  if (to_space) {
    if (ch % (b * b) != 0)
      return c.bad("block_size " + std::to_string(b) + " squared does not divide the " + std::to_string(ch) + " channels");
    split = {n, b, b, ch / (b * b), h, w};
    perm = {0, 3, 4, 1, 5, 2};
    out = {n, ch / (b * b), h * b, w * b};
  } else {
    if (h % b != 0 || w % b != 0)
      return c.bad("block_size " + std::to_string(b) + " does not divide the height " + std::to_string(h) +
                   " and width " + std::to_string(w));
    split = {n, ch, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
    out = {n, ch * b * b, h / b, w / b};
  }
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, Layout::kNchw));
  KILN_ASSIGN_OR_RETURN(Operand blocks, c.compute(ReshapeAttrs{split}, {x}, "/blocks"));
  KILN_ASSIGN_OR_RETURN(Operand moved, c.compute(TransposeAttrs{perm}, {blocks}, "/moved"));
  return c.emit(ReshapeAttrs{out}, {moved}, Layout::kNchw);
}

void register_tensor_ops(OpTable& t) {
  t["DepthToSpace"] = [](NodeContext& c) { return block_rearrange(c, true); };
  t["SpaceToDepth"] = [](NodeContext& c) { return block_rearrange(c, false); };
  t["ConcatV2"] = [](NodeContext& c) { return translate_concat(c, false); };
  t["Concat"] = [](NodeContext& c) { return translate_concat(c, true); };
  t["Pad"] = [](NodeContext& c) { return translate_pad(c, PadMode::kConstant); };
  t["PadV2"] = t["Pad"];
  t["MirrorPad"] = translate_mirror_pad;
  t["Reshape"] = translate_reshape;
  t["Squeeze"] = translate_squeeze;
  t["ExpandDims"] = translate_expand_dims;
  t["Transpose"] = translate_transpose;
  t["MatMul"] = [](NodeContext& c) { return translate_matmul(c, false); };
  t["BatchMatMul"] = [](NodeContext& c) { return translate_matmul(c, true); };
  t["BatchMatMulV2"] = t["BatchMatMul"];
  t["ResizeNearestNeighbor"] = [](NodeContext& c) { return translate_resize(c, ResizeMode::kNearest); };
  t["ResizeBilinear"] = [](NodeContext& c) { return translate_resize(c, ResizeMode::kLinear); };
}

}  // namespace kiln::tf_import
