// Image decoding/encoding through stb (Debian's libstb).
#include <algorithm>
#include <vector>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "kiln/io.h"

namespace kiln {

Expected<Tensor> read_image(const std::string& path, int channels, bool channels_last) {
  if (channels != 1 && channels != 3) return invalid_argument("images can be read as 1 or 3 channels, not " + std::to_string(channels));
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &c, channels);
  if (!px) return invalid_argument("cannot decode image '" + path + "': " + stbi_failure_reason());
  Tensor t = Tensor::zeros(DType::kF32, channels_last ? Shape{1, h, w, channels} : Shape{1, channels, h, w});
  float* out = t.data<float>();
  if (channels_last) {  // stb's own order
    for (int i = 0; i < w * h * channels; ++i) out[i] = px[i] / 255.0f;
  } else {
    for (int ch = 0; ch < channels; ++ch)
      for (int i = 0; i < w * h; ++i) out[ch * w * h + i] = px[i * channels + ch] / 255.0f;
  }
  stbi_image_free(px);
  return t;
}

Expected<ImageSize> read_image_size(const std::string& path) {
  int w = 0, h = 0, c = 0;
  if (!stbi_info(path.c_str(), &w, &h, &c)) return invalid_argument("cannot decode image '" + path + "': " + stbi_failure_reason());
  return ImageSize{h, w};
}

Status write_mask_png(const std::string& path, const Tensor& t, float threshold) {
  // Any layout of one image with one channel ([1,1,H,W], [1,H,W,1], [H,W]): the two axes
  // longer than 1 are height and width.
  Shape hw;
  for (int64_t d : t.shape())
    if (d != 1) hw.push_back(d);
  if (t.dtype() != DType::kF32 || hw.size() != 2)
    return invalid_argument("a mask PNG needs a single-channel image output, got shape " + shape_to_string(t.shape()));
  int64_t h = hw[0], w = hw[1];
  std::vector<unsigned char> px(static_cast<size_t>(h * w));
  const float* v = t.data<float>();
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = threshold >= 0 ? (v[i] >= threshold ? 255 : 0)
                           : static_cast<unsigned char>(std::clamp(v[i], 0.0f, 1.0f) * 255.0f + 0.5f);
  if (!stbi_write_png(path.c_str(), static_cast<int>(w), static_cast<int>(h), 1, px.data(), static_cast<int>(w)))
    return io_error("cannot write '" + path + "'");
  return Status::ok();
}

}  // namespace kiln
