#include <omp.h>
#include <sys/resource.h>

#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "kiln/compile_options.h"

namespace kiln::cli {

bool parse_input_shapes(const std::vector<std::string>& specs, const std::string&,
                        std::map<std::string, std::vector<int64_t>>& out, std::string& error) {
  for (const std::string& spec : specs) {
    std::string name, dims = spec;
    if (auto eq = spec.rfind('='); eq != std::string::npos) {
      name = spec.substr(0, eq);
      dims = spec.substr(eq + 1);
    }
    std::vector<int64_t> shape;
    std::stringstream ss(dims);
    std::string item;
    while (std::getline(ss, item, ',')) {
      try {
        size_t used = 0;
        long long v = std::stoll(item, &used);
        if (used != item.size() || v <= 0) throw std::invalid_argument(item);
        shape.push_back(v);
      } catch (const std::exception&) {
        error = "bad --input-shape '" + spec + "': expected [name=]d0,d1,... with positive integers";
        return false;
      }
    }
    out[name] = shape;
  }
  return true;
}

void add_conv_option(CLI::App* command, std::string& conv) {
  command
      ->add_option("--conv", conv,
                   "3x3 stride-1 convolutions: direct, winograd (fewer multiplies, ~1e-5 relative error), or auto "
                   "(per layer, whichever measures faster while the plan compiles)")
      ->check(CLI::IsMember({"direct", "winograd", "auto"}))
      ->capture_default_str();
}

void add_precision_option(CLI::App* command, std::string& precision, std::string& calibration) {
  command
      ->add_option("--precision", precision,
                   "fp32; auto (fp32 results, each convolution direct or Winograd, whichever measures faster "
                   "here); auto-bf16 (as auto, and fp32 or bf16 per convolution, whichever measures faster); "
                   "bf16 (weights and activations in bfloat16, fp32 accumulation; thin layers such as "
                   "the head stay fp32; needs AVX512_BF16); or int8 (uint8 activations after ReLU, int8 weights "
                   "per output channel, from a calibration made by kiln quantize; needs AVX512_VNNI)")
      ->check(CLI::IsMember({"fp32", "auto", "auto-bf16", "bf16", "int8"}))
      ->capture_default_str();
  command->add_option("--calibration-file", calibration,
                      "int8: the calibration of the weights (default: <weights or model>.calibration.json)");
}

// For oneDNN work on the calling thread (calibration); engines and models take their
// runners' count in their options (libgomp keeps the setting per thread).
void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

std::string conv_summary(const ModelInfo& i) {
  std::string s;
  for (const auto& [variant, layers] : i.conv_variants) s += (s.empty() ? "" : ", ") + std::to_string(layers) + " " + variant;
  if (i.conv_fp32_direct_ms > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " (timed alone while compiling: %.2f ms; fp32 direct %.2f ms for the same layers)",
                  i.conv_ms, i.conv_fp32_direct_ms);
    s += buf;
  }
  return s;
}

void print_plan_note(const ModelInfo& i) {
  if (!i.slower_than_fp32.empty()) std::cerr << "kiln: note: " << i.slower_than_fp32 << "\n";
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace kiln::cli
