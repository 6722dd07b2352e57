#include "core/memory.h"

#include <sys/mman.h>

#include <cstdlib>

namespace kiln {

std::shared_ptr<uint8_t> allocate_populated(size_t bytes) {
  if (bytes == 0) bytes = 1;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (!std::getenv("KILN_NO_THP")) ::madvise(p, bytes, MADV_HUGEPAGE);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [bytes](uint8_t* q) { ::munmap(q, bytes); });
}

}  // namespace kiln
