// Whole numbers read from untrusted text (file headers, request fields) without exceptions:
// std::stoll throws on "/4" and on overflow, and a throw out of a parser broke the library's
// promise never to throw or abort on bad input (a fuzzed .npy header killed `kiln run`).
//
//   if (auto n = kiln::parse_int64(" 64 ")) use(*n);   // surrounding spaces allowed
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln {

inline std::optional<int64_t> parse_int64(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// a * b for sizes, or nullopt when it would pass `limit`.
inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b, uint64_t limit = UINT64_MAX) {
  if (a != 0 && b > limit / a) return std::nullopt;
  return a * b;
}

}  // namespace kiln
