#pragma once

#include <chrono>
#include <map>
#include <string>
#include <cstdint>
#include <vector>

#include "kiln/model_info.h"
#include "kiln/tensor.h"

namespace CLI { class App; }

namespace kiln::cli {

struct RunArgs {
  std::string model, input, output, weights, cache_dir, input_name;
  std::vector<std::string> output_names;
  std::vector<std::string> input_shape;  // "name=1,1,256,256" or "1,1,256,256"
  float threshold = 0.5f;
  int threads = 0;
  int64_t tile = 0, overlap = 256;
  std::string conv = "direct";
  std::string precision = "fp32";
  std::string calibration;  // --calibration-file
};
struct InspectArgs {
  std::string model;
  std::vector<std::string> input_shape;
  bool json = false;
  bool tensors = false;
  std::string conv = "direct";
  std::string precision = "fp32";
  std::string calibration;  // --calibration-file
};
struct BenchArgs {
  std::string model;
  std::vector<std::string> models;  // --models: many models on one engine
  std::string cache_dir;
  std::vector<std::string> input_shape;
  int runs = 20;
  int threads = 0;
  bool json = false;
  bool profile = false;
  double peak_gflops = 0;
  bool no_warmup = false;
  std::string conv = "direct";
  std::string precision = "fp32";
  std::string calibration;  // --calibration-file
};

// `relative` (a folder holding `marker`) in the working directory, else installed beside the
// binary in <prefix>/share/kiln/<relative>; "" when neither has it.
std::string data_path(const std::string& relative, const std::string& marker);

void add_run(CLI::App& app, RunArgs& a);
void add_inspect(CLI::App& app, InspectArgs& a);
void add_bench(CLI::App& app, BenchArgs& a);
int do_run(const RunArgs& a);
int do_inspect(const InspectArgs& a);
int do_bench(const BenchArgs& a);
int do_bench_models(const BenchArgs& a);
struct PackArgs {
  std::string model, weights, output;
  std::vector<std::string> input_shape;
};
void add_pack(CLI::App& app, PackArgs& a);
struct QuantizeArgs {
  std::string model, images, output, weights, check_dir;
  int max_images = 0, check_images = 16, threads = 0, max_float_layers = -1;
  double target_iou = 0.99;
};
void add_quantize(CLI::App& app, QuantizeArgs& a);
int do_quantize(const QuantizeArgs& a);
struct GenDefectsArgs {
  std::string out, classes = "all";
  int count = 8, size = 512;
  uint64_t seed = 1;
  double defect_free = 0.0;
  bool npy = false, no_png = false;
};
void add_gen_defects(CLI::App& app, GenDefectsArgs& a);
struct DemoArgs {
  std::string models = "models/demo", out = "build/demo";
  int images = 2, evaluate = 0, threads = 0;
  uint64_t seed = 900000;
  float threshold = 0.5f;
  int64_t min_area = 12;
  bool json = false;
};
void add_demo(CLI::App& app, DemoArgs& a);
// Filled from kiln::ServeOptions' defaults by add_serve (one place says what they are).
struct ServeArgs {
  std::string repository, demo_models = "models/demo", http, grpc, model_dir, model_name;
  bool demo = false, log_requests = false, model_runtime = false;
  int capacity_mb = 0, load_timeout_s = 0;
  int runners = 0, max_queue = 0, request_timeout_ms = 0, idle_timeout_s = 0, receive_timeout_s = 0, http_threads = 0, threads = 0;
  size_t max_connections = 0;
  int max_body_mb = 0;
  double poll_seconds = 0;
  std::string conv, precision, cache_dir, model_control = "none", admin_token_file, web_root;
  bool web_root_given = false;
};
void add_serve(CLI::App& app, ServeArgs& a);
int do_serve(const ServeArgs& a);
int do_demo(const DemoArgs& a);
int do_gen_defects(const GenDefectsArgs& a);
int do_pack(const PackArgs& a);

// Shared helpers.
bool parse_input_shapes(const std::vector<std::string>& specs, const std::string& model_first_input_hint,
                        std::map<std::string, std::vector<int64_t>>& out, std::string& error);
void set_threads(int threads);
// --conv direct|winograd|auto, checked by the parser (so parse_conv_algorithm never fails after it).
void add_conv_option(CLI::App* command, std::string& conv);
// --precision fp32|bf16|int8, and --calibration-file for int8.
void add_precision_option(CLI::App* command, std::string& precision, std::string& calibration);
double peak_rss_mb();
// How the plan's convolutions compute: "12 fp32 winograd, 11 fp32 direct", with what was
// measured while compiling when anything was.
std::string conv_summary(const ModelInfo& i);
// The plan's note on stderr, if it has one ("kiln: note: --precision bf16 is slower ...").
void print_plan_note(const ModelInfo& i);
// Runs the program again with OMP_WAIT_POLICY=PASSIVE unless the environment sets
// OMP_WAIT_POLICY or GOMP_SPINCOUNT (wait_policy.cpp says why); returns only if it did not.
void apply_default_wait_policy(char** argv);
// The OpenMP wait policy in effect, for benchmark output.
const char* wait_policy();
using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace kiln::cli
