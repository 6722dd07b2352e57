// Choices made when a plan is compiled, shared by kiln::Model and kiln::Engine.
//
//   kiln::EngineOptions opt;
//   opt.conv_algorithm = kiln::ConvAlgorithm::kAuto;   // Winograd where it measures faster
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
// "direct", "winograd" or "auto"; nullopt for anything else.
std::optional<ConvAlgorithm> parse_conv_algorithm(const std::string& name);

}  // namespace kiln
