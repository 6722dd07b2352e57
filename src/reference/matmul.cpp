// Reference matrix products: ONNX Gemm (Y = alpha * op(A) op(B) + beta * C) and, when
// `batched`, ONNX MatMul with NumPy semantics (1-D operands, broadcast batch dimensions).
#include <string>

#include "reference/reference.h"
#include "core/status_macros.h"
#include "reference/util.h"

namespace kiln::reference {

namespace {

// out[M, N] = sum_k a[m, k] * b[k, n] for plain row-major matrices, accumulated in double.
void matmul_2d(const float* a, const float* b, float* out, int64_t M, int64_t K, int64_t N) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(a[m * K + k]) * b[k * N + n];
      out[m * N + n] = static_cast<float>(acc);
    }
  }
}

Expected<Tensor> batched_matmul(std::span<const Tensor> in) {
  const char* op = "matmul";
  const Shape& sa = in[0].shape();
  const Shape& sb = in[1].shape();
  if (sa.empty() || sb.empty()) {
    return invalid_argument("matmul: operands must have rank >= 1, got " + shape_to_string(sa) +
                            " and " + shape_to_string(sb));
  }
  // A 1-D A is a row vector [1, K] and a 1-D B a column vector [K, 1]; the added axis is
  // removed from the result.
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  const Shape a2 = a_vec ? Shape{1, sa[0]} : sa;
  const Shape b2 = b_vec ? Shape{sb[0], 1} : sb;
  const int64_t M = a2[a2.size() - 2], K = a2[a2.size() - 1];
  const int64_t N = b2[b2.size() - 1];
  if (b2[b2.size() - 2] != K) {
    return invalid_argument("matmul: inner dimensions of " + shape_to_string(sa) + " and " +
                            shape_to_string(sb) + " do not match");
  }
  const Shape batch_a(a2.begin(), a2.end() - 2), batch_b(b2.begin(), b2.end() - 2);
  KILN_ASSIGN_OR_RETURN(Shape batch, detail::broadcast_shapes(op, batch_a, batch_b));

  Shape out_shape = batch;
  if (!a_vec) out_shape.push_back(M);
  if (!b_vec) out_shape.push_back(N);
  Tensor y = detail::new_f32(out_shape);

  // Strides in whole matrices of A's and B's batch axes, 0 where broadcast.
  const std::vector<int64_t> st_a = detail::broadcast_strides(batch_a, batch);
  const std::vector<int64_t> st_b = detail::broadcast_strides(batch_b, batch);
  const float* ap = in[0].data<float>();
  const float* bp = in[1].data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0, n = shape_elements(batch); i < n; ++i) {
    const float* a = ap + detail::offset_of(i, batch, st_a) * M * K;
    const float* b = bp + detail::offset_of(i, batch, st_b) * K * N;
    matmul_2d(a, b, yp + i * M * N, M, K, N);
  }
  return y;
}

}  // namespace

Expected<Tensor> matmul(const MatMulAttrs& attrs, std::span<const Tensor> inputs) {
  const char* op = "matmul";
  if (attrs.batched) {
    KILN_RETURN_IF_ERROR(detail::check_count(op, inputs, 2, 2));
    if (attrs.trans_a || attrs.trans_b || attrs.has_c || attrs.alpha != 1.0f) {
      return invalid_argument("matmul: batched MatMul takes no transposes, alpha or C");
    }
  } else {
    const size_t n = attrs.has_c ? 3 : 2;
    KILN_RETURN_IF_ERROR(detail::check_count(op, inputs, n, n));
  }
  for (const Tensor& t : inputs) KILN_RETURN_IF_ERROR(detail::check_f32(op, t, "input"));
  if (attrs.batched) return batched_matmul(inputs);

  // Gemm: A is [M, K] ([K, M] if trans_a), B is [K, N] ([N, K] if trans_b).
  const Tensor& A = inputs[0];
  const Tensor& B = inputs[1];
  KILN_RETURN_IF_ERROR(detail::check_rank("gemm", A, "A", 2));
  KILN_RETURN_IF_ERROR(detail::check_rank("gemm", B, "B", 2));
  const int64_t M = attrs.trans_a ? A.shape()[1] : A.shape()[0];
  const int64_t K = attrs.trans_a ? A.shape()[0] : A.shape()[1];
  const int64_t KB = attrs.trans_b ? B.shape()[1] : B.shape()[0];
  const int64_t N = attrs.trans_b ? B.shape()[0] : B.shape()[1];
  if (K != KB) {
    return invalid_argument("gemm: inner dimensions of A " + shape_to_string(A.shape()) +
                            (attrs.trans_a ? " (transposed)" : "") + " and B " +
                            shape_to_string(B.shape()) + (attrs.trans_b ? " (transposed)" : "") +
                            " do not match");
  }
  const Shape out_shape = {M, N};
  std::vector<int64_t> st_c;
  if (attrs.has_c) {
    const Shape& sc = inputs[2].shape();
    Expected<Shape> bc = detail::broadcast_shapes("gemm", sc, out_shape);
    if (sc.size() > 2 || !bc || *bc != out_shape) {
      return invalid_argument("gemm: C shape " + shape_to_string(sc) +
                              " cannot be broadcast to " + shape_to_string(out_shape));
    }
    st_c = detail::broadcast_strides(sc, out_shape);
  }

  const float* ap = A.data<float>();
  const float* bp = B.data<float>();
  const float* cp = attrs.has_c ? inputs[2].data<float>() : nullptr;
  Tensor y = detail::new_f32(out_shape);
  float* yp = y.data<float>();
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const float av = attrs.trans_a ? ap[k * M + m] : ap[m * K + k];
        const float bv = attrs.trans_b ? bp[n * K + k] : bp[k * N + n];
        acc += static_cast<double>(av) * bv;
      }
      float v = attrs.alpha * static_cast<float>(acc);
      if (cp) v += attrs.beta * cp[detail::offset_of(m * N + n, out_shape, st_c)];
      yp[m * N + n] = v;
    }
  }
  return y;
}

}  // namespace kiln::reference
