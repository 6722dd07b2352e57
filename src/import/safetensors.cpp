// safetensors: 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data. Mapped, and float32 tensors are viewed in place.
#include "import/safetensors.h"
#include "core/status_macros.h"


#include <cstring>

#include "core/mapped_file.h"

#include <nlohmann/json.hpp>

namespace kiln {

namespace {

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) bits = sign;
    else {  // subnormal: renormalise
      int e = -1;
      do { man <<= 1; ++e; } while (!(man & 0x400));
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

Expected<RawWeights> read_safetensors(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(MappedFile file, map_file(path, OnTruncation::kReadZeros));
  size_t size = file.size;
  std::shared_ptr<uint8_t> mapping = file.data;
  auto bad = [&](const std::string& why) { return invalid_model("'" + path + "' is not a valid safetensors file: " + why); };
  if (size < 8) return bad("shorter than its 8-byte header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, mapping.get(), 8);
  if (header_len > size - 8) return bad("header length " + std::to_string(header_len) + " exceeds the file");
  nlohmann::json header = nlohmann::json::parse(mapping.get() + 8, mapping.get() + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return bad("the header is not a JSON object");
  const uint8_t* data = mapping.get() + 8 + header_len;
  size_t data_size = size - 8 - header_len;
  RawWeights out;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      return bad("entry '" + name + "' lacks dtype, shape or data_offsets");
    std::string dtype = entry["dtype"].is_string() ? entry["dtype"].get<std::string>() : "";
    Shape shape;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) return bad("entry '" + name + "' has a bad shape");
      shape.push_back(d.get<int64_t>());
    }
    const auto& offs = entry["data_offsets"];
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      return bad("entry '" + name + "' has bad data_offsets");
    size_t begin = offs[0].get<size_t>(), end = offs[1].get<size_t>();
    size_t elem = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16") ? 2 : 0;
    if (elem == 0) return unsupported("'" + path + "': tensor '" + name + "' has dtype " + dtype + "; kiln reads F32, F16 and BF16");
    const int64_t elements = shape_elements(shape);  // saturates: a huge shape never fits the file
    if (begin > end || end > data_size || elements > static_cast<int64_t>(data_size) ||
        (end - begin) != static_cast<size_t>(elements) * elem)
      return bad("tensor '" + name + "' has data_offsets [" + std::to_string(begin) + "," + std::to_string(end) +
                 "] that do not fit its shape " + shape_to_string(shape) + " or the file");
    const uint8_t* p = data + begin;
    if (dtype == "F32") {
      if (reinterpret_cast<uintptr_t>(p) % alignof(float) == 0)
        out.tensors[name] = Tensor::view(DType::kF32, shape, mapping, const_cast<uint8_t*>(p));
      else
        out.tensors[name] = Tensor::from_bytes(DType::kF32, shape, p, end - begin);
      continue;
    }
    Tensor t = Tensor::zeros(DType::kF32, shape);
    for (int64_t i = 0; i < t.elements(); ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      if (dtype == "F16") t.data<float>()[i] = half_to_float(h);
      else {
        uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&t.data<float>()[i], &bits, 4);
      }
    }
    out.tensors[name] = std::move(t);
  }
  return out;
}

Status write_safetensors(const std::string& path, const RawWeights& weights) {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& [name, t] : weights.tensors) {
    if (t.dtype() != DType::kF32) return unsupported("write_safetensors: '" + name + "' is not float32");
    header[name] = {{"dtype", "F32"}, {"shape", t.shape()}, {"data_offsets", nlohmann::json::array({offset, offset + t.bytes()})}};
    offset += t.bytes();
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return io_error("cannot write '" + path + "'");
  uint64_t len = h.size();
  bool ok = std::fwrite(&len, 8, 1, f) == 1 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (const auto& [name, t] : weights.tensors) ok = ok && std::fwrite(t.raw(), 1, t.bytes(), f) == t.bytes();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return io_error("writing '" + path + "' failed");
  return Status::ok();
}

}  // namespace kiln
