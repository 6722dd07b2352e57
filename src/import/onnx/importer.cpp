#include "import/onnx/importer.h"
#include "core/status_macros.h"

#include <fstream>
#include <limits>
#include <sstream>

#include <cstring>

namespace kiln::onnx_import {

namespace {
// Opsets 1 to 5 differ from 6 in what translators check per node: legacy broadcasting (to 6),
// Pad's `paddings` (1), Reshape's shape attribute (to 4), Cast's string type (to 5), the
// experimental Upsample (to 6), BatchNormalization's spatial=0 (to 8); `consumed_inputs`
// (to 5) was an optimisation hint with no effect on results.
constexpr int kMinOpset = 1;
constexpr int kMaxOpset = 21;  // 18-21 changed the supported ops' inputs (Pad's axes, Resize's axes and policy)

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}
}  // namespace

const Tensor* Importer::constant(const std::string& name) const {
  auto it = constants_.find(name);
  if (it == constants_.end()) return nullptr;
  if (!it->second.is_aligned()) it->second = it->second.aligned();  // about to be read element-wise
  return &it->second;
}

std::optional<int> Importer::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Expected<int> Importer::value_for(const std::string& name, const std::string& reader) {
  if (auto v = value(name)) return *v;
  if (const Tensor* c = constant(name)) {
    if (c->dtype() != DType::kF32)
      return unsupported(reader + ": input '" + name + "' is a " + dtype_name(c->dtype()) +
                         " constant used as a runtime tensor; kiln computes in float32");
    int id = out_.graph.add_weight(name, DType::kF32, c->shape());
    out_.weights.tensors[name] = *c;
    values_[name] = id;
    return id;
  }
  return invalid_model(reader + ": input '" + name + "' is not produced by any node, input or initializer");
}

Status Importer::import_inputs(const onnx::GraphProto& g, const OnnxFile* file) {
  for (const auto& init : g.initializer()) {
    auto span = file ? file->raw_data.find(init.name()) : decltype(file->raw_data)::const_iterator{};
    if (file && span != file->raw_data.end()) {
      auto t = initializer_from_file(init, *file, span->second, base_dir_);
      if (!t) return t.error().with_context("initializer '" + init.name() + "'");
      constants_[init.name()] = std::move(*t);
      continue;
    }
    auto t = tensor_from_proto(init, base_dir_);
    if (!t) return t.error().with_context("initializer '" + init.name() + "'");
    constants_[init.name()] = std::move(*t);
  }
  for (const auto& in : g.input()) {
    if (constants_.count(in.name())) continue;  // older exporters list initializers as inputs
    if (auto it = options_.constant_inputs.find(in.name()); it != options_.constant_inputs.end()) {
      constants_[in.name()] = it->second;
      continue;
    }
    const auto& tt = in.type().tensor_type();
    if (!in.type().has_tensor_type())
      return unsupported("graph input '" + in.name() + "' is not a tensor");
    // float64 inputs are taken as float32, as float64 constants are: kiln computes in float32.
    if (tt.elem_type() != onnx::TensorProto::FLOAT && tt.elem_type() != onnx::TensorProto::DOUBLE)
      return unsupported("graph input '" + in.name() + "' has element type " + std::to_string(tt.elem_type()) +
                         "; kiln takes float32 inputs (and float64 ones, as float32)");
    auto ov = options_.input_shapes.find(in.name());
    // The empty name stands for "the first input", for single-input models on a command line.
    if (ov == options_.input_shapes.end() && out_.graph.inputs.empty()) ov = options_.input_shapes.find("");
    const auto& dims = tt.shape().dim();
    Shape declared;  // -1: symbolic or missing
    for (int d = 0; d < dims.size(); ++d)
      declared.push_back(dims[d].has_dim_value() && dims[d].dim_value() > 0 ? dims[d].dim_value() : -1);
    int unknown = -1;
    Shape shape = resolve_input_shape(declared, ov == options_.input_shapes.end() ? nullptr : &ov->second, unknown);
    if (unknown >= 0)
      return invalid_argument("graph input '" + in.name() + "' has an unknown size on axis " + std::to_string(unknown) +
                              (unknown < dims.size() ? " ('" + dims[unknown].dim_param() + "')" : std::string()) +
                              "; give its shape explicitly (--input-shape)");
    values_[in.name()] = out_.graph.add_input(in.name(), DType::kF32, shape);
  }
  return Status::ok();
}

