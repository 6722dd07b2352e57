// A KServe v2 infer request body: JSON (nested or flat data, every wire type) and the binary
// tensor extension, with an Inference-Header-Content-Length taken from the first bytes.
#include <optional>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "server/kserve_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Byte 0: whether there is a header length; byte 1 (scaled): where the JSON ends.
  std::optional<size_t> header_length;
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (data[0] & 1) header_length = body.empty() ? 0 : (static_cast<size_t>(data[1]) * body.size()) / 255;
  kiln::serve::RequestLimits limits;
  limits.max_elements = 1 << 20;
  auto call = kiln::serve::parse_infer_request("m", body, header_length, limits);
  if (call)
    for (const auto& in : call->inputs)
      if (in.data.elements() > limits.max_elements) kiln::fuzz::fail("a tensor past the element limit was accepted");
  return 0;
}
