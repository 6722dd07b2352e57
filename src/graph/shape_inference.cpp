// One shape rule per op kind. Importers call infer_shape as they build the graph, so every
// value has a concrete shape before planning (kiln specialises plans on input shapes).
#include <algorithm>
#include <numeric>

#include "graph/graph.h"
#include "core/status_macros.h"

namespace kiln {
namespace {

Status need_rank(const std::vector<Shape>& in, size_t index, size_t rank, const char* op) {
  if (in.size() <= index) return invalid_argument(std::string(op) + ": missing input " + std::to_string(index));
  if (in[index].size() != rank)
    return unsupported(std::string(op) + ": input " + std::to_string(index) + " has rank " +
                       std::to_string(in[index].size()) + " (shape " + shape_to_string(in[index]) +
                       "), kiln supports rank " + std::to_string(rank));
  return Status::ok();
}

int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_total) {
  return (in + pad_total - dil * (k - 1) - 1) / stride + 1;
}

// Windowed ops read NC plus 1 to 3 spatial axes, with one attribute value per spatial axis.
Status check_window(const std::vector<Shape>& in, size_t spatial, const char* op) {
  if (in.empty()) return invalid_argument(std::string(op) + ": missing input 0");
  const Shape& x = in[0];
  if (x.size() < 3 || x.size() > 5)
    return unsupported(std::string(op) + ": input has rank " + std::to_string(x.size()) + " (shape " +
                       shape_to_string(x) + "); kiln supports 1-D, 2-D and 3-D windows (rank 3 to 5)");
  if (spatial != x.size() - 2)
    return invalid_argument(std::string(op) + ": " + std::to_string(spatial) + " window sizes for input " +
                            shape_to_string(x));
  return Status::ok();
}

Status check_spatial_lengths(const char* op, size_t d, const Spatial& strides, const Spatial& dilations,
                             const Spatial& pads) {
  if (strides.size() != d || dilations.size() != d || pads.size() != 2 * d)
    return invalid_argument(std::string(op) + ": strides, dilations or pads do not match the kernel's " +
                            std::to_string(d) + " axes");
  return Status::ok();
}

Expected<Shape> conv_shape(const ConvAttrs& a, const std::vector<Shape>& in) {
  const size_t d = a.kernel.size();
  KILN_RETURN_IF_ERROR(check_window(in, d, "Conv"));
  KILN_RETURN_IF_ERROR(check_spatial_lengths("Conv", d, a.strides, a.dilations, a.pads));
  KILN_RETURN_IF_ERROR(need_rank(in, 1, d + 2, "Conv weight"));
  Shape x = in[0];
  const Shape& w = in[1];
  if (a.reads_upsampled_2x)
    for (size_t i = 0; i < d; ++i) x[2 + i] *= 2;
  if (w[1] * a.group != x[1])
    return invalid_argument("Conv: weight shape " + shape_to_string(w) + " with group " + std::to_string(a.group) +
                            " does not match input channels " + std::to_string(x[1]));
  if (w[0] % a.group != 0) return invalid_argument("Conv: output channels not divisible by group");
  Shape y = {x[0], w[0]};
  for (size_t i = 0; i < d; ++i) {
    y.push_back(window_out(x[2 + i], w[2 + i], a.strides[i], a.dilations[i], a.pads[i] + a.pads[d + i]));
    if (y.back() <= 0) return invalid_argument("Conv: output would be empty for input " + shape_to_string(x));
  }
  return y;
}

Expected<Shape> deconv_shape(const ConvTransposeAttrs& a, const std::vector<Shape>& in) {
  const size_t d = a.kernel.size();
  KILN_RETURN_IF_ERROR(check_window(in, d, "ConvTranspose"));
  KILN_RETURN_IF_ERROR(check_spatial_lengths("ConvTranspose", d, a.strides, a.dilations, a.pads));
  KILN_RETURN_IF_ERROR(need_rank(in, 1, d + 2, "ConvTranspose weight"));
  const Shape& x = in[0];
  const Shape& w = in[1];
  if (w[0] != x[1])
    return invalid_argument("ConvTranspose: weight shape " + shape_to_string(w) + " does not match input channels " +
                            std::to_string(x[1]));
  Shape y = {x[0], w[1] * a.group};
  for (size_t i = 0; i < d; ++i) {
    y.push_back(a.strides[i] * (x[2 + i] - 1) + a.dilations[i] * (w[2 + i] - 1) + 1 - a.pads[i] - a.pads[d + i]);
    if (y.back() <= 0) return invalid_argument("ConvTranspose: output would be empty");
  }
  return y;
}

Expected<Shape> pool_shape(const PoolAttrs& a, const std::vector<Shape>& in) {
  if (in.empty()) return invalid_argument("Pool: missing input 0");
  const Shape& x = in[0];
  if (a.global) {
    KILN_RETURN_IF_ERROR(check_window(in, x.size() - 2, "Pool"));
    Shape y(x.size(), 1);
    y[0] = x[0];
    y[1] = x[1];
    return y;
  }
  const size_t d = a.kernel.size();
  KILN_RETURN_IF_ERROR(check_window(in, d, "Pool"));
  KILN_RETURN_IF_ERROR(check_spatial_lengths("Pool", d, a.strides, a.dilations, a.pads));
  if (a.ceil_pads.size() != d) return invalid_argument("Pool: ceil pads do not match the kernel's axes");
  Shape y = {x[0], x[1]};
  for (size_t i = 0; i < d; ++i) {
    y.push_back(window_out(x[2 + i], a.kernel[i], a.strides[i], a.dilations[i], a.pads[i] + a.pads[d + i] + a.ceil_pads[i]));
    if (y.back() <= 0) return invalid_argument("Pool: output would be empty for input " + shape_to_string(x));
  }
  return y;
}

Expected<Shape> broadcast_shape(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      return invalid_argument("cannot broadcast shapes " + shape_to_string(a) + " and " + shape_to_string(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Expected<Shape> concat_shape(const ConcatAttrs& a, const std::vector<Shape>& in) {
  if (in.empty()) return invalid_argument("Concat: no inputs");
  Shape y = in[0];
  if (a.axis < 0 || a.axis >= static_cast<int64_t>(y.size())) return invalid_argument("Concat: axis out of range");
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i].size() != y.size()) return invalid_argument("Concat: inputs differ in rank");
    for (size_t d = 0; d < y.size(); ++d) {
      if (static_cast<int64_t>(d) == a.axis) continue;
      if (in[i][d] != y[d])
        return invalid_argument("Concat: input " + std::to_string(i) + " shape " + shape_to_string(in[i]) +
                                " does not match " + shape_to_string(in[0]) + " outside axis " +
                                std::to_string(a.axis));
    }
    y[a.axis] += in[i][a.axis];
  }
  return y;
}

Expected<Shape> matmul_shape(const MatMulAttrs& a, const std::vector<Shape>& in) {
  if (in.size() < 2) return invalid_argument("MatMul: needs two inputs");
  Shape A = in[0], B = in[1];
  if (!a.batched) {
    if (A.size() != 2 || B.size() != 2) return invalid_argument("Gemm: inputs must be 2-D");
    int64_t m = a.trans_a ? A[1] : A[0], ka = a.trans_a ? A[0] : A[1];
    int64_t kb = a.trans_b ? B[1] : B[0], n = a.trans_b ? B[0] : B[1];
    if (ka != kb) return invalid_argument("Gemm: inner dimensions differ: " + shape_to_string(A) + " x " + shape_to_string(B));
    return Shape{m, n};
  }
  bool a1 = A.size() == 1, b1 = B.size() == 1;
  if (a1) A.insert(A.begin(), 1);
  if (b1) B.push_back(1);
  if (A.back() != B[B.size() - 2])
    return invalid_argument("MatMul: inner dimensions differ: " + shape_to_string(in[0]) + " x " + shape_to_string(in[1]));
  Shape ba(A.begin(), A.end() - 2), bb(B.begin(), B.end() - 2);
  KILN_ASSIGN_OR_RETURN(Shape batch, broadcast_shape(ba, bb));
  Shape y = batch;
  if (!a1) y.push_back(A[A.size() - 2]);
  if (!b1) y.push_back(B.back());
  return y;
}

}  // namespace

