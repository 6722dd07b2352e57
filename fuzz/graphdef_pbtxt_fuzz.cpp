// TensorFlow GraphDef in protobuf text format: import, optimisation and shape inference.
#include "fuzz/fuzz_util.h"
#include "import/import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::ImportOptions options;
  (void)kiln::read_graph(kiln::fuzz::as_file(data, size, ".pbtxt"), options);
  return 0;
}
