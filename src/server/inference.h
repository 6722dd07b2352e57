// One inference request as both protocols (HTTP/JSON and gRPC) carry it, once decoded:
// the inputs by name as float32 tensors, the outputs asked for. `infer` checks them against
// the model (names, ranks, the fixed sizes; an image's height and width are free) and runs
// it under the model's admission (model_host.h).
//
//   kiln::serve::InferCall call{.model = "leather", .inputs = {{"input", image}}};
//   kiln::Expected<kiln::serve::InferReply> r = kiln::serve::infer(host, call);
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "server/model_host.h"

namespace kiln::serve {

struct InferInput {
  std::string name;
  Tensor data;  // float32, the shape the request gave
};
struct RequestedOutput {
  std::string name;
  bool binary = false;  // HTTP: raw bytes after the JSON rather than "data"
};
struct InferCall {
  std::string model, id;
  std::vector<InferInput> inputs;
  std::vector<RequestedOutput> outputs;  // empty: every output
  bool binary_output = false;            // every output as raw bytes (HTTP "binary_data_output")
  std::optional<std::chrono::milliseconds> timeout;
};
struct InferOutput {
  std::string name;
  Tensor data;
  bool binary = false;
};
struct InferReply {
  std::vector<InferOutput> outputs;
  RunTimings timings;
};

Expected<InferReply> infer(ModelHost& host, const InferCall& call);

// A tensor's shape as metadata gives it: -1 where requests may differ (an image input's or
// output's height and width: the engine compiles other sizes on first use).
Shape free_shape(const Shape& s, bool channels_last);

// The HTTP status of a failure (400, 404, 503, 504, 500) and the outcome it counts as.
int http_status(const Status& s);
Outcome outcome_of(int http_status);

}  // namespace kiln::serve