Expected<Shape> infer_shape(const OpAttrs& attrs, const std::vector<Shape>& in) {
  if (in.empty()) return invalid_argument("node has no inputs");
  struct Rule {
    const std::vector<Shape>& in;
    Expected<Shape> operator()(const ConvAttrs& a) { return conv_shape(a, in); }
    Expected<Shape> operator()(const ConvTransposeAttrs& a) { return deconv_shape(a, in); }
    Expected<Shape> operator()(const PoolAttrs& a) { return pool_shape(a, in); }
    Expected<Shape> operator()(const BatchNormAttrs&) { return in[0]; }
    Expected<Shape> operator()(const UnaryAttrs&) { return in[0]; }
    Expected<Shape> operator()(const BinaryAttrs& a) {
      if (in.size() != 2) return invalid_argument("binary op needs two inputs");
      if (a.kind == BinaryKind::kPRelu) return in[0];
      return broadcast_shape(in[0], in[1]);
    }
    Expected<Shape> operator()(const SoftmaxAttrs&) { return in[0]; }
    Expected<Shape> operator()(const ConcatAttrs& a) { return concat_shape(a, in); }
    Expected<Shape> operator()(const ResizeAttrs& a) {
      KILN_RETURN_IF_ERROR(check_window(in, a.out_size.size(), "Resize"));
      if (a.scales.size() != a.out_size.size()) return invalid_argument("Resize: scales do not match the sizes");
      Shape y = {in[0][0], in[0][1]};
      y.insert(y.end(), a.out_size.begin(), a.out_size.end());
      return y;
    }
    Expected<Shape> operator()(const PadAttrs& a) {
      if (a.begin.size() != in[0].size() || a.end.size() != in[0].size())
        return invalid_argument("Pad: pads do not match input rank");
      Shape y = in[0];
      for (size_t i = 0; i < y.size(); ++i) y[i] += a.begin[i] + a.end[i];
      for (int64_t d : y)
        if (d < 0) return invalid_argument("Pad: negative output size");
      return y;
    }
    Expected<Shape> operator()(const ReshapeAttrs& a) {
      if (shape_elements(a.shape) != shape_elements(in[0]))
        return invalid_argument("Reshape: cannot reshape " + shape_to_string(in[0]) + " to " + shape_to_string(a.shape));
      return a.shape;
    }
    Expected<Shape> operator()(const TransposeAttrs& a) {
      if (a.perm.size() != in[0].size()) return invalid_argument("Transpose: perm does not match rank");
      Shape y(in[0].size());
      for (size_t i = 0; i < y.size(); ++i) y[i] = in[0][a.perm[i]];
      return y;
    }
    Expected<Shape> operator()(const MatMulAttrs& a) { return matmul_shape(a, in); }
    Expected<Shape> operator()(const SliceAttrs& a) {
      Shape y = in[0];
      if (a.starts.size() != y.size()) return invalid_argument("Slice: starts do not match rank");
      for (size_t i = 0; i < y.size(); ++i) {
        int64_t s = a.steps[i];
        int64_t n = s > 0 ? (a.ends[i] - a.starts[i] + s - 1) / s : (a.starts[i] - a.ends[i] + (-s) - 1) / (-s);
        y[i] = std::max<int64_t>(n, 0);
      }
      return y;
    }
    Expected<Shape> operator()(const std::monostate&) { return in[0]; }
    Expected<Shape> operator()(const LrnAttrs&) {
      if (in[0].size() < 3) return invalid_argument("LRN: input " + shape_to_string(in[0]) + " has no channels and spatial axes");
      return in[0];
    }
    Expected<Shape> operator()(const ReduceAttrs& a) {
      if (a.axes.empty()) return invalid_argument("Reduce: no axes");
      Shape y;
      for (size_t i = 0; i < in[0].size(); ++i) {
        bool reduced = std::find(a.axes.begin(), a.axes.end(), static_cast<int64_t>(i)) != a.axes.end();
        if (!reduced) y.push_back(in[0][i]);
        else if (a.keepdims) y.push_back(1);
      }
      for (int64_t ax : a.axes)
        if (ax < 0 || ax >= static_cast<int64_t>(in[0].size()))
          return invalid_argument("Reduce: axis " + std::to_string(ax) + " is out of range for shape " + shape_to_string(in[0]));
      return y;
    }
  };
  return std::visit(Rule{in}, attrs);
}

