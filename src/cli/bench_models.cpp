// kiln bench --models a.onnx b.onnx ...: many models of (usually) one architecture on one
// engine: per-model preparation, plan sharing, first and steady runs, the cost of switching
// models, and the memory held.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "kiln/engine.h"

namespace kiln::cli {

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
}  // namespace

int do_bench_models(const BenchArgs& a) {
  set_threads(a.threads);
  EngineOptions eo;
  eo.threads = a.threads;
  eo.cache_dir = a.cache_dir;
  eo.conv_algorithm = *parse_conv_algorithm(a.conv);
  eo.precision = *parse_precision(a.precision);
  Engine engine(eo);
  LoadSpec base;
  std::string err;
  if (!parse_input_shapes(a.input_shape, "", base.input_shapes, err)) {
    std::cerr << "kiln: " << err << "\n";
    return 2;
  }
  struct Row {
    std::string name, path;
    ModelStatus status;
    double wall_ms = 0, first_ms = 0, steady_ms = 0;
  };
  // Inputs: one random image in the models' input shape.
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  std::vector<Tensor> inputs;  // made from the first model's input shapes once it is ready
  auto run = [&](const std::string& name) -> double {
    auto t0 = Clock::now();
    auto out = engine.run(name, inputs);
    if (!out) {
      std::cerr << "kiln: " << out.error().message() << "\n";
      std::exit(1);
    }
    return ms_since(t0);
  };
  std::vector<Row> rows;
  for (size_t i = 0; i < a.models.size(); ++i) {
    Row r;
    r.name = "model" + std::to_string(i);
    r.path = a.models[i];
    LoadSpec spec = base;
    spec.model = r.path;
    auto t0 = Clock::now();
    Status s = engine.load(r.name, spec);
    if (s) s = engine.wait_ready(r.name, std::chrono::minutes(10));
    r.wall_ms = ms_since(t0);
    if (!s) {
      std::cerr << "kiln: " << s.message() << "\n";
      return 1;
    }
    r.status = *engine.status(r.name);
    if (inputs.empty())
      for (const auto& [name, shape] : r.status.inputs) {
        Tensor t = Tensor::zeros(DType::kF32, shape);
        for (int64_t k = 0; k < t.elements(); ++k) t.data<float>()[k] = dist(rng);
        inputs.push_back(t);
      }
    // The first request, right after the model became ready (what a caller that loads a
    // model and then uses it sees).
    r.first_ms = run(r.name);
    rows.push_back(r);
  }
  double rss_after_load = peak_rss_mb();
  MemoryReport mem = engine.memory();

  int runs = std::max(3, a.runs);
  for (Row& r : rows) {
    std::vector<double> t;
    for (int k = 0; k < runs; ++k) t.push_back(run(r.name));
    r.steady_ms = median(t);
  }
  // Switching: cycle through the models on one runner, against repeating the first.
  std::vector<double> alternating, same;
  for (int k = 0; k < runs; ++k)
    for (const Row& r : rows) alternating.push_back(run(r.name));
  for (size_t k = 0; k < alternating.size(); ++k) same.push_back(run(rows[0].name));
  double alt_ms = median(alternating), same_ms = median(same);

  if (a.json) {
    nlohmann::json j;
    j["runtime"] = "kiln";
    for (const Row& r : rows)
      j["models"].push_back({{"path", r.path},
                             {"prepare_ms", r.status.prepare_ms},
                             {"wall_ms", r.wall_ms},
                             {"import_ms", r.status.import_ms},
                             {"compile_ms", r.status.compile_ms},
                             {"pack_ms", r.status.pack_ms},
                             {"warmup_ms", r.status.warmup_ms},
                             {"load_to_ready_ms", r.wall_ms},
                             {"plan_shared", r.status.plan_shared},
                             {"weights_from_cache", r.status.weights_from_cache},
                             {"first_ms", r.first_ms},
                             {"steady_median_ms", r.steady_ms},
                             {"weight_bytes", r.status.weight_bytes}});
    j["alternating_ms"] = alt_ms;
    j["same_model_ms"] = same_ms;
    j["switch_cost_ms"] = alt_ms - same_ms;
    j["rss_after_load_mb"] = rss_after_load;
    j["plans"] = mem.plans;
    j["plan_bytes"] = mem.plan_bytes;
    j["weight_bytes_resident"] = mem.weight_bytes_resident;
    j["weight_bytes_mapped"] = mem.weight_bytes_mapped;
    j["arena_bytes"] = mem.arena_bytes;
    j["spare_weight_bytes"] = mem.spare_weight_bytes;
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("%-8s %-32.32s %9s %25s %7s %6s %8s %8s %8s\n", "model", "file", "prepare", "(import/compile/pack/warm)",
              "plan", "cache", "first", "steady", "first/st");
  for (const Row& r : rows)
    std::printf("%-8s %-32.32s %7.1fms %6.1f/%5.1f/%5.1f/%5.1f ms %7s %6s %6.2fms %6.2fms %7.2fx\n", r.name.c_str(),
                r.path.c_str(), r.status.prepare_ms, r.status.import_ms, r.status.compile_ms, r.status.pack_ms,
                r.status.warmup_ms, r.status.plan_shared ? "shared" : "new", r.status.weights_from_cache ? "hit" : "-",
                r.first_ms, r.steady_ms, r.first_ms / r.steady_ms);
  std::printf("\nswitching  alternating %zu models: %.2f ms median; repeating one: %.2f ms (%+.2f ms per switch)\n",
              rows.size(), alt_ms, same_ms, alt_ms - same_ms);
  std::printf("memory     %zu plan(s) for %zu model(s); weights %.1f MB resident + %.1f MB mapped; arenas %.1f MB; "
              "plans ~%.1f MB; spare weight buffers %.1f MB\n",
              mem.plans, mem.models, mem.weight_bytes_resident / 1e6, mem.weight_bytes_mapped / 1e6,
              mem.arena_bytes / 1e6, mem.plan_bytes / 1e6, mem.spare_weight_bytes / 1e6);
  std::printf("process    peak RSS after loading all: %.1f MB\n", rss_after_load);
  return 0;
}

}  // namespace kiln::cli
