// The process's memory as the kernel counts it: what is resident now, and the most it may
// use (its cgroup's limit, else the machine's memory).
//
//   size_t before = kiln::resident_bytes();
//   ... compile ...
//   size_t grown = kiln::resident_bytes() - before;
//   size_t room = kiln::memory_limit_bytes() - kiln::resident_bytes();
#pragma once

#include <cstddef>

namespace kiln {

size_t resident_bytes();
// cgroup v2 memory.max, else cgroup v1 memory.limit_in_bytes, when lower than the machine's
// memory (a container's limit); else MemTotal.
size_t memory_limit_bytes();

}  // namespace kiln
