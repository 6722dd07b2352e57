#include "server/kserve_json.h"

#include <type_traits>

#include "server/wire_types.h"

namespace kiln::serve {

using nlohmann::json;

Expected<json> parse_json(std::string_view text, size_t max_depth) {
  bool too_deep = false;
  // The parser reports each value with its depth; stopping at the first too deep one keeps
  // a body of ten thousand '[' from recursing ten thousand levels deep.
  json::parser_callback_t limit = [&](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        static_cast<size_t>(depth) >= max_depth) {
      too_deep = true;
      throw std::runtime_error("too deep");
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), limit);
  } catch (const std::exception& e) {
    if (too_deep) return invalid_argument("the JSON nests deeper than " + std::to_string(max_depth) + " levels");
    return invalid_argument(std::string("the body is not valid JSON: ") + e.what());
  }
}

namespace {

// A parameter of a tensor or of the request, if present and of the right type.
template <typename T>
Expected<std::optional<T>> parameter(const json& owner, const char* name) {
  if (!owner.contains("parameters")) return std::optional<T>();
  const json& p = owner.at("parameters");
  if (!p.is_object()) return invalid_argument("\"parameters\" must be an object");
  if (!p.contains(name)) return std::optional<T>();
  // An integer parameter must be a JSON integer: get<int64_t> of 3.3e94 is undefined
  // behaviour, not an exception (found by fuzzing).
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    if (!p.at(name).is_number_integer()) return invalid_argument(std::string("parameter \"") + name + "\" must be a whole number");
  try {
    return std::optional<T>(p.at(name).get<T>());
  } catch (const json::exception&) {
    return invalid_argument(std::string("parameter \"") + name + "\" has the wrong type");
  }
}

Expected<InferInput> read_input(const json& in, std::string_view binary, size_t& binary_at, const RequestLimits& limits) {
  if (!in.is_object()) return invalid_argument("each of \"inputs\" must be an object");
  InferInput out;
  Shape shape;
  std::string datatype;
  try {
    out.name = in.at("name").get<std::string>();
    const json& dims = in.at("shape");
    if (!dims.is_array()) throw json::type_error::create(302, "shape", &dims);
    for (const json& d : dims) {
      // (get<int64_t> of 8.9e80 is undefined behaviour, found by fuzzing: integers only.)
      if (!d.is_number_integer()) throw json::type_error::create(302, "shape", &d);
      shape.push_back(d.get<int64_t>());
    }
    datatype = in.at("datatype").get<std::string>();
  } catch (const json::exception&) {
    return invalid_argument("an input needs \"name\" (string), \"shape\" (integers) and \"datatype\" (string)");
  }
  auto where = [&](const Status& s) { return s.with_context("input '" + out.name + "'"); };
  auto type = parse_wire_type(datatype);
  if (!type) return where(invalid_argument("datatype '" + datatype + "' is not one kiln takes (FP32, FP16, BF16, FP64, "
                                           "UINT8/16/32/64, INT8/16/32/64, BOOL)"));
  auto n = element_count(shape, limits.max_elements);
  if (!n) return where(n.error());
  auto binary_size = parameter<int64_t>(in, "binary_data_size");
  if (!binary_size) return where(binary_size.error());
  if (binary_size->has_value()) {
    if (in.contains("data")) return where(invalid_argument("has both \"data\" and \"binary_data_size\""));
    const int64_t size = **binary_size;
    if (size < 0 || static_cast<size_t>(size) > binary.size() - binary_at)
      return where(invalid_argument("binary_data_size " + std::to_string(size) + " is more than the " +
                                    std::to_string(binary.size() - binary_at) + " bytes left in the body"));
    auto t = tensor_from_bytes(*type, binary.substr(binary_at, static_cast<size_t>(size)), shape);
    if (!t) return where(t.error());
    binary_at += static_cast<size_t>(size);
    out.data = std::move(*t);
    return out;
  }
  if (!in.contains("data")) return where(invalid_argument("has neither \"data\" nor \"binary_data_size\""));
  auto t = tensor_from_json(*type, in.at("data"), shape);
  if (!t) return where(t.error());
  out.data = std::move(*t);
  return out;
}

}  // namespace

