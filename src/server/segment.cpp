#include "server/segment.h"

#include "server/clock.h"
#include "server/documents.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "kiln/demo.h"
#include "kiln/io.h"

namespace kiln::serve {

using nlohmann::json;

namespace {


// A [1,C,h,w] or [1,h,w,C] image grown to ph x pw by repeating its last row and column.
Tensor pad_edges(const Tensor& image, int64_t ph, int64_t pw, bool channels_last) {
  const Shape& s = image.shape();
  const int64_t c = channels_last ? s[3] : s[1], h = channels_last ? s[1] : s[2], w = channels_last ? s[2] : s[3];
  Tensor out = Tensor::zeros(DType::kF32, channels_last ? Shape{1, ph, pw, c} : Shape{1, c, ph, pw});
  const float* src = image.data<float>();
  float* dst = out.data<float>();
  for (int64_t y = 0; y < ph; ++y)
    for (int64_t x = 0; x < pw; ++x)
      for (int64_t k = 0; k < c; ++k) {
        const int64_t sy = std::min(y, h - 1), sx = std::min(x, w - 1);
        const int64_t from = channels_last ? (sy * w + sx) * c + k : (k * h + sy) * w + sx;
        const int64_t to = channels_last ? (y * pw + x) * c + k : (k * ph + y) * pw + x;
        dst[to] = src[from];
      }
  return out;
}

// The top-left h x w of a single-channel [.., H, W] score map, as [1,1,h,w].
Tensor crop_scores(const Tensor& scores, int64_t full_w, int64_t h, int64_t w) {
  Tensor out = Tensor::zeros(DType::kF32, {1, 1, h, w});
  for (int64_t y = 0; y < h; ++y)
    std::memcpy(out.data<float>() + y * w, scores.data<float>() + y * full_w, static_cast<size_t>(w) * sizeof(float));
  return out;
}

}  // namespace

std::string base64(const std::string& bytes) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Expected<std::string> generated_image(const std::string& texture, const std::string& seed, const std::string& size) {
  auto t = demo::texture_from_name(texture);
  if (!t) return invalid_argument("class '" + texture + "' is not one of the generator's (GET /kiln/v1/server lists them)");
  auto whole = [](const std::string& v, uint64_t fallback, uint64_t most) -> std::optional<uint64_t> {
    if (v.empty()) return fallback;
    if (v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    const uint64_t n = std::stoull(v);
    return n <= most ? std::optional<uint64_t>(n) : std::nullopt;
  };
  const auto s = whole(seed, 1, UINT64_MAX / 2);
  if (!s) return invalid_argument("seed '" + seed + "' is not a whole number");
  const auto n = whole(size, demo::kImageSize, kMaxGeneratedSize);
  if (!n || *n < kMinGeneratedSize)
    return invalid_argument("size '" + size + "' is not a whole number of pixels from " + std::to_string(kMinGeneratedSize) +
                            " to " + std::to_string(kMaxGeneratedSize));
  const demo::Sample sample = demo::generate(*t, *s, static_cast<int>(*n));
  return encode_mask_png(sample.image, -1.0f);
}

Expected<json> segment(ModelHost& host, const std::string& model, const SegmentRequest& request) {
  const auto t0 = Clock::now();
  auto hosted = host.model(model);
  if (!hosted) return hosted.error();
  auto info = host.info(model);
  if (!info) return info.error();
  const ModelConfig& c = hosted->config;
  const bool last = info->channels_last;
  if (info->inputs.size() != 1 || info->outputs.empty() || info->inputs[0].shape.size() != 4)
    return invalid_argument("model '" + model + "' is not an image model with one 4-D input; segment takes those");
  const Shape& in = info->inputs[0].shape;
  const int64_t channels = in[last ? 3 : 1], tile_h = in[last ? 1 : 2], tile_w = in[last ? 2 : 3];
  if (channels != 1 && channels != 3)
    return invalid_argument("model '" + model + "' takes " + std::to_string(channels) + " channels; images have 1 or 3");
  const float threshold = request.threshold.value_or(c.threshold);
  const int64_t min_area = request.min_area.value_or(c.min_area);
  if (!(threshold >= 0.0f && threshold <= 1.0f) || min_area < 1)
    return invalid_argument("threshold must be in [0, 1] and min_area at least 1");

  auto image = decode_image(request.image, static_cast<int>(channels), last);
  if (!image) return image.error();
  const double decode_ms = ms_since(t0);
  const int64_t h = image->shape()[last ? 1 : 2], w = image->shape()[last ? 2 : 3];
  const int64_t ph = std::max(h, tile_h), pw = std::max(w, tile_w);
  const Tensor x = (ph == h && pw == w) ? *image : pad_edges(*image, ph, pw, last);
  RunTimings t;
  const int64_t overlap = std::min<int64_t>(c.overlap, std::min(tile_h, tile_w) / 2);
  auto outs = (ph == tile_h && pw == tile_w) ? host.run(model, {x}, t) : host.run_tiled(model, x, TileOptions{overlap}, t);
  if (!outs) return outs.error();
  const Tensor& scores = (*outs)[0];
  if (scores.elements() != ph * pw)
    return invalid_argument("model '" + model + "''s first output " + shape_to_string(scores.shape()) +
                            " is not one score per pixel of the image");
  const auto tr = Clock::now();
  const Tensor cropped = crop_scores(scores, pw, h, w);
  const std::vector<demo::Region> regions = demo::find_regions(cropped, threshold, min_area);
  const double regions_ms = ms_since(tr);
  json rs = json::array();
  for (const demo::Region& r : regions)
    rs.push_back({{"box", {r.x0, r.y0, r.x1, r.y1}}, {"area", r.area}, {"mean_score", r.mean_score}});
  json answer = {{"model", model},
                 {"width", w},
                 {"height", h},
                 {"threshold", threshold},
                 {"min_area", min_area},
                 {"tiles", !(ph == tile_h && pw == tile_w)},
                 {"regions", std::move(rs)}};
  const auto te = Clock::now();
  if (request.mask) {
    auto png = encode_mask_png(cropped, -1.0f);
    if (!png) return png.error();
    answer["scores_png"] = base64(*png);
  }
  if (request.binary_mask) {
    auto png = encode_mask_png(cropped, threshold);
    if (!png) return png.error();
    answer["mask_png"] = base64(*png);
  }
  answer["timings"] = {{"decode_ms", decode_ms},       {"queue_ms", t.queue_ms},
                       {"inference_ms", t.compute_ms}, {"regions_ms", regions_ms},
                       {"encode_ms", ms_since(te)},    {"total_ms", ms_since(t0)}};
  answer["steady_ms"] = hosted->stats->steady_ms();
  return answer;
}

}  // namespace kiln::serve
