// The rewrite rules. Each is a few lines over the pattern helpers in optimize.h.
#include "optimize/rules.h"

#include <algorithm>

namespace kiln {
namespace {

// Identity (and Dropout, which importers turn into Identity or an alias) forwards its input.
bool drop_identity(Graph& g, int n) {
  Node& node = g.nodes[n];
  if (node.kind() != OpKind::kIdentity) return false;
  int in = node.inputs[0], out = node.outputs[0];
  const Value& src = g.values[in];
  if (g.is_output(out)) {
    // Keep the user's output name: the producer of `in` takes over, unless `in` is itself
    // needed elsewhere, is an input/weight, or is another output.
    if (src.kind != ValueKind::kActivation || g.is_output(in) || sole_consumer(g, in) != n) return false;
    absorb(g, src.producer, n);
    return true;
  }
  g.replace_uses(out, in);
  node.inputs.clear();
  node.outputs.clear();
  return true;
}

// Pad(constant 0 on H and W only) -> Conv becomes the conv's own (possibly asymmetric) pads.
bool fold_pad_into_conv(Graph& g, int n) {
  Node& pad = g.nodes[n];
  auto* pa = std::get_if<PadAttrs>(&pad.attrs);
  if (!pa || pa->mode != PadMode::kConstant || pa->value != 0.0f || pa->begin.size() != 4) return false;
  if (pa->begin[0] || pa->begin[1] || pa->end[0] || pa->end[1]) return false;
  for (int i = 2; i < 4; ++i)
    if (pa->begin[i] < 0 || pa->end[i] < 0) return false;
  int c = sole_consumer(g, pad.outputs[0]);
  if (c < 0) return false;
  auto* conv = std::get_if<ConvAttrs>(&g.nodes[c].attrs);
  if (!conv || g.nodes[c].inputs[0] != pad.outputs[0]) return false;
  // The conv may also read the padded tensor elsewhere (a fused residual add): keep the pad.
  const auto& ins = g.nodes[c].inputs;
  if (std::count(ins.begin(), ins.end(), pad.outputs[0]) != 1) return false;
  conv->pads[0] += pa->begin[2];
  conv->pads[1] += pa->begin[3];
  conv->pads[2] += pa->end[2];
  conv->pads[3] += pa->end[3];
  g.nodes[c].inputs[0] = pad.inputs[0];
  pad.inputs.clear();
  pad.outputs.clear();
  return true;
}

// Conv -> BatchNormalization: the BN's parameters become extra weight inputs of the conv,
// folded into its weights and bias when a weight pack is built.
bool fold_batch_norm(Graph& g, int n) {
  Node& conv = g.nodes[n];
  auto* ca = std::get_if<ConvAttrs>(&conv.attrs);
  if (!ca || ca->folded_bn.present || !ca->post_ops.empty()) return false;
  int b = sole_consumer(g, conv.outputs[0]);
  if (b < 0) return false;
  const Node& bn = g.nodes[b];
  auto* ba = std::get_if<BatchNormAttrs>(&bn.attrs);
  if (!ba || bn.inputs[0] != conv.outputs[0]) return false;
  for (int i = 1; i < 5; ++i)
    if (g.values[bn.inputs[i]].kind != ValueKind::kWeight) return false;
  FoldedBatchNorm& f = ca->folded_bn;
  f.present = true;
  f.epsilon = ba->epsilon;
  int base = static_cast<int>(conv.inputs.size());
  f.gamma_input = base;
  f.beta_input = base + 1;
  f.mean_input = base + 2;
  f.var_input = base + 3;
  for (int i = 1; i < 5; ++i) conv.inputs.push_back(bn.inputs[i]);
  absorb(g, n, b);
  return true;
}

bool fusable_activation(const UnaryAttrs& u) {
  switch (u.kind) {
    case UnaryKind::kRelu: case UnaryKind::kLeakyRelu: case UnaryKind::kElu: case UnaryKind::kSigmoid:
    case UnaryKind::kTanh: case UnaryKind::kClip: case UnaryKind::kHardSwish:
      return true;
    default:
      return false;
  }
}

std::vector<PostOp>* post_ops_of(Node& node) {
  if (auto* c = std::get_if<ConvAttrs>(&node.attrs)) return &c->post_ops;
  if (auto* d = std::get_if<ConvTransposeAttrs>(&node.attrs)) return &d->post_ops;
  return nullptr;
}

// Conv -> activation becomes a post-op of the convolution.
bool fuse_activation(Graph& g, int n) {
  std::vector<PostOp>* ops = post_ops_of(g.nodes[n]);
  if (!ops) return false;
  int u = sole_consumer(g, g.nodes[n].outputs[0]);
  if (u < 0) return false;
  auto* ua = std::get_if<UnaryAttrs>(&g.nodes[u].attrs);
  if (!ua || !fusable_activation(*ua)) return false;
  ops->push_back(PostOp{PostOp::Kind::kUnary, *ua, -1});
  absorb(g, n, u);
  return true;
}

// Conv -> Add(conv, other) of equal shapes (a residual connection) becomes a post-op that
// adds `other`, provided `other` is ready before the conv runs.
bool fuse_residual_add(Graph& g, int n) {
  std::vector<PostOp>* ops = post_ops_of(g.nodes[n]);
  if (!ops) return false;
  // An upsampled conv computes its output in four interleaved phases: only per-pixel
  // post-ops can run inside them.
  if (auto* c = std::get_if<ConvAttrs>(&g.nodes[n].attrs); c && c->reads_upsampled_2x) return false;
  int conv_out = g.nodes[n].outputs[0];
  int a = sole_consumer(g, conv_out);
  if (a < 0) return false;
  auto* ba = std::get_if<BinaryAttrs>(&g.nodes[a].attrs);
  if (!ba || ba->kind != BinaryKind::kAdd) return false;
  const auto& ins = g.nodes[a].inputs;
  int other = ins[0] == conv_out ? ins[1] : ins[0];
  if (other == conv_out) return false;
  const Value& ov = g.values[other];
  if (ov.kind == ValueKind::kWeight || ov.shape != g.values[conv_out].shape) return false;
  if (ov.kind == ValueKind::kActivation && ov.producer >= n) return false;
  PostOp p;
  p.kind = PostOp::Kind::kAddTensor;
  p.input_index = static_cast<int>(g.nodes[n].inputs.size());
  g.nodes[n].inputs.push_back(other);
  ops->push_back(p);
  absorb(g, n, a);
  return true;
}

// Resize(nearest, exactly 2x, each output pixel taking input floor(i/2)) -> Conv 2x2, stride
// 1, pads {0,0,1,1}: the U-Net up-convolution (Keras UpSampling2D + Conv2D(2, 'same'), or
// PyTorch's Upsample + padded conv). The conv reads the small tensor itself.
bool fuse_upsample_into_conv(Graph& g, int n) {
  Node& rs = g.nodes[n];
  auto* ra = std::get_if<ResizeAttrs>(&rs.attrs);
  if (!ra || ra->mode != ResizeMode::kNearest) return false;
  const Shape& x = g.values[rs.inputs[0]].shape;
  if (x.size() != 4 || ra->out_size[0] != 2 * x[2] || ra->out_size[1] != 2 * x[3]) return false;
  // Output i reads input floor(i/2) for asymmetric+floor, and for half-pixel with either
  // rounding (source (i+0.5)/2-0.5 never lands on a .5 tie at scale 2).
  bool half_pixel = ra->coord == CoordTransform::kHalfPixel || ra->coord == CoordTransform::kPytorchHalfPixel;
  bool rounds = ra->nearest == NearestRounding::kRoundPreferFloor || ra->nearest == NearestRounding::kRoundPreferCeil;
  bool floor_map = (ra->coord == CoordTransform::kAsymmetric && ra->nearest == NearestRounding::kFloor) ||
                   (half_pixel && rounds);
  if (!floor_map || g.is_output(rs.outputs[0])) return false;
  int c = sole_consumer(g, rs.outputs[0]);
  if (c < 0) return false;
  auto* ca = std::get_if<ConvAttrs>(&g.nodes[c].attrs);
  if (!ca || g.nodes[c].inputs[0] != rs.outputs[0] || ca->reads_upsampled_2x) return false;
  const auto& ins = g.nodes[c].inputs;
  if (std::count(ins.begin(), ins.end(), rs.outputs[0]) != 1) return false;
  if (ca->kernel != Spatial{2, 2} || ca->strides != Spatial{1, 1} || ca->dilations != Spatial{1, 1} ||
      ca->group != 1 || ca->pads != Spatial{0, 0, 1, 1})
    return false;
  // The phase convolutions are only fast on channel-blocked tensors (oneDNN runs a 2x2 conv
  // writing 8 plain channels with its reference kernel: 100x slower, measured).
  const Shape& w = g.values[g.nodes[c].inputs[1]].shape;
  if (x[1] % 16 != 0 || w[0] % 16 != 0) return false;
  ca->reads_upsampled_2x = true;
  g.nodes[c].inputs[0] = rs.inputs[0];
  rs.inputs.clear();
  rs.outputs.clear();
  return true;
}

}  // namespace

const std::vector<RewriteRule>& rewrite_rules() {
  static const std::vector<RewriteRule> rules = {
      {"drop_identity", drop_identity},
      {"fold_pad_into_conv", fold_pad_into_conv},
      {"fold_batch_norm", fold_batch_norm},
      {"fuse_upsample_into_conv", fuse_upsample_into_conv},
      {"fuse_activation", fuse_activation},
      {"fuse_residual_add", fuse_residual_add},
  };
  return rules;
}

}  // namespace kiln
