// One image of any size through tiles of a model's compiled input size (TileOptions in
// kiln/model_info.h says how tiles overlap and blend).
//
//   auto out = kiln::run_tiled(info, image, {.overlap = 256},
//                              [&](const kiln::Tensor& tile) { return engine.run(name, {tile}); });
#pragma once

#include <functional>
#include <vector>

#include "kiln/model_info.h"
#include "kiln/status.h"

namespace kiln {

using RunTile = std::function<Expected<std::vector<Tensor>>(const Tensor& tile)>;

// `info`: the model's (one input, its compiled shape, its layout); `run`: one tile through it.
Expected<std::vector<Tensor>> run_tiled(const ModelInfo& info, const Tensor& image, const TileOptions& options,
                                        const RunTile& run);

}  // namespace kiln
