// kiln demo: every texture class's U-Net on one engine (one shared plan), prepared in the
// background with a progress display, then each segmenting generated images: the regions
// found, timings, plans per model, memory, and overlay PNGs. --evaluate N scores each model
// on N held-out images (the figures in the model cards).
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "kiln/demo.h"
#include "kiln/engine.h"

namespace kiln::cli {

namespace {
constexpr uint64_t kHeldOutSeed = 900000;  // training uses seeds from 1000 (tools/train_demo_models.py)

// Loads all class models and shows their preparation as it happens.
bool prepare_all(Engine& engine, const std::string& dir, bool quiet) {
  for (int c = 0; c < demo::kTextureCount; ++c) {
    std::string name = demo::texture_name(static_cast<demo::Texture>(c));
    LoadSpec spec;
    spec.model = dir + "/unet.onnx";
    spec.weights = dir + "/" + name + ".safetensors";
    Status s = engine.load(name, spec);
    if (!s) { std::cerr << "kiln: " << s.message() << "\n"; return false; }
  }
  std::map<std::string, std::string> shown;
  for (;;) {
    bool done = true;
    for (const ModelStatus& m : engine.models()) {
      std::string line = std::string(model_state_name(m.state)) + (m.state == ModelState::kPreparing ? ": " + m.phase : "");
      if (m.state == ModelState::kReady)
        line += " in " + std::to_string(static_cast<int>(m.prepare_ms + 0.5)) + " ms, plan " + (m.plan_shared ? "shared" : "compiled");
      if (m.state == ModelState::kFailed) line += ": " + m.error;
      if (!quiet && shown[m.name] != line) std::printf("  [%3.0f%%] %-14s %s\n", 100 * m.progress, m.name.c_str(), line.c_str());
      shown[m.name] = line;
      done = done && (m.state == ModelState::kReady || m.state == ModelState::kFailed);
    }
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  bool ok = true;
  for (const ModelStatus& m : engine.models())
    if (m.state == ModelState::kFailed) {
      std::cerr << "kiln: model '" << m.name << "' failed: " << m.error << "\n";
      ok = false;
    }
  return ok;
}

}  // namespace

void add_demo(CLI::App& app, DemoArgs& a) {
  auto* c = app.add_subcommand("demo", "segment generated defect images with every class's model");
  c->add_option("--models", a.models, "directory with unet.onnx and <class>.safetensors")->capture_default_str();
  c->add_option("--out,-o", a.out, "where overlay PNGs go")->capture_default_str();
  c->add_option("--images", a.images, "images per class")->capture_default_str();
  c->add_option("--seed", a.seed, "first image seed (held-out seeds by default)")->capture_default_str();
  c->add_option("--threshold", a.threshold, "defect probability threshold")->capture_default_str();
  c->add_option("--min-area", a.min_area, "smallest region reported, in pixels")->capture_default_str();
  c->add_option("--evaluate", a.evaluate, "score each model on N held-out images (IoU, pixel F1) instead");
  c->add_flag("--json", a.json, "with --evaluate: print JSON");
  c->add_option("--threads", a.threads, "compute threads (default: all cores)");
}

int do_demo(const DemoArgs& args) {
  DemoArgs a = args;
  if (a.models == "models/demo") {  // the default: the source tree's, else the installed ones
    const std::string found = data_path(a.models, "unet.onnx");
    if (!found.empty()) a.models = found;
  }
  set_threads(a.threads);
  EngineOptions eo;
  eo.threads = a.threads;
  eo.precision = Precision::kAuto;  // fp32 results, the fastest computation measured here
  Engine engine(eo);
  auto t0 = Clock::now();
  if (!a.json) std::printf("preparing %d models from %s (one plan per architecture, in the background)\n", demo::kTextureCount, a.models.c_str());
  if (!prepare_all(engine, a.models, a.json)) return 1;
  double all_ms = ms_since(t0);

  if (a.evaluate > 0) {
    nlohmann::json j;
    if (!a.json) std::printf("\n%-14s %8s %8s  (%d held-out images each, seeds %llu+)\n", "class", "IoU", "F1", a.evaluate,
                             static_cast<unsigned long long>(kHeldOutSeed));
    for (int c = 0; c < demo::kTextureCount; ++c) {
      auto t = static_cast<demo::Texture>(c);
      std::string name = demo::texture_name(t);
      // One IoU over all pixels of the set: small defects count as much as they cover.
      Tensor all_pred = Tensor::zeros(DType::kF32, {a.evaluate, 1, demo::kImageSize, demo::kImageSize});
      Tensor all_true = Tensor::zeros(DType::kF32, {a.evaluate, 1, demo::kImageSize, demo::kImageSize});
      size_t plane = static_cast<size_t>(demo::kImageSize) * demo::kImageSize;
      for (int i = 0; i < a.evaluate; ++i) {
        demo::Sample s = demo::generate(t, kHeldOutSeed + static_cast<uint64_t>(i));
        auto out = engine.run(name, {s.image});
        if (!out) { std::cerr << "kiln: " << out.error().message() << "\n"; return 1; }
        std::copy_n((*out)[0].data<float>(), plane, all_pred.data<float>() + i * plane);
        std::copy_n(s.mask.data<float>(), plane, all_true.data<float>() + i * plane);
      }
      demo::Score q = demo::score(all_pred, all_true, a.threshold);
      j[name] = {{"iou", q.iou}, {"f1", q.f1}, {"images", a.evaluate}, {"first_seed", kHeldOutSeed}};
      if (!a.json) std::printf("%-14s %8.3f %8.3f\n", name.c_str(), q.iou, q.f1);
    }
    if (a.json) std::cout << j.dump(2) << "\n";
    return 0;
  }

  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  std::printf("\nsegmenting %d generated 512x512 images per class (seeds %llu+), threshold %.2f\n", a.images,
              static_cast<unsigned long long>(a.seed), a.threshold);
  std::map<std::string, std::vector<double>> run_ms;
  for (int c = 0; c < demo::kTextureCount; ++c) {
    auto t = static_cast<demo::Texture>(c);
    std::string name = demo::texture_name(t);
    for (int i = 0; i < a.images; ++i) {
      uint64_t seed = a.seed + static_cast<uint64_t>(i);
      demo::Sample s = demo::generate(t, seed);
      auto r0 = Clock::now();
      auto out = engine.run(name, {s.image});
      run_ms[name].push_back(ms_since(r0));
      if (!out) { std::cerr << "kiln: " << out.error().message() << "\n"; return 1; }
      const Tensor& p = (*out)[0];
      auto regions = demo::find_regions(p, a.threshold, a.min_area);
      demo::Score q = demo::score(p, s.mask, a.threshold);
      std::string drawn;
      for (demo::Defect d : s.defects) drawn += std::string(drawn.empty() ? "" : " + ") + demo::defect_name(d);
      std::string png = a.out + "/" + name + "_" + std::to_string(seed) + ".png";
      Status st = demo::write_overlay_png(png, s.image, p, a.threshold, regions);
      if (!st) { std::cerr << "kiln: " << st.message() << "\n"; return 1; }
      std::printf("%-14s seed %-7llu %zu region(s) [drawn: %s]  IoU %.2f  %.1f ms  -> %s\n", name.c_str(),
                  static_cast<unsigned long long>(seed), regions.size(), drawn.c_str(), q.iou, run_ms[name].back(),
                  png.c_str());
      for (const demo::Region& r : regions)
        std::printf("%22s box (%lld,%lld)-(%lld,%lld)  area %lld px  mean score %.2f\n", "",
                    static_cast<long long>(r.x0), static_cast<long long>(r.y0), static_cast<long long>(r.x1),
                    static_cast<long long>(r.y1), static_cast<long long>(r.area), r.mean_score);
    }
  }
  std::printf("\n%-14s %10s %8s %12s %10s\n", "model", "prepare", "plan", "first run", "mean run");
  for (const ModelStatus& m : engine.models()) {
    const auto& v = run_ms[m.name];
    double mean = 0;
    for (double x : v) mean += x;
    std::printf("%-14s %8.1fms %8s %10.1fms %8.1fms\n", m.name.c_str(), m.prepare_ms, m.plan_shared ? "shared" : "new",
                v.empty() ? 0.0 : v[0], v.empty() ? 0.0 : mean / static_cast<double>(v.size()));
  }
  MemoryReport mem = engine.memory();
  std::printf("\n%zu plan(s) serve %zu models; all prepared in %.0f ms\n", mem.plans, mem.models, all_ms);
  std::printf("memory: weights %.1f MB (%.1f MB per model), arena %.1f MB, plan ~%.1f MB; process peak RSS %.1f MB\n",
              mem.weight_bytes_resident / 1e6, mem.weight_bytes_resident / 1e6 / std::max<size_t>(mem.models, 1),
              mem.arena_bytes / 1e6, mem.plan_bytes / 1e6, peak_rss_mb());
  std::printf("overlays (defect pixels red, regions boxed yellow) in %s\n", a.out.c_str());
  return 0;
}

}  // namespace kiln::cli
