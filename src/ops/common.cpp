#include "ops/common.h"

#include "ops/reference_step.h"

namespace kiln::ops {

dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void add_primitive(CompileContext& ctx, const Node& n, const std::string& kind, dnnl::primitive prim,
                   const dnnl::primitive_desc_base& pd, std::vector<std::pair<int, TensorRef>> args,
                   double flops) {
  md_t scratch = pd.scratchpad_desc();
  if (scratch.get_size() > 0) args.emplace_back(DNNL_ARG_SCRATCHPAD, ctx.scratchpad(scratch));
  auto step = std::make_unique<PrimitiveStep>(std::move(prim), args);
  for (const auto& [id, ref] : args) {
    if (id == DNNL_ARG_SCRATCHPAD) continue;
    (id == DNNL_ARG_DST || id == DNNL_ARG_TO ? step->writes : step->reads).push_back(ref);
  }
  step->name = n.name;
  step->kind = kind;
  step->impl = pd.impl_info_str();
  step->flops = flops >= 0 ? flops : node_flops(ctx.graph(), n);
  ctx.add_step(std::move(step));
}

Status add_reference_step(CompileContext& ctx, const Node& n) {
  std::vector<Shape> shapes;
  std::vector<TensorRef> reads;
  for (int in : n.inputs) {
    shapes.push_back(ctx.shape(in));
    reads.push_back(ctx.read(in, plain_md(ctx.shape(in))));
  }
  int out = n.outputs[0];
  TensorRef w = ctx.define(out, plain_md(ctx.shape(out)));
  auto step = std::make_unique<ReferenceStep>(n.attrs, shapes, ctx.shape(out));
  step->name = n.name;
  step->kind = std::string("reference:") + op_kind_name(n.kind());
  step->impl = "kiln naive reference";
  step->flops = node_flops(ctx.graph(), n);
  step->reads = std::move(reads);
  step->writes = {w};
  ctx.add_step(std::move(step));
  return Status::ok();
}

std::optional<Eltwise> eltwise_of(const UnaryAttrs& u) {
  switch (u.kind) {
    case UnaryKind::kRelu: return Eltwise{algorithm::eltwise_relu, 0.0f, 0.0f};
    case UnaryKind::kLeakyRelu: return Eltwise{algorithm::eltwise_relu, u.alpha, 0.0f};
    case UnaryKind::kElu: return Eltwise{algorithm::eltwise_elu, u.alpha, 0.0f};
    case UnaryKind::kSigmoid: return Eltwise{algorithm::eltwise_logistic, 0.0f, 0.0f};
    case UnaryKind::kTanh: return Eltwise{algorithm::eltwise_tanh, 0.0f, 0.0f};
    case UnaryKind::kClip: return Eltwise{algorithm::eltwise_clip_v2, u.alpha, u.beta};
    case UnaryKind::kHardSwish: return Eltwise{algorithm::eltwise_hardswish, 0.0f, 0.0f};
    case UnaryKind::kExp: return Eltwise{algorithm::eltwise_exp, 0.0f, 0.0f};
    case UnaryKind::kAbs: return Eltwise{algorithm::eltwise_abs, 0.0f, 0.0f};
    case UnaryKind::kSqrt: return Eltwise{algorithm::eltwise_sqrt, 0.0f, 0.0f};
    case UnaryKind::kNeg: return Eltwise{algorithm::eltwise_linear, -1.0f, 0.0f};
    case UnaryKind::kLog: return Eltwise{algorithm::eltwise_log, 0.0f, 0.0f};
    case UnaryKind::kRound: return Eltwise{algorithm::eltwise_round, 0.0f, 0.0f};  // halves to even
    case UnaryKind::kReciprocal: return Eltwise{algorithm::eltwise_pow, 1.0f, -1.0f};
    default:
      // No single oneDNN 2.6 algorithm (HardSigmoid; Selu, Celu, Shrink, ... need two), or one
      // with other conventions (soft_relu's alpha): the reference kernel runs them.
      return std::nullopt;
  }
  return std::nullopt;
}

Expected<size_t> apply_post_ops(CompileContext& ctx, const Node& n, const std::vector<PostOp>& post_ops,
                                dnnl::primitive_attr& attr, std::vector<std::pair<int, TensorRef>>& args) {
  dnnl::post_ops po = attr.get_post_ops();  // after any the caller put first (int8 rescaling)
  const int base = po.len();
  std::vector<Eltwise> fused_eltwise;
  size_t index = 0;
  for (; index < post_ops.size(); ++index) {
    const PostOp& p = post_ops[index];
    if (p.kind == PostOp::Kind::kUnary) {
      auto e = eltwise_of(p.unary);
      if (!e) return unsupported(std::string("fused activation ") + unary_kind_name(p.unary.kind));
      bool clash = false;
      for (const Eltwise& f : fused_eltwise)
        clash = clash || (f.alg == e->alg && (f.alpha != e->alpha || f.beta != e->beta));
      if (clash) break;
      fused_eltwise.push_back(*e);
      po.append_eltwise(1.0f, e->alg, e->alpha, e->beta);
    } else {
      int other = n.inputs.at(p.input_index);
      md_t md = ctx.md(other);
      po.append_binary(algorithm::binary_add, md);
      args.emplace_back(DNNL_ARG_ATTR_MULTIPLE_POST_OP(base + static_cast<int>(index)) | DNNL_ARG_SRC_1, ctx.read(other, md));
    }
  }
  attr.set_post_ops(po);
  return index;
}

Status add_post_op_steps(CompileContext& ctx, const Node& n, const std::vector<PostOp>& post_ops, size_t from,
                         const TensorRef& dst) {
  const double elements = static_cast<double>(shape_elements(ctx.shape(n.outputs[0])));  // one op per element
  for (size_t i = from; i < post_ops.size(); ++i) {
    const PostOp& p = post_ops[i];
    if (p.kind == PostOp::Kind::kUnary) {
      auto e = eltwise_of(p.unary);
      if (!e) return unsupported(std::string("fused activation ") + unary_kind_name(p.unary.kind));
      dnnl::eltwise_forward::desc desc(prop_kind::forward_inference, e->alg, dst.md, e->alpha, e->beta);
      dnnl::eltwise_forward::primitive_desc pd(desc, base_attr(), ctx.engine());
      add_primitive(ctx, n, std::string("eltwise:") + unary_kind_name(p.unary.kind), dnnl::eltwise_forward(pd), pd,
                    {{DNNL_ARG_SRC, dst}, {DNNL_ARG_DST, dst}}, elements);
    } else {
      TensorRef other = ctx.read(n.inputs.at(p.input_index), dst.md);
      dnnl::binary::desc desc(algorithm::binary_add, dst.md, dst.md, dst.md);
      dnnl::binary::primitive_desc pd(desc, base_attr(), ctx.engine());
      add_primitive(ctx, n, "binary:Add", dnnl::binary(pd), pd,
                    {{DNNL_ARG_SRC_0, dst}, {DNNL_ARG_SRC_1, other}, {DNNL_ARG_DST, dst}}, elements);
    }
  }
  return Status::ok();
}

}  // namespace kiln::ops
