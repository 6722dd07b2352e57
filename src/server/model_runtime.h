// kiln as a ModelMesh serving runtime: ModelMesh's model-runtime SPI (mmesh.ModelRuntime,
// proto/model_runtime.proto) on a ModelHost, served beside inference.GRPCInferenceService on
// the gRPC port (`kiln serve --model-runtime`).
//
//   kiln::serve::ModelRuntimeOptions o;            // capacity: measured unless given
//   std::unique_ptr<grpc::Service> spi = kiln::serve::make_model_runtime_service(host, o);
//   builder.RegisterService(spi.get());
//
// What ModelMesh sees (docs/deploy.md):
// - runtimeStatus: READY with the capacity, loading concurrency and timeout, the default
//   model size and which inference methods take the model id where; models still held from
//   before (ModelMesh restarted) are unloaded first, and it answers STARTING while one of
//   them is still being prepared.
// - loadModel returns once the model is warm, with its size: its packed weights, plus its
//   plan (compile memory and one activation arena per runner, or what the process grew by
//   while loading it if more) when it is the first model of its architecture here. Models
//   sharing a plan cost only their weights.
// - unloadModel returns once the model is gone (waiting out a preparation that a cancelled
//   loadModel left running); an unknown id is no error.
// - predictModelSize: the model folder's file sizes, plus a plan unless the model type
//   names an architecture already held (types "kiln-<fingerprint>", `kiln inspect --json`).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "server/model_host.h"

namespace grpc {
class Service;
}

namespace kiln::serve {

struct ModelRuntimeOptions {
  // Memory ModelMesh may fill with models; 0: the process's memory limit (its cgroup's, else
  // the machine's) less what the process holds when the service starts, less `reserve_bytes`.
  size_t capacity_bytes = 0;
  size_t reserve_bytes = size_t{256} << 20;  // requests' buffers, allocator slack
  int max_loading_concurrency = 2;           // one preparing, one queued behind it
  std::chrono::milliseconds loading_timeout{120000};
  size_t default_model_bytes = size_t{64} << 20;
  int runners = 1;  // per engine: each has an activation arena a new plan may grow
  ModelDefaults defaults;
};

std::unique_ptr<grpc::Service> make_model_runtime_service(ModelHost& host, ModelRuntimeOptions options);

}  // namespace kiln::serve
