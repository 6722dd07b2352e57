// Image decoding (PNG, JPEG, BMP: kiln run, the segment endpoint's body), as gray and as RGB.
#include <string>

#include "fuzz/fuzz_util.h"
#include "kiln/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (int channels : {1, 3}) {
    auto t = kiln::decode_image(bytes, channels);
    if (!t) continue;
    const float* v = t->data<float>();
    for (int64_t i = 0; i < t->elements(); ++i)
      if (!(v[i] >= 0.0f && v[i] <= 1.0f)) kiln::fuzz::fail("a decoded pixel outside [0, 1]");
  }
  return 0;
}
