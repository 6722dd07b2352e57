// Reference transpose of any rank (ONNX Transpose): output axis i is input axis perm[i].
// An empty perm means ONNX's default, reversing the axes.
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

Expected<Tensor> transpose(const TransposeAttrs& a, std::span<const Tensor> inputs) {
  const char* op = "transpose";
  KILN_RETURN_IF_ERROR(detail::check_count(op, inputs, 1, 1));
  const Tensor& x = inputs[0];
  KILN_RETURN_IF_ERROR(detail::check_f32(op, x, "input"));
  const Shape& s = x.shape();
  const size_t rank = s.size();

  std::vector<int64_t> perm = a.perm;
  if (perm.empty()) {
    for (size_t i = rank; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  }
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank;
  for (size_t i = 0; valid && i < rank; ++i) {
    valid = perm[i] >= 0 && perm[i] < static_cast<int64_t>(rank) && !seen[perm[i]];
    if (valid) seen[perm[i]] = true;
  }
  if (!valid) {
    return invalid_argument("transpose: perm " + shape_to_string(a.perm) +
                            " is not a permutation of the axes of shape " + shape_to_string(s));
  }

  Shape out_shape(rank);
  std::vector<int64_t> read_strides(rank);  // input stride for each output axis
  const std::vector<int64_t> in_st = detail::strides_of(s);
  for (size_t i = 0; i < rank; ++i) {
    out_shape[i] = s[perm[i]];
    read_strides[i] = in_st[perm[i]];
  }

  Tensor y = detail::new_f32(out_shape);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  // Output elements in order; the input offset follows as an odometer over the output's axes
  // (no division per element: importers re-lay out whole weight files through this).
  std::vector<int64_t> index(rank, 0);
  int64_t src = 0;
  for (int64_t i = 0, n = y.elements(); i < n; ++i) {
    yp[i] = xp[src];
    for (size_t k = rank; k-- > 0;) {
      src += read_strides[k];
      if (++index[k] < out_shape[k]) break;
      src -= read_strides[k] * out_shape[k];
      index[k] = 0;
    }
  }
  return y;
}

}  // namespace kiln::reference
