// Small helpers shared by the reference kernels: input validation, strides, NumPy
// broadcasting and conv post-ops. Internal to src/reference/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "graph/attrs.h"
#include "core/status_macros.h"
#include "kiln/status.h"
#include "kiln/tensor.h"
#include "reference/reference.h"

namespace kiln::reference::detail {

inline Tensor new_f32(Shape shape) { return Tensor::zeros(DType::kF32, std::move(shape)); }

// Checks that the number of inputs is within [lo, hi].
inline Status check_count(const char* op, std::span<const Tensor> in, size_t lo, size_t hi) {
  if (in.size() < lo || in.size() > hi) {
    std::string want = lo == hi ? std::to_string(lo)
                                : std::to_string(lo) + ".." + std::to_string(hi);
    return invalid_argument(std::string(op) + ": expected " + want + " inputs, got " +
                            std::to_string(in.size()));
  }
  return Status::ok();
}

// Checks that a tensor is present and float32.
inline Status check_f32(const char* op, const Tensor& t, const char* what) {
  if (t.empty()) return invalid_argument(std::string(op) + ": " + what + " is missing (empty)");
  if (t.dtype() != DType::kF32) {
    return invalid_argument(std::string(op) + ": " + what + " must be float32, got " +
                            dtype_name(t.dtype()));
  }
  return Status::ok();
}

inline Status check_rank(const char* op, const Tensor& t, const char* what, size_t rank) {
  KILN_RETURN_IF_ERROR(check_f32(op, t, what));
  if (t.shape().size() != rank) {
    return invalid_argument(std::string(op) + ": " + what + " must have rank " +
                            std::to_string(rank) + ", got shape " + shape_to_string(t.shape()));
  }
  return Status::ok();
}

// The inputs both convolutions start with: x and w with `spatial` axes after N and C, then a
// bias when there is one.
inline Status check_conv_inputs(const char* op, bool has_bias, size_t spatial, std::span<const Tensor> inputs) {
  const size_t need = has_bias ? 3 : 2;
  if (inputs.size() < need) {
    return invalid_argument(std::string(op) + ": expected at least " + std::to_string(need) + " inputs (x, w" +
                            (has_bias ? ", b" : "") + "), got " + std::to_string(inputs.size()));
  }
  if (spatial < 1 || spatial > 3) return invalid_argument(std::string(op) + ": " + std::to_string(spatial) + " spatial axes");
  KILN_RETURN_IF_ERROR(check_rank(op, inputs[0], "input", spatial + 2));
  return check_rank(op, inputs[1], "weight", spatial + 2);
}

// A window over 1 to 3 spatial axes seen as 3-D: missing leading axes have size 1, kernel 1,
// stride 1, dilation 1 and no pads, so one loop nest serves NCW, NCHW and NCDHW. `in` is the
// input's spatial extent, `out` the output's once out_extent() has run.
struct Window3 {
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, dil[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};  // begin and end pads
  int64_t out[3] = {1, 1, 1};
  size_t spatial = 0;
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

inline Expected<Window3> window3(const char* op, const Shape& x, const Spatial& kernel, const Spatial& strides,
                                 const Spatial& dilations, const Spatial& pads) {
  const size_t d = kernel.size();
  if (d < 1 || d > 3 || x.size() != d + 2 || strides.size() != d || dilations.size() != d || pads.size() != 2 * d)
    return invalid_argument(std::string(op) + ": window attributes for " + std::to_string(d) +
                            " axes do not fit input " + shape_to_string(x));
  Window3 w;
  w.spatial = d;
  const size_t o = 3 - d;
  for (size_t i = 0; i < d; ++i) {
    w.in[o + i] = x[2 + i];
    w.k[o + i] = kernel[i];
    w.s[o + i] = strides[i];
    w.dil[o + i] = dilations[i];
    w.pb[o + i] = pads[i];
    w.pe[o + i] = pads[d + i];
    if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1)
      return invalid_argument(std::string(op) + ": kernel, strides and dilations must be >= 1");
  }
  return w;
}

// The output extent of a window that slides over its padded input (conv, pool).
inline Status slide_out_extent(const char* op, Window3& w, const Shape& x) {
  for (int i = 0; i < 3; ++i) {
    const int64_t span = w.in[i] + w.pb[i] + w.pe[i] - w.dil[i] * (w.k[i] - 1) - 1;
    if (span < 0)
      return invalid_argument(std::string(op) + ": kernel (with dilation and padding) is larger than input " +
                              shape_to_string(x));
    w.out[i] = span / w.s[i] + 1;
  }
  return Status::ok();
}

// [N, C] followed by the window's output extent at its own rank.
inline Shape window_out_shape(int64_t n, int64_t c, const Window3& w) {
  Shape y = {n, c};
  for (size_t i = 3 - w.spatial; i < 3; ++i) y.push_back(w.out[i]);
  return y;
}

// Row-major strides of a shape.
inline std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

// NumPy multidirectional broadcast of two shapes.
inline Expected<Shape> broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Dimension i counted from the right; missing dimensions act as 1.
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1) {
      return invalid_argument(std::string(op) + ": shapes " + shape_to_string(a) + " and " +
                              shape_to_string(b) + " cannot be broadcast");
    }
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

