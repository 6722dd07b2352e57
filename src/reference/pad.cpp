// Reference padding of any rank (ONNX Pad, modes constant / reflect / edge).
//
// Negative pads crop. Per axis, the input is first cropped by the negative parts of
// begin/end and the cropped tensor is then padded by the positive parts (as ONNX Runtime
// does), so reflect and edge read the cropped tensor's borders. Reflect mirrors without
// repeating the edge element ([1,2,3] padded by 2 on each side -> [3,2,1,2,3,2,1]); pads
// longer than the axis keep reflecting back and forth (period 2 * (len - 1)), as numpy does.
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

namespace {

// Index into the (cropped) axis of length `len` read by padded position `p` (which is
// relative to the start of the cropped axis, so p < 0 is in the begin padding), or -1 for
// "use the constant".
int64_t source_index(PadMode mode, int64_t p, int64_t len) {
  if (p >= 0 && p < len) return p;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return p < 0 ? 0 : len - 1;
    case PadMode::kReflect: {
      if (len == 1) return 0;
      const int64_t period = 2 * (len - 1);
      int64_t q = p % period;
      if (q < 0) q += period;
      return q < len ? q : period - q;
    }
  }
  return -1;
}

}  // namespace

// inputs[0] is the data; ONNX's pads/constant_value/axes inputs, already folded into the
// attributes, may follow and are ignored.
Expected<Tensor> pad(const PadAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "pad";
  if (inputs.empty()) return invalid_argument("pad: expected at least 1 input, got 0");
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  const Shape& s = x.shape();
  const size_t rank = s.size();
  if (a.begin.size() != rank || a.end.size() != rank) {
    return invalid_argument("pad: expected " + std::to_string(rank) + " begin and end pads for " +
                            "shape " + shape_to_string(s) + ", got " +
                            std::to_string(a.begin.size()) + " and " +
                            std::to_string(a.end.size()));
  }
  if (a.mode != PadMode::kConstant && a.mode != PadMode::kEdge && a.mode != PadMode::kReflect) {
    return invalid_argument("pad: unknown pad mode");
  }

  // Per axis: crop offset into the input, cropped length, positive begin pad, output length.
  std::vector<int64_t> crop(rank), len(rank), before(rank);
  Shape out_shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    crop[i] = a.begin[i] < 0 ? -a.begin[i] : 0;
    const int64_t crop_end = a.end[i] < 0 ? -a.end[i] : 0;
    len[i] = s[i] - crop[i] - crop_end;
    before[i] = a.begin[i] > 0 ? a.begin[i] : 0;
    const int64_t after = a.end[i] > 0 ? a.end[i] : 0;
    if (len[i] < 0) {
      return invalid_argument("pad: negative pads on axis " + std::to_string(i) +
                              " crop more than the whole axis of shape " + shape_to_string(s));
    }
    if (len[i] == 0 && (before[i] > 0 || after > 0) && a.mode != PadMode::kConstant) {
      return invalid_argument("pad: reflect/edge padding of an empty axis " + std::to_string(i) +
                              " of shape " + shape_to_string(s));
    }
    out_shape[i] = len[i] + before[i] + after;
  }

  Tensor y = detail::new_f32(out_shape);
  const std::vector<int64_t> in_st = detail::strides_of(s);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t flat = 0, n = y.elements(); flat < n; ++flat) {
    int64_t rem = flat, off = 0;
    bool constant = false;
    for (size_t i = rank; i-- > 0;) {  // decompose `flat` into the output index, last axis first
      const int64_t idx = rem % out_shape[i];
      rem /= out_shape[i];
      const int64_t src = source_index(a.mode, idx - before[i], len[i]);
      if (src < 0) constant = true;
      off += (src + crop[i]) * in_st[i];
    }
    yp[flat] = constant ? a.value : xp[off];
  }
  return y;
}

}  // namespace kiln::reference
