// Add/Sub/Mul/Div/Max/Min with broadcasting on oneDNN's binary primitive. oneDNN wants the
// first operand at the full output shape and the second broadcast to it at the same rank;
// other cases (and PRelu, Pow) run the reference kernel.
#include "ops/common.h"

namespace kiln::ops {

namespace {

std::optional<algorithm> binary_alg(BinaryKind k) {
  switch (k) {
    case BinaryKind::kAdd: return algorithm::binary_add;
    case BinaryKind::kSub: return algorithm::binary_sub;
    case BinaryKind::kMul: return algorithm::binary_mul;
    case BinaryKind::kDiv: return algorithm::binary_div;
    case BinaryKind::kMax: return algorithm::binary_max;
    case BinaryKind::kMin: return algorithm::binary_min;
    case BinaryKind::kPRelu:
    case BinaryKind::kPow:
      return std::nullopt;
  }
  return std::nullopt;
}

bool commutative(BinaryKind k) {
  return k == BinaryKind::kAdd || k == BinaryKind::kMul || k == BinaryKind::kMax || k == BinaryKind::kMin;
}

}  // namespace

Status compile_binary(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<BinaryAttrs>(n.attrs);
  auto alg = binary_alg(a.kind);
  if (!alg) return add_reference_step(ctx, n);
  const Shape& out = ctx.shape(n.outputs[0]);
  int lhs = n.inputs[0], rhs = n.inputs[1];
  if (ctx.shape(lhs) != out && commutative(a.kind) && ctx.shape(rhs) == out) std::swap(lhs, rhs);
  if (ctx.shape(lhs) != out || ctx.is_weight(lhs)) return add_reference_step(ctx, n);
  const Shape& rs = ctx.shape(rhs);
  // The second operand at the output's rank, leading axes of size 1.
  Shape padded(out.size() - std::min(out.size(), rs.size()), 1);
  padded.insert(padded.end(), rs.begin(), rs.end());
  if (padded.size() != out.size()) return add_reference_step(ctx, n);
  md_t src0 = ctx.md(lhs);
  md_t src1;
  if (rs == out && !ctx.is_weight(rhs)) src1 = src0;  // same layout as the first operand
  else if (ctx.is_weight(rhs) || rs.size() == out.size()) src1 = plain_md(padded);
  else return add_reference_step(ctx, n);
  dnnl::binary::desc desc(*alg, src0, src1, src0);
  dnnl::binary::primitive_desc pd(desc, base_attr(), ctx.engine());
  std::vector<std::pair<int, TensorRef>> args = {{DNNL_ARG_SRC_0, ctx.read(lhs, src0)},
                                                 {DNNL_ARG_SRC_1, ctx.read(rhs, src1)},
                                                 {DNNL_ARG_DST, ctx.define(n.outputs[0], pd.dst_desc())}};
  add_primitive(ctx, n, std::string("binary:") + binary_kind_name(a.kind), dnnl::binary(pd), pd, std::move(args));
  return Status::ok();
}

}  // namespace kiln::ops
