// kiln bench MODEL: load/compile/pack times, first run, steady median and p90, GFLOP/s, RSS.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "kiln/model.h"

namespace kiln::cli {

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}
}  // namespace

void add_bench(CLI::App& app, BenchArgs& a) {
  auto* c = app.add_subcommand("bench", "time loading and running a model");
  c->add_option("model", a.model, "model file: .onnx, TensorFlow .pb/.pbtxt, Keras .h5");
  c->add_option("--models", a.models, "several ONNX files: prepare all on one engine, measure sharing and switching");
  c->add_option("--cache-dir", a.cache_dir, "with --models: weight-pack cache directory");
  c->add_option("--input-shape", a.input_shape, "[name=]d0,d1,...");
  c->add_option("--runs", a.runs, "timed runs after the first")->capture_default_str();
  c->add_option("--threads", a.threads, "compute threads (default: all cores)");
  add_conv_option(c, a.conv);
  add_precision_option(c, a.precision, a.calibration);
  c->add_flag("--json", a.json, "print one line of JSON");
  c->add_flag("--profile", a.profile, "print time, GFLOP/s and share of every plan step");
  c->add_option("--peak-gflops", a.peak_gflops,
                "with --profile: the machine's peak (build/peak measures it) to show each conv's fraction of it");
  c->add_flag("--no-warmup", a.no_warmup, "skip the warm-up run at load, to see a cold first run");
}

