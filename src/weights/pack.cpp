#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/memory.h"
#include "core/status_macros.h"
#include "plan/layout.h"
#include "plan/quantization.h"
#include "weights/storage_pool.h"
#include "weights/pack.h"

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

Expected<Tensor> int8_source(const RawWeights& raw, const WeightSlot& s);

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
    case WeightTransform::kConvWeightsS8:
    case WeightTransform::kConvBiasS8:
    case WeightTransform::kConvScalesS8:
    case WeightTransform::kActivationScale:
      return int8_source(raw, s);
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

// Per-channel activation scales from the calibration's clipping points: clip / 255 (uint8,
// zero point 0); 1 for an activation that was always zero.
Expected<std::vector<float>> activation_scales(const RawWeights& raw, const std::vector<ScaleSegment>& segments) {
  std::vector<float> scales;
  for (const ScaleSegment& seg : segments) {
    const Tensor* t = raw.find(calibration_tensor_name(seg.value));
    if (!t)
      return not_found("int8 weights need the calibrated range of activation '" + seg.value +
                       "', which the calibration lacks (make one for this model with kiln quantize)");
    if (t->dtype() != DType::kF32 || t->elements() < seg.first + seg.count)
      return invalid_argument("the calibration of activation '" + seg.value + "' has " + std::to_string(t->elements()) +
                              " channels; the model's has " + std::to_string(seg.first + seg.count) +
                              " (a calibration of another model?)");
    // One scale per activation, from its widest channel's clipping point. (Each channel's
    // own scale, folded into the next layer's weights, measured worse on the demo models:
    // it moves the rounding error of narrow channels into coarser weights.) Segments of
    // different activations (a concat's inputs) keep their own scales.
    Tensor clips = t->aligned();
    float widest = 0.0f;
    for (int64_t c = 0; c < t->elements(); ++c) widest = std::max(widest, clips.data<float>()[c]);
    scales.insert(scales.end(), static_cast<size_t>(seg.count), widest > 0.0f ? widest / 255.0f : 1.0f);
  }
  return scales;
}

// The conv's fp32 weights (batch norm folded; the phase kernel of an upsampled conv), the
// input's channel scales s_in, and the per-output-channel int8 scales of the weights with
// s_in folded in: max over c, k of |w[m, c, k] * s_in[c]| / 127. The weights are not copied
// here: only the weight slot needs them folded (and rounded), the bias and rescale slots
// need the scales alone.
struct ConvFold {
  Tensor weights;  // [M, C, kh, kw], unfolded
  std::vector<float> s_in, scales;
};

Expected<ConvFold> conv_fold(const RawWeights& raw, const WeightSlot& s) {
  WeightSlot f = s;
  f.transform = s.upsampled ? WeightTransform::kUpsampledConvWeights : WeightTransform::kConvWeights;
  KILN_ASSIGN_OR_RETURN(Tensor w, plain_source(raw, f));
  ConvFold c{w.aligned(), {}, {}};
  KILN_ASSIGN_OR_RETURN(c.s_in, activation_scales(raw, s.input_scales));
  const Shape& shape = c.weights.shape();  // [M, C, kh, kw]
  const int64_t cin = shape[1], taps = shape[2] * shape[3];
  if (static_cast<int64_t>(c.s_in.size()) != cin)
    return internal_error("int8 weights of " + s.describe() + ": " + std::to_string(c.s_in.size()) +
                          " input scales for " + std::to_string(cin) + " channels");
  const float* p = c.weights.data<float>();
  for (int64_t m = 0; m < shape[0]; ++m) {
    float max = 0.0f;
    for (int64_t ci = 0; ci < cin; ++ci)
      for (int64_t k = 0; k < taps; ++k)
        max = std::max(max, std::fabs(p[(m * cin + ci) * taps + k] * c.s_in[static_cast<size_t>(ci)]));
    c.scales.push_back(max > 0.0f ? max / 127.0f : 1.0f);
  }
  return c;
}

Expected<Tensor> int8_source(const RawWeights& raw, const WeightSlot& s) {
  if (s.transform == WeightTransform::kActivationScale) {
    KILN_ASSIGN_OR_RETURN(std::vector<float> scales, activation_scales(raw, s.input_scales));
    Tensor t = Tensor::zeros(DType::kF32, {static_cast<int64_t>(scales.size())});
    for (size_t c = 0; c < scales.size(); ++c) t.data<float>()[c] = s.inverse ? 1.0f / scales[c] : scales[c];
    return t;
  }
  KILN_ASSIGN_OR_RETURN(ConvFold c, conv_fold(raw, s));
  const int64_t m_count = s.out_channels;
  if (s.transform == WeightTransform::kConvWeightsS8) {
    // Whole numbers in [-127, 127]; the packing reorder converts them to int8 exactly.
    // (std::rint: glibc's nearbyint saves and restores the FP environment on every call.)
    const Shape& shape = c.weights.shape();
    const int64_t cin = shape[1], taps = shape[2] * shape[3];
    Tensor q = Tensor::zeros(DType::kF32, shape);
    const float* w = c.weights.data<float>();
    float* out = q.data<float>();
    for (int64_t m = 0; m < m_count; ++m)
      for (int64_t ci = 0; ci < cin; ++ci) {
        const float f = c.s_in[static_cast<size_t>(ci)] / c.scales[static_cast<size_t>(m)];
        for (int64_t k = 0; k < taps; ++k) {
          const int64_t i = (m * cin + ci) * taps + k;
          out[i] = std::rint(w[i] * f);
        }
      }
    return q;
  }
  if (s.transform == WeightTransform::kConvBiasS8) {
    WeightSlot b = s;
    b.transform = WeightTransform::kConvBias;
    b.sources[0] = s.bias_source;
    b.source_shapes[0] = {m_count};
    KILN_ASSIGN_OR_RETURN(Tensor bias, plain_source(raw, b));
    Tensor out = bias.aligned().clone();
    for (int64_t m = 0; m < m_count; ++m) out.data<float>()[m] /= c.scales[m];
    return out;
  }
  std::vector<float> s_out(static_cast<size_t>(m_count), 1.0f);
  if (!s.output_scales.empty()) { KILN_ASSIGN_OR_RETURN(s_out, activation_scales(raw, s.output_scales)); }
  Tensor out = Tensor::zeros(DType::kF32, {1, m_count, 1, 1});
  for (int64_t m = 0; m < m_count; ++m) out.data<float>()[m] = c.scales[m] / s_out[static_cast<size_t>(m)];
  return out;
}

}  // namespace

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
