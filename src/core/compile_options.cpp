#include "kiln/compile_options.h"

namespace kiln {

const char* conv_algorithm_name(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::kDirect: return "direct";
    case ConvAlgorithm::kWinograd: return "winograd";
    case ConvAlgorithm::kAuto: return "auto";
  }
  return "?";
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kF32: return "fp32";
    case Precision::kBF16: return "bf16";
    case Precision::kInt8: return "int8";
    case Precision::kAuto: return "auto";
    case Precision::kAutoBF16: return "auto-bf16";
  }
  return "?";
}

std::optional<Precision> parse_precision(const std::string& name) {
  if (name == "fp32" || name == "f32") return Precision::kF32;
  if (name == "bf16") return Precision::kBF16;
  if (name == "int8") return Precision::kInt8;
  if (name == "auto") return Precision::kAuto;
  if (name == "auto-bf16") return Precision::kAutoBF16;
  return std::nullopt;
}

std::optional<ConvAlgorithm> parse_conv_algorithm(const std::string& name) {
  for (ConvAlgorithm a : {ConvAlgorithm::kDirect, ConvAlgorithm::kWinograd, ConvAlgorithm::kAuto})
    if (name == conv_algorithm_name(a)) return a;
  return std::nullopt;
}

}  // namespace kiln
