// Image decoding (PNG, JPEG, BMP: kiln run, the segment endpoint's body), as gray and as RGB.
// Images that claim more than a megapixel but no more than kiln decodes are skipped: they are
// valid and only slow (13 s each under ASan), and would leave the fuzzer 45 executions a
// second; claims past the limit still go through, to test their refusal.
#include <string>

#include "fuzz/fuzz_util.h"
#include "kiln/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto claimed = kiln::read_image_size(kiln::fuzz::as_file(data, size, ".img"));
  if (claimed) {
    const int64_t pixels = claimed->height * claimed->width;
    if (pixels > (int64_t{1} << 20) && pixels <= kiln::kMaxImagePixels) return 0;
  }
  for (int channels : {1, 3}) {
    auto t = kiln::decode_image(bytes, channels);
    if (!t) continue;
    const float* v = t->data<float>();
    for (int64_t i = 0; i < t->elements(); ++i)
      if (!(v[i] >= 0.0f && v[i] <= 1.0f)) kiln::fuzz::fail("a decoded pixel outside [0, 1]");
  }
  return 0;
}
