#include "import/onnx/onnx_file.h"
#include "core/status_macros.h"


#include <limits>

#include "core/mapped_file.h"

#include "import/onnx/context.h"

namespace kiln::onnx_import {

namespace {

// Protobuf field numbers (onnx.proto): ModelProto.graph = 7, GraphProto.initializer = 5,
// TensorProto.name = 8, TensorProto.raw_data = 9.
constexpr uint32_t kModelGraph = 7, kGraphInitializer = 5, kTensorName = 8, kTensorRawData = 9;
constexpr uint32_t kWireVarint = 0, kWireFixed64 = 1, kWireLength = 2, kWireFixed32 = 5;

class Reader {
 public:
  Reader(const uint8_t* p, size_t n, size_t base) : p_(p), end_(p + n), base_(base), start_(p) {}
  bool done() const { return p_ >= end_; }
  size_t offset() const { return base_ + static_cast<size_t>(p_ - start_); }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return false;
      uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Reads one field; `body`/`body_len` is its payload for length-delimited fields.
  bool field(uint32_t& number, uint32_t& wire, const uint8_t*& field_start, const uint8_t*& body, size_t& body_len) {
    field_start = p_;
    uint64_t key;
    if (!varint(key)) return false;
    number = static_cast<uint32_t>(key >> 3);
    wire = static_cast<uint32_t>(key & 7);
    uint64_t v;
    switch (wire) {
      case kWireVarint: return varint(v);
      case kWireFixed64: return skip(8);
      case kWireFixed32: return skip(4);
      case kWireLength:
        if (!varint(v) || v > static_cast<uint64_t>(end_ - p_)) return false;
        body = p_;
        body_len = static_cast<size_t>(v);
        p_ += v;
        return true;
      default: return false;  // groups are not used by ONNX
    }
  }
  const uint8_t* pos() const { return p_; }

 private:
  bool skip(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  size_t base_;
  const uint8_t* start_;
};

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_length_field(std::string& out, uint32_t number, const std::string& body) {
  put_varint(out, (static_cast<uint64_t>(number) << 3) | kWireLength);
  put_varint(out, body.size());
  out += body;
}

Status bad_wire() {
  return invalid_model("not a valid ONNX model: the protobuf does not parse (the file is truncated, corrupt, or not "
                       "an ONNX file)");
}

// Copies a TensorProto without raw_data, recording where raw_data lies.
Status strip_tensor(const uint8_t* p, size_t n, size_t base, std::string& out, OnnxFile& file) {
  Reader r(p, n, base);
  std::string name;
  bool has_raw = false;
  OnnxFile::Span raw{};
  while (!r.done()) {
    uint32_t num, wire;
    const uint8_t *start, *body = nullptr;
    size_t len = 0;
    if (!r.field(num, wire, start, body, len)) return bad_wire();
    if (num == kTensorRawData && wire == kWireLength) {
      has_raw = true;
      raw = {base + static_cast<size_t>(body - p), len};
      continue;
    }
    if (num == kTensorName && wire == kWireLength) name.assign(reinterpret_cast<const char*>(body), len);
    out.append(reinterpret_cast<const char*>(start), static_cast<size_t>(r.pos() - start));
  }
  if (has_raw) file.raw_data[name] = raw;
  return Status::ok();
}

Status strip_graph(const uint8_t* p, size_t n, size_t base, std::string& out, OnnxFile& file) {
  Reader r(p, n, base);
  while (!r.done()) {
    uint32_t num, wire;
    const uint8_t *start, *body = nullptr;
    size_t len = 0;
    if (!r.field(num, wire, start, body, len)) return bad_wire();
    if (num == kGraphInitializer && wire == kWireLength) {
      std::string t;
      KILN_RETURN_IF_ERROR(strip_tensor(body, len, base + static_cast<size_t>(body - p), t, file));
      put_length_field(out, num, t);
      continue;
    }
    out.append(reinterpret_cast<const char*>(start), static_cast<size_t>(r.pos() - start));
  }
  return Status::ok();
}

}  // namespace

Expected<OnnxFile> parse_onnx_bytes(std::shared_ptr<const uint8_t> bytes, size_t size) {
  OnnxFile file;
  file.mapping = std::move(bytes);
  file.size = size;
  const uint8_t* p = file.mapping.get();
  std::string stripped;
  Reader r(p, size, 0);
  while (!r.done()) {
    uint32_t num, wire;
    const uint8_t *start, *body = nullptr;
    size_t len = 0;
    if (!r.field(num, wire, start, body, len)) return bad_wire();
    if (num == kModelGraph && wire == kWireLength) {
      std::string g;
      KILN_RETURN_IF_ERROR(strip_graph(body, len, static_cast<size_t>(body - p), g, file));
      put_length_field(stripped, num, g);
      continue;
    }
    stripped.append(reinterpret_cast<const char*>(start), static_cast<size_t>(r.pos() - start));
  }
  if (!file.model.ParseFromString(stripped)) return bad_wire();
  return file;
}

Expected<OnnxFile> read_onnx_file(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(MappedFile file, map_file(path, OnTruncation::kReadZeros));
  if (file.size == 0) return invalid_model("'" + path + "' is empty");
  size_t size = file.size;
  std::shared_ptr<const uint8_t> mapping = file.data;
  return parse_onnx_bytes(std::move(mapping), size);
}

Expected<Tensor> initializer_from_file(const onnx::TensorProto& t, const OnnxFile& file, const OnnxFile::Span& span,
                                       const std::string& base_dir) {
  const uint8_t* p = file.mapping.get() + span.offset;
  DType dt = t.data_type() == onnx::TensorProto::FLOAT ? DType::kF32
             : t.data_type() == onnx::TensorProto::INT64 ? DType::kI64
                                                         : DType::kU8;  // kU8: not viewable
  Shape shape(t.dims().begin(), t.dims().end());
  bool dims_ok = true;
  for (int64_t d : shape) dims_ok = dims_ok && d >= 0;
  if (dt != DType::kU8 && dims_ok && static_cast<size_t>(shape_elements(shape)) * dtype_size(dt) == span.length) {
    // Large tensors stay views even when raw_data is misaligned (exporters do not align it):
    // copying them would fault in fresh pages for every model loaded, the biggest cost of
    // preparing a model that shares a plan. They are only ever reordered as bytes; small
    // ones, which importers read as shapes and scales, are copied aligned.
    constexpr size_t kViewMisalignedFrom = 64 << 10;
    if (reinterpret_cast<uintptr_t>(p) % dtype_size(dt) == 0 || span.length >= kViewMisalignedFrom)
      return Tensor::view(dt, std::move(shape), std::const_pointer_cast<uint8_t>(file.mapping), const_cast<uint8_t*>(p));
    return Tensor::from_bytes(dt, std::move(shape), p, span.length);
  }
  onnx::TensorProto copy = t;
  copy.set_raw_data(p, span.length);
  return tensor_from_proto(copy, base_dir);
}

}  // namespace kiln::onnx_import
