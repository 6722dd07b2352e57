// kiln pack MODEL [--weights FILE] -o PACK: prepare a model and write its packed weights.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "kiln/engine.h"

namespace kiln::cli {

void add_pack(CLI::App& app, PackArgs& a) {
  auto* c = app.add_subcommand("pack", "write a model's packed weights to a weight-pack file (.kwp)");
  c->add_option("model", a.model, "model file (the architecture): .onnx, .pb/.pbtxt, .h5")->required();
  c->add_option("--weights", a.weights, "weights to pack instead of the model's own: .onnx or .safetensors");
  c->add_option("--output,-o", a.output, "weight-pack file to write")->required();
  c->add_option("--input-shape", a.input_shape, "[name=]d0,d1,...");
}

int do_pack(const PackArgs& a) {
  LoadSpec spec;
  spec.model = a.model;
  spec.weights = a.weights;
  std::string err;
  if (!parse_input_shapes(a.input_shape, "", spec.input_shapes, err)) {
    std::cerr << "kiln: " << err << "\n";
    return 2;
  }
  Engine engine;
  Status s = engine.load("model", spec);
  if (s) s = engine.wait_ready("model", std::chrono::minutes(30));
  if (s) s = engine.export_pack("model", a.output);
  if (!s) {
    std::cerr << "kiln: " << s.message() << "\n";
    return 1;
  }
  auto st = engine.status("model");
  std::printf("wrote %s: %.2f MB of packed weights for architecture %s\n", a.output.c_str(), st->weight_bytes / 1e6,
              st->fingerprint.c_str());
  return 0;
}

}  // namespace kiln::cli
