// kiln quantize MODEL --calibration DIR [-o FILE]: calibrate a model for int8 and check the
// int8 model against fp32 on a few of the images.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "kiln/calibration.h"
#include "kiln/io.h"
#include "kiln/model.h"

namespace kiln::cli {

namespace {

bool has_extension(const std::filesystem::path& p, std::initializer_list<const char*> exts) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* x : exts)
    if (e == x) return true;
  return false;
}

// The image files of DIR (.png/.jpg/.jpeg/.bmp, .npy), in name order.
Expected<std::vector<std::filesystem::path>> image_files(const std::string& dir, int max_images) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return not_found("calibration directory '" + dir + "' does not exist");
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file() && has_extension(entry.path(), {".png", ".jpg", ".jpeg", ".bmp", ".npy"}))
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  if (max_images > 0 && files.size() > static_cast<size_t>(max_images)) files.resize(static_cast<size_t>(max_images));
  if (files.empty()) return not_found("no images (.png, .jpg, .bmp, .npy) in '" + dir + "'");
  return files;
}

// How images are laid out for the model: its layout, and its channels (gray or RGB) at the
// size of the first image.
struct ImageFormat {
  int channels = 1;
  bool channels_last = false;
};
Expected<ImageFormat> image_format(const std::string& model, const std::filesystem::path& first) {
  if (has_extension(first, {".npy"})) return ImageFormat{};  // already in the model's layout
  Expected<ImageSize> size = read_image_size(first.string());
  if (!size) return size.error();
  ModelOptions opt;
  opt.image_size = *size;
  Expected<ModelInfo> info = describe_model(model, opt);
  if (!info) return info.error();
  const Shape& s = info->inputs.at(0).shape;
  const int64_t c = s.size() == 4 ? s[info->channels_last ? 3 : 1] : 0;
  if (c != 1 && c != 3)
    return invalid_argument("the model's input " + shape_to_string(s) + " is not an image with 1 or 3 channels");
  return ImageFormat{static_cast<int>(c), info->channels_last};
}

// The images of DIR (images as [1,C,H,W] in [0,1], or [1,H,W,C] for channels-last models;
// .npy float32 as they are), in name order.
Expected<std::vector<Tensor>> read_images(const std::string& model, const std::string& dir, int max_images) {
  Expected<std::vector<std::filesystem::path>> files = image_files(dir, max_images);
  if (!files) return files.error();
  Expected<ImageFormat> format = image_format(model, files->front());
  if (!format) return format.error();
  std::vector<Tensor> images;
  for (const auto& f : *files) {
    Expected<Tensor> t = has_extension(f, {".npy"}) ? read_npy(f.string())
                                                    : read_image(f.string(), format->channels, format->channels_last);
    if (!t) return t.error();
    images.push_back(std::move(*t));
  }
  return images;
}

}  // namespace

void add_quantize(CLI::App& app, QuantizeArgs& a) {
  auto* c = app.add_subcommand("quantize",
                               "calibrate a model for --precision int8: record each activation's range over a set of "
                               "typical images, then compare int8 with fp32 on a few of them");
  c->add_option("model", a.model, "model file: .onnx, TensorFlow .pb/.pbtxt, Keras .h5")->required();
  c->add_option("--calibration", a.images, "directory of typical inputs: images (.png/.jpg/.bmp) or float32 .npy")
      ->required();
  c->add_option("--output,-o", a.output, "calibration file to write (default: <weights or model>.calibration.json)");
  c->add_option("--weights", a.weights, "calibrate these weights instead of the model's own: .onnx or .safetensors");
  c->add_option("--max-images", a.max_images, "use at most this many images (default: all)");
  c->add_option("--check-images", a.check_images, "images to compare int8 with fp32 on (0: no check)")
      ->capture_default_str();
  c->add_option("--check", a.check_dir, "compare on the images of this directory instead of calibration ones");
  c->add_option("--target-iou", a.target_iou,
                "keep the convolutions out of int8 (bf16 where the CPU has AVX512_BF16, else fp32) that move the mask most, one by one, until int8's mask IoU against "
                "fp32 on the check images reaches this (0: all int8 that can be)")
      ->capture_default_str();
  c->add_option("--max-float-layers", a.max_float_layers, "at most this many convolutions kept out of int8 (default: as many as the target needs)");
  c->add_option("--threads", a.threads, "compute threads (default: all cores)");
}

