// Image decoding/encoding through stb (Debian's libstb).
#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "kiln/io.h"

// Debian's libstb exports the deflate its PNG writer uses (C linkage; free() its result).
extern "C" unsigned char* stbi_zlib_compress(unsigned char* data, int data_len, int* out_len, int quality);

namespace kiln {

namespace {

// stb's interleaved 8-bit pixels as a float tensor in [0, 1], NCHW or NHWC.
Tensor from_pixels(const unsigned char* px, int w, int h, int channels, bool channels_last) {
  Tensor t = Tensor::zeros(DType::kF32, channels_last ? Shape{1, h, w, channels} : Shape{1, channels, h, w});
  float* out = t.data<float>();
  if (channels_last) {  // stb's own order
    for (int64_t i = 0; i < int64_t{w} * h * channels; ++i) out[i] = px[i] / 255.0f;
  } else {
    for (int ch = 0; ch < channels; ++ch)
      for (int64_t i = 0; i < int64_t{w} * h; ++i) out[ch * int64_t{w} * h + i] = px[i * channels + ch] / 255.0f;
  }
  return t;
}

Status check_channels(int channels) {
  if (channels != 1 && channels != 3) return invalid_argument("images can be read as 1 or 3 channels, not " + std::to_string(channels));
  return Status::ok();
}

// A single-channel image tensor's pixels, 8-bit: scaled by 255 (threshold < 0) or binarised.
Expected<std::vector<unsigned char>> mask_pixels(const Tensor& t, float threshold, int64_t& h, int64_t& w) {
  // Any layout of one image with one channel ([1,1,H,W], [1,H,W,1], [H,W]): the two axes
  // longer than 1 are height and width.
  Shape hw;
  for (int64_t d : t.shape())
    if (d != 1) hw.push_back(d);
  if (t.dtype() != DType::kF32 || hw.size() != 2)
    return invalid_argument("a mask PNG needs a single-channel image output, got shape " + shape_to_string(t.shape()));
  h = hw[0], w = hw[1];
  std::vector<unsigned char> px(static_cast<size_t>(h * w));
  const float* v = t.data<float>();
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = threshold >= 0 ? (v[i] >= threshold ? 255 : 0)
                           : static_cast<unsigned char>(std::clamp(v[i], 0.0f, 1.0f) * 255.0f + 0.5f);
  return px;
}

}  // namespace

// One way to decode: the file's bytes through decode_image and its checks (a file read by
// stbi_load directly was decoded whatever size it claimed).
Expected<Tensor> read_image(const std::string& path, int channels, bool channels_last) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open image '" + path + "'");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto t = decode_image(bytes, channels, channels_last);
  if (!t) return t.error().with_context("image '" + path + "'");
  return t;
}

Expected<Tensor> decode_image(const std::string& bytes, int channels, bool channels_last) {
  if (Status s = check_channels(channels); !s) return s;
  if (bytes.empty()) return invalid_argument("cannot decode the image: it is empty");
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return invalid_argument("cannot decode the image: larger than 2 GiB");
  int w = 0, h = 0, c = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  // The size first: a small file that claims a huge image must not make us allocate it.
  if (!stbi_info_from_memory(data, static_cast<int>(bytes.size()), &w, &h, &c))
    return invalid_argument(std::string("cannot decode the image: ") + stbi_failure_reason());
  // stb reports a top-down BMP's height negative: the size is the magnitudes (with the sign
  // kept, a 117-megapixel claim passed both checks below: fuzzing).
  const int64_t pixels = std::abs(int64_t{w}) * std::abs(int64_t{h});
  w = std::abs(w);
  h = std::abs(h);
  if (pixels > kMaxImagePixels)
    return invalid_argument("the image is " + std::to_string(w) + "x" + std::to_string(h) + " pixels; at most " +
                            std::to_string(kMaxImagePixels) + " are decoded");
  // A few bytes that claim a huge image (fuzzing found a 57-byte BMP of 298x393215 that
  // stb filled out, 1.4 GB of floats and 6-26 s per request): no format kiln reads packs
  // more than ~8300 pixels into a byte (a 1-bit PNG: 8 pixels a byte, deflated at most
  // 1032:1), so more than 10000 is refused.
  if (pixels > (int64_t{1} << 20) && pixels > 10000 * static_cast<int64_t>(bytes.size()))
    return invalid_argument("the image claims " + std::to_string(w) + "x" + std::to_string(h) +
                            " pixels, more than its " + std::to_string(bytes.size()) + " bytes can hold");
  unsigned char* px = stbi_load_from_memory(data, static_cast<int>(bytes.size()), &w, &h, &c, channels);
  if (!px) return invalid_argument(std::string("cannot decode the image: ") + stbi_failure_reason());
  Tensor t = from_pixels(px, w, h, channels, channels_last);
  stbi_image_free(px);
  return t;
}

Expected<ImageSize> read_image_size(const std::string& path) {
  int w = 0, h = 0, c = 0;
  if (!stbi_info(path.c_str(), &w, &h, &c)) return invalid_argument("cannot decode image '" + path + "': " + stbi_failure_reason());
  return ImageSize{std::abs(h), std::abs(w)};  // a top-down BMP reports its height negative
}

Expected<std::string> encode_mask_png(const Tensor& t, float threshold) {
  int64_t h = 0, w = 0;
  auto px = mask_pixels(t, threshold, h, w);
  if (!px) return px.error();
  std::string out;
  auto append = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); };
  if (!stbi_write_png_to_func(append, &out, static_cast<int>(w), static_cast<int>(h), 1, px->data(), static_cast<int>(w)))
    return internal_error("cannot encode a PNG of " + std::to_string(w) + "x" + std::to_string(h));
  return out;
}

