// Helpers shared by the tests.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include "kiln/io.h"
#include "kiln/tensor.h"

namespace kiln::testing {

inline std::string source_path(const std::string& rel) { return std::string(KILN_SOURCE_DIR) + "/" + rel; }

// Runs the built `kiln` binary with `args`; its exit code and combined output.
struct CliResult {
  int code;
  std::string output;
};
// `env`: variable assignments for the command ("XDG_CACHE_HOME=/tmp/x"), or "".
inline CliResult run_cli(const std::string& args, const std::string& env = "") {
  std::string cmd = (env.empty() ? "" : "env " + env + " ") + std::string(KILN_CLI_PATH) + " " + args + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.elements() != b.elements()) return INFINITY;
  double m = 0;
  for (int64_t i = 0; i < a.elements(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
  return m;
}

}  // namespace kiln::testing
