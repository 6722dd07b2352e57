// Choices made when a plan is compiled, shared by kiln::Model and kiln::Engine.
//
//   kiln::EngineOptions opt;
//   opt.conv_algorithm = kiln::ConvAlgorithm::kAuto;   // Winograd where it measures faster
//   opt.precision = kiln::Precision::kBF16;            // refused where the CPU lacks AVX512_BF16
#pragma once

#include <optional>
#include <string>

namespace kiln {

// How 3x3 stride-1 convolutions are computed.
enum class ConvAlgorithm {
  kDirect,    // oneDNN's direct convolution
  kWinograd,  // Winograd F(4x4, 3x3) wherever oneDNN has it for the layer (2.25x fewer multiplies)
  kAuto,      // per layer, whichever ran faster when the plan was compiled (measured)
};
const char* conv_algorithm_name(ConvAlgorithm a);

// The number format of weights and of the activations between layers.
enum class Precision {
  kF32,   // float32 throughout
  kBF16,  // bfloat16 weights and activations, float32 accumulation; layers with fewer than
          // 16 channels (the input image, the head and its sigmoid) stay float32. Needs
          // AVX512_BF16.
  kInt8,  // uint8 activations and int8 weights (per output channel scales) in convolutions
          // of at least 16 channels in and out whose input is non-negative (after ReLU);
          // every other convolution in fp32 or bf16 (direct or Winograd), whichever measured
          // faster on this CPU. Needs a calibration (kiln/calibration.h, kiln quantize) and
          // AVX512_VNNI.
  kAuto,      // float32 results, computed the fastest way measured on this CPU: each 3x3
              // convolution direct or Winograd (ConvAlgorithm::kWinograd still forces it)
  kAutoBF16,  // as kAuto, and each convolution in fp32 or bf16, whichever measured faster:
              // bf16 only where the user allows its rounding
};
const char* precision_name(Precision p);  // "fp32", "bf16", "int8", "auto", "auto-bf16"
std::optional<Precision> parse_precision(const std::string& name);
// "direct", "winograd" or "auto"; nullopt for anything else.
std::optional<ConvAlgorithm> parse_conv_algorithm(const std::string& name);

}  // namespace kiln
