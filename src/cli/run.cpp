// kiln run MODEL --input in.npy|png|jpg [--output out.npy|png] (a .png: a mask, or a palette PNG of classes)
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <iostream>

#include "cli/commands.h"
#include "kiln/io.h"
#include "kiln/model.h"

namespace kiln::cli {

namespace {

bool is_image(const std::string& p) {
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".PNG", ".JPG", ".JPEG"})
    if (p.ends_with(e)) return true;
  return false;
}

}  // namespace

void add_run(CLI::App& app, RunArgs& a) {
  auto* c = app.add_subcommand("run", "run a model on one input and summarise the output");
  c->add_option("model", a.model, "model file: .onnx, TensorFlow .pb/.pbtxt, Keras .h5")->required();
  c->add_option("--input,-i", a.input, "input: .npy (float32, the model's layout) or an image (.png/.jpg)")->required();
  c->add_option("--output,-o", a.output,
                 "write the first output: .npy, or .png: a mask for one channel, a palette PNG of classes for several "
                 "channels or a class map (ArgMax)");
  c->add_option("--input-shape", a.input_shape, "[name=]d0,d1,...: shape for an input with unknown dimensions");
  c->add_option("--threshold", a.threshold, "mask threshold for --output .png (negative: grayscale)")->capture_default_str();
  c->add_option("--threads", a.threads, "compute threads (default: all cores)");
  add_conv_option(c, a.conv);
  c->add_option("--tile", a.tile,
                "run an image larger than TILE x TILE pixels as overlapping tiles of that size (memory bounded by the "
                "tile, not the image)");
  c->add_option("--overlap", a.overlap, "with --tile: pixels shared by neighbouring tiles, blended")->capture_default_str();
  add_precision_option(c, a.precision, a.calibration);
  c->add_option("--weights", a.weights, "run with these weights: .onnx of the same architecture, .safetensors or .kwp");
  c->add_option("--cache-dir", a.cache_dir, "weight-pack cache: packed weights are mapped on later runs");
  c->add_option("--input-name", a.input_name, "the input to feed, by the model's name for it");
  c->add_option("--output-name", a.output_names, "tensor(s) to return, by name (default: the model's outputs)");
}