Expected<InferCall> parse_infer_request(const std::string& model, std::string_view body,
                                        std::optional<size_t> header_length, const RequestLimits& limits) {
  if (header_length && *header_length > body.size())
    return invalid_argument("Inference-Header-Content-Length " + std::to_string(*header_length) + " is more than the " +
                            std::to_string(body.size()) + " bytes of the body");
  const std::string_view head = header_length ? body.substr(0, *header_length) : body;
  const std::string_view binary = header_length ? body.substr(*header_length) : std::string_view();
  auto j = parse_json(head, limits.max_json_depth);
  if (!j) return j.error();
  if (!j->is_object()) return invalid_argument("the request must be a JSON object");
  InferCall call;
  call.model = model;
  if (j->contains("id")) {
    if (!j->at("id").is_string()) return invalid_argument("\"id\" must be a string");
    call.id = j->at("id").get<std::string>();
  }
  auto binary_output = parameter<bool>(*j, "binary_data_output");
  if (!binary_output) return binary_output.error();
  call.binary_output = binary_output->value_or(false);
  auto timeout_us = parameter<int64_t>(*j, "timeout");  // Triton's: microseconds
  if (!timeout_us) return timeout_us.error();
  if (timeout_us->has_value() && **timeout_us > 0)
    call.timeout = std::chrono::milliseconds(std::max<int64_t>(1, **timeout_us / 1000));
  if (!j->contains("inputs") || !j->at("inputs").is_array() || j->at("inputs").empty())
    return invalid_argument("the request needs \"inputs\": a non-empty array");
  size_t binary_at = 0;
  for (const json& in : j->at("inputs")) {
    auto input = read_input(in, binary, binary_at, limits);
    if (!input) return input.error();
    call.inputs.push_back(std::move(*input));
  }
  if (binary_at != binary.size())
    return invalid_argument("the body has " + std::to_string(binary.size() - binary_at) +
                            " bytes after the inputs' binary data that no input claims");
  if (j->contains("outputs")) {
    const json& outs = j->at("outputs");
    if (!outs.is_array()) return invalid_argument("\"outputs\" must be an array");
    for (const json& o : outs) {
      if (!o.is_object() || !o.contains("name") || !o.at("name").is_string())
        return invalid_argument("each of \"outputs\" needs a \"name\"");
      auto binary_data = parameter<bool>(o, "binary_data");
      if (!binary_data) return binary_data.error().with_context("output '" + o.at("name").get<std::string>() + "'");
      call.outputs.push_back({o.at("name").get<std::string>(), binary_data->value_or(false)});
    }
  }
  return call;
}

HttpReply infer_response(const InferCall& call, const InferReply& reply) {
  json j;
  j["model_name"] = call.model;
  j["model_version"] = "1";
  if (!call.id.empty()) j["id"] = call.id;
  size_t binary_bytes = 0;
  json outputs = json::array();
  for (const InferOutput& o : reply.outputs) {
    json t;
    t["name"] = o.name;
    t["datatype"] = "FP32";
    t["shape"] = o.data.shape();
    if (o.binary) {
      t["parameters"]["binary_data_size"] = o.data.bytes();
      binary_bytes += o.data.bytes();
    } else {
      const float* v = o.data.data<float>();
      t["data"] = std::vector<float>(v, v + o.data.elements());
    }
    outputs.push_back(std::move(t));
  }
  j["outputs"] = std::move(outputs);
  HttpReply r;
  r.body = to_text(j);
  if (binary_bytes > 0) {  // the raw outputs after the JSON, copied once
    r.header_length = r.body.size();
    r.body.reserve(r.body.size() + binary_bytes);
    for (const InferOutput& o : reply.outputs)
      if (o.binary) r.body.append(static_cast<const char*>(o.data.raw()), o.data.bytes());
    r.content_type = "application/octet-stream";
  }
  return r;
}

std::string to_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

HttpReply error_reply(int status, const std::string& message) {
  HttpReply r;
  r.status = status;
  r.body = to_text(json{{"error", message}});
  return r;
}

HttpReply error_reply(const Status& s) { return error_reply(http_status(s), s.message()); }

}  // namespace kiln::serve
