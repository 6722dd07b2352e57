// kiln quantize MODEL --calibration DIR [-o FILE]: calibrate a model for int8 and check the
// int8 model against fp32 on a few of the images.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "import/import.h"
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

// The images of DIR (.png/.jpg/.jpeg/.bmp as [1,C,H,W] in [0,1], channels-last for TensorFlow
// and Keras models; .npy float32 as they are), in name order.
Expected<std::vector<Tensor>> read_images(const std::string& dir, int channels, bool nhwc, int max_images) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return not_found("calibration directory '" + dir + "' does not exist");
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file() && has_extension(entry.path(), {".png", ".jpg", ".jpeg", ".bmp", ".npy"}))
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  if (max_images > 0 && files.size() > static_cast<size_t>(max_images)) files.resize(static_cast<size_t>(max_images));
  if (files.empty()) return not_found("no images (.png, .jpg, .bmp, .npy) in '" + dir + "'");
  std::vector<Tensor> images;
  for (const auto& f : files) {
    if (has_extension(f, {".npy"})) {
      KILN_ASSIGN_OR_RETURN(Tensor t, read_npy(f.string()));
      images.push_back(t);
      continue;
    }
    KILN_ASSIGN_OR_RETURN(Tensor img, read_image(f.string(), channels));
    images.push_back(nhwc ? to_nhwc(img) : img);
  }
  return images;
}

Expected<std::vector<Tensor>> fp32_outputs(const std::string& model, const std::string& weights,
                                           const std::vector<Tensor>& images) {
  ModelOptions opt;
  opt.weights = weights;
  opt.input_shapes[""] = images[0].shape();
  opt.warm_up = false;
  KILN_ASSIGN_OR_RETURN(Model fp32, Model::load(model, opt));
  std::vector<Tensor> outs;
  for (const Tensor& image : images) {
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> f, fp32.run({image}));
    outs.push_back(f[0]);
  }
  return outs;
}

// Agreement of int8 with fp32 on the images: largest difference and mask IoU at 0.5 of the
// first output; and, when asked for (a profiled run), the int8 convolutions of the plan.
struct Agreement {
  double max_abs = 0;
  double iou = 1;
  std::vector<std::string> int8_layers;
};

Expected<Agreement> compare_int8(const std::string& model, const std::string& weights, const std::string& calibration,
                                 const std::vector<Tensor>& images, const std::vector<Tensor>& reference,
                                 bool list_int8_layers = false) {
  ModelOptions opt;
  opt.weights = weights;
  opt.calibration = calibration;
  opt.input_shapes[""] = images[0].shape();
  opt.warm_up = false;
  opt.precision = Precision::kInt8;
  KILN_ASSIGN_OR_RETURN(Model int8, Model::load(model, opt));
  Agreement a;
  double inter = 0, uni = 0;
  for (size_t k = 0; k < images.size(); ++k) {
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> q, int8.run({images[k]}));
    const float* x = reference[k].data<float>();
    const float* y = q[0].data<float>();
    for (int64_t i = 0; i < reference[k].elements(); ++i) {
      a.max_abs = std::max(a.max_abs, static_cast<double>(std::fabs(x[i] - y[i])));
      bool mx = x[i] > 0.5f, my = y[i] > 0.5f;
      inter += mx && my;
      uni += mx || my;
    }
  }
  a.iou = uni > 0 ? inter / uni : 1.0;
  if (!list_int8_layers) return a;
  KILN_ASSIGN_OR_RETURN(std::vector<StepProfile> steps, int8.profile({images[0]}));
  for (const StepProfile& s : steps)
    if (s.kind.rfind("conv.int8", 0) == 0 &&
        std::find(a.int8_layers.begin(), a.int8_layers.end(), s.name) == a.int8_layers.end())
      a.int8_layers.push_back(s.name);
  return a;
}