int do_run(const RunArgs& a) {
  set_threads(a.threads);
  ModelOptions opt;
  opt.threads = a.threads;
  opt.weights = a.weights;
  opt.cache_dir = a.cache_dir;
  opt.conv_algorithm = *parse_conv_algorithm(a.conv);
  opt.precision = *parse_precision(a.precision);
  opt.calibration = a.calibration;
  opt.outputs = a.output_names;
  opt.warm_up = false;  // one request: a warm-up run would only double the time to the result
  std::string err;
  if (!parse_input_shapes(a.input_shape, "", opt.input_shapes, err)) {
    std::cerr << "kiln: " << err << "\n";
    return 2;
  }
  Tensor input;
  const bool image = is_image(a.input);
  if (image) {
    // The image's size sets the input's height and width (with --tile, the tile's); its batch
    // is 1 and its channels (gray or RGB) and layout are what the model declares.
    auto size = read_image_size(a.input);
    if (!size) { std::cerr << "kiln: " << size.error().message() << "\n"; return 1; }
    if (a.input_shape.empty())
      opt.image_size = a.tile > 0 ? ImageSize{std::min(size->height, a.tile), std::min(size->width, a.tile)} : *size;
  } else {
    auto t = read_npy(a.input);
    if (!t) { std::cerr << "kiln: " << t.error().message() << "\n"; return 1; }
    if (t->dtype() != DType::kF32) {
      std::cerr << "kiln: input '" << a.input << "' is " << dtype_name(t->dtype()) << "; kiln takes float32 .npy files\n";
      return 1;
    }
    input = *t;
    if (opt.input_shapes.empty()) opt.input_shapes[a.input_name] = input.shape();
    if (a.tile > 0 && a.input_shape.empty() && input.shape().size() == 4) {
      // The plan is compiled for one tile: which axes are height and width is the model's layout.
      const int ha = takes_channels_last(a.model) ? 1 : 2;
      Shape& s = opt.input_shapes[a.input_name];
      s[ha] = std::min(s[ha], a.tile);
      s[ha + 1] = std::min(s[ha + 1], a.tile);
    }
  }
  auto t0 = Clock::now();
  auto model = Model::load(a.model, opt);
  double load_ms = ms_since(t0);
  if (!model) { std::cerr << "kiln: " << model.error().message() << "\n"; return 1; }
  print_plan_note(model->info());
  const ModelInfo& info = model->info();
  const bool nhwc = info.channels_last;
  if (info.inputs.size() != 1) {
    std::cerr << "kiln: run takes models with one input; this one has " << info.inputs.size() << "\n";
    return 1;
  }
  if (image) {
    const Shape& want = info.inputs[0].shape;
    int64_t channels = want.size() == 4 ? (nhwc ? want[3] : want[1]) : 0;
    if (channels != 1 && channels != 3) {
      std::cerr << "kiln: the model's input " << shape_to_string(want) << " is not an " << (nhwc ? "NHWC" : "NCHW")
                << " image with 1 or 3 channels\n";
      return 1;
    }
    auto img = read_image(a.input, static_cast<int>(channels), nhwc);
    if (!img) { std::cerr << "kiln: " << img.error().message() << "\n"; return 1; }
    input = *img;
  }
  t0 = Clock::now();
  auto out = a.tile > 0 ? model->run_tiled(input, TileOptions{a.overlap}) : model->run({input});
  double run_ms = ms_since(t0);
  if (!out) { std::cerr << "kiln: " << out.error().message() << "\n"; return 1; }

  std::printf("model      %s  (fingerprint %s, %lld parameters, %.2f GFLOP)\n", a.model.c_str(), info.fingerprint.c_str(),
              static_cast<long long>(info.parameters), info.flops / 1e9);
  std::printf("input      %s %s\n", info.inputs[0].name.c_str(), shape_to_string(input.shape()).c_str());
  for (size_t i = 0; i < out->size(); ++i) {
    const Tensor& t = (*out)[i];
    const float* v = t.data<float>();
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    int64_t above = 0;
    for (int64_t k = 0; k < t.elements(); ++k) {
      sum += v[k];
      mn = std::min<double>(mn, v[k]);
      mx = std::max<double>(mx, v[k]);
      above += v[k] >= a.threshold;
    }
    std::printf("output     %s %s  min %.4f  max %.4f  mean %.4f  >=%.2f: %.2f%%\n", info.outputs[i].name.c_str(),
                shape_to_string(t.shape()).c_str(), mn, mx, sum / static_cast<double>(t.elements()), a.threshold,
                100.0 * static_cast<double>(above) / static_cast<double>(t.elements()));
  }
  if (info.weights_from_cache) std::printf("weights    mapped from a weight pack (no packing)\n");
  std::printf("timings    load %.1f ms (import %.1f, optimise %.1f, compile %.1f, pack %.1f, warm-up %.1f)  run %.2f ms\n",
              load_ms, info.import_ms, info.optimize_ms, info.compile_ms, info.pack_ms, info.warmup_ms, run_ms);
  if (a.tile > 0) std::printf("tiles      %lldx%lld, overlap %lld\n", static_cast<long long>(info.inputs[0].shape[nhwc ? 1 : 2]),
                              static_cast<long long>(info.inputs[0].shape[nhwc ? 2 : 3]), static_cast<long long>(a.overlap));
  std::printf("memory     peak RSS %.1f MB\n", peak_rss_mb());
  if (!a.output.empty()) {
    // A .png: a class map (the model ends in ArgMax) or per-class scores (more than one
    // channel) become a palette PNG of classes; one channel a mask.
    const Tensor& y = (*out)[0];
    const bool nhwc_out = info.channels_last && y.shape().size() == 4;
    const bool scores = y.shape().size() == 4 && (nhwc_out ? y.shape()[3] : y.shape()[1]) > 1;
    const char* what = "";
    Status s;
    if (!a.output.ends_with(".png")) s = write_npy(a.output, y);
    else if (info.outputs[0].class_map) s = write_class_png(a.output, y, ClassSource::kIndices), what = " (palette PNG of class indices)";
    else if (scores) s = write_class_png(a.output, y, ClassSource::kScores, nhwc_out), what = " (palette PNG of each pixel's highest-scoring class)";
    else s = write_mask_png(a.output, y, a.threshold);
    if (!s) { std::cerr << "kiln: " << s.message() << "\n"; return 1; }
    std::printf("wrote      %s%s\n", a.output.c_str(), what);
  }
  return 0;
}

}  // namespace kiln::cli
