#include "server/grpc_api.h"

#include "server/clock.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "server/documents.h"
#include "server/grpc_status.h"
#include "server/inference.h"
#include "server/proto/grpc_predict_v2.grpc.pb.h"
#include "server/wire_types.h"

namespace kiln::serve {

namespace {

// The model a call is for: as ModelMesh's runtime, the mm-model-id header names it
// (mm-model-id-bin for ids that are not ASCII) and wins over the request's own field.
std::string model_named(const grpc::ServerContext* ctx, const std::string& field, bool model_runtime) {
  if (!model_runtime) return field;
  const auto& md = ctx->client_metadata();
  for (const char* key : {"mm-model-id", "mm-model-id-bin"})
    if (auto it = md.find(key); it != md.end()) return std::string(it->second.data(), it->second.size());
  return field;
}

Expected<std::string> model_of(const std::string& name, const std::string& version) {
  if (!version.empty() && version != "1")
    return not_found("model '" + name + "' has one version, 1; not '" + version + "'");
  return name;
}

// A typed tensor of the request as float32.
Expected<Tensor> typed_input(const inference::ModelInferRequest::InferInputTensor& in, WireType type, const Shape& shape) {
  const inference::InferTensorContents& c = in.contents();
  switch (type) {
    case WireType::kFP32: return tensor_from_values(c.fp32_contents().begin(), c.fp32_contents().end(), shape);
    case WireType::kFP64: return tensor_from_values(c.fp64_contents().begin(), c.fp64_contents().end(), shape);
    case WireType::kINT8:
    case WireType::kINT16:
    case WireType::kINT32: return tensor_from_values(c.int_contents().begin(), c.int_contents().end(), shape);
    case WireType::kINT64: return tensor_from_values(c.int64_contents().begin(), c.int64_contents().end(), shape);
    case WireType::kUINT8:
    case WireType::kUINT16:
    case WireType::kUINT32: return tensor_from_values(c.uint_contents().begin(), c.uint_contents().end(), shape);
    case WireType::kUINT64: return tensor_from_values(c.uint64_contents().begin(), c.uint64_contents().end(), shape);
    case WireType::kBOOL: return tensor_from_values(c.bool_contents().begin(), c.bool_contents().end(), shape);
    case WireType::kFP16:
    case WireType::kBF16: break;
  }
  return invalid_argument(std::string(wire_type_name(type)) + " travels as raw_input_contents only");
}

Expected<InferCall> decode(const inference::ModelInferRequest& req, const std::string& model, const RequestLimits& limits) {
  InferCall call;
  auto name = model_of(model, req.model_version());
  if (!name) return name.error();
  call.model = *name;
  call.id = req.id();
  const bool raw = req.raw_input_contents_size() > 0;
  if (raw && req.raw_input_contents_size() != req.inputs_size())
    return invalid_argument("raw_input_contents has " + std::to_string(req.raw_input_contents_size()) +
                            " entries for " + std::to_string(req.inputs_size()) + " inputs");
  if (req.inputs_size() == 0) return invalid_argument("the request has no inputs");
  for (int i = 0; i < req.inputs_size(); ++i) {
    const auto& in = req.inputs(i);
    auto where = [&](const Status& s) { return s.with_context("input '" + in.name() + "'"); };
    auto type = parse_wire_type(in.datatype());
    if (!type) return where(invalid_argument("datatype '" + in.datatype() + "' is not one kiln takes"));
    const Shape shape(in.shape().begin(), in.shape().end());
    if (auto n = element_count(shape, limits.max_elements); !n) return where(n.error());
    auto t = raw ? tensor_from_bytes(*type, req.raw_input_contents(i), shape) : typed_input(in, *type, shape);
    if (!t) return where(t.error());
    call.inputs.push_back({in.name(), std::move(*t)});
  }
  for (const auto& o : req.outputs()) call.outputs.push_back({o.name(), raw});
  call.binary_output = raw;
  auto timeout = req.parameters().find("timeout");  // microseconds, as Triton's
  if (timeout != req.parameters().end() && timeout->second.int64_param() > 0)
    call.timeout = std::chrono::milliseconds(std::max<int64_t>(1, timeout->second.int64_param() / 1000));
  return call;
}

}  // namespace

struct GrpcApi::Impl final : public inference::GRPCInferenceService::Service {
  Impl(ModelHost& h, GrpcOptions o) : host(h), opt(std::move(o)) {}
  ModelHost& host;
  GrpcOptions opt;
  std::unique_ptr<grpc::Service> model_runtime;
  std::unique_ptr<grpc::Server> server;

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* r) override {
    r->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* r) override {
    r->set_ready(host.all_ready());
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest* q,
                          inference::ModelReadyResponse* r) override {
    auto name = model_of(model_named(ctx, q->name(), opt.model_runtime.has_value()), q->version());
    if (!name) return to_grpc(name.error());
    auto m = host.model(*name);
    if (!m) return to_grpc(m.error());
    r->set_ready(m->status.state == ModelState::kReady);
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* r) override {
    r->set_name(kServerName);
    r->set_version(kServerVersion);
    for (const std::string& e : server_extensions()) r->add_extensions(e);
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext* ctx, const inference::ModelMetadataRequest* q,
                             inference::ModelMetadataResponse* r) override {
    auto name = model_of(model_named(ctx, q->name(), opt.model_runtime.has_value()), q->version());
    if (!name) return to_grpc(name.error());
    auto m = host.model(*name);
    if (!m) return to_grpc(m.error());
    auto info = host.info(*name);
    if (!info) return to_grpc(info.error());
    r->set_name(*name);
    r->add_versions("1");
    r->set_platform(m->config.platform);
    auto add = [&](const TensorInfo& t, inference::ModelMetadataResponse::TensorMetadata* out) {
      out->set_name(t.name);
      out->set_datatype("FP32");
      for (int64_t d : free_shape(t.shape, info->channels_last)) out->add_shape(d);
    };
    for (const TensorInfo& t : info->inputs) add(t, r->add_inputs());
    for (const TensorInfo& t : info->outputs) add(t, r->add_outputs());
    return grpc::Status::OK;
  }
  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* q,
                          inference::ModelInferResponse* r) override {
    const auto t0 = Clock::now();
    const std::string model = model_named(ctx, q->model_name(), opt.model_runtime.has_value());
    auto call = decode(*q, model, opt.limits);
    Expected<InferReply> reply = call ? infer(host, *call) : Expected<InferReply>(call.error());
    if (auto m = host.model(model)) {
      const RunTimings t = reply ? reply->timings : RunTimings{};
      m->stats->record(outcome_of(reply ? 200 : http_status(reply.error())), ms_since(t0) / 1000, t.queue_ms / 1000,
                       t.compute_ms / 1000);
    }
    if (!reply) return to_grpc(reply.error());
    r->set_model_name(call->model);
    r->set_model_version("1");
    r->set_id(call->id);
    for (const InferOutput& o : reply->outputs) {
      auto* out = r->add_outputs();
      out->set_name(o.name);
      out->set_datatype("FP32");
      for (int64_t d : o.data.shape()) out->add_shape(d);
      const float* v = o.data.data<float>();
      if (call->binary_output) {
        r->add_raw_output_contents(static_cast<const char*>(o.data.raw()), o.data.bytes());
      } else {
        out->mutable_contents()->mutable_fp32_contents()->Add(v, v + o.data.elements());
      }
    }
    return grpc::Status::OK;
  }
};

GrpcApi::GrpcApi(ModelHost& host, GrpcOptions options) : impl_(std::make_unique<Impl>(host, std::move(options))) {}
GrpcApi::~GrpcApi() { stop(); }

Expected<int> GrpcApi::start(const std::string& address) {
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  b.SetMaxReceiveMessageSize(impl_->opt.max_message_bytes);
  b.SetMaxSendMessageSize(impl_->opt.max_message_bytes);
  // A 256x256 tensor is 256 KiB: with HTTP/2's defaults (64 KiB window, 16 KiB frames) it
  // crosses in many frames and waits on window updates. Let a whole tensor cross at once.
  b.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 4 << 20);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 1 << 20);
  b.RegisterService(impl_.get());
  if (impl_->opt.model_runtime) {
    impl_->model_runtime = make_model_runtime_service(impl_->host, *impl_->opt.model_runtime);
    b.RegisterService(impl_->model_runtime.get());
  }
  impl_->server = b.BuildAndStart();
  if (!impl_->server || port == 0) return io_error("cannot listen for gRPC on " + address + " (in use?)");
  return port;
}

void GrpcApi::stop() {
  if (!impl_->server) return;
  // Calls in flight finish (up to 30 s); new ones are refused.
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace kiln::serve