// Keeps the convolutions fp32 whose int8 error moves the mask most, one at a time (most
// harmful first, by measuring each alone), until the IoU reaches `target`.
Status choose_fp32_layers(const QuantizeArgs& a, Calibration& cal, const std::string& out,
                          const std::vector<Tensor>& check, const std::vector<Tensor>& reference, Agreement& now) {
  std::vector<std::pair<double, std::string>> gains;
  for (const std::string& layer : now.int8_layers) {
    cal.fp32_layers = {layer};
    KILN_RETURN_IF_ERROR(save_calibration(cal, out));
    KILN_ASSIGN_OR_RETURN(Agreement alone, compare_int8(a.model, a.weights, out, check, reference));
    gains.emplace_back(alone.iou, layer);
    std::fprintf(stderr, "\rmeasuring each layer's effect: %zu of %zu", gains.size(), now.int8_layers.size());
  }
  std::fprintf(stderr, "\n");
  std::sort(gains.begin(), gains.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  cal.fp32_layers.clear();
  for (const auto& [iou, layer] : gains) {
    if (now.iou >= a.target_iou || static_cast<int>(cal.fp32_layers.size()) >= a.max_fp32_layers) break;
    cal.fp32_layers.push_back(layer);
    KILN_RETURN_IF_ERROR(save_calibration(cal, out));
    KILN_ASSIGN_OR_RETURN(now, compare_int8(a.model, a.weights, out, check, reference));
    std::printf("  keeping %s fp32: mask IoU %.4f, max |difference| %.4f\n", layer.c_str(), now.iou, now.max_abs);
  }
  return Status::ok();
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
                "keep the convolutions fp32 that move the mask most, one by one, until int8's mask IoU against "
                "fp32 on the check images reaches this (0: all int8 that can be)")
      ->capture_default_str();
  c->add_option("--max-fp32-layers", a.max_fp32_layers, "at most this many convolutions kept fp32")
      ->capture_default_str();
  c->add_option("--threads", a.threads, "compute threads (default: all cores)");
}

int do_quantize(const QuantizeArgs& a) {
  set_threads(a.threads);
  const bool nhwc = takes_nhwc_inputs(a.model);
  CalibrationOptions co;
  co.weights = a.weights;
  co.progress = [](size_t done, size_t all) {
    std::fprintf(stderr, "\rcalibrating: run %zu of %zu (each image twice: ranges, then histograms)", done, all);
    if (done == all) std::fprintf(stderr, "\n");
  };
  Expected<Calibration> cal = invalid_argument("unset");
  std::vector<Tensor> images;
  for (int channels : {1, 3}) {  // gray first; a model that wants RGB says so
    auto read = read_images(a.images, channels, nhwc, a.max_images);
    if (!read) {
      std::cerr << "kiln: " << read.error().message() << "\n";
      return 1;
    }
    images = std::move(*read);
    cal = calibrate(a.model, images, co);
    if (cal || cal.error().message().find("channels") == std::string::npos) break;
  }
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
    auto read = read_images(a.check_dir, static_cast<int>(images[0].shape()[nhwc ? 3 : 1]), nhwc, 0);
    if (!read) {
      std::cerr << "kiln: " << read.error().message() << "\n";
      return 1;
    }
    images = std::move(*read);
  }
  // The first --check-images of them, those of the first one's shape (one compiled plan).
  std::vector<Tensor> check;
  for (size_t k = 0; k < images.size() && k < static_cast<size_t>(a.check_images); ++k)
    if (images[k].shape() == images[0].shape()) check.push_back(images[k]);
  auto reference = fp32_outputs(a.model, a.weights, check);
  if (!reference) {
    std::cerr << "kiln: fp32 reference outputs: " << reference.error().message() << "\n";
    return 1;
  }
  auto agreement = compare_int8(a.model, a.weights, out, check, *reference, /*list_int8_layers=*/true);
  if (!agreement) {
    std::cerr << "kiln: checking int8 against fp32: " << agreement.error().message() << "\n";
    return 1;
  }
  std::printf("int8 vs fp32 on %zu images: max |difference| %.4f, mask IoU at 0.5 %.4f\n", check.size(),
              agreement->max_abs, agreement->iou);
  if (agreement->iou >= a.target_iou) return 0;
  std::printf("below the target IoU %.4f: choosing convolutions to keep fp32\n", a.target_iou);
  const size_t convolutions = agreement->int8_layers.size();
  if (Status s = choose_fp32_layers(a, *cal, out, check, *reference, *agreement); !s) {
    std::cerr << "kiln: " << s.message() << "\n";
    return 1;
  }
  std::printf("int8 vs fp32 with %zu of %zu convolutions fp32: max |difference| %.4f, mask IoU at 0.5 %.4f -> %s\n",
              cal->fp32_layers.size(), convolutions, agreement->max_abs,
              agreement->iou, out.c_str());
  return 0;
}

}  // namespace kiln::cli
