#include "core/memory.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels refuse it and the pages are touched
#endif

namespace kiln {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kHugePage = size_t{2} << 20;

// `bytes` of 4 KiB pages, mapped and zero-filled by one system call.
uint8_t* map_small_pages(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

}  // namespace

uint8_t* map_populated(size_t bytes) {
  bytes = bytes == 0 ? 1 : bytes;
  if (bytes < kHugePage) return map_small_pages(bytes);
  // A 2 MiB-aligned range advised for transparent huge pages, then populated: where the
  // kernel has huge pages to give, one fault maps 512 pages.
  const size_t length = (bytes + kPage - 1) / kPage * kPage;
  void* raw = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t end = start + length + kHugePage;
  if (end > aligned + length) ::munmap(reinterpret_cast<void*>(aligned + length), end - (aligned + length));
  auto* p = reinterpret_cast<uint8_t*>(aligned);
  (void)::madvise(p, length, MADV_HUGEPAGE);  // a kernel without THP ignores it: small pages
  if (::madvise(p, length, MADV_POPULATE_WRITE) != 0) {
    if (errno != EINVAL) {  // out of memory: say so, as MAP_POPULATE's failure would
      ::munmap(p, length);
      return nullptr;
    }
    for (size_t i = 0; i < length; i += kPage) reinterpret_cast<volatile uint8_t*>(p)[i] = 0;  // kernel < 5.14
  }
  return p;
}

void unmap_populated(uint8_t* p, size_t bytes) { ::munmap(p, bytes == 0 ? 1 : bytes); }

std::shared_ptr<uint8_t> allocate_populated(size_t bytes) {
  uint8_t* p = map_populated(bytes);
  if (!p) return nullptr;
  return std::shared_ptr<uint8_t>(p, [bytes](uint8_t* q) { unmap_populated(q, bytes); });
}

namespace {
thread_local bool mapped_tensors = false;
}  // namespace

MappedTensorsScope::MappedTensorsScope() : was_active_(mapped_tensors) { mapped_tensors = true; }
MappedTensorsScope::~MappedTensorsScope() { mapped_tensors = was_active_; }
bool MappedTensorsScope::active() { return mapped_tensors; }

}  // namespace kiln
