// Internals of the defect generator (textures.cpp, defects.cpp).
#pragma once

#include <vector>

#include "demo/random.h"
#include "kiln/demo.h"

namespace kiln::demo {

void draw_texture(Texture t, std::vector<float>& img, int n, Rng& rng, uint64_t seed);
// Draws one defect; `strength` gets max(strength, profile) per pixel, the mask's source.
void draw_defect(Defect d, std::vector<float>& img, std::vector<float>& strength, int n, Rng& rng, uint64_t seed);
// The defects a texture class typically shows.
std::vector<Defect> typical_defects(Texture t);

}  // namespace kiln::demo