Status Importer::import_node(const onnx::NodeProto& n, int opset) {
  NodeContext ctx(*this, n, opset);
  if (!n.domain().empty() && n.domain() != "ai.onnx")
    return ctx.fail("operator domain '" + n.domain() + "' is not supported");
  const OpTable& table = op_table();
  auto it = table.find(n.op_type());
  if (it == table.end()) return ctx.fail("operator is not supported by kiln");
  return it->second(ctx);
}

Expected<ImportedModel> Importer::run(const onnx::ModelProto& model, const OnnxFile* file) {
  int opset = 0;
  for (const auto& os : model.opset_import())
    if (os.domain().empty() || os.domain() == "ai.onnx") opset = static_cast<int>(os.version());
  if (opset == 0) opset = 1;
  if (opset < kMinOpset || opset > kMaxOpset)
    return unsupported("ONNX opset " + std::to_string(opset) + " is not supported (kiln reads opsets " +
                       std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
  out_.opset = opset;
  out_.producer = model.producer_name() + " " + model.producer_version();
  const auto& g = model.graph();
  KILN_RETURN_IF_ERROR(import_inputs(g, file));
  for (const auto& n : g.node()) KILN_RETURN_IF_ERROR(import_node(n, opset));
  for (const auto& o : g.output()) {
    auto v = value(o.name());
    if (!v) {
      if (is_const(o.name()))
        return unsupported("graph output '" + o.name() + "' is a constant (it does not depend on any input)");
      return invalid_model("graph output '" + o.name() + "' is never produced");
    }
    int id = *v;
    // An output that is directly an input or weight gets an identity node so it has storage.
    if (out_.graph.values[id].kind != ValueKind::kActivation) {
      id = out_.graph.add_node(o.name() + "/identity", "Identity", std::monostate{}, {id},
                               out_.graph.values[id].shape);
    }
    out_.graph.values[id].name = o.name();
    out_.graph.mark_output(id);
  }
  if (out_.graph.outputs.empty()) return invalid_model("the graph has no outputs");
  out_.graph.remove_dead();
  KILN_RETURN_IF_ERROR(out_.graph.verify());
  return std::move(out_);
}

}  // namespace kiln::onnx_import

namespace kiln {

namespace {

Expected<ImportedModel> import_parsed(const onnx_import::OnnxFile& file, const std::string& base_dir,
                                      const ImportOptions& options) {
  const onnx::ModelProto& model = file.model;
  if (!model.has_graph() || model.graph().node_size() == 0)
    return invalid_model("not a valid ONNX model: it has no graph nodes");
  if (model.ir_version() <= 0) return invalid_model("not a valid ONNX model: ir_version is missing");
  onnx_import::Importer imp(base_dir, options);
  return imp.run(model, &file);
}

}  // namespace

Expected<ImportedModel> import_onnx_bytes(const std::string& bytes, const std::string& base_dir,
                                          const ImportOptions& options) {
  std::shared_ptr<uint8_t> copy(new uint8_t[std::max<size_t>(bytes.size(), 1)], std::default_delete<uint8_t[]>());
  std::memcpy(copy.get(), bytes.data(), bytes.size());
  KILN_ASSIGN_OR_RETURN(onnx_import::OnnxFile file, onnx_import::parse_onnx_bytes(copy, bytes.size()));
  return import_parsed(file, base_dir, options);
}

Expected<ImportedModel> import_onnx(const std::string& path, const ImportOptions& options) {
  // The file is mapped and initializers view it: no copy of the weights is made here.
  auto file = onnx_import::read_onnx_file(path);
  if (!file) return file.error().with_context("'" + path + "'");
  auto m = import_parsed(*file, onnx_import::dir_of(path), options);
  if (!m) return m.error().with_context("'" + path + "'");
  return m;
}

}  // namespace kiln
