// safetensors weight files: the JSON header, offsets and types. An accepted file's tensors
// are read whole, so that a view past the mapping's end shows (ASan, or a fault).
#include "fuzz/fuzz_util.h"
#include "import/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto w = kiln::read_safetensors(kiln::fuzz::as_file(data, size, ".safetensors"));
  if (!w) return 0;
  volatile uint8_t sum = 0;
  for (const auto& [name, t] : w->tensors) {
    const auto* p = static_cast<const uint8_t*>(t.raw());
    for (size_t i = 0; i < t.bytes(); i += 64) sum = static_cast<uint8_t>(sum + p[i]);
    if (t.bytes() > 0) sum = static_cast<uint8_t>(sum + p[t.bytes() - 1]);
  }
  return 0;
}