int do_quantize(const QuantizeArgs& a) {
  set_threads(a.threads);
  CalibrationOptions co;
  co.weights = a.weights;
  co.progress = [](size_t done, size_t all) {
    std::fprintf(stderr, "\rcalibrating: run %zu of %zu (each image twice: ranges, then histograms)", done, all);
    if (done == all) std::fprintf(stderr, "\n");
  };
  auto read = read_images(a.model, a.images, a.max_images);
  if (!read) {
    std::cerr << "kiln: " << read.error().message() << "\n";
    return 1;
  }
  std::vector<Tensor> images = std::move(*read);
  Expected<Calibration> cal = calibrate(a.model, images, co);
  if (!cal) {
    std::cerr << "kiln: " << cal.error().message() << "\n";
    return 1;
  }
  const std::string out = a.output.empty() ? default_calibration_path(a.weights.empty() ? a.model : a.weights) : a.output;
  if (Status s = save_calibration(*cal, out); !s) {
    std::cerr << "kiln: " << s.message() << "\n";
    return 1;
  }
  std::printf("calibrated %s on %d images: %zu activation ranges -> %s\n", a.model.c_str(), cal->images,
              cal->max.size(), out.c_str());
  if (a.check_images <= 0) return 0;
  if (!a.check_dir.empty()) {
    auto check_read = read_images(a.model, a.check_dir, 0);
    if (!check_read) {
      std::cerr << "kiln: " << check_read.error().message() << "\n";
      return 1;
    }
    images = std::move(*check_read);
  }
  // The first --check-images of them, those of the first one's shape (one compiled plan).
  std::vector<Tensor> check;
  for (size_t k = 0; k < images.size() && k < static_cast<size_t>(a.check_images); ++k)
    if (images[k].shape() == images[0].shape()) check.push_back(images[k]);
  FloatLayerSearch search;
  search.target_iou = a.target_iou;
  search.max_layers = a.max_float_layers;
  bool mid_line = false;  // a progress line on stderr waits for its end
  search.progress = [&](const std::string& what) {
    if (what.rfind("measuring", 0) == 0) {
      std::fprintf(stderr, "\r%-110s", what.c_str());
      mid_line = true;
      return;
    }
    if (mid_line) std::fprintf(stderr, "\n");
    mid_line = false;
    std::printf("  %s\n", what.c_str());
  };
  std::printf("int8 vs fp32 on %zu images (target mask IoU %.4f):\n", check.size(), a.target_iou);
  auto chosen = choose_float_layers(a.model, *cal, check, search, co);
  if (!chosen) {
    std::cerr << "kiln: checking int8 against fp32: " << chosen.error().message() << "\n";
    return 1;
  }
  if (Status s = save_calibration(*cal, out); !s) {
    std::cerr << "kiln: " << s.message() << "\n";
    return 1;
  }
  std::printf("int8 vs fp32 with %zu of %zu convolutions kept out of int8: max |difference| %.4f, mask IoU at 0.5 %.4f -> %s\n",
              cal->float_layers.size(), cal->float_layers.size() + chosen->int8_layers.size(), chosen->max_abs,
              chosen->iou, out.c_str());
  if (chosen->iou < a.target_iou)
    std::printf("below the target: more --max-float-layers, more calibration images, or bf16 (--precision bf16)\n");
  else if (cal->float_layers.size() > chosen->int8_layers.size())
    std::printf("most convolutions are kept out of int8: --precision bf16 may run this model as fast\n");
  return 0;
}

}  // namespace kiln::cli
