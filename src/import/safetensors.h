// safetensors weight files (what PyTorch and most of the field write).
//
//   kiln::Expected<kiln::RawWeights> w = kiln::read_safetensors("cable.safetensors");
//   // float32 tensors view the mapped file; F16/BF16 are widened to float32.
#pragma once

#include <string>

#include "graph/graph.h"

namespace kiln {

Expected<RawWeights> read_safetensors(const std::string& path);
Status write_safetensors(const std::string& path, const RawWeights& weights);

}  // namespace kiln
