#include "core/process_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

namespace kiln {

namespace {

// A number of bytes from a one-line file ("max" and anything unreadable: none).
size_t bytes_in(const char* path) {
  std::ifstream f(path);
  std::string text;
  if (!(f >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<size_t>(std::stoull(text));
}

size_t machine_memory_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  size_t kib = 0;
  while (f >> key >> kib) {
    if (key == "MemTotal:") return kib << 10;
    f.ignore(256, '\n');
  }
  return static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

size_t resident_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

size_t memory_limit_bytes() {
  const size_t machine = machine_memory_bytes();
  size_t limit = machine;
  // A cgroup without a limit says "max" (v2) or a huge number (v1): both leave the machine's.
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"})
    if (size_t b = bytes_in(path); b > 0) limit = std::min(limit, b);
  return limit;
}

}  // namespace kiln
