// kiln::Server: the model host, its HTTP and gRPC faces, and the process's lifetime.
#include "kiln/serve.h"

#include <malloc.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "server/http_api.h"
#include "server/model_host.h"
#include "server/repository.h"
#ifdef KILN_WITH_GRPC
#include "server/grpc_api.h"
#endif

namespace kiln {

using serve::log_line;

namespace {

// "127.0.0.1:8000", "[::1]:0", ":8000" (loopback) -> host and port.
Expected<std::pair<std::string, int>> parse_address(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return invalid_argument("'" + address + "' is not host:port");
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) return invalid_argument("'" + address + "': bad port");
  return std::make_pair(host, static_cast<int>(p));
}

}  // namespace

struct Server::Impl {
  ServeOptions opt;
  serve::ModelDefaults defaults;
  std::unique_ptr<serve::ModelHost> host;
  std::unique_ptr<serve::HttpApi> http;
  std::thread http_thread;
  int http_port = 0, grpc_port = 0;
#ifdef KILN_WITH_GRPC
  std::unique_ptr<serve::GrpcApi> grpc;
#endif
  std::mutex mu;
  std::condition_variable stopped_cv;
  bool stopped = false;

  // One model, read again (repository control): a repository folder as it is now, else the
  // model of that name among those start() loads.
  Expected<serve::ModelConfig> read_config(const std::string& name) const {
    if (!opt.repository.empty()) return serve::read_model(opt.repository, name, defaults);
    auto models = scan();
    if (!models) return models.error();
    auto it = models->models.find(name);
    if (it == models->models.end()) return not_found("no model '" + name + "' here");
    return it->second;
  }

  // The models that start() loads, and that the repository index lists.
  Expected<serve::RepositoryScan> scan() const {
    if (!opt.repository.empty()) return serve::scan_repository(opt.repository, defaults);
    if (!opt.demo_models.empty()) return serve::demo_repository(opt.demo_models, defaults);
    serve::RepositoryScan one;
    if (!opt.model_dir.empty()) one.models.emplace(opt.model_name, serve::read_model_at(opt.model_dir, opt.model_name, defaults));
    return one;
  }

