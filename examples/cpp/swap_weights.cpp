// Two models of one architecture on one plan, weights swapped hot, through an installed kiln.
//   swap_weights DEMO_MODELS_DIR
#include <kiln/demo.h>
#include <kiln/engine.h>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: swap_weights DEMO_MODELS_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  kiln::Engine engine;
  for (const char* name : {"leather", "concrete"}) {
    kiln::LoadSpec spec;
    spec.model = dir + "/unet.onnx";
    spec.weights = dir + "/" + name + ".safetensors";
    if (kiln::Status s = engine.load(name, spec); !s) return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
  }
  for (const char* name : {"leather", "concrete"})
    if (kiln::Status s = engine.wait_ready(name, std::chrono::minutes(2)); !s)
      return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
  const kiln::Tensor image = kiln::demo::generate(kiln::demo::Texture::kLeather, 900001).image;
  auto before = engine.run("concrete", {image});
  if (!engine.load_weights("concrete", dir + "/leather.safetensors")) return 1;
  auto after = engine.run("concrete", {image});
  auto leather = engine.run("leather", {image});
  if (!before || !after || !leather) return 1;
  const auto same = [](const kiln::Tensor& a, const kiln::Tensor& b) {
    for (int64_t i = 0; i < a.elements(); ++i)
      if (a.data<float>()[i] != b.data<float>()[i]) return false;
    return true;
  };
  std::printf("plans %zu, models %zu; after the swap concrete answers as leather: %s; before it did not: %s\n",
              engine.memory().plans, engine.memory().models, same((*after)[0], (*leather)[0]) ? "yes" : "no",
              same((*before)[0], (*leather)[0]) ? "no" : "yes");
  return same((*after)[0], (*leather)[0]) && !same((*before)[0], (*leather)[0]) && engine.memory().plans == 1 ? 0 : 1;
}
