// Reading an ONNX file without copying its weights.
//
//   kiln::Expected<kiln::onnx_import::OnnxFile> f = kiln::onnx_import::read_onnx_file("unet.onnx");
//   // f->model is the ModelProto with every initializer's raw_data left out;
//   // f->raw(name) is a Tensor viewing that initializer's bytes in the mapped file.
//
// Protobuf copies every bytes field it parses: 124 MB of weights cost ~250 ms and a second
// copy in memory. So the file is mapped, and a small wire-format pass re-encodes the model
// without the initializers' raw_data, remembering where each one lies in the mapping.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "kiln/status.h"
#include "kiln/tensor.h"
#include "onnx/onnx_pb.h"

namespace kiln::onnx_import {

struct OnnxFile {
  onnx::ModelProto model;
  std::shared_ptr<const uint8_t> mapping;  // keeps the file mapped while tensors view it
  size_t size = 0;
  struct Span { size_t offset, length; };
  std::unordered_map<std::string, Span> raw_data;  // initializer name -> its bytes
};

Expected<OnnxFile> read_onnx_file(const std::string& path);
// An initializer whose raw bytes stayed in the mapping: a view of them when it can be one
// (float32/int64, aligned), else decoded like any TensorProto.
Expected<Tensor> initializer_from_file(const onnx::TensorProto& t, const OnnxFile& file, const OnnxFile::Span& span,
                                       const std::string& base_dir);
Expected<OnnxFile> parse_onnx_bytes(std::shared_ptr<const uint8_t> bytes, size_t size);

}  // namespace kiln::onnx_import
