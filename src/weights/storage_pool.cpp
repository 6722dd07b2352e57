#include "weights/storage_pool.h"

#include "core/memory.h"

namespace kiln {

StoragePool::StoragePool(size_t bytes, size_t max_spares)
    : bytes_(bytes == 0 ? 1 : bytes), max_spares_(max_spares), shared_(std::make_shared<Shared>()) {}

StoragePool::~StoragePool() {
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->closed = true;  // buffers still held by weights are unmapped when released
  for (uint8_t* p : shared_->spares) unmap_populated(p, bytes_);
  shared_->spares.clear();
}

std::shared_ptr<uint8_t> StoragePool::take() {
  uint8_t* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (!shared_->spares.empty()) {
      p = shared_->spares.back();
      shared_->spares.pop_back();
    }
  }
  if (!p) p = map_populated(bytes_);
  if (!p) return nullptr;
  // The deleter holds the pool's state, not the pool: a buffer may outlive its pool.
  std::shared_ptr<Shared> shared = shared_;
  size_t bytes = bytes_, max = max_spares_;
  return std::shared_ptr<uint8_t>(p, [shared, bytes, max](uint8_t* q) {
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (!shared->closed && shared->spares.size() < max) {
        shared->spares.push_back(q);
        return;
      }
    }
    unmap_populated(q, bytes);
  });
}

size_t StoragePool::spare_bytes() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->spares.size() * bytes_;
}

}  // namespace kiln
