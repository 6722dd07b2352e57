#include "core/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <mutex>

namespace kiln {

namespace {

// The kReadZeros mappings alive: [begin, end) address ranges the SIGBUS handler may repair.
// Fixed slots of atomics: the handler runs inside a fault and can take no lock.
struct GuardedRange {
  std::atomic<uintptr_t> begin{0}, end{0};
};
std::array<GuardedRange, 256> g_guarded;
std::atomic<uint64_t> g_truncated_pages{0};
struct sigaction g_previous {};
std::once_flag g_install_once;
std::mutex g_hook_mu;
std::function<void(const std::string&)> g_after_map;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(info->si_addr);
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (GuardedRange& r : g_guarded) {
    const uintptr_t begin = r.begin.load(std::memory_order_acquire), end = r.end.load(std::memory_order_acquire);
    if (begin == 0 || at < begin || at >= end) continue;
    // Everything from this page to the end of the mapping is past the file's new end: zero
    // pages over all of it, in one call (the faulting read then continues).
    const uintptr_t from = at & ~(page - 1);
    void* m = mmap(reinterpret_cast<void*>(from), end - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (m != MAP_FAILED) {
      g_truncated_pages.fetch_add((end - from + page - 1) / page);
      return;
    }
    break;
  }
  // Not one of ours (or not repairable): what would have happened without this handler.
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN && g_previous.sa_handler) {
    g_previous.sa_handler(sig);
    return;
  }
  signal(SIGBUS, SIG_DFL);  // the faulting read runs again and the process ends with SIGBUS
}

void install_handler() {
  struct sigaction a {};
  a.sa_sigaction = on_sigbus;
  a.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&a.sa_mask);
  sigaction(SIGBUS, &a, &g_previous);
}

// A slot for [begin, end); false when all are taken (the mapping then faults as kFault would).
bool guard(uintptr_t begin, uintptr_t end) {
  for (GuardedRange& r : g_guarded) {
    uintptr_t expected = 0;
    if (r.begin.load() == 0 && r.end.compare_exchange_strong(expected, end)) {
      r.begin.store(begin, std::memory_order_release);
      return true;
    }
  }
  return false;
}

void unguard(uintptr_t begin) {
  for (GuardedRange& r : g_guarded)
    if (r.begin.load() == begin) {
      r.begin.store(0);
      r.end.store(0);
      return;
    }
}

}  // namespace

Expected<MappedFile> map_file(const std::string& path, OnTruncation on_truncation) {
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
  const size_t size = f.size;
  const auto begin = reinterpret_cast<uintptr_t>(m);
  const bool guarded = on_truncation == OnTruncation::kReadZeros && (std::call_once(g_install_once, install_handler),
                                                                     guard(begin, begin + size));
  f.data = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(m), [size, guarded](uint8_t* q) {
    if (guarded) unguard(reinterpret_cast<uintptr_t>(q));
    ::munmap(q, size);
  });
  std::function<void(const std::string&)> hook;
  {
    std::lock_guard<std::mutex> lock(g_hook_mu);
    hook = g_after_map;
  }
  if (hook) hook(path);
  return f;
}

uint64_t truncated_pages_read() { return g_truncated_pages.load(); }

std::optional<FileIdentity> file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  FileIdentity id;
  id.device = static_cast<uint64_t>(st.st_dev);
  id.inode = static_cast<uint64_t>(st.st_ino);
  id.size = static_cast<uint64_t>(st.st_size);
  id.modified_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

void set_after_map_hook(std::function<void(const std::string& path)> hook) {
  std::lock_guard<std::mutex> lock(g_hook_mu);
  g_after_map = std::move(hook);
}

}  // namespace kiln
