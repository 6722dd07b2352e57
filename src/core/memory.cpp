#include "core/memory.h"

#include <sys/mman.h>

namespace kiln {

uint8_t* map_populated(size_t bytes) {
  // One system call maps and zero-fills every page. (Splitting it across threads with
  // MADV_POPULATE_WRITE measured no faster: the kernel serialises on the address space.)
  void* p = ::mmap(nullptr, bytes == 0 ? 1 : bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

void unmap_populated(uint8_t* p, size_t bytes) { ::munmap(p, bytes == 0 ? 1 : bytes); }

std::shared_ptr<uint8_t> allocate_populated(size_t bytes) {
  uint8_t* p = map_populated(bytes);
  if (!p) return nullptr;
  return std::shared_ptr<uint8_t>(p, [bytes](uint8_t* q) { unmap_populated(q, bytes); });
}

}  // namespace kiln

