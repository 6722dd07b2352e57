#include "server/inference.h"

#include <set>

namespace kiln::serve {

Shape free_shape(const Shape& s, bool channels_last) {
  Shape out = s;
  if (out.size() == 4) out[channels_last ? 1 : 2] = out[channels_last ? 2 : 3] = -1;
  return out;
}

int http_status(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOk: return 200;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kInvalidModel:
    case ErrorCode::kUnsupported: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kDeadlineExceeded: return 504;
    case ErrorCode::kIo:
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

Outcome outcome_of(int status) {
  if (status < 400) return Outcome::kSuccess;
  if (status == 503) return Outcome::kRejected;
  if (status == 504) return Outcome::kTimedOut;
  return status < 500 ? Outcome::kClientError : Outcome::kServerError;
}

namespace {

std::string names(const std::vector<TensorInfo>& ts) {
  std::string s;
  for (const TensorInfo& t : ts) s += (s.empty() ? "'" : ", '") + t.name + "'";
  return s;
}

// The request's tensor against what the model takes: rank and the sizes that are fixed.
Status check_input(const TensorInfo& want, const Shape& got, bool channels_last) {
  const Shape free = free_shape(want.shape, channels_last);
  bool ok = got.size() == free.size();
  for (size_t i = 0; ok && i < got.size(); ++i) ok = free[i] < 0 ? got[i] > 0 : got[i] == free[i];
  if (!ok)
    return invalid_argument("input '" + want.name + "' has shape " + shape_to_string(got) + "; the model takes " +
                            shape_to_string(free) + " (-1: any size)");
  return Status::ok();
}

}  // namespace

Expected<InferReply> infer(ModelHost& host, const InferCall& call) {
  auto info = host.info(call.model);
  if (!info) return info.error();
  if (call.inputs.size() != info->inputs.size())
    return invalid_argument("model '" + call.model + "' takes " + std::to_string(info->inputs.size()) + " input(s) (" +
                            names(info->inputs) + "); the request has " + std::to_string(call.inputs.size()));
  std::vector<Tensor> ordered(info->inputs.size());
  std::set<std::string> seen;
  for (const InferInput& in : call.inputs) {
    if (!seen.insert(in.name).second) return invalid_argument("input '" + in.name + "' is given twice");
    size_t k = 0;
    while (k < info->inputs.size() && info->inputs[k].name != in.name) ++k;
    if (k == info->inputs.size())
      return invalid_argument("model '" + call.model + "' has no input '" + in.name + "' (its inputs: " +
                              names(info->inputs) + ")");
    if (Status s = check_input(info->inputs[k], in.data.shape(), info->channels_last); !s) return s;
    ordered[k] = in.data;
  }
  // Outputs asked for, checked before computing.
  std::vector<std::pair<size_t, bool>> wanted;  // output index, binary
  if (call.outputs.empty()) {
    for (size_t k = 0; k < info->outputs.size(); ++k) wanted.emplace_back(k, call.binary_output);
  } else {
    for (const RequestedOutput& o : call.outputs) {
      size_t k = 0;
      while (k < info->outputs.size() && info->outputs[k].name != o.name) ++k;
      if (k == info->outputs.size())
        return invalid_argument("model '" + call.model + "' has no output '" + o.name + "' (its outputs: " +
                                names(info->outputs) + ")");
      wanted.emplace_back(k, o.binary || call.binary_output);
    }
  }
  InferReply reply;
  auto outs = host.run(call.model, ordered, reply.timings, call.timeout);
  if (!outs) return outs.error();
  for (const auto& [k, binary] : wanted) reply.outputs.push_back({info->outputs[k].name, (*outs)[k], binary});
  return reply;
}

}  // namespace kiln::serve