double node_flops(const Graph& g, const Node& n) {
  const Shape& y = g.values[n.outputs[0]].shape;
  double out = static_cast<double>(shape_elements(y));
  // Multiply-adds per output (conv) or input (transposed conv) element: the weight's
  // elements per output channel, [C/g, k...] or [M/g, k...], whatever the spatial rank.
  auto per_channel = [](const Shape& w) { return static_cast<double>(shape_elements(Shape(w.begin() + 1, w.end()))); };
  if (std::holds_alternative<ConvAttrs>(n.attrs)) return 2.0 * out * per_channel(g.values[n.inputs[1]].shape);
  if (std::holds_alternative<ConvTransposeAttrs>(n.attrs)) {
    const Shape& x = g.values[n.inputs[0]].shape;
    return 2.0 * static_cast<double>(shape_elements(x)) * per_channel(g.values[n.inputs[1]].shape);
  }
  if (std::holds_alternative<ReduceAttrs>(n.attrs))
    return static_cast<double>(shape_elements(g.values[n.inputs[0]].shape));
  if (auto* m = std::get_if<MatMulAttrs>(&n.attrs)) {
    const Shape& a = g.values[n.inputs[0]].shape;
    int64_t k = m->batched ? a.back() : (m->trans_a ? a[0] : a[1]);
    return 2.0 * out * static_cast<double>(k);
  }
  return out;
}

}  // namespace kiln
