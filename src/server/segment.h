// Images in, defect regions out: what POST /kiln/v1/models/{m}/segment does with a PNG or
// JPEG of any size, for people who send pictures rather than tensors.
//
//   kiln::serve::SegmentRequest r{.image = body, .threshold = 0.5f};
//   kiln::Expected<nlohmann::json> answer = kiln::serve::segment(host, "leather", r);
//
// The image is decoded gray or RGB as the model's input says and laid out as it takes it.
// Larger than the model's loaded input size, it goes through tiles of that size (as `kiln
// run --tile`, overlapping by the model's `overlap`); smaller, it is padded to that size
// with its edge pixels and the result cut back, so every request runs the one warm plan.
// The answer: regions (box, area, mean score), timings, and the score map as an 8-bit
// grayscale PNG, base64 (scores x 255: thresholds can be tried on it without running again).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "server/model_host.h"

namespace kiln::serve {

struct SegmentRequest {
  std::string image;                 // PNG / JPEG / BMP bytes
  std::optional<float> threshold;    // default: the model's (config.json), else 0.5
  std::optional<int64_t> min_area;   // pixels; default the model's
  bool mask = true;                  // include the score map PNG ("scores_png")
  bool binary_mask = false;          // and the defect mask at the threshold ("mask_png", 0 or 255)
};

Expected<nlohmann::json> segment(ModelHost& host, const std::string& model, const SegmentRequest& request);

// GET /kiln/v1/generate?class=C&seed=N&size=S: a synthetic image of texture class C (kiln
// gen-defects'), square, S pixels (64..4096, default 512), as a grey PNG. The parameters
// come as the request's text; each is checked and a bad one named.
Expected<std::string> generated_image(const std::string& texture, const std::string& seed, const std::string& size);

std::string base64(const std::string& bytes);

}  // namespace kiln::serve
