// How closely int8 follows fp32, and the search for the convolutions int8 should leave in
// floating point (kiln/calibration.h). Both build Models of the two precisions on the
// caller's images; the calibration travels in memory (ModelOptions::calibration_data).
#include <algorithm>
#include <cmath>

#include "kiln/calibration.h"
#include "core/status_macros.h"
#include "kiln/model.h"

namespace kiln {

namespace {

ModelOptions options_for(const std::vector<Tensor>& images, const CalibrationOptions& co) {
  ModelOptions opt;
  opt.weights = co.weights;
  opt.name_map = co.name_map;
  opt.input_shapes[""] = images[0].shape();
  opt.warm_up = false;
  return opt;
}

Status check_images(const std::vector<Tensor>& images) {
  if (images.empty()) return invalid_argument("comparing int8 with fp32 needs at least one image");
  for (const Tensor& t : images)
    if (t.shape() != images[0].shape())
      return invalid_argument("comparing int8 with fp32: images of one shape only (" + shape_to_string(images[0].shape()) +
                              " and " + shape_to_string(t.shape()) + ")");
  return Status::ok();
}

Expected<std::vector<Tensor>> fp32_outputs(const std::string& model_path, const std::vector<Tensor>& images,
                                           const CalibrationOptions& co) {
  KILN_ASSIGN_OR_RETURN(Model fp32, Model::load(model_path, options_for(images, co)));
  std::vector<Tensor> outs;
  for (const Tensor& image : images) {
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> out, fp32.run({image}));
    outs.push_back(std::move(out[0]));
  }
  return outs;
}

// int8 against outputs already computed in fp32.
Expected<Int8Agreement> agreement(const std::string& model_path, const Calibration& c,
                                  const std::vector<Tensor>& images, const std::vector<Tensor>& reference,
                                  const CalibrationOptions& co, bool list_layers) {
  ModelOptions opt = options_for(images, co);
  opt.precision = Precision::kInt8;
  opt.calibration_data = c;
  KILN_ASSIGN_OR_RETURN(Model int8, Model::load(model_path, opt));
  Int8Agreement a;
  a.images = static_cast<int>(images.size());
  double inter = 0, uni = 0, sum_abs = 0, count = 0;
  for (size_t k = 0; k < images.size(); ++k) {
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> q, int8.run({images[k]}));
    const float* x = reference[k].data<float>();
    const float* y = q[0].data<float>();
    for (int64_t i = 0; i < reference[k].elements(); ++i) {
      const double d = std::fabs(x[i] - y[i]);
      a.max_abs = std::max(a.max_abs, d);
      sum_abs += d;
      ++count;
      bool mx = x[i] > 0.5f, my = y[i] > 0.5f;
      inter += mx && my;
      uni += mx || my;
    }
  }
  a.iou = uni > 0 ? inter / uni : 1.0;
  a.mean_abs = count > 0 ? sum_abs / count : 0.0;
  if (!list_layers) return a;
  KILN_ASSIGN_OR_RETURN(std::vector<StepProfile> steps, int8.profile({images[0]}));
  for (const StepProfile& s : steps)
    if (s.kind.rfind("conv.int8", 0) == 0 &&
        std::find(a.int8_layers.begin(), a.int8_layers.end(), s.name) == a.int8_layers.end())
      a.int8_layers.push_back(s.name);
  return a;
}

}  // namespace

Expected<Int8Agreement> compare_int8(const std::string& model_path, const Calibration& c,
                                     const std::vector<Tensor>& images, const CalibrationOptions& options) {
  KILN_RETURN_IF_ERROR(check_images(images));
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> reference, fp32_outputs(model_path, images, options));
  return agreement(model_path, c, images, reference, options, /*list_layers=*/true);
}

Expected<Int8Agreement> choose_float_layers(const std::string& model_path, Calibration& c,
                                           const std::vector<Tensor>& images, const FloatLayerSearch& search,
                                           const CalibrationOptions& options) {
  KILN_RETURN_IF_ERROR(check_images(images));
  auto say = [&](const std::string& what) {
    if (search.progress) search.progress(what);
  };
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> reference, fp32_outputs(model_path, images, options));
  c.float_layers.clear();
  KILN_ASSIGN_OR_RETURN(Int8Agreement now, agreement(model_path, c, images, reference, options, true));
  char line[200];
  std::snprintf(line, sizeof line, "all %zu convolutions int8: mask IoU %.4f, max |difference| %.4f",
                now.int8_layers.size(), now.iou, now.max_abs);
  say(line);
  if (now.iou >= search.target_iou || search.max_layers == 0) return now;
  // Each layer's effect alone (one plan per candidate), most helpful first. Measuring each
  // alone, rather than re-measuring all after every choice, keeps the search linear.
  std::vector<std::pair<double, std::string>> gains;
  for (const std::string& layer : now.int8_layers) {
    say("measuring " + layer + " in floating point (" + std::to_string(gains.size() + 1) + " of " +
        std::to_string(now.int8_layers.size()) + ")");
    c.float_layers = {layer};
    KILN_ASSIGN_OR_RETURN(Int8Agreement alone, agreement(model_path, c, images, reference, options, false));
    gains.emplace_back(alone.iou, layer);
  }
  std::stable_sort(gains.begin(), gains.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  const std::vector<std::string> all_int8 = now.int8_layers;
  c.float_layers.clear();
  for (const auto& [iou, layer] : gains) {
    if (now.iou >= search.target_iou) break;
    if (search.max_layers >= 0 && static_cast<int>(c.float_layers.size()) >= search.max_layers) break;
    c.float_layers.push_back(layer);
    KILN_ASSIGN_OR_RETURN(now, agreement(model_path, c, images, reference, options, false));
    std::snprintf(line, sizeof line, "keeping %s in floating point: mask IoU %.4f, max |difference| %.4f", layer.c_str(), now.iou,
                  now.max_abs);
    say(line);
  }
  now.int8_layers.clear();
  for (const std::string& layer : all_int8)
    if (std::find(c.float_layers.begin(), c.float_layers.end(), layer) == c.float_layers.end())
      now.int8_layers.push_back(layer);
  return now;
}

}  // namespace kiln
