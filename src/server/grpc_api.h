// The gRPC face of `kiln serve`: inference.GRPCInferenceService of KServe v2 (live, ready,
// metadata, infer with typed contents or raw_input_contents), with the same checks and
// admission as HTTP (inference.h); and, as a ModelMesh runtime, mmesh.ModelRuntime beside it.
//
//   kiln::serve::GrpcApi grpc(host, {});
//   kiln::Expected<int> port = grpc.start("127.0.0.1:0");   // the port it listens on
//   grpc.stop();                                             // finishes in-flight calls
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "server/kserve_json.h"
#include "server/model_host.h"
#include "server/model_runtime.h"

namespace kiln::serve {

struct GrpcOptions {
  int max_message_bytes = 64 << 20;
  RequestLimits limits;
  // Also serve ModelMesh's model-runtime SPI on this port (model_runtime.h).
  std::optional<ModelRuntimeOptions> model_runtime;
};

class GrpcApi {
 public:
  GrpcApi(ModelHost& host, GrpcOptions options);
  ~GrpcApi();
  Expected<int> start(const std::string& address);
  void stop();  // stops accepting calls, waits for those in flight

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::serve
