#include "plan/quantization.h"

namespace kiln {

namespace {

bool nonneg_activation(const UnaryAttrs& u) {
  switch (u.kind) {
    case UnaryKind::kRelu:
    case UnaryKind::kSigmoid:
    case UnaryKind::kHardSigmoid:
    case UnaryKind::kAbs:
    case UnaryKind::kSqrt:
    case UnaryKind::kExp:
    case UnaryKind::kSoftplus:
      return true;
    case UnaryKind::kClip:
      return u.alpha >= 0.0f;
    default:
      return false;
  }
}

// A convolution's output is non-negative when its last post-op is such an activation.
bool nonneg_post_ops(const std::vector<PostOp>& ops) {
  return !ops.empty() && ops.back().kind == PostOp::Kind::kUnary && nonneg_activation(ops.back().unary);
}

}  // namespace

std::string calibration_tensor_name(const std::string& value_name) { return "kiln.calibration:" + value_name; }

QuantizationInfo analyse_quantization(const Graph& g) {
  QuantizationInfo q;
  q.nonneg.assign(g.values.size(), false);
  q.scales.resize(g.values.size());
  auto channels = [&](int v) { return g.values[v].shape.size() >= 2 ? g.values[v].shape[1] : 1; };
  for (size_t v = 0; v < g.values.size(); ++v)
    q.scales[v] = {{g.values[v].name, 0, channels(static_cast<int>(v))}};
  for (const Node& n : g.nodes) {
    if (n.outputs.size() != 1) continue;
    int y = n.outputs[0];
    auto all_inputs_nonneg = [&] {
      for (int v : n.inputs)
        if (!q.nonneg[v]) return false;
      return !n.inputs.empty();
    };
    switch (n.kind()) {
      case OpKind::kConv:
        q.nonneg[y] = nonneg_post_ops(std::get<ConvAttrs>(n.attrs).post_ops);
        break;
      case OpKind::kConvTranspose:
        q.nonneg[y] = nonneg_post_ops(std::get<ConvTransposeAttrs>(n.attrs).post_ops);
        break;
      case OpKind::kUnary:
        q.nonneg[y] = nonneg_activation(std::get<UnaryAttrs>(n.attrs));
        break;
      case OpKind::kResize:  // nearest or linear: mixes of non-negative values (computed in fp32);
                             // cubic's negative lobes can undershoot
        q.nonneg[y] = !n.inputs.empty() && q.nonneg[n.inputs[0]] &&
                      std::get<ResizeAttrs>(n.attrs).mode != ResizeMode::kCubic;
        break;
      // Ops that move values without computing new ones: an int8 plan runs them on the
      // stored bytes, so the output has its inputs' scales.
      case OpKind::kPool:
      case OpKind::kIdentity:
        q.nonneg[y] = all_inputs_nonneg();
        if (channels(n.inputs[0]) == channels(y)) q.scales[y] = q.scales[n.inputs[0]];
        break;
      case OpKind::kConcat: {
        q.nonneg[y] = all_inputs_nonneg();
        if (std::get<ConcatAttrs>(n.attrs).axis != 1 || g.values[y].shape.size() != 4) break;
        std::vector<ScaleSegment> joined;
        for (int v : n.inputs) joined.insert(joined.end(), q.scales[v].begin(), q.scales[v].end());
        q.scales[y] = joined;
        break;
      }
      case OpKind::kReshape:  // computed on fp32 in int8 plans: its own scales
        q.nonneg[y] = all_inputs_nonneg();
        break;
      default:
        break;
    }
  }
  return q;
}

}  // namespace kiln
