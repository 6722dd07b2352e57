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

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln {

Expected<MappedFile> map_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found("cannot open '" + path + "'");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return io_error("cannot stat '" + path + "'");
  }
  MappedFile f;
  f.size = static_cast<size_t>(st.st_size);
  if (f.size == 0) {
    ::close(fd);
    f.data = std::shared_ptr<uint8_t>(new uint8_t[1], std::default_delete<uint8_t[]>());
    return f;
  }
  void* m = ::mmap(nullptr, f.size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return io_error("cannot map '" + path + "'");
  ::madvise(m, f.size, MADV_WILLNEED);  // start reading ahead if it is not in the page cache
  size_t size = f.size;
  f.data = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(m), [size](uint8_t* q) { ::munmap(q, size); });
  return f;
}

}  // namespace kiln
