// NumPy .npy v1/v2/v3, little-endian, C order; float32/float64/int64/int32/uint8/bool.
#include <cstring>
#include <fstream>
#include <sstream>

#include "kiln/io.h"
#include "core/numbers.h"
#include "core/status_macros.h"

namespace kiln {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

Expected<DType> dtype_of(const std::string& descr) {
  if (descr == "<f4") return DType::kF32;
  if (descr == "<f8") return DType::kF64;
  if (descr == "<i8") return DType::kI64;
  if (descr == "<i4") return DType::kI32;
  if (descr == "|u1") return DType::kU8;
  if (descr == "|b1") return DType::kBool;
  return unsupported("npy dtype '" + descr + "' is not supported (use little-endian float32)");
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::kF32: return "<f4";
    case DType::kF64: return "<f8";
    case DType::kI64: return "<i8";
    case DType::kI32: return "<i4";
    case DType::kU8: return "|u1";
    case DType::kBool: return "|b1";
    default: return nullptr;
  }
}

std::string field(const std::string& header, const std::string& key) {
  auto k = header.find("'" + key + "'");
  if (k == std::string::npos) return {};
  auto colon = header.find(':', k);
  return colon == std::string::npos ? std::string() : header.substr(colon + 1);
}

}  // namespace

Expected<Tensor> read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open '" + path + "'");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& why) { return invalid_argument("'" + path + "' is not a valid .npy file: " + why); };
  if (all.size() < 10 || all.compare(0, kMagicLen, kMagic, kMagicLen) != 0) return bad("no NUMPY magic");
  uint8_t major = static_cast<uint8_t>(all[6]);
  size_t header_len, start;
  if (major == 1) {
    header_len = static_cast<uint8_t>(all[8]) | (static_cast<uint8_t>(all[9]) << 8);
    start = 10;
  } else {
    if (all.size() < 12) return bad("truncated header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(all[8 + i])) << (8 * i);
    start = 12;
  }
  if (start + header_len > all.size()) return bad("truncated header");
  std::string header = all.substr(start, header_len);
  std::string d = field(header, "descr");
  auto q1 = d.find('\''), q2 = d.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos) return bad("no descr");
  KILN_ASSIGN_OR_RETURN(DType dt, dtype_of(d.substr(q1 + 1, q2 - q1 - 1)));
  if (field(header, "fortran_order").find("True") < field(header, "fortran_order").find(','))
    return unsupported("'" + path + "': Fortran-order arrays are not supported");
  std::string s = field(header, "shape");
  auto p1 = s.find('('), p2 = s.find(')');
  if (p1 == std::string::npos || p2 == std::string::npos) return bad("no shape");
  Shape shape;
  std::stringstream ss(s.substr(p1 + 1, p2 - p1 - 1));
  std::string item;
  uint64_t elements = 1;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    std::optional<int64_t> dim = parse_int64(item);
    if (!dim || *dim < 0) return bad("shape entry '" + item + "' is not a size");
    std::optional<uint64_t> n = checked_mul(elements, static_cast<uint64_t>(*dim), uint64_t{1} << 48);
    if (!n) return bad("shape " + s.substr(p1, p2 - p1 + 1) + " is too large");
    elements = *n;
    shape.push_back(*dim);
  }
  size_t data_start = start + header_len;
  size_t need = static_cast<size_t>(elements) * dtype_size(dt);
  if (all.size() - data_start < need)
    return bad("data is truncated (" + std::to_string(all.size() - data_start) + " of " + std::to_string(need) + " bytes)");
  return Tensor::from_bytes(dt, shape, all.data() + data_start, need);
}

Status write_npy(const std::string& path, const Tensor& t) {
  const char* descr = descr_of(t.dtype());
  if (!descr) return unsupported(std::string("writing ") + dtype_name(t.dtype()) + " to .npy");
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += std::to_string(t.shape()[i]) + ",";
  if (t.shape().size() > 1) shape.pop_back();
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = kMagicLen + 4 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) return io_error("cannot write '" + path + "'");
  f.write(kMagic, kMagicLen);
  char ver[2] = {1, 0};
  f.write(ver, 2);
  uint16_t len = static_cast<uint16_t>(header.size());
  char lenb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  f.write(lenb, 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.bytes()));
  if (!f) return io_error("writing '" + path + "' failed");
  return Status::ok();
}

}  // namespace kiln
