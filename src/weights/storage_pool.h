// Storage for the weight packs of one plan, recycled: a buffer whose weights were unloaded
// or swapped out is kept for the next pack instead of being unmapped.
//
//   kiln::StoragePool pool(packed_weight_bytes(plan), /*max_spares=*/1);
//   std::shared_ptr<uint8_t> s = pool.take();      // a kept buffer, or a fresh one
//   // ... pack into s; when the last Weights using it goes, s returns to the pool.
//
// Why: faulting in fresh anonymous memory is the largest part of packing weights for a
// plan that exists (7.8 MB: 2.4-3.0 ms of ~4 ms, measured on this VM 2026-11-26; huge
// pages were slower, 14.5 ms, as fresh 2 MiB pages fault on the host too). A buffer that
// is reused has its pages already.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace kiln {

class StoragePool {
 public:
  StoragePool(size_t bytes, size_t max_spares);
  ~StoragePool();
  StoragePool(const StoragePool&) = delete;
  StoragePool& operator=(const StoragePool&) = delete;

  size_t buffer_bytes() const { return bytes_; }
  // A spare buffer if there is one, else a freshly populated one; null when out of memory.
  // Contents are unspecified. Released buffers return to the pool while it has room.
  std::shared_ptr<uint8_t> take();
  size_t spare_bytes() const;

 private:
  struct Shared {
    std::mutex mu;
    std::vector<uint8_t*> spares;
    bool closed = false;
  };
  size_t bytes_, max_spares_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace kiln
