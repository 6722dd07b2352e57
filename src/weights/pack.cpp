#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/memory.h"
#include "plan/layout.h"
#include "weights/storage_pool.h"
#include "weights/weights.h"

namespace kiln {

namespace {
constexpr size_t kSlotAlignment = 64;

// Per-output-channel scale and shift of a folded batch norm.
struct BnFold {
  std::vector<float> scale, shift;  // y = conv * scale + shift  (shift excludes the bias)
};

Expected<Tensor> source(const RawWeights& raw, const WeightSlot& s, size_t i) {
  const std::string& name = s.sources[i];
  const Tensor* t = raw.find(name);
  if (!t) return not_found("weight '" + name + "' is missing (needed by " + s.describe() + ")");
  if (t->dtype() != DType::kF32)
    return invalid_argument("weight '" + name + "' is " + dtype_name(t->dtype()) + ", expected float32");
  if (t->shape() != s.source_shapes[i])
    return invalid_argument("weight '" + name + "' has shape " + shape_to_string(t->shape()) + ", the plan expects " +
                            shape_to_string(s.source_shapes[i]));
  return *t;  // possibly a misaligned file view: reordered as bytes, read element-wise only via aligned()
}

Expected<BnFold> bn_fold(const RawWeights& raw, const WeightSlot& s) {
  BnFold f;
  KILN_ASSIGN_OR_RETURN(Tensor gamma_view, source(raw, s, 1));
  Tensor gamma = gamma_view.aligned();
  KILN_ASSIGN_OR_RETURN(Tensor beta_view, source(raw, s, 2));
  Tensor beta = beta_view.aligned();
  KILN_ASSIGN_OR_RETURN(Tensor mean_view, source(raw, s, 3));
  Tensor mean = mean_view.aligned();
  KILN_ASSIGN_OR_RETURN(Tensor var_view, source(raw, s, 4));
  Tensor var = var_view.aligned();
  for (int64_t m = 0; m < s.out_channels; ++m) {
    float sc = gamma.data<float>()[m] / std::sqrt(var.data<float>()[m] + s.bn_epsilon);
    f.scale.push_back(sc);
    f.shift.push_back(beta.data<float>()[m] - mean.data<float>()[m] * sc);
  }
  return f;
}

// The slot's contents in plain layout, recipe applied.
Expected<Tensor> plain_source(const RawWeights& raw, const WeightSlot& s) {
  switch (s.transform) {
    case WeightTransform::kCopy:
      return source(raw, s, 0);
    case WeightTransform::kConvWeights: {
      KILN_ASSIGN_OR_RETURN(Tensor w, source(raw, s, 0));
      if (!s.folded_bn) return w;
      KILN_ASSIGN_OR_RETURN(BnFold f, bn_fold(raw, s));
      Tensor out = w.clone();
      int64_t per = out.elements() / s.out_channels;
      for (int64_t m = 0; m < s.out_channels; ++m)
        for (int64_t i = 0; i < per; ++i) out.data<float>()[m * per + i] *= f.scale[m];
      return out;
    }
    case WeightTransform::kUpsampledConvWeights: {
      // A 2x2 kernel w over a nearest-2x-upsampled input, for output pixels (2i+a, 2j+b):
      // along an axis of parity 0 both taps read input i (one tap, w0 + w1); of parity 1
      // they read i and i+1 (two taps, w0 and w1). See ops/upsampled_conv.cpp.
      WeightSlot plain = s;
      plain.transform = WeightTransform::kConvWeights;
      KILN_ASSIGN_OR_RETURN(Tensor w2, plain_source(raw, plain));
      Tensor w = w2.aligned();
      const Shape& ws = w.shape();
      if (ws.size() != 4 || ws[2] != 2 || ws[3] != 2) return internal_error("upsampled conv weights must be 2x2");
      const int a = s.phase / 2, b = s.phase % 2;
      const int kh = a + 1, kw = b + 1;
      // take[parity][tap][u]: whether kernel row u of w contributes to phase tap `tap`.
      static constexpr float kTake[2][2][2] = {{{1, 1}, {0, 0}}, {{1, 0}, {0, 1}}};
      Tensor out = Tensor::zeros(DType::kF32, {ws[0], ws[1], kh, kw});
      const int64_t planes = ws[0] * ws[1];
      for (int64_t p = 0; p < planes; ++p) {
        const float* src = w.data<float>() + p * 4;
        float* dst = out.data<float>() + p * kh * kw;
        for (int r = 0; r < kh; ++r)
          for (int c = 0; c < kw; ++c)
            for (int u = 0; u < 2; ++u)
              for (int v = 0; v < 2; ++v) dst[r * kw + c] += kTake[a][r][u] * kTake[b][c][v] * src[u * 2 + v];
      }
      return out;
    }
    case WeightTransform::kConvBias: {
      Tensor b = Tensor::zeros(DType::kF32, {s.out_channels});
      if (!s.sources[0].empty()) {
        KILN_ASSIGN_OR_RETURN(Tensor given, source(raw, s, 0));
        b = given.clone();
      }
      if (s.folded_bn) {
        KILN_ASSIGN_OR_RETURN(BnFold f, bn_fold(raw, s));
        for (int64_t m = 0; m < s.out_channels; ++m) b.data<float>()[m] = b.data<float>()[m] * f.scale[m] + f.shift[m];
      }
      return b;
    }
  }
  return internal_error("unknown weight transform");
}

}  // namespace

std::shared_ptr<const Weights> Weights::from_storage(std::shared_ptr<uint8_t> storage, std::vector<size_t> offsets,
                                                    size_t bytes, uint64_t plan_layout, bool mapped) {
  auto w = std::make_shared<Weights>();
  w->storage_ = std::move(storage);
  w->offsets_ = std::move(offsets);
  w->bytes_ = bytes;
  w->layout_ = plan_layout;
  w->mapped_ = mapped;
  return w;
}

namespace {
size_t slot_bytes(const WeightSlot& s) { return (s.packed_md.get_size() + kSlotAlignment - 1) / kSlotAlignment * kSlotAlignment; }
}  // namespace

size_t packed_weight_bytes(const Plan& plan) {
  size_t total = 0;
  for (const WeightSlot& s : plan.weight_slots) total += slot_bytes(s);
  return total;
}

Expected<std::shared_ptr<const Weights>> pack(const Plan& plan, const RawWeights& raw, StoragePool* pool) {
  std::vector<size_t> offsets;
  size_t total = 0;
  for (const WeightSlot& s : plan.weight_slots) {
    offsets.push_back(total);
    total += slot_bytes(s);
  }
  std::shared_ptr<uint8_t> storage =
      pool && pool->buffer_bytes() >= total ? pool->take() : allocate_populated(total);
  if (!storage) return internal_error("out of memory packing " + std::to_string(total) + " bytes of weights");
  dnnl::stream stream(plan.engine);
  for (size_t i = 0; i < plan.weight_slots.size(); ++i) {
    const WeightSlot& s = plan.weight_slots[i];
    KILN_ASSIGN_OR_RETURN(Tensor src, plain_source(raw, s));
    md_t src_md = s.source_md();
    if (src_md.get_size() != src.bytes())
      return internal_error("weight slot " + s.describe() + ": recipe size mismatch");
    try {
      dnnl::memory from(src_md, plan.engine, src.raw());
      dnnl::memory to(s.packed_md, plan.engine, storage.get() + offsets[i]);
      s.pack_reorder.execute(stream, from, to);
    } catch (const dnnl::error& e) {
      return internal_error("packing " + s.describe() + ": oneDNN: " + e.what());
    }
  }
  stream.wait();
  return Weights::from_storage(std::move(storage), std::move(offsets), total, plan.weight_layout, false);
}

}  // namespace kiln
