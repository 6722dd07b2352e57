// Calibration: the fp32 plan compiled with keep_values (every activation keeps its own
// storage to the end of the run), run on each image; each activation is read from the arena
// (reordered to plain NCHW, so that its channels can be told apart), twice over the images:
// per-channel maxima, then histograms for the clipping points.
#include "kiln/calibration.h"
#include "core/status_macros.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "engine/prepare.h"
#include "exec/runner.h"
#include "plan/layout.h"

namespace kiln {

namespace {

struct ValueReader {
  std::string name;
  TensorRef ref;
  md_t plain;
  dnnl::reorder to_plain;
};

struct CalibrationPlan {
  std::shared_ptr<const Plan> plan;
  std::shared_ptr<const Weights> weights;
  std::vector<ValueReader> readers;
};

Expected<CalibrationPlan> calibration_plan(const std::string& path, const Shape& shape, const CalibrationOptions& o,
                                           std::string& fingerprint_out) {
  LoadSpec spec;
  spec.model = path;
  spec.weights = o.weights;
  spec.name_map = o.name_map;
  // The first input takes the image's shape; importers name it, so ask for it by "".
  spec.input_shapes[""] = shape;
  CompileOptions co;
  co.keep_values = true;
  Architectures plans;  // a keep-values plan serves this calibration only
  KILN_ASSIGN_OR_RETURN(Prepared p, prepare(spec, co, {}, plans, nullptr));
  if (p.info.inputs.size() != 1)
    return invalid_argument("calibration takes models with one input; '" + path + "' has " +
                            std::to_string(p.info.inputs.size()));
  const std::shared_ptr<const Plan>& plan = p.arch->plan;
  fingerprint_out = p.info.fingerprint;
  CalibrationPlan cp{plan, p.packed.weights, {}};
  // Each fp32 activation, reordered to plain NCHW to be read channel by channel: the
  // reorders are made here once, not per image.
  for (const auto& [name, ref] : plan->values) {
    const auto dims = ref.md.dims();
    if (ref.md.data_type() != dnnl::memory::data_type::f32 || dims.empty()) continue;
    md_t plain(dims, dnnl::memory::data_type::f32, plain_tag(dims.size()));
    cp.readers.push_back({name, ref, plain, dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), ref.md, cpu_engine(), plain))});
  }
  return cp;
}

}  // namespace

std::string default_calibration_path(const std::string& model_path) { return model_path + ".calibration.json"; }

namespace {

// One channel's values over all images: the largest, then (second pass) a histogram of the
// positive ones over [0, largest]. Zeros (most of a ReLU output) quantize exactly, so they
// do not count.
constexpr int kBins = 512;
struct ChannelStats {
  float max = -INFINITY;
  std::vector<double> histogram;
};

// The clipping point c of [0, max] that minimises the expected squared error of uint8
// quantization with step c / 255: values above c clipped to c, rounding noise step^2 / 12
// for those below. Suffix sums of count, sum and sum of squares make each candidate O(1).
float mse_optimal_clip(const ChannelStats& s) {
  if (!(s.max > 0.0f) || s.histogram.empty()) return s.max > 0.0f ? s.max : 0.0f;
  const double width = s.max / kBins;
  double n_above = 0, sum_above = 0, sq_above = 0, below = 0;
  for (int k = 0; k < kBins; ++k) {
    const double x = (k + 0.5) * width, h = s.histogram[static_cast<size_t>(k)];
    n_above += h, sum_above += h * x, sq_above += h * x * x;
  }
  double best_err = INFINITY, best_c = s.max;
  for (int b = 1; b <= kBins; ++b) {  // candidate c = b * width: bins < b round, bins >= b clip
    const double x = (b - 0.5) * width, h = s.histogram[static_cast<size_t>(b - 1)];
    n_above -= h, sum_above -= h * x, sq_above -= h * x * x, below += h;
    const double c = b * width, step = c / 255.0;
    const double err = (sq_above - 2 * c * sum_above + c * c * n_above) + below * step * step / 12.0;
    if (err < best_err) best_err = err, best_c = c;
  }
  return static_cast<float>(best_c);
}

// An activation in plain NCHW (or [N, C, ...]) fp32, from wherever the plan keeps it.
const std::vector<float>& plain_values(const ValueReader& r, void* data, dnnl::stream& stream,
                                       std::vector<float>& buffer) {
  buffer.resize(r.plain.get_size() / sizeof(float));
  dnnl::memory from(r.ref.md, cpu_engine(), data), to(r.plain, cpu_engine(), buffer.data());
  r.to_plain.execute(stream, from, to);
  stream.wait();
  return buffer;
}

}  // namespace

