// The KServe v2 HTTP/REST infer request and response, with the binary tensor extension:
// a JSON header, then (when the Inference-Header-Content-Length header says where the JSON
// ends) the raw bytes of every input that has "binary_data_size", in input order.
//
//   auto call = kiln::serve::parse_infer_request("leather", body, header_length, limits);
//   kiln::serve::HttpReply r = kiln::serve::infer_response("leather", *call, *reply);
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "server/inference.h"

namespace kiln::serve {

struct RequestLimits {
  size_t max_json_depth = 32;       // nesting of arrays and objects in a JSON body
  int64_t max_elements = 1 << 28;   // of one tensor, whatever the body's size
};

// Parses JSON refusing deeper nesting than `max_depth` (before it can exhaust the stack).
Expected<nlohmann::json> parse_json(std::string_view text, size_t max_depth);

// `header_length`: the Inference-Header-Content-Length value, when the request has one.
Expected<InferCall> parse_infer_request(const std::string& model, std::string_view body,
                                        std::optional<size_t> header_length, const RequestLimits& limits);

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::optional<size_t> header_length;  // Inference-Header-Content-Length, when binary outputs follow
};
HttpReply infer_response(const InferCall& call, const InferReply& reply);

// JSON text; bytes that are not UTF-8 (a name a client sent) are replaced, never thrown on.
std::string to_text(const nlohmann::json& j);

// {"error": message} with the status that fits the failure.
HttpReply error_reply(const Status& s);
HttpReply error_reply(int status, const std::string& message);

}  // namespace kiln::serve
