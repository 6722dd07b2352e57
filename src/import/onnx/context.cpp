#include <cmath>
#include <cstring>
#include <fstream>

#include "import/onnx/importer.h"
#include "core/numbers.h"
#include "core/status_macros.h"

namespace kiln::onnx_import {

std::string NodeContext::name() const {
  if (!node_.name().empty()) return node_.name();
  return node_.output_size() ? node_.output(0) : std::string("?");
}

const onnx::AttributeProto* NodeContext::find_attr(const std::string& n) const {
  for (const auto& a : node_.attribute())
    if (a.name() == n) return &a;
  return nullptr;
}

int64_t NodeContext::attr_int(const std::string& n, int64_t def) const {
  const auto* a = find_attr(n);
  return a ? a->i() : def;
}

float NodeContext::attr_float(const std::string& n, float def) const {
  const auto* a = find_attr(n);
  return a ? a->f() : def;
}

std::string NodeContext::attr_string(const std::string& n, const std::string& def) const {
  const auto* a = find_attr(n);
  return a ? a->s() : def;
}

std::vector<int64_t> NodeContext::attr_ints(const std::string& n, std::vector<int64_t> def) const {
  const auto* a = find_attr(n);
  if (!a) return def;
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> NodeContext::attr_floats(const std::string& n) const {
  const auto* a = find_attr(n);
  if (!a) return {};
  return {a->floats().begin(), a->floats().end()};
}

bool NodeContext::is_const(size_t i) const {
  return has_input(i) && imp_.is_const(node_.input(static_cast<int>(i)));
}

Expected<Tensor> NodeContext::const_value(size_t i) const {
  if (!has_input(i)) return bad("input " + std::to_string(i) + " is missing");
  const std::string& in = node_.input(static_cast<int>(i));
  if (const Tensor* t = imp_.constant(in)) return *t;
  return fail("input " + std::to_string(i) + " ('" + in + "') must be a constant, but it is computed at run time");
}

Expected<std::vector<int64_t>> NodeContext::const_ints(size_t i) const {
  KILN_ASSIGN_OR_RETURN(Tensor t, const_value(i));
  return t.to_i64();
}

Expected<Shape> NodeContext::shape(size_t i) const {
  if (!has_input(i)) return bad("input " + std::to_string(i) + " is missing");
  const std::string& in = node_.input(static_cast<int>(i));
  if (const Tensor* t = imp_.constant(in)) return t->shape();
  if (auto v = imp_.value(in)) return imp_.graph().values[*v].shape;
  return bad("input '" + in + "' is not produced by any earlier node");
}

Expected<DType> NodeContext::dtype(size_t i) const {
  if (!has_input(i)) return bad("input " + std::to_string(i) + " is missing");
  const std::string& in = node_.input(static_cast<int>(i));
  if (const Tensor* t = imp_.constant(in)) return t->dtype();
  if (auto v = imp_.value(in)) return imp_.graph().values[*v].dtype;
  return bad("input '" + in + "' is not produced by any earlier node");
}

Status NodeContext::emit(OpAttrs attrs, const std::vector<size_t>& onnx_inputs) {
  if (node_.output_size() < 1) return bad("has no outputs");
  // (A node with fewer inputs than its op reads was indexed past its list: fuzzing.)
  std::vector<std::string> operands;
  for (size_t i : onnx_inputs) {
    if (!has_input(i)) return bad("input " + std::to_string(i) + " is missing");
    operands.push_back(input_name(i));
  }
  return add(std::move(attrs), operands, name(), node_.output(0));
}

Expected<std::string> NodeContext::step(OpAttrs attrs, const std::vector<std::string>& operands, const std::string& what) {
  if (node_.output_size() < 1) return bad("has no outputs");
  // Named after the node's first output, marked as kiln's ("<output>/kiln:<what><n>").
  const std::string step_name = name() + "/" + what + std::to_string(steps_);
  std::string result = node_.output(0) + "/kiln:" + what + std::to_string(steps_++);
  KILN_RETURN_IF_ERROR(add(std::move(attrs), operands, step_name, result));
  return result;
}

Status NodeContext::add(OpAttrs attrs, const std::vector<std::string>& operands, const std::string& node_name,
                        const std::string& result) {
  const std::string where = "node '" + name() + "' (" + op() + ")";
  bool all_const = true;
  for (const std::string& o : operands) all_const = all_const && imp_.is_const(o);
  if (all_const) {
    std::vector<Tensor> ins;
    for (const std::string& o : operands) ins.push_back(*imp_.constant(o));
    auto folded = fold_constant(attrs, ins);
    if (!folded) return folded.error().with_context(where);
    imp_.bind_const(result, std::move(*folded));
    return Status::ok();
  }
  std::vector<int> ids;
  std::vector<Shape> shapes;
  for (const std::string& o : operands) {
    KILN_ASSIGN_OR_RETURN(int id, imp_.value_for(o, where));
    ids.push_back(id);
    shapes.push_back(imp_.graph().values[id].shape);
  }
  auto out_shape = infer_shape(attrs, shapes);
  if (!out_shape) return out_shape.error().with_context(where);
  int out = imp_.graph().add_node(node_name, op(), std::move(attrs), std::move(ids), *out_shape, result);
  imp_.bind_value(result, out);
  return Status::ok();
}

std::string NodeContext::constant_operand(Tensor value) {
  std::string operand = node_.output_size() > 0 ? node_.output(0) : name();
  operand += "/kiln:constant" + std::to_string(steps_++);
  imp_.bind_const(operand, std::move(value));
  return operand;
}

Status NodeContext::output(size_t out, const std::string& operand) {
  if (static_cast<int>(out) >= node_.output_size()) return bad("missing output " + std::to_string(out));
  const std::string& dst = node_.output(static_cast<int>(out));
  if (dst.empty()) return Status::ok();  // an omitted optional output
  if (const Tensor* t = imp_.constant(operand)) {
    imp_.bind_const(dst, *t);
    return Status::ok();
  }
  if (auto v = imp_.value(operand)) {
    imp_.bind_value(dst, *v);
    return Status::ok();
  }
  return bad("'" + operand + "' is not produced by any earlier node");
}

Expected<Shape> NodeContext::operand_shape(const std::string& operand) const {
  if (const Tensor* t = imp_.constant(operand)) return t->shape();
  if (auto v = imp_.value(operand)) return imp_.graph().values[*v].shape;
  return bad("operand '" + operand + "' is not produced by any earlier node");
}

Status NodeContext::set_const(size_t out, Tensor value) {
  if (static_cast<int>(out) >= node_.output_size()) return bad("missing output " + std::to_string(out));
  imp_.bind_const(node_.output(static_cast<int>(out)), std::move(value));
  return Status::ok();
}

Status NodeContext::alias(size_t out, size_t in) {
  if (!has_input(in)) return bad("input " + std::to_string(in) + " is missing");
  return output(out, input_name(in));
}

Status NodeContext::fail(const std::string& what) const {
  return unsupported("node '" + name() + "' (" + op() + "): " + what);
}

Status NodeContext::bad(const std::string& what) const {
  return invalid_model("node '" + name() + "' (" + op() + "): " + what);
}

namespace {

Expected<DType> dtype_from_onnx(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DType::kF32;
    case onnx::TensorProto::DOUBLE: return DType::kF64;
    case onnx::TensorProto::INT64: return DType::kI64;
    case onnx::TensorProto::INT32: return DType::kI32;
    case onnx::TensorProto::INT8: return DType::kI8;
    case onnx::TensorProto::UINT8: return DType::kU8;
    case onnx::TensorProto::BOOL: return DType::kBool;
    case onnx::TensorProto::FLOAT16: return DType::kF16;
    default: return unsupported("tensor element type " + std::to_string(t) + " is not supported");
  }
}

Expected<std::string> read_external(const onnx::TensorProto& t, const std::string& base_dir, size_t want) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset" || kv.key() == "length") {
      std::optional<int64_t> n = parse_int64(kv.value());
      if (!n || *n < 0) return invalid_model("external data " + kv.key() + " '" + kv.value() + "' is not a byte count");
      (kv.key() == "offset" ? offset : length) = *n;
    }
  }
  if (location.empty()) return invalid_model("external data without a location");
  if (location.find("..") != std::string::npos || location[0] == '/')
    return invalid_model("external data location '" + location + "' leaves the model's directory");
  std::string path = base_dir + "/" + location;
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("external data file '" + path + "' cannot be opened");
  f.seekg(0, std::ios::end);
  int64_t file_size = static_cast<int64_t>(f.tellg());
  size_t n = length >= 0 ? static_cast<size_t>(length) : want;
  if (offset < 0 || offset + static_cast<int64_t>(n) > file_size)
    return invalid_model("external data file '" + path + "' is shorter than the tensor needs");
  f.seekg(offset);
  std::string buf(n, '\0');
  f.read(buf.data(), static_cast<std::streamsize>(n));
  if (static_cast<size_t>(f.gcount()) != n)
    return invalid_model("external data file '" + path + "' is shorter than the tensor needs");
  return buf;
}

}  // namespace

