// kiln serve --repository DIR | --demo: the engine as a KServe v2 / Open Inference Protocol service.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "kiln/serve.h"

namespace kiln::cli {


void add_serve(CLI::App& app, ServeArgs& a) {
  const ServeOptions d;
  a.http = d.http;
  a.grpc = d.grpc;
  a.runners = d.runners;
  a.max_queue = d.max_queue;
  a.request_timeout_ms = static_cast<int>(d.request_timeout.count());
  a.idle_timeout_s = d.idle_timeout_s;
  a.receive_timeout_s = d.receive_timeout_s;
  a.max_connections = d.max_connections;
  a.http_threads = d.http_threads;
  a.max_body_mb = static_cast<int>(d.max_body_bytes >> 20);
  a.poll_seconds = static_cast<double>(d.poll.count()) / 1000;
  a.conv = conv_algorithm_name(d.conv_algorithm);
  a.precision = precision_name(d.precision);
  auto* c = app.add_subcommand("serve", "serve models over HTTP and gRPC (KServe v2 / Open Inference Protocol)");
  c->add_option("--repository", a.repository, "model repository: one folder per model (README: kiln serve)");
  c->add_flag("--demo", a.demo, "serve the six demo models (no repository to write)");
  c->add_option("--demo-models", a.demo_models, "where the demo models are")->capture_default_str();
  auto* model_dir = c->add_option("--model-dir,--model_dir", a.model_dir,
                                  "serve one model: a folder read as a repository's model folder, or a model file "
                                  "(KServe: /mnt/models)");
  a.model_name = d.model_name;
  c->add_option("--model-name,--model_name", a.model_name, "the name --model-dir serves it under")
      ->capture_default_str()
      ->needs(model_dir);
  auto* runtime = c->add_flag("--model-runtime", a.model_runtime,
                              "a ModelMesh serving runtime: no models at start; ModelMesh loads and unloads them "
                              "through its model-runtime SPI on the gRPC port (docs/deploy.md)");
  c->add_option("--capacity-mb", a.capacity_mb,
                "--model-runtime: memory for models (default: the cgroup's or machine's memory less what the process "
                "holds, less 256 MiB)")
      ->needs(runtime);
  a.load_timeout_s = static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d.model_loading_timeout).count());
  c->add_option("--load-timeout", a.load_timeout_s, "--model-runtime: seconds a model may take to load")
      ->capture_default_str()
      ->needs(runtime);
  c->add_option("--http", a.http, "HTTP address host:port (port 0: any free one; '' for none)")->capture_default_str();
  c->add_option("--grpc", a.grpc, "gRPC address host:port ('' for none)")->capture_default_str();
  c->add_option("--runners", a.runners, "concurrent runs per engine (each with its own arena)")->capture_default_str();
  add_conv_option(c, a.conv);
  c->add_option("--precision", a.precision,
                "for models whose config.json does not say: auto (fp32 results, computed the fastest way "
                "measured here), auto-bf16, fp32, bf16, int8")
      ->check(CLI::IsMember({"fp32", "auto", "auto-bf16", "bf16", "int8"}))
      ->capture_default_str();
  c->add_option("--cache-dir", a.cache_dir, "weight-pack cache: packed weights are mapped on the next start");
  c->add_option("--model-control", a.model_control, "none, or explicit: POST v2/repository/models/{m}/load|unload")
      ->check(CLI::IsMember({"none", "explicit"}))
      ->capture_default_str();
  c->add_option("--admin-token-file", a.admin_token_file, "file holding the token repository control needs");
  c->add_option("--poll-repository", a.poll_seconds,
                "every SECONDS: load new folders, unload removed ones, prepare changed models again, swap changed "
                "weight files (0: never)")
      ->capture_default_str();
  c->add_option("--max-body-mb", a.max_body_mb, "largest request body")->capture_default_str();
  c->add_option("--max-queue", a.max_queue, "requests waiting per model; beyond: 503 with Retry-After")->capture_default_str();
  c->add_option("--request-timeout-ms", a.request_timeout_ms, "longest wait for a runner; beyond: 504")->capture_default_str();
  c->add_option("--idle-timeout", a.idle_timeout_s, "seconds a connection may go without sending a byte (idle, or stalled in a request: 408)")->capture_default_str();
  c->add_option("--receive-timeout", a.receive_timeout_s, "seconds a request may take to arrive whole, from its first byte (beyond: 408)")->capture_default_str();
  c->add_option("--http-threads", a.http_threads, "HTTP requests read and answered at once (idle and slow connections hold no thread)")->capture_default_str();
  c->add_option("--max-connections", a.max_connections, "open HTTP connections; at the limit the one waiting longest with no request answered is closed (0: the open-file limit less 256)")->capture_default_str();
  c->add_flag("--log-requests", a.log_requests, "one log line per request");
  c->add_option("--web", a.web_root,
                "folder of the viewer's files, served at / (default: ./web, else <prefix>/share/kiln/web "
                "beside the installed binary; '' for none)")
      ->each([&a](const std::string&) { a.web_root_given = true; });
  c->add_option("--threads", a.threads, "compute threads per runner (default: the cores divided among the runners)");
}

