// Shared by the fuzz targets (one parser each, fuzz/*_fuzz.cpp). Each defines
// LLVMFuzzerTestOneInput; built with clang's libFuzzer (KILN_FUZZ=ON, scripts/fuzz.sh) it
// fuzzes, built with replay_main.cpp (every build) it replays the inputs under tests/fuzz/
// that once crashed or were seeds, so a fixed crash stays fixed.
//
// What a target asserts: the parser returns, with a value or an error, whatever the bytes;
// it never throws, aborts or touches memory it should not (ASan/UBSan in the fuzz build).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace kiln::fuzz {

// The input as a file the path-taking readers can open (importers, .npy, safetensors,
// packs): one per process and extension, rewritten each time, in /dev/shm when it exists.
inline std::string as_file(const uint8_t* data, size_t size, const std::string& extension) {
  static const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/kiln-fuzz-" + std::to_string(getpid()) + extension;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the machine, not the input: stop rather than test nothing
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// A target's own invariant broke (not a crash the sanitizers see): report and stop.
inline void fail(const char* what) {
  std::fprintf(stderr, "kiln fuzz: %s\n", what);
  std::abort();
}

}  // namespace kiln::fuzz
