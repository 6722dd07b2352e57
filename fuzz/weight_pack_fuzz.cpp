// Weight-pack files (.kwp: `kiln pack`, the pack cache) against a real plan: the header, the
// slot table, offsets, checksums. An accepted pack's slots are read whole.
#include <cstdlib>

#include "exec/weights.h"
#include "fuzz/fuzz_util.h"
#include "import/import.h"
#include "ops/compile.h"
#include "weights/pack_file.h"

namespace {

const kiln::Plan& plan() {
  static std::shared_ptr<const kiln::Plan> p = [] {
    auto g = kiln::read_graph(KILN_SOURCE_DIR "/tests/fixtures/errors/tiny_conv.onnx", {});
    if (!g) kiln::fuzz::fail("cannot read tests/fixtures/errors/tiny_conv.onnx");
    auto compiled = kiln::compile_plan(g->model.graph, kiln::CompileOptions{});
    if (!compiled) kiln::fuzz::fail("cannot compile tiny_conv");
    return *compiled;
  }();
  return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto w = kiln::map_pack_file(kiln::fuzz::as_file(data, size, ".kwp"), plan(), kiln::kAnyKey);
  if (!w) return 0;
  volatile uint8_t sum = 0;
  for (size_t s = 0; s < plan().weight_slots.size(); ++s) {
    const auto* p = static_cast<const uint8_t*>((*w)->slot_data(static_cast<int>(s)));
    const size_t n = plan().weight_slots[s].packed_md.get_size();
    for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  }
  return 0;
}
