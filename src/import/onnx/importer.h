#pragma once

#include <map>
#include <string>
#include <unordered_map>

#include "import/onnx/context.h"
#include "import/onnx/onnx_file.h"

namespace kiln::onnx_import {

// State of one import: ONNX names bound either to graph values or to constant tensors.
class Importer {
 public:
  Importer(std::string base_dir, const ImportOptions& options) : base_dir_(std::move(base_dir)), options_(options) {}

  // `file` supplies initializer bytes left out of the proto (see onnx_file.h); may be null.
  Expected<ImportedModel> run(const onnx::ModelProto& model, const OnnxFile* file);

  bool is_const(const std::string& name) const { return constants_.count(name) != 0; }
  const Tensor* constant(const std::string& name) const;
  std::optional<int> value(const std::string& name) const;
  // The graph value for an ONNX name; float constants become weight values on first use.
  Expected<int> value_for(const std::string& name, const std::string& reader);
  void bind_const(const std::string& name, Tensor t) { constants_[name] = std::move(t); }
  void bind_value(const std::string& name, int v) { values_[name] = v; }
  Graph& graph() { return out_.graph; }
  const std::string& base_dir() const { return base_dir_; }

 private:
  Status import_inputs(const onnx::GraphProto& g, const OnnxFile* file);
  Status import_node(const onnx::NodeProto& n, int opset);

  std::string base_dir_;
  const ImportOptions& options_;
  ImportedModel out_;
  mutable std::unordered_map<std::string, Tensor> constants_;  // constant() aligns on first read
  std::unordered_map<std::string, int> values_;
};

}  // namespace kiln::onnx_import