Expected<Calibration> calibrate(const std::string& model_path, const std::vector<Tensor>& images,
                                const CalibrationOptions& options) {
  if (images.empty()) return invalid_argument("calibration needs at least one image");
  Calibration c;
  std::map<Shape, CalibrationPlan> plans;  // one per image shape
  std::map<std::string, std::vector<ChannelStats>> stats;
  std::vector<float> buffer;
  dnnl::stream stream(cpu_engine());
  Runner runner;
  const size_t steps = images.size() * 2;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < images.size(); ++i) {
      const Tensor& image = images[i];
      auto context = [&](const Status& s) { return s.with_context("calibration image " + std::to_string(i + 1)); };
      if (image.dtype() != DType::kF32) return context(invalid_argument("images must be float32"));
      auto it = plans.find(image.shape());
      if (it == plans.end()) {
        std::string fp;
        auto p = calibration_plan(model_path, image.shape(), options, fp);
        if (!p) return context(p.error());
        if (!c.fingerprint.empty() && fp != c.fingerprint)
          return context(internal_error("the architecture's fingerprint changed with the input shape"));
        c.fingerprint = fp;
        it = plans.emplace(image.shape(), *p).first;
      }
      const Plan& plan = *it->second.plan;
      auto out = runner.run(plan, *it->second.weights, {image});
      if (!out) return context(out.error());
      for (const ValueReader& r : it->second.readers) {
        const auto dims = r.plain.dims();
        const std::vector<float>& v =
            plain_values(r, plan.arena_address(r.ref, const_cast<uint8_t*>(runner.arena())), stream, buffer);
        const int64_t n = dims[0], ch = dims.size() >= 2 ? dims[1] : 1;
        const int64_t plane = static_cast<int64_t>(v.size()) / std::max<int64_t>(n * ch, 1);
        std::vector<ChannelStats>& st = stats[r.name];
        st.resize(static_cast<size_t>(ch));
        for (int64_t b = 0; b < n; ++b)
          for (int64_t k = 0; k < ch; ++k) {
            ChannelStats& cs = st[static_cast<size_t>(k)];
            const float* p = v.data() + (b * ch + k) * plane;
            if (pass == 0) {
              for (int64_t e = 0; e < plane; ++e) cs.max = std::max(cs.max, p[e]);
              continue;
            }
            if (!(cs.max > 0.0f)) continue;
            cs.histogram.resize(kBins);
            const float to_bin = kBins / cs.max;
            for (int64_t e = 0; e < plane; ++e)
              if (p[e] > 0.0f) cs.histogram[std::min<size_t>(static_cast<size_t>(p[e] * to_bin), kBins - 1)] += 1;
          }
      }
      if (options.progress) options.progress(pass * images.size() + i + 1, steps);
    }
  }
  c.images = static_cast<int>(images.size());
  for (const auto& [name, st] : stats)
    for (const ChannelStats& cs : st) {
      c.max[name].push_back(std::isfinite(cs.max) ? cs.max : 0.0f);
      c.clip[name].push_back(mse_optimal_clip(cs));
    }
  return c;
}

Status save_calibration(const Calibration& c, const std::string& path) {
  nlohmann::json j;
  j["format"] = "kiln-calibration";
  j["version"] = 1;
  j["fingerprint"] = c.fingerprint;
  j["images"] = c.images;
  j["float_layers"] = c.float_layers;
  j["max"] = c.max;
  j["clip"] = c.clip;
  std::ofstream f(path);
  f << j.dump(1) << "\n";
  f.close();
  if (!f) return internal_error("cannot write the calibration '" + path + "'");
  return Status::ok();
}

Expected<Calibration> load_calibration(const std::string& path) {
  std::ifstream f(path);
  if (!f) return not_found("no calibration '" + path + "' (make one with: kiln quantize MODEL --calibration DIR)");
  try {
    nlohmann::json j = nlohmann::json::parse(f);
    if (j.value("format", "") != "kiln-calibration")
      return invalid_argument("'" + path + "' is not a kiln calibration (no \"format\": \"kiln-calibration\")");
    if (j.value("version", 0) != 1)
      return invalid_argument("'" + path + "': calibration version " + std::to_string(j.value("version", 0)) +
                              " is not one this kiln reads (1)");
    Calibration c;
    c.fingerprint = j.at("fingerprint").get<std::string>();
    c.images = j.at("images").get<int>();
    // "fp32_layers": what version 1 files of 2026-11-25 called them.
    c.float_layers = j.value("float_layers", j.value("fp32_layers", std::vector<std::string>{}));
    for (const char* field : {"max", "clip"})
      for (const auto& [name, v] : j.at(field).items()) {
        std::vector<float>& out = (field[0] == 'm' ? c.max : c.clip)[name];
        for (const auto& x : v) {
          if (!x.is_number() || (field[0] == 'c' && x.get<float>() < 0.0f))
            return invalid_argument("'" + path + "': " + field + " of '" + name + "' is not a list of " +
                                    (field[0] == 'c' ? "non-negative " : "") + "numbers");
          out.push_back(x.get<float>());
        }
      }
    return c;
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument("'" + path + "' is not a valid calibration: " + e.what());
  }
}

}  // namespace kiln