  std::vector<std::string> repository_names() const {
    auto models = scan();
    std::vector<std::string> names;
    if (models)
      for (const auto& entry : models->models) names.push_back(entry.first);
    return names;
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { stop(); }
int Server::http_port() const { return impl_->http_port; }
int Server::grpc_port() const { return impl_->grpc_port; }
bool Server::ready() const { return impl_->host->all_ready(); }

Expected<std::unique_ptr<Server>> Server::start(const ServeOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->defaults = {options.precision, options.conv_algorithm};
  const int sources = !options.repository.empty() + !options.demo_models.empty() + !options.model_dir.empty() +
                      options.model_runtime;
  if (sources != 1)
    return invalid_argument(
        "serve one of: a repository (--repository DIR), the demo models (--demo), one model (--model-dir PATH), "
        "or what ModelMesh loads (--model-runtime)");
  if (options.explicit_model_control && options.admin_token.empty())
    return invalid_argument("--model-control explicit needs an admin token (--admin-token-file)");
  if (options.model_runtime && options.grpc.empty())
    return invalid_argument("--model-runtime serves ModelMesh's SPI on the gRPC port: give --grpc an address");
  auto scan = impl->scan();
  if (!scan) return scan.error();

  serve::HostOptions ho;
  ho.runners = options.runners;
  ho.threads = options.threads;
  ho.cache_dir = options.cache_dir;
  ho.max_queue = options.max_queue;
  ho.request_timeout = options.request_timeout;
  ho.repository = options.repository;
  ho.defaults = impl->defaults;
  ho.poll = options.poll;
  impl->host = std::make_unique<serve::ModelHost>(ho);

  // Live at once: listen first, then prepare the models in the background.
  if (!options.http.empty()) {
    auto address = parse_address(options.http);
    if (!address) return address.error().with_context("--http");
    serve::HttpOptions o;
    o.max_body_bytes = options.max_body_bytes;
    o.limits.max_json_depth = static_cast<size_t>(std::max(1, options.max_json_depth));
    o.connections.workers = options.http_threads;
    o.connections.idle_timeout_s = options.idle_timeout_s;
    o.connections.receive_timeout_s = options.receive_timeout_s;
    o.connections.max_connections = options.max_connections;
    o.runners = options.runners;
    o.explicit_control = options.explicit_model_control;
    o.admin_token = options.admin_token;
    o.log_requests = options.log_requests;
    o.web_root = options.web_root;
    Impl* self = impl.get();
    o.read_config = [self](const std::string& name) { return self->read_config(name); };
    o.repository_names = [self] { return self->repository_names(); };
    impl->http = std::make_unique<serve::HttpApi>(*impl->host, std::move(o));
    auto port = impl->http->bind(address->first, address->second);
    if (!port) return port.error();
    impl->http_port = *port;
    impl->http_thread = std::thread([h = impl->http.get()] { h->run(); });
  }
  if (!options.grpc.empty()) {
#ifdef KILN_WITH_GRPC
    serve::GrpcOptions o;
    o.max_message_bytes = static_cast<int>(std::min<size_t>(options.max_body_bytes, size_t{1} << 30));
    if (options.model_runtime) {
      serve::ModelRuntimeOptions r;
      r.capacity_bytes = options.runtime_capacity_bytes;
      r.loading_timeout = options.model_loading_timeout;
      r.runners = std::max(1, options.runners);
      r.defaults = impl->defaults;
      o.model_runtime = r;
    }
    impl->grpc = std::make_unique<serve::GrpcApi>(*impl->host, o);
    auto port = impl->grpc->start(options.grpc);
    if (!port) {
      if (impl->http) {
        impl->http->stop();
        impl->http_thread.join();
      }
      return port.error();
    }
    impl->grpc_port = *port;
#else
    return unsupported("this kiln was built without gRPC (-DKILN_WITH_GRPC=OFF): use --grpc ''");
#endif
  }
  for (auto& [name, config] : scan->models) {
    Status s = config ? impl->host->load(*config) : config.error();
    if (!s) impl->host->note_broken(name, s.message());
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  // Stop accepting on both; requests already read are answered before the threads end.
#ifdef KILN_WITH_GRPC
  std::thread grpc_stop([this] {
    if (impl_->grpc) impl_->grpc->stop();
  });
#endif
  if (impl_->http) {
    impl_->http->stop();
    if (impl_->http_thread.joinable()) impl_->http_thread.join();
    log_line("http: answered " + std::to_string(impl_->http->answered()) + " of " +
             std::to_string(impl_->http->accepted()) + " requests accepted");
  }
#ifdef KILN_WITH_GRPC
  grpc_stop.join();
#endif
  impl_->stopped_cv.notify_all();
}

void Server::wait() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->stopped_cv.wait(lock, [&] { return impl_->stopped; });
}

int serve_until_signal(const ServeOptions& options) {
  // Every request allocates a few buffers of its tensors' size (the body, the inputs, the
  // answer). glibc maps those above 128 KiB afresh and gives freed memory back at once
  // (madvise), so each request faulted its buffers in again: ~320 page faults and ~1 ms per
  // 256x256 request here (2026-12-06). Keeping freed memory makes the second request's
  // buffers warm. (A process-wide setting: `kiln serve` owns its process.)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  // Every thread the server makes inherits this mask, so SIGTERM and SIGINT reach sigwait here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto server = Server::start(options);
  if (!server) {
    std::fprintf(stderr, "kiln: %s\n", server.error().message().c_str());
    return 1;
  }
  if ((*server)->http_port()) std::printf("kiln serve: http on port %d\n", (*server)->http_port());
  if ((*server)->grpc_port()) std::printf("kiln serve: grpc on port %d\n", (*server)->grpc_port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  log_line(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
           ": no new connections; answering the requests already accepted");
  (*server)->stop();
  log_line("stopped");
  return 0;
}

}  // namespace kiln