namespace {

Status write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return io_error("cannot write '" + path + "'");
  return Status::ok();
}

uint32_t crc32(const unsigned char* p, size_t n, uint32_t crc = 0) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void put_u32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}

void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  out += body;
  put_u32(out, crc32(reinterpret_cast<const unsigned char*>(body.data()), body.size()));
}

// Each pixel's class, from scores (argmax over channels, the first of equal scores) or indices.
Expected<std::vector<unsigned char>> class_pixels(const Tensor& t, ClassSource source, bool channels_last, int64_t& h,
                                                  int64_t& w, int& classes) {
  if (t.dtype() != DType::kF32) return invalid_argument("a class PNG needs a float32 output");
  const Shape& s = t.shape();
  const float* v = t.data<float>();
  std::vector<unsigned char> px;
  if (source == ClassSource::kScores) {
    if (s.size() != 4 || s[0] != 1)
      return invalid_argument("a class PNG from scores needs one image of per-class scores, got shape " + shape_to_string(s));
    const int64_t c = channels_last ? s[3] : s[1];
    h = channels_last ? s[1] : s[2];
    w = channels_last ? s[2] : s[3];
    if (c < 2 || c > 256) return invalid_argument("a class PNG takes 2 to 256 classes, the output has " + std::to_string(c));
    classes = static_cast<int>(c);
    px.resize(static_cast<size_t>(h * w));
    for (int64_t i = 0; i < h * w; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < c; ++k) {
        const float a = channels_last ? v[i * c + k] : v[k * h * w + i], b = channels_last ? v[i * c + best] : v[best * h * w + i];
        if (a > b) best = k;
      }
      px[static_cast<size_t>(i)] = static_cast<unsigned char>(best);
    }
    return px;
  }
  Shape hw;
  for (int64_t d : s)
    if (d != 1) hw.push_back(d);
  if (hw.size() != 2) return invalid_argument("a class map PNG needs one image of class indices, got shape " + shape_to_string(s));
  h = hw[0];
  w = hw[1];
  px.resize(static_cast<size_t>(h * w));
  classes = 0;
  for (int64_t i = 0; i < h * w; ++i) {
    if (!(v[i] >= 0.0f && v[i] <= 255.0f) || v[i] != static_cast<float>(static_cast<int>(v[i])))
      return invalid_argument("a class map PNG needs class indices 0 to 255, the output holds " + std::to_string(v[i]));
    px[static_cast<size_t>(i)] = static_cast<unsigned char>(v[i]);
    classes = std::max(classes, static_cast<int>(v[i]) + 1);
  }
  return px;
}

}  // namespace

std::array<uint8_t, 3> class_colour(int cls) {
  // The PASCAL VOC colour map: the class's bits spread over the colours' high bits.
  std::array<uint8_t, 3> rgb{0, 0, 0};
  for (int bit = 7, c = cls; c > 0 && bit >= 0; --bit, c >>= 3)
    for (int ch = 0; ch < 3; ++ch) rgb[ch] |= static_cast<uint8_t>(((c >> ch) & 1) << bit);
  return rgb;
}

Expected<std::string> encode_class_png(const Tensor& t, ClassSource source, bool channels_last) {
  int64_t h = 0, w = 0;
  int classes = 0;
  auto px = class_pixels(t, source, channels_last, h, w, classes);
  if (!px) return px.error();
  if (h < 1 || w < 1 || h > (int64_t{1} << 24) || w > (int64_t{1} << 24)) return invalid_argument("bad class PNG size");
  // Scanlines, each after its filter byte (0: none).
  std::string raw;
  raw.reserve(static_cast<size_t>(h * (w + 1)));
  for (int64_t y = 0; y < h; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(px->data() + y * w), static_cast<size_t>(w));
  }
  int zlen = 0;
  unsigned char* z = stbi_zlib_compress(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()), &zlen, 8);
  if (!z) return internal_error("cannot compress a PNG of " + std::to_string(w) + "x" + std::to_string(h));
  std::string idat(reinterpret_cast<char*>(z), static_cast<size_t>(zlen));
  std::free(z);
  std::string ihdr;
  put_u32(ihdr, static_cast<uint32_t>(w));
  put_u32(ihdr, static_cast<uint32_t>(h));
  ihdr += std::string("\x08\x03\x00\x00\x00", 5);  // 8 bits, palette, deflate, no filter set, no interlace
  std::string plte;
  for (int c = 0; c < std::max(classes, 2); ++c)
    for (uint8_t v : class_colour(c)) plte.push_back(static_cast<char>(v));
  std::string out("\x89PNG\r\n\x1a\n", 8);
  put_chunk(out, "IHDR", ihdr);
  put_chunk(out, "PLTE", plte);
  put_chunk(out, "IDAT", idat);
  put_chunk(out, "IEND", "");
  return out;
}

Status write_class_png(const std::string& path, const Tensor& t, ClassSource source, bool channels_last) {
  auto png = encode_class_png(t, source, channels_last);
  if (!png) return png.error();
  return write_file(path, *png);
}

Status write_mask_png(const std::string& path, const Tensor& t, float threshold) {
  auto png = encode_mask_png(t, threshold);
  if (!png) return png.error();
  return write_file(path, *png);
}

}  // namespace kiln
