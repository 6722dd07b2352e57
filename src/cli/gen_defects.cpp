// kiln gen-defects: synthetic defect images and masks (PNG), optionally stacked .npy for training.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "kiln/demo.h"
#include "kiln/io.h"

namespace kiln::cli {

void add_gen_defects(CLI::App& app, GenDefectsArgs& a) {
  auto* c = app.add_subcommand("gen-defects", "write synthetic surface images with defects and their masks");
  c->add_option("--out,-o", a.out, "output directory")->required();
  c->add_option("--classes", a.classes, "comma-separated texture classes, or 'all'")->capture_default_str();
  c->add_option("--count", a.count, "images per class")->capture_default_str();
  c->add_option("--seed", a.seed, "first seed; image i uses seed + i")->capture_default_str();
  c->add_option("--size", a.size, "image side in pixels")->capture_default_str();
  c->add_option("--defect-free", a.defect_free, "fraction of images without defects (0..1)")->capture_default_str();
  c->add_flag("--npy", a.npy, "also write <class>_images.npy and <class>_masks.npy, [N,1,H,W] float32");
  c->add_flag("--no-png", a.no_png, "skip the PNG files");
}

int do_gen_defects(const GenDefectsArgs& a) {
  std::vector<demo::Texture> classes;
  if (a.classes == "all") {
    for (int i = 0; i < demo::kTextureCount; ++i) classes.push_back(static_cast<demo::Texture>(i));
  } else {
    std::stringstream ss(a.classes);
    std::string name;
    while (std::getline(ss, name, ',')) {
      auto t = demo::texture_from_name(name);
      if (!t) { std::cerr << "kiln: " << t.error().message() << "\n"; return 2; }
      classes.push_back(*t);
    }
  }
  if (a.count < 1 || a.size < 16 || a.defect_free < 0 || a.defect_free > 1) {
    std::cerr << "kiln: --count >= 1, --size >= 16 and --defect-free in [0,1] please\n";
    return 2;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  for (demo::Texture t : classes) {
    fs::path dir = fs::path(a.out) / demo::texture_name(t);
    fs::create_directories(dir, ec);
    Tensor images = Tensor::zeros(DType::kF32, {a.count, 1, a.size, a.size});
    Tensor masks = Tensor::zeros(DType::kF32, {a.count, 1, a.size, a.size});
    size_t plane = static_cast<size_t>(a.size) * a.size;
    for (int i = 0; i < a.count; ++i) {
      uint64_t seed = a.seed + static_cast<uint64_t>(i);
      // Every k-th image is defect-free, k from the requested fraction (deterministic).
      bool clean = a.defect_free > 0 && (i % std::max(1, static_cast<int>(1.0 / a.defect_free + 0.5))) == 0;
      demo::Sample s = demo::generate(t, seed, a.size, clean);
      std::copy_n(s.image.data<float>(), plane, images.data<float>() + i * plane);
      std::copy_n(s.mask.data<float>(), plane, masks.data<float>() + i * plane);
      if (!a.no_png) {
        std::string stem = (dir / std::to_string(seed)).string();
        Status st = write_mask_png(stem + ".png", s.image, -1.0f);
        if (st) st = write_mask_png(stem + "_mask.png", s.mask, 0.5f);
        if (!st) { std::cerr << "kiln: " << st.message() << "\n"; return 1; }
      }
    }
    if (a.npy) {
      Status st = write_npy((fs::path(a.out) / (std::string(demo::texture_name(t)) + "_images.npy")).string(), images);
      if (st) st = write_npy((fs::path(a.out) / (std::string(demo::texture_name(t)) + "_masks.npy")).string(), masks);
      if (!st) { std::cerr << "kiln: " << st.message() << "\n"; return 1; }
    }
    std::printf("%-14s %d images in %s\n", demo::texture_name(t), a.count, dir.c_str());
  }
  return 0;
}

}  // namespace kiln::cli