int do_serve(const ServeArgs& a) {
  set_threads(a.threads);
  ServeOptions o;
  if (a.demo + !a.repository.empty() + !a.model_dir.empty() + a.model_runtime != 1) {
    std::cerr << "kiln: serve needs one of --repository DIR, --demo, --model-dir PATH, --model-runtime\n";
    return 2;
  }
  o.repository = a.repository;
  o.model_dir = a.model_dir;
  o.model_name = a.model_name;
  o.model_runtime = a.model_runtime;
  o.runtime_capacity_bytes = static_cast<size_t>(std::max(0, a.capacity_mb)) << 20;
  o.model_loading_timeout = std::chrono::seconds(std::max(1, a.load_timeout_s));
  if (a.demo) o.demo_models = a.demo_models == "models/demo" ? data_path(a.demo_models, "unet.onnx") : a.demo_models;
  if (a.demo && o.demo_models.empty()) {
    std::cerr << "kiln: no demo models in ./models/demo nor installed beside this binary (--demo-models DIR)\n";
    return 2;
  }
  o.http = a.http;
  o.grpc = a.grpc;
  o.runners = a.runners;
  o.threads = a.threads;
  o.precision = *parse_precision(a.precision);
  o.conv_algorithm = *parse_conv_algorithm(a.conv);
  o.cache_dir = a.cache_dir;
  o.explicit_model_control = a.model_control == "explicit";
  if (!a.admin_token_file.empty()) {
    std::ifstream f(a.admin_token_file);
    if (!f) {
      std::cerr << "kiln: cannot read the admin token file '" << a.admin_token_file << "'\n";
      return 1;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    o.admin_token = ss.str();
    while (!o.admin_token.empty() && std::isspace(static_cast<unsigned char>(o.admin_token.back()))) o.admin_token.pop_back();
    if (o.admin_token.size() < 16) {
      std::cerr << "kiln: the admin token in '" << a.admin_token_file << "' is shorter than 16 characters\n";
      return 1;
    }
  }
  o.poll = std::chrono::milliseconds(static_cast<int64_t>(a.poll_seconds * 1000));
  o.max_body_bytes = static_cast<size_t>(a.max_body_mb) << 20;
  o.max_queue = a.max_queue;
  o.request_timeout = std::chrono::milliseconds(a.request_timeout_ms);
  o.idle_timeout_s = a.idle_timeout_s;
  o.receive_timeout_s = a.receive_timeout_s;
  o.max_connections = a.max_connections;
  o.http_threads = a.http_threads;
  o.log_requests = a.log_requests;
  // The viewer's files: ./web from the source tree, else <prefix>/share/kiln/web.
  o.web_root = a.web_root_given ? a.web_root : data_path("web", "index.html");
  if (a.web_root_given && !a.web_root.empty() && !std::filesystem::exists(std::filesystem::path(a.web_root) / "index.html")) {
    std::cerr << "kiln: --web " << a.web_root << " has no index.html (the viewer is the repository's web/ folder)\n";
    return 2;
  }
  return serve_until_signal(o);
}

}  // namespace kiln::cli
