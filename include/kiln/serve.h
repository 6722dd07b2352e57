// kiln/serve.h — the inference server (`kiln serve`) as a library call.
//
//   kiln::ServeOptions opt;
//   opt.repository = "models/";          // one folder per model (README "kiln serve")
//   opt.http = "127.0.0.1:0";            // port 0: any free one
//   auto server = kiln::Server::start(opt);
//   if (!server) { std::cerr << server.error().message() << "\n"; return 1; }
//   std::cout << "http port " << (*server)->http_port() << "\n";
//   (*server)->wait();                   // until stop() from another thread
//
// The server is live as soon as start() returns; it is ready (GET /v2/health/ready 200)
// once every model has been prepared and warmed. It speaks KServe v2 / the Open Inference
// Protocol over HTTP and gRPC, with Triton's model configuration, statistics and
// repository extensions, and takes images at /kiln/v1/models/{m}/segment.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "kiln/compile_options.h"
#include "kiln/status.h"

namespace kiln {

struct ServeOptions {
  // What is served, one of:
  std::string repository;           // a model repository folder
  std::string demo_models;          // the folder of kiln's demo models (unet.onnx + <class>.safetensors)
  std::string model_dir;            // one model folder or file (KServe's /mnt/models), served as model_name
  std::string model_name = "model";
  // ModelMesh: no model at start; ModelMesh loads and unloads them through its model-runtime
  // SPI on the gRPC port (docs/deploy.md).
  bool model_runtime = false;
  size_t runtime_capacity_bytes = 0;  // memory for models; 0: the memory limit less what the process holds
  std::chrono::milliseconds model_loading_timeout{120000};
  std::string http = "127.0.0.1:8000";  // host:port, "[::1]:8000"; empty: no HTTP
  std::string grpc = "127.0.0.1:8001";  // empty: no gRPC
  int runners = 1;                  // concurrent runs per engine
  int threads = 0;                  // compute threads per runner; 0: the cores divided among the runners
  Precision precision = Precision::kAuto;       // for models whose config.json does not say
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kDirect;
  std::string cache_dir;            // weight-pack cache
  // Repository control (POST v2/repository/models/{m}/load and unload): refused unless
  // explicit, and then only with this token ("Authorization: Bearer <token>").
  bool explicit_model_control = false;
  std::string admin_token;
  std::chrono::milliseconds poll{0};  // > 0: apply repository changes (new, removed, changed models; weight files swapped)
  size_t max_body_bytes = size_t{64} << 20;
  int max_json_depth = 32;
  int max_queue = 16;                 // requests waiting per model; more get 503 + Retry-After
  std::chrono::milliseconds request_timeout{30000};  // waiting for a runner; past it: 504
  int idle_timeout_s = 5;             // connections with no byte for this long are closed (408 inside a request)
  int receive_timeout_s = 30;         // a request must arrive whole within this of its first byte (else 408)
  int http_threads = 64;              // HTTP requests read and answered at once (idle connections hold none)
  size_t max_connections = 0;         // open HTTP connections; at the limit the longest-waiting idle one is
                                      // closed to let a new one in. 0: the open-file limit less 256
  bool log_requests = false;
  std::string web_root;               // static files at / (the viewer); empty: none
};

class Server {
 public:
  static Expected<std::unique_ptr<Server>> start(const ServeOptions& options);
  ~Server();
  int http_port() const;  // 0 without HTTP
  int grpc_port() const;  // 0 without gRPC
  bool ready() const;     // every model prepared and warm
  // Stops accepting, answers what was accepted, and returns; wait() then returns.
  void stop();
  void wait();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What `kiln serve` does: start, print the ports, serve until SIGTERM or SIGINT, then stop
// accepting and drain. Returns the process exit status (0 after a clean drain).
int serve_until_signal(const ServeOptions& options);

}  // namespace kiln
