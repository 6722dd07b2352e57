// ONNX import, optimisation and shape inference of any bytes (the server reads model files
// from its repository; a model file is a parser input like any other).
#include "fuzz/fuzz_util.h"
#include "import/import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::ImportOptions options;
  auto g = kiln::read_graph(kiln::fuzz::as_file(data, size, ".onnx"), options);
  if (g && g->model.graph.nodes.empty() && g->model.graph.outputs.empty()) kiln::fuzz::fail("an empty graph was accepted");
  return 0;
}
