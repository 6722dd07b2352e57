// The model_config JSON of a Keras .h5 (the layers and their wiring), as stored in the file.
#include <string>

#include "fuzz/fuzz_util.h"
#include "import/keras/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)kiln::keras_import::parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.h5");
  return 0;
}
