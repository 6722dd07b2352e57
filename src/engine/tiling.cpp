// Tiled inference (kiln/model_info.h TileOptions): one image through tiles of the compiled
// input size, blended; shared by Model::run_tiled and Engine::run_tiled.
#include "engine/tiling.h"

#include <algorithm>
#include <cstring>

#include "core/status_macros.h"

namespace kiln {

namespace {

// Tile origins along an axis of `length`: every `tile - overlap`, the last one flush with the end.
std::vector<int64_t> tile_origins(int64_t length, int64_t tile, int64_t overlap) {
  std::vector<int64_t> at;
  for (int64_t p = 0;; p += tile - overlap) {
    if (p + tile >= length) {
      at.push_back(std::max<int64_t>(0, length - tile));
      break;
    }
    at.push_back(p);
  }
  return at;
}

// Blend weight at offset x of a tile at `origin` with `size` pixels in an axis of `length`.
// Near an edge shared with a neighbour a tile is wrong (its zero padding stands where the
// image goes on), so each tile gives up the outer half of every overlap: weight 0 there,
// 1 inside, and a short linear ramp across the middle of the overlap so that no seam shows.
// A pixel's value then comes from tiles in which it lies at least (overlap - ramp) / 2
// from any edge that has a neighbour.
float blend_weight(int64_t x, int64_t origin, int64_t size, int64_t length, int64_t overlap) {
  const double ramp = static_cast<double>(std::max<int64_t>(1, std::min<int64_t>(16, overlap / 2)));
  const double start = (static_cast<double>(overlap) - ramp) / 2;
  auto side = [&](double distance) { return std::clamp((distance - start) / ramp, 0.0, 1.0); };
  double w = 1.0;
  if (origin > 0) w = std::min(w, side(static_cast<double>(x) + 0.5));
  if (origin + size < length) w = std::min(w, side(static_cast<double>(size - x) - 0.5));
  return static_cast<float>(w);
}

}  // namespace

Expected<std::vector<Tensor>> run_tiled(const ModelInfo& info, const Tensor& image, const TileOptions& options,
                                        const RunTile& run) {
  if (info.inputs.size() != 1)
    return invalid_argument("tiled inference takes models with one input; this one has " +
                            std::to_string(info.inputs.size()));
  const Shape& ms = info.inputs[0].shape;
  const bool last = info.channels_last;
  const int ca = last ? 3 : 1, ha = last ? 1 : 2, wa = last ? 2 : 3;
  const Shape& is = image.shape();
  if (ms.size() != 4 || is.size() != 4 || is[0] != 1 || is[ca] != ms[ca] || image.dtype() != DType::kF32)
    return invalid_argument("tiled inference: image " + shape_to_string(is) + " does not fit input '" +
                            info.inputs[0].name + "' " + shape_to_string(ms) + " (float32, batch 1, " +
                            std::to_string(ms.size() == 4 ? ms[ca] : 0) + " channels, " + (last ? "NHWC" : "NCHW") +
                            ")");
  const int64_t H = is[ha], W = is[wa], C = is[ca];
  const int64_t th = std::min(H, ms[ha]), tw = std::min(W, ms[wa]);
  if (options.overlap < 0 || ((H > th || W > tw) && options.overlap >= std::min(th, tw)))
    return invalid_argument("tiled inference: overlap " + std::to_string(options.overlap) +
                            " must be at least 0 and less than the tile (" + std::to_string(th) + "x" +
                            std::to_string(tw) + ")");
  Shape tile_shape = last ? Shape{1, th, tw, C} : Shape{1, C, th, tw};
  Tensor tile = Tensor::zeros(DType::kF32, tile_shape);
  std::vector<int64_t> ys = tile_origins(H, th, options.overlap), xs = tile_origins(W, tw, options.overlap);
  std::vector<Tensor> sums;
  std::vector<float> weight_sum(static_cast<size_t>(H * W), 0.0f);
  std::vector<float> wy(static_cast<size_t>(th)), wx(static_cast<size_t>(tw));
  const float* src = image.data<float>();
  for (int64_t y0 : ys) {
    for (int64_t y = 0; y < th; ++y) wy[y] = blend_weight(y, y0, th, H, options.overlap);
    for (int64_t x0 : xs) {
      for (int64_t x = 0; x < tw; ++x) wx[x] = blend_weight(x, x0, tw, W, options.overlap);
      // Cut the tile out (row segments are contiguous in both layouts).
      float* t = tile.data<float>();
      if (last) {
        for (int64_t y = 0; y < th; ++y)
          std::memcpy(t + y * tw * C, src + ((y0 + y) * W + x0) * C, static_cast<size_t>(tw * C) * sizeof(float));
      } else {
        for (int64_t c = 0; c < C; ++c)
          for (int64_t y = 0; y < th; ++y)
            std::memcpy(t + (c * th + y) * tw, src + (c * H + y0 + y) * W + x0, static_cast<size_t>(tw) * sizeof(float));
      }
      KILN_ASSIGN_OR_RETURN(std::vector<Tensor> outs, run(tile));
      if (sums.empty()) {
        for (size_t k = 0; k < outs.size(); ++k) {
          const Shape& os = outs[k].shape();
          if (os.size() != 4 || os[0] != 1 || os[ha] != th || os[wa] != tw)
            return invalid_argument("tiled inference needs outputs as high and wide as the input; output '" +
                                    info.outputs[k].name + "' is " + shape_to_string(os) + " for a tile " +
                                    shape_to_string(tile_shape));
          Shape full = os;
          full[ha] = H;
          full[wa] = W;
          sums.push_back(Tensor::zeros(DType::kF32, full));
        }
      }
      for (int64_t y = 0; y < th; ++y)
        for (int64_t x = 0; x < tw; ++x) weight_sum[(y0 + y) * W + x0 + x] += wy[y] * wx[x];
      for (size_t k = 0; k < outs.size(); ++k) {
        const int64_t K = outs[k].shape()[ca];
        const float* o = outs[k].data<float>();
        float* acc = sums[k].data<float>();
        for (int64_t y = 0; y < th; ++y)
          for (int64_t x = 0; x < tw; ++x) {
            float w = wy[y] * wx[x];
            for (int64_t c = 0; c < K; ++c) {
              int64_t from = last ? (y * tw + x) * K + c : (c * th + y) * tw + x;
              int64_t to = last ? ((y0 + y) * W + x0 + x) * K + c : (c * H + y0 + y) * W + x0 + x;
              acc[to] += w * o[from];
            }
          }
      }
    }
  }
  for (Tensor& t : sums) {
    const int64_t K = t.shape()[ca];
    float* acc = t.data<float>();
    for (int64_t p = 0; p < H * W; ++p)
      for (int64_t c = 0; c < K; ++c) acc[last ? p * K + c : c * H * W + p] /= weight_sum[p];
  }
  return sums;
}

}  // namespace kiln
