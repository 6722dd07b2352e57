#include "exec/weights.h"

namespace kiln {

std::shared_ptr<const Weights> Weights::from_storage(std::shared_ptr<uint8_t> storage, std::vector<size_t> offsets,
                                                    size_t bytes, uint64_t plan_layout, bool mapped) {
  auto w = std::make_shared<Weights>();
  w->storage_ = std::move(storage);
  w->offsets_ = std::move(offsets);
  w->bytes_ = bytes;
  w->layout_ = plan_layout;
  w->mapped_ = mapped;
  return w;
}

}  // namespace kiln
