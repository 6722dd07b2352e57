// kiln/io.h — tensors to and from files: NumPy .npy and images.
//
//   kiln::Expected<kiln::Tensor> x = kiln::read_npy("input.npy");
//   kiln::Status s = kiln::write_npy("out.npy", *x);
//   // An image as a [1, C, H, W] float32 tensor in [0, 1], C = 1 (gray) or 3 (RGB):
//   kiln::Expected<kiln::Tensor> img = kiln::read_image("part.png", 1);
//   // Laid out as a model takes it (ModelInfo::channels_last: [1, H, W, C] for TensorFlow/Keras):
//   auto x = kiln::read_image("part.png", info.inputs[0].shape[3], info.channels_last);
//   kiln::Status m = kiln::write_mask_png("mask.png", out, 0.5f);   // 8-bit mask
//   kiln::Status c = kiln::write_class_png("classes.png", scores, ClassSource::kScores);  // palette
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "kiln/model_info.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

Expected<Tensor> read_npy(const std::string& path);
Status write_npy(const std::string& path, const Tensor& t);

// Decodes PNG/JPEG/BMP into [1, channels, H, W] float32 scaled to [0, 1] (channels 1: gray,
// 3: RGB), or [1, H, W, channels] when `channels_last`.
Expected<Tensor> read_image(const std::string& path, int channels, bool channels_last = false);
// An image file's height and width, without decoding its pixels.
Expected<ImageSize> read_image_size(const std::string& path);
// An encoded image (PNG, JPEG, BMP) in memory, as read_image reads a file. Images of more
// than kMaxImagePixels are refused from their header, before any pixel is decoded.
constexpr int64_t kMaxImagePixels = int64_t{1} << 28;  // 16384 x 16384
Expected<Tensor> decode_image(const std::string& bytes, int channels, bool channels_last = false);
// As write_mask_png, into memory.
Expected<std::string> encode_mask_png(const Tensor& t, float threshold);
// Writes a [.., H, W] tensor with one channel as an 8-bit PNG: values scaled by 255
// (threshold < 0) or binarised at `threshold`.
Status write_mask_png(const std::string& path, const Tensor& t, float threshold);

// A multi-class segmentation as an 8-bit palette PNG: each pixel's value is its class (0 to
// 255), coloured by the PASCAL VOC palette (class 0 black, 1 dark red, 2 dark green, ...).
// The classes come from per-class scores [1, C, H, W] (the channel with the highest score;
// [1, H, W, C] when channels_last), or are class indices ([1, 1, H, W], [1, H, W], [H, W]),
// as a model ending in ArgMax gives them (TensorInfo::class_map).
enum class ClassSource : uint8_t { kScores, kIndices };
Expected<std::string> encode_class_png(const Tensor& t, ClassSource source, bool channels_last = false);
Status write_class_png(const std::string& path, const Tensor& t, ClassSource source, bool channels_last = false);
// The palette's colour of a class, {r, g, b}.
std::array<uint8_t, 3> class_colour(int cls);

}  // namespace kiln
