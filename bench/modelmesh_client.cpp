// The ModelMesh side of bench/modelmesh.sh: against a `kiln serve --model-runtime`, waits for
// runtimeStatus READY, then loads each ID=PATH in turn through the model-runtime SPI as
// ModelMesh would, and prints one JSON line per model: the size loadModel reported, how long
// the load took, and the server's memory report after it (resident bytes, plans).
//
//   modelmesh_client GRPC_PORT HTTP_PORT ID=PATH [ID=PATH...]
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "server/proto/model_runtime.grpc.pb.h"

using nlohmann::json;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: modelmesh_client GRPC_PORT HTTP_PORT ID=PATH...\n");
    return 2;
  }
  auto spi = mmesh::ModelRuntime::NewStub(
      grpc::CreateChannel(std::string("127.0.0.1:") + argv[1], grpc::InsecureChannelCredentials()));
  httplib::Client http("127.0.0.1", std::atoi(argv[2]));
  auto memory = [&] {
    auto r = http.Get("/kiln/v1/server");
    return r && r->status == 200 ? json::parse(r->body)["memory"] : json();
  };
  mmesh::RuntimeStatusResponse st;
  for (int i = 0; i < 600 && st.status() != mmesh::RuntimeStatusResponse::READY; ++i) {
    grpc::ClientContext c;
    if (!spi->runtimeStatus(&c, {}, &st).ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (st.status() != mmesh::RuntimeStatusResponse::READY) {
    std::fprintf(stderr, "modelmesh_client: the runtime did not become READY\n");
    return 1;
  }
  std::printf("%s\n", json{{"ready", true}, {"capacity_bytes", st.capacityinbytes()}, {"memory", memory()}}.dump().c_str());
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    mmesh::LoadModelRequest q;
    q.set_modelid(arg.substr(0, eq));
    q.set_modelpath(arg.substr(eq + 1));
    mmesh::LoadModelResponse r;
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    const auto t0 = std::chrono::steady_clock::now();
    grpc::Status s = spi->loadModel(&c, q, &r);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!s.ok()) {
      std::fprintf(stderr, "modelmesh_client: loadModel %s: %s\n", q.modelid().c_str(), s.error_message().c_str());
      return 1;
    }
    std::printf("%s\n", json{{"id", q.modelid()}, {"size_bytes", r.sizeinbytes()}, {"load_ms", ms}, {"memory", memory()}}
                            .dump()
                            .c_str());
    std::fflush(stdout);
  }
  return 0;
}
