// NumPy .npy files (kiln run --input, kiln quantize's calibration sets). An accepted array's
// bytes are read whole.
#include "fuzz/fuzz_util.h"
#include "kiln/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = kiln::read_npy(kiln::fuzz::as_file(data, size, ".npy"));
  if (!t) return 0;
  if (t->bytes() > size) kiln::fuzz::fail("an array larger than its file was accepted");
  volatile uint8_t sum = 0;
  const auto* p = static_cast<const uint8_t*>(t->raw());
  for (size_t i = 0; i < t->bytes(); ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return 0;
}
