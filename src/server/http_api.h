// The HTTP face of `kiln serve`: KServe v2 (health, metadata, infer with JSON or binary
// tensors), Triton's model configuration, statistics and repository extensions, kiln's own
// image endpoint (/kiln/v1/models/{m}/segment) and model list, and Prometheus /metrics.
//
//   kiln::serve::HttpApi http(host, options);
//   kiln::Expected<int> port = http.bind("127.0.0.1", 0);   // 0: any free port
//   std::thread t([&] { http.run(); });                       // until stop()
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/kserve_json.h"
#include "server/model_host.h"

#include "server/http_listener.h"


namespace kiln::serve {

struct HttpOptions {
  size_t max_body_bytes = size_t{64} << 20;
  RequestLimits limits;
  HttpListenerOptions connections;  // workers, timeouts, the connection limit
  int runners = 1;          // reported in the model configuration
  // Repository control (load, unload) is refused unless this is true, and then needs the
  // admin token as "Authorization: Bearer <token>".
  bool explicit_control = false;
  std::string admin_token;
  bool log_requests = false;
  // How a model named in a load request is read (the repository folder, or the demo set).
  std::function<Expected<ModelConfig>(const std::string& name)> read_config;
  // The names the repository (or the demo set) holds now, loaded or not: the model list and
  // the repository index show the ones not loaded as "unloaded".
  std::function<std::vector<std::string>()> repository_names;
  std::string web_root;  // static files served at / (empty: none)
};

class HttpApi {
 public:
  HttpApi(ModelHost& host, HttpOptions options);
  ~HttpApi();
  Expected<int> bind(const std::string& host, int port);
  void run();   // serves until stop(); returns after in-flight requests are answered
  void stop();  // stops accepting; connections finish the request they are in
  HttpListenerStats connections() const { return listener_.stats(); }
  // Requests read off a connection, and requests answered: equal after run() returns, unless
  // one was lost.
  uint64_t accepted() const { return accepted_; }
  uint64_t answered() const { return answered_; }

 private:
  void routes();
  std::vector<std::string> not_loaded() const;  // the repository's models that are not loaded
  ModelHost& host_;
  HttpOptions opt_;
  class Router;  // cpp-httplib's server, used for its parser and routes only
  std::unique_ptr<Router> router_;
  HttpListener listener_;
  std::atomic<uint64_t> accepted_{0}, answered_{0};
};

}  // namespace kiln::serve
