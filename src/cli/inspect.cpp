// kiln inspect MODEL: inputs, outputs, op histogram, parameters, FLOPs, fingerprint.
#include <CLI/CLI.hpp>

#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "kiln/model.h"

namespace kiln::cli {

void add_inspect(CLI::App& app, InspectArgs& a) {
  auto* c = app.add_subcommand("inspect", "describe a model: I/O, ops, parameters, FLOPs, fingerprint");
  c->add_option("model", a.model, "model file: .onnx, TensorFlow .pb/.pbtxt, Keras .h5")->required();
  c->add_option("--input-shape", a.input_shape, "[name=]d0,d1,...: input size to count FLOPs at");
  add_conv_option(c, a.conv);
  add_precision_option(c, a.precision, a.calibration);
  c->add_flag("--json", a.json, "print JSON");
  c->add_flag("--tensors", a.tensors, "also list every computed tensor by the file's name (for --output-name)");
}

int do_inspect(const InspectArgs& a) {
  ModelOptions opt;
  opt.warm_up = false;
  opt.conv_algorithm = *parse_conv_algorithm(a.conv);
  opt.precision = *parse_precision(a.precision);
  opt.calibration = a.calibration;
  std::string err;
  if (!parse_input_shapes(a.input_shape, "", opt.input_shapes, err)) {
    std::cerr << "kiln: " << err << "\n";
    return 2;
  }
  auto model = Model::load(a.model, opt);
  if (!model) { std::cerr << "kiln: " << model.error().message() << "\n"; return 1; }
  const ModelInfo& i = model->info();
  if (a.json) {
    nlohmann::json j;
    for (const auto& t : i.inputs) j["inputs"].push_back({{"name", t.name}, {"shape", t.shape}});
    for (const auto& t : i.outputs) j["outputs"].push_back({{"name", t.name}, {"shape", t.shape}});
    j["ops"] = i.source_ops;
    j["optimizations"] = i.optimizations;
    j["parameters"] = i.parameters;
    j["weight_bytes"] = i.weight_bytes;
    j["flops"] = i.flops;
    j["fingerprint"] = i.fingerprint;
    j["model_format"] = model_format_name(i.fingerprint);  // for ModelMesh placement (docs/deploy.md)
    j["producer"] = i.producer;
    j["opset"] = i.opset;
    j["plan_steps"] = i.steps;
    j["reference_steps"] = i.reference_steps;
    j["arena_bytes"] = i.arena_bytes;
    j["conv_variants"] = i.conv_variants;
    j["conv_ms"] = i.conv_ms;
    j["conv_fp32_direct_ms"] = i.conv_fp32_direct_ms;
    j["timings_measured"] = i.timings_measured;
    if (!i.slower_than_fp32.empty()) j["note"] = i.slower_than_fp32;
    if (a.tensors)
      for (const auto& t : i.tensors) j["tensors"].push_back({{"name", t.name}, {"shape", t.shape}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::string opset = i.opset > 0 ? " (opset " + std::to_string(i.opset) + ")" : "";
  std::printf("model         %s\nproducer      %s%s\nfingerprint   %s (model format %s)\n", a.model.c_str(),
              i.producer.c_str(), opset.c_str(), i.fingerprint.c_str(), model_format_name(i.fingerprint).c_str());
  for (const auto& t : i.inputs) std::printf("input         %s %s\n", t.name.c_str(), shape_to_string(t.shape).c_str());
  for (const auto& t : i.outputs) std::printf("output        %s %s\n", t.name.c_str(), shape_to_string(t.shape).c_str());
  std::printf("parameters    %lld (%.2f MB packed)\n", static_cast<long long>(i.parameters), i.weight_bytes / 1e6);
  std::printf("FLOPs         %.3f G per run at these shapes\n", i.flops / 1e9);
  std::printf("ops           ");
  for (const auto& [op, n] : i.source_ops) std::printf("%s x%d  ", op.c_str(), n);
  std::printf("\noptimisations ");
  for (const auto& [rule, n] : i.optimizations) std::printf("%s x%d  ", rule.c_str(), n);
  std::printf("\nplan          %zu steps (%zu on reference kernels), arena %.2f MB\n", i.steps, i.reference_steps,
              i.arena_bytes / 1e6);
  std::printf("convolutions  %s\n", conv_summary(i).c_str());
  print_plan_note(i);
  if (a.tensors) {
    std::printf("tensors       (names --output-name takes)\n");
    for (const auto& t : i.tensors) std::printf("  %-50s %s\n", t.name.c_str(), shape_to_string(t.shape).c_str());
  }
  return 0;
}

}  // namespace kiln::cli
