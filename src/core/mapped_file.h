// Whole files mapped read-only, and what happens when another process cuts one short while it
// is mapped.
//
//   kiln::Expected<kiln::MappedFile> f = kiln::map_file("w.safetensors", kiln::OnTruncation::kReadZeros);
//   std::optional<kiln::FileIdentity> before = kiln::file_identity("w.safetensors");
//   ... read f->data.get()[0, f->size) ...
//   if (kiln::file_identity("w.safetensors") != before) { /* changed while read: discard */ }
//
// Reading a page of a mapping whose file has been truncated below it raises SIGBUS, which
// kills the process: a server loading a weight file that someone rewrites in place (instead
// of writing elsewhere and renaming) would go down with every model it serves. With
// kReadZeros the pages the file lost read as zeros instead (a SIGBUS handler maps zero pages
// over them), and the reader learns that the file changed by comparing file_identity before
// and after: size and modification time change with any truncation or rewrite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kiln/status.h"

namespace kiln {

// A whole file mapped read-only, read ahead, faulted in as it is read. (Unlike anonymous
// memory, a read fault on a cached file maps 16 pages at once: touching a 7.8 MB file took
// 0.32 ms, MAP_POPULATE 0.66 ms, measured 2026-11-26.) Views into it must never be written.
struct MappedFile {
  std::shared_ptr<uint8_t> data;
  size_t size = 0;
};

// kFault: a page the file lost raises SIGBUS (the default: mappings that live on, the weight
// packs kiln itself writes by renaming, where zeros would be silently wrong weights).
// kReadZeros: it reads as zeros, for files read once, checked with file_identity afterwards.
enum class OnTruncation { kFault, kReadZeros };

Expected<MappedFile> map_file(const std::string& path, OnTruncation on_truncation = OnTruncation::kFault);

// Pages of kReadZeros mappings that read as zeros because their file was cut short.
uint64_t truncated_pages_read();

// What changes when a file is replaced, truncated or written: device, inode, size, and
// modification time to the nanosecond. nullopt: it cannot be stat'ed (gone).
struct FileIdentity {
  uint64_t device = 0, inode = 0, size = 0;
  int64_t modified_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};
std::optional<FileIdentity> file_identity(const std::string& path);

// Fault injection for the tests: called with each path right after it is mapped, before any of
// it is read (a test truncates the file there). Null: none.
void set_after_map_hook(std::function<void(const std::string& path)> hook);

}  // namespace kiln