Expected<Tensor> tensor_from_proto(const onnx::TensorProto& t, const std::string& base_dir) {
  KILN_ASSIGN_OR_RETURN(DType dt, dtype_from_onnx(t.data_type()));
  Shape shape(t.dims().begin(), t.dims().end());
  constexpr int64_t kMaxElements = int64_t{1} << 36;  // far beyond any real weight; stops overflow
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_model("negative dimension in tensor '" + t.name() + "'");
    if (d > 0 && count > kMaxElements / d) return invalid_model("tensor '" + t.name() + "' is impossibly large");
    count *= d;
  }
  size_t n = static_cast<size_t>(count);
  size_t want = n * dtype_size(dt);
  auto check = [&](size_t have) -> Status {
    if (have != n)
      return invalid_model("tensor '" + t.name() + "' holds " + std::to_string(have) + " values but its shape " +
                           shape_to_string(shape) + " needs " + std::to_string(n));
    return Status::ok();
  };
  std::string external;
  const std::string* raw_ptr = nullptr;  // the proto's own bytes when inline: no copy
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    KILN_ASSIGN_OR_RETURN(external, read_external(t, base_dir, want));
    raw_ptr = &external;
  } else if (t.has_raw_data()) {
    raw_ptr = &t.raw_data();
  }
  bool has_raw = raw_ptr != nullptr;
  const std::string& raw = has_raw ? *raw_ptr : external;
  if (has_raw) {
    if (raw.size() != want)
      return invalid_model("tensor '" + t.name() + "' has " + std::to_string(raw.size()) + " bytes of data, its shape " +
                           shape_to_string(shape) + " needs " + std::to_string(want));
    if (dt != DType::kF16) return Tensor::from_bytes(dt, shape, raw.data(), want);
    Tensor out = Tensor::zeros(DType::kF32, shape);
    {
      const auto* h = reinterpret_cast<const uint16_t*>(raw.data());
      float* o = out.data<float>();
      for (size_t i = 0; i < n; ++i) {
        uint32_t sign = (h[i] & 0x8000u) << 16, exp = (h[i] >> 10) & 0x1f, man = h[i] & 0x3ff;
        float v;
        if (exp == 0) v = std::ldexp(static_cast<float>(man), -24);
        else if (exp == 31) v = man ? NAN : INFINITY;
        else v = std::ldexp(static_cast<float>(man | 0x400), static_cast<int>(exp) - 25);
        o[i] = sign ? -v : v;
      }
    }
    return out;
  }
  size_t field_count = 0;
  switch (dt) {
    case DType::kF32: field_count = t.float_data_size(); break;
    case DType::kF64: field_count = t.double_data_size(); break;
    case DType::kI64: field_count = t.int64_data_size(); break;
    default: field_count = t.int32_data_size(); break;
  }
  KILN_RETURN_IF_ERROR(check(field_count));
  Tensor out = Tensor::zeros(dt == DType::kF16 ? DType::kF32 : dt, shape);
  switch (dt) {
    case DType::kF32:
      KILN_RETURN_IF_ERROR(check(t.float_data_size()));
      std::copy(t.float_data().begin(), t.float_data().end(), out.data<float>());
      break;
    case DType::kF64:
      KILN_RETURN_IF_ERROR(check(t.double_data_size()));
      std::copy(t.double_data().begin(), t.double_data().end(), out.data<double>());
      break;
    case DType::kI64:
      KILN_RETURN_IF_ERROR(check(t.int64_data_size()));
      std::copy(t.int64_data().begin(), t.int64_data().end(), out.data<int64_t>());
      break;
    case DType::kI32:
      KILN_RETURN_IF_ERROR(check(t.int32_data_size()));
      std::copy(t.int32_data().begin(), t.int32_data().end(), out.data<int32_t>());
      break;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool:
      KILN_RETURN_IF_ERROR(check(t.int32_data_size()));
      for (size_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = static_cast<uint8_t>(t.int32_data(static_cast<int>(i)));
      break;
    case DType::kF16: {
      return unsupported("float16 tensor '" + t.name() + "' stored in int32_data");
    }
    default:
      return unsupported("tensor '" + t.name() + "' element type");
  }
  return out;
}

}  // namespace kiln::onnx_import