int do_bench(const BenchArgs& a) {
  if (!a.models.empty()) return do_bench_models(a);
  if (a.model.empty()) {
    std::cerr << "kiln: bench needs a MODEL or --models\n";
    return 2;
  }
  set_threads(a.threads);
  ModelOptions opt;
  opt.threads = a.threads;
  opt.warm_up = !a.no_warmup;
  opt.conv_algorithm = *parse_conv_algorithm(a.conv);
  opt.precision = *parse_precision(a.precision);
  opt.calibration = a.calibration;
  std::string err;
  if (!parse_input_shapes(a.input_shape, "", opt.input_shapes, err)) {
    std::cerr << "kiln: " << err << "\n";
    return 2;
  }
  auto t0 = Clock::now();
  auto model = Model::load(a.model, opt);
  const double load_ms = ms_since(t0);
  if (!model) { std::cerr << "kiln: " << model.error().message() << "\n"; return 1; }
  const ModelInfo& info = model->info();
  print_plan_note(info);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  std::vector<Tensor> inputs;
  for (const auto& in : info.inputs) {
    Tensor t = Tensor::zeros(DType::kF32, in.shape);
    for (int64_t i = 0; i < t.elements(); ++i) t.data<float>()[i] = dist(rng);
    inputs.push_back(t);
  }
  auto f0 = Clock::now();
  auto first = model->run(inputs);
  double first_ms = ms_since(f0);
  if (!first) { std::cerr << "kiln: " << first.error().message() << "\n"; return 1; }
  std::vector<double> times;
  for (int r = 0; r < std::max(1, a.runs); ++r) {
    auto s0 = Clock::now();
    auto out = model->run(inputs);
    times.push_back(ms_since(s0));
    if (!out) { std::cerr << "kiln: " << out.error().message() << "\n"; return 1; }
  }
  double median = percentile(times, 0.5), p90 = percentile(times, 0.9);
  double gflops = info.flops / (median * 1e6);
  if (a.json) {
    nlohmann::json j = {{"runtime", "kiln"},
                        {"model", a.model},
                        {"load_ms", info.import_ms + info.optimize_ms},
                        {"compile_ms", info.compile_ms},
                        {"pack_ms", info.pack_ms},
                        {"warmup_ms", info.warmup_ms},
                        {"total_load_ms", load_ms},
                        {"first_ms", first_ms},
                        {"steady_median_ms", median},
                        {"steady_min_ms", *std::min_element(times.begin(), times.end())},
                        {"steady_max_ms", *std::max_element(times.begin(), times.end())},
                        {"steady_p90_ms", p90},
                        {"first_over_steady", first_ms / median},
                        {"gflops", gflops},
                        {"peak_rss_mb", peak_rss_mb()},
                        {"warm_up", opt.warm_up},
                        {"threads", info.threads},
                        {"precision", precision_name(opt.precision)},
                        {"conv", conv_algorithm_name(opt.conv_algorithm)},
                        {"conv_variants", info.conv_variants},
                        {"conv_ms", info.conv_ms},
                        {"conv_fp32_direct_ms", info.conv_fp32_direct_ms},
                        {"timings_measured", info.timings_measured},
                        {"note", info.slower_than_fp32},
                        {"wait_policy", wait_policy()}};
    std::cout << j.dump() << "\n";
  } else {
    std::printf("model        %s (%.2f GFLOP per run)\n", a.model.c_str(), info.flops / 1e9);
    std::printf("load         %.1f ms = import %.1f + optimise %.1f + compile %.1f + pack %.1f + warm-up %.1f\n", load_ms,
                info.import_ms, info.optimize_ms, info.compile_ms, info.pack_ms, info.warmup_ms);
    std::printf("first run    %.2f ms (%.2fx steady)%s\n", first_ms, first_ms / median,
                opt.warm_up ? "" : "  [no warm-up at load]");
    std::printf("steady       median %.2f ms, p90 %.2f ms, min %.2f, max %.2f over %zu runs\n", median, p90,
                *std::min_element(times.begin(), times.end()), *std::max_element(times.begin(), times.end()), times.size());
    std::printf("throughput   %.1f GFLOP/s (%d threads, OpenMP wait policy %s)\n", gflops, info.threads, wait_policy());
    std::printf("peak RSS     %.1f MB\n", peak_rss_mb());
    std::printf("convolutions %s\n", conv_summary(info).c_str());
  }
  if (a.profile) {
    // Each step's fastest of five timed runs: one run is at the mercy of a stray interrupt.
    // The runs' own totals and each step's median are kept too, to account for the whole run.
    std::vector<StepProfile> best;
    std::vector<std::vector<double>> step_runs;
    std::vector<double> run_totals;
    for (int rep = 0; rep < 5; ++rep) {
      auto prof = model->profile(inputs);
      if (!prof) { std::cerr << "kiln: " << prof.error().message() << "\n"; return 1; }
      if (best.empty()) best = *prof;
      step_runs.resize(best.size());
      double sum = 0;
      for (size_t i = 0; i < best.size(); ++i) {
        best[i].ms = std::min(best[i].ms, (*prof)[i].ms);
        step_runs[i].push_back((*prof)[i].ms);
        sum += (*prof)[i].ms;
      }
      run_totals.push_back(sum);
    }
    double total = 0, conv_ms = 0;
    std::map<std::string, double> other;  // what is not convolution, by kind
    for (const auto& s : best) {
      total += s.ms;
      if (s.kind.rfind("conv", 0) == 0) conv_ms += s.ms;
      else other[s.kind.substr(0, s.kind.find(':'))] += s.ms;
    }
    bool peak = a.peak_gflops > 0;
    std::printf("\n%-4s %-28s %-18s %9s %9s %7s%s  %-28s %s\n", "#", "step", "kind", "ms", "GFLOP/s", "share",
                peak ? "   peak" : "", "implementation", "computation chosen");
    for (size_t i = 0; i < best.size(); ++i) {
      const auto& s = best[i];
      double g = s.ms > 0 ? s.flops / (s.ms * 1e6) : 0.0;
      char of_peak[16] = "";
      if (peak && s.kind.rfind("conv", 0) == 0) std::snprintf(of_peak, sizeof of_peak, " %5.0f%%", 100.0 * g / a.peak_gflops);
      else if (peak) std::snprintf(of_peak, sizeof of_peak, "      -");
      // A convolution's choice, with what its candidates measured alone while compiling.
      std::string choice = s.measured.empty() ? s.variant : s.variant + " of " + s.measured + " ms";
      std::printf("%-4zu %-28.28s %-18.18s %9.3f %9.1f %6.1f%%%s  %-28s %s\n", i, s.name.c_str(), s.kind.c_str(), s.ms, g,
                  100.0 * s.ms / total, of_peak, s.impl.c_str(), choice.c_str());
    }
    std::printf("total %.2f ms: convolutions %.2f ms (%.1f%%)", total, conv_ms, 100.0 * conv_ms / total);
    for (const auto& [kind, ms] : other) std::printf(", %s %.2f", kind.c_str(), ms);
    std::printf("\n");
    // The whole run: a step's best is not what it takes in every run, and a run is more than
    // its steps (the input and output copies, the hop to the runner's thread).
    std::vector<double> medians;
    double median_sum = 0;
    for (auto& r : step_runs) {
      medians.push_back(percentile(r, 0.5));
      median_sum += medians.back();
    }
    std::sort(run_totals.begin(), run_totals.end());
    std::printf("whole run: steady median %.2f ms end to end; the five profiled runs' steps summed %.2f-%.2f ms "
                "(each step's median %.2f, best %.2f); outside the steps %.2f ms\n",
                median, run_totals.front(), run_totals.back(), median_sum, total, median - median_sum);
    std::vector<size_t> order(best.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return medians[x] - best[x].ms > medians[y] - best[y].ms; });
    std::printf("           most variable steps (median - best):");
    for (size_t k = 0; k < std::min<size_t>(4, order.size()); ++k)
      std::printf(" #%zu %s +%.2f ms;", order[k], best[order[k]].kind.c_str(), medians[order[k]] - best[order[k]].ms);
    std::printf("\n");
    if (peak)
      std::printf("peak  %.1f GFLOP/s given (bench/peak); GFLOP/s count each layer's nominal operations, so "
                  "Winograd and phase-split steps, which do fewer, can pass 100%%\n",
                  a.peak_gflops);
  }
  return 0;
}

}  // namespace kiln::cli
