// The architecture fingerprint: FNV-1a over a canonical walk of the optimised graph.
// Values are numbered in order of first appearance, so exporter-made names never matter;
// weights contribute their shape and dtype but never their contents.
#include <cstdio>
#include <set>
#include <unordered_map>

#include "graph/graph.h"

namespace kiln {
namespace {

class Hasher {
 public:
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ b[i]) * 0x100000001b3ULL;
  }
  template <typename T>
    requires std::is_arithmetic_v<T> || std::is_enum_v<T>
  void add(T v) { bytes(&v, sizeof v); }
  template <typename T, size_t N>
  void add(const std::array<T, N>& a) { for (const T& v : a) add(v); }
  template <typename T>
  void add(const std::vector<T>& a) { add(a.size()); for (const T& v : a) add(v); }
  // Spatial attributes hash as their elements alone, as when they were 2-D arrays, so that 2-D
  // graphs keep their fingerprints; other ranks hash their rank first (`rank`).
  void elements(const Spatial& v) { for (int64_t x : v) add(x); }
  void rank(const Spatial& kernel) { if (kernel.size() != 2) add(kernel.size()); }
  void add(const UnaryAttrs& a) { add(a.kind); add(a.alpha); add(a.beta); }
  void add(const PostOp& p) { add(p.kind); add(p.unary); add(p.input_index); }
  void add(const FoldedBatchNorm& b) {
    add(b.present); add(b.epsilon); add(b.gamma_input); add(b.beta_input); add(b.mean_input); add(b.var_input);
  }
  void add(const ConvAttrs& a) {
    rank(a.kernel); elements(a.kernel); elements(a.strides); elements(a.dilations); elements(a.pads);
    add(a.group); add(a.has_bias);
    add(a.folded_bn); add(a.post_ops); add(a.reads_upsampled_2x);
  }
  void add(const ConvTransposeAttrs& a) {
    rank(a.kernel); elements(a.kernel); elements(a.strides); elements(a.dilations); elements(a.pads);
    add(a.group); add(a.has_bias); add(a.post_ops);
  }
  void add(const PoolAttrs& a) {
    add(a.kind); add(a.global); rank(a.kernel); elements(a.kernel); elements(a.strides); elements(a.dilations);
    elements(a.pads); elements(a.ceil_pads);
    add(a.count_include_pad);
  }
  void add(const BatchNormAttrs& a) { add(a.epsilon); }
  void add(const BinaryAttrs& a) { add(a.kind); }
  void add(const SoftmaxAttrs& a) {
    add(a.axis);
    if (a.kind != SoftmaxKind::kSoftmax) add(a.kind);  // softmax graphs keep their fingerprints
  }
  void add(const ConcatAttrs& a) { add(a.axis); }
  void add(const ResizeAttrs& a) {
    add(a.mode); add(a.coord); add(a.nearest); rank(a.out_size); elements(a.out_size);
    for (float s : a.scales) add(s);  // elements alone, as for the spatial attributes
    if (a.mode == ResizeMode::kCubic) { add(a.cubic_coeff_a); add(a.exclude_outside); }
  }
  void add(const PadAttrs& a) { add(a.mode); add(a.begin); add(a.end); add(a.value); }
  void add(const ReshapeAttrs& a) { add(a.shape); }
  void add(const TransposeAttrs& a) { add(a.perm); }
  void add(const MatMulAttrs& a) {
    add(a.batched); add(a.trans_a); add(a.trans_b); add(a.alpha); add(a.beta); add(a.has_c);
  }
  void add(const SliceAttrs& a) { add(a.starts); add(a.ends); add(a.steps); }
  void add(const std::monostate&) {}
  void add(const LrnAttrs& a) { add(a.size); add(a.alpha); add(a.beta); add(a.bias); }
  void add(const ReduceAttrs& a) { add(a.kind); add(a.axes); add(a.keepdims); add(a.select_last_index); }

  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace

uint64_t fingerprint(const Graph& g) {
  Hasher h;
  std::unordered_map<int, int64_t> canonical;
  auto id = [&](int v) {
    auto [it, inserted] = canonical.try_emplace(v, static_cast<int64_t>(canonical.size()));
    return it->second;
  };
  h.add(g.inputs.size());
  for (int in : g.inputs) {
    h.add(id(in));
    h.add(g.values[in].dtype);
    h.add(g.values[in].shape.size());
  }
  for (const Node& n : g.nodes) {
    h.add(static_cast<uint8_t>(n.kind()));
    std::visit([&](const auto& a) { h.add(a); }, n.attrs);
    h.add(n.inputs.size());
    for (int in : n.inputs) {
      const Value& v = g.values[in];
      h.add(id(in));
      if (v.kind == ValueKind::kWeight) {
        h.add(v.dtype);
        h.add(v.shape);
      }
    }
    for (int out : n.outputs) h.add(id(out));
  }
  h.add(g.outputs.size());
  for (int o : g.outputs) h.add(id(o));
  return h.value();
}

std::string fingerprint_hex(uint64_t fp) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fp));
  return buf;
}

WeightSignature weight_signature(const Graph& g) {
  WeightSignature s;
  std::set<int> seen;
  for (const Node& n : g.nodes)
    for (int in : n.inputs)
      if (g.values[in].kind == ValueKind::kWeight && seen.insert(in).second) {
        s.names.push_back(g.values[in].name);
        s.shapes.push_back(g.values[in].shape);
      }
  return s;
}

}  // namespace kiln