// Strides for reading a tensor of shape `in` (broadcastable to `out`) with an index of `out`:
// one entry per output axis, 0 where `in` is broadcast (size 1 or missing).
inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> in_st = strides_of(in);
  std::vector<int64_t> st(out.size(), 0);
  size_t shift = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[shift + i] = in[i] == 1 ? 0 : in_st[i];
  return st;
}

// Offset into a tensor read with `strides` (one per axis of `shape`) of the flat
// row-major index `flat` of a tensor of shape `shape`.
inline int64_t offset_of(int64_t flat, const Shape& shape, const std::vector<int64_t>& strides) {
  int64_t off = 0;
  for (size_t i = shape.size(); i-- > 0;) {
    int64_t idx = flat % shape[i];
    flat /= shape[i];
    off += idx * strides[i];
  }
  return off;
}

// Validates the inputs named by fused post-ops against the output shape.
inline Status check_post_ops(const char* op, const std::vector<PostOp>& post_ops,
                             std::span<const Tensor> in, const Shape& out_shape) {
  for (const PostOp& p : post_ops) {
    if (p.kind != PostOp::Kind::kAddTensor) continue;
    if (p.input_index < 0 || static_cast<size_t>(p.input_index) >= in.size()) {
      return invalid_argument(std::string(op) + ": add-tensor post-op names input " +
                              std::to_string(p.input_index) + " but there are " +
                              std::to_string(in.size()) + " inputs");
    }
    const Tensor& t = in[p.input_index];
    KILN_RETURN_IF_ERROR(check_f32(op, t, "add-tensor post-op input"));
    if (t.shape() != out_shape) {
      return invalid_argument(std::string(op) + ": add-tensor post-op input shape " +
                              shape_to_string(t.shape()) + " does not match output shape " +
                              shape_to_string(out_shape));
    }
  }
  return Status::ok();
}

// Applies post-ops in order to every element of `y` (already validated).
inline void apply_post_ops(const std::vector<PostOp>& post_ops, std::span<const Tensor> in,
                           Tensor& y) {
  float* p = y.data<float>();
  int64_t n = y.elements();
  for (const PostOp& op : post_ops) {
    if (op.kind == PostOp::Kind::kUnary) {
      for (int64_t i = 0; i < n; ++i) p[i] = apply_unary(op.unary, p[i]);
    } else {
      const float* add = in[op.input_index].data<float>();
      for (int64_t i = 0; i < n; ++i) p[i] += add[i];
    }
  }
}

// Checks that a per-channel parameter tensor has exactly `n` elements.
inline Status check_per_channel(const char* op, const Tensor& t, const char* what, int64_t n) {
  KILN_RETURN_IF_ERROR(check_f32(op, t, what));
  if (t.elements() != n) {
    return invalid_argument(std::string(op) + ": " + what + " shape " +
                            shape_to_string(t.shape()) + " must have " + std::to_string(n) +
                            " elements (one per channel)");
  }
  return Status::ok();
}

}  // namespace kiln::reference::detail
