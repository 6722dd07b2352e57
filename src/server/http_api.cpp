#include "server/http_api.h"

#include "server/clock.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>

#include "server/documents.h"
#include "server/segment.h"

namespace kiln::serve {

using nlohmann::json;

namespace {

constexpr const char* kHeaderLength = "Inference-Header-Content-Length";
// Model names in paths: what check_model_name accepts and more (so that a bad one gets a
// message, not a 404 for an unknown path); version segments are accepted and must be 1.
constexpr const char* kModel = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";


void send(httplib::Response& res, HttpReply r) {
  res.status = r.status;
  if (r.header_length) res.set_header(kHeaderLength, std::to_string(*r.header_length));
  if (r.status == 503) res.set_header("Retry-After", "1");
  res.set_header("Content-Type", r.content_type);
  res.body = std::move(r.body);  // set_content would copy it
}

void send_json(httplib::Response& res, const Expected<json>& j) {
  if (!j) return send(res, error_reply(j.error()));
  res.status = 200;
  res.set_content(to_text(*j), "application/json");
}

// The model a path names, if its version segment (when there is one) is 1.
Expected<std::string> model_of(const httplib::Request& req) {
  const std::string name = req.matches[1];
  if (req.matches.size() > 2 && req.matches[2].matched && req.matches[2].str() != "1")
    return not_found("model '" + name + "' has one version, 1; not '" + req.matches[2].str() + "'");
  return name;
}

// Constant-time comparison, so that the token cannot be guessed a character at a time.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

std::optional<double> number_param(const httplib::Request& req, const char* key, bool& bad) {
  if (!req.has_param(key)) return std::nullopt;
  const std::string v = req.get_param_value(key);
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') {
    bad = true;
    return std::nullopt;
  }
  return d;
}

}  // namespace

// cpp-httplib's server as a request parser and router: HttpListener owns the connections and
// hands it one request at a time (process_request is the library's own, protected).
class HttpApi::Router : public httplib::Server {
 public:
  bool serve_one(httplib::Stream& stream, bool close, bool& closed) {
    return process_request(stream, close, closed, nullptr);
  }
};

HttpApi::HttpApi(ModelHost& host, HttpOptions options)
    : host_(host),
      opt_(std::move(options)),
      router_(std::make_unique<Router>()),
      listener_(opt_.connections, [r = router_.get()](httplib::Stream& s, bool close, bool& closed) {
        return r->serve_one(s, close, closed);
      }) {
  router_->set_payload_max_length(opt_.max_body_bytes);
  routes();
}

HttpApi::~HttpApi() = default;

Expected<int> HttpApi::bind(const std::string& host, int port) { return listener_.bind(host, port); }
void HttpApi::run() { listener_.run(); }
void HttpApi::stop() { listener_.stop(); }

std::vector<std::string> HttpApi::not_loaded() const {
  std::vector<std::string> out;
  if (!opt_.repository_names) return out;
  const auto broken = host_.broken();
  for (const std::string& name : opt_.repository_names())
    if (!host_.model(name) && !broken.count(name)) out.push_back(name);
  return out;
}

void HttpApi::routes() {
  httplib::Server& s = *router_;
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send(res, error_reply(500, "internal error: " + what));
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string what = res.status == 404 ? "no endpoint " + req.method + " " + req.path : "request refused";
    if (!HttpListener::why_request_stalled().empty()) {
      res.status = 408;
      what = HttpListener::why_request_stalled();
    }
    if (res.status == 413)
      what = req.get_header_value("Content-Type") == "application/x-www-form-urlencoded"
                 ? "a body sent as application/x-www-form-urlencoded (curl -d's default) may be 8 KiB at most: send "
                   "Content-Type: application/json (infer), application/octet-stream (binary tensors) or image/png (segment)"
                 : "the body is larger than the server takes (--max-body-mb)";
    res.set_content(to_text(json{{"error", what}}), "application/json");
  });
  s.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
    accepted_.fetch_add(1);
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Called once the response is written.
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    answered_.fetch_add(1);
    if (opt_.log_requests)
      log_line(req.method + " " + req.path + " " + std::to_string(res.status) + " " + std::to_string(res.body.size()) +
               " bytes");
  });

  s.Get("/v2", [](const httplib::Request&, httplib::Response& res) { send_json(res, server_metadata()); });
  s.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { send_json(res, json{{"live", true}}); });
  s.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = host_.all_ready();
    send_json(res, json{{"ready", ready}});
    if (!ready) res.status = 503;
  });
  s.Get("/v2/models/stats", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, model_statistics(host_, ""));
  });
  s.Get(std::string(kModel) + "/ready", [this](const httplib::Request& req, httplib::Response& res) {
    auto name = model_of(req);
    if (!name) return send(res, error_reply(name.error()));
    auto m = host_.model(*name);
    if (!m) return send(res, error_reply(m.error()));
    const bool ready = m->status.state == ModelState::kReady;
    send_json(res, json{{"name", *name}, {"ready", ready}});
    if (!ready) res.status = 503;
  });
  s.Get(std::string(kModel) + "/config", [this](const httplib::Request& req, httplib::Response& res) {
    auto name = model_of(req);
    send_json(res, name ? model_config(host_, *name, opt_.runners) : Expected<json>(name.error()));
  });
  s.Get(std::string(kModel) + "/stats", [this](const httplib::Request& req, httplib::Response& res) {
    auto name = model_of(req);
    send_json(res, name ? model_statistics(host_, *name) : Expected<json>(name.error()));
  });
  s.Get(kModel, [this](const httplib::Request& req, httplib::Response& res) {
    auto name = model_of(req);
    send_json(res, name ? model_metadata(host_, *name) : Expected<json>(name.error()));
  });
  s.Post(std::string(kModel) + "/infer", [this](const httplib::Request& req, httplib::Response& res) {
    const auto t0 = Clock::now();
    auto name = model_of(req);
    if (!name) return send(res, error_reply(name.error()));
    std::optional<size_t> header_length;
    if (req.has_header(kHeaderLength)) {
      const std::string v = req.get_header_value(kHeaderLength);
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v[0] == '-')
        return send(res, error_reply(400, std::string(kHeaderLength) + " '" + v + "' is not a byte count"));
      header_length = static_cast<size_t>(n);
    }
    HttpReply reply;
    RunTimings timings;
    auto call = parse_infer_request(*name, req.body, header_length, opt_.limits);
    if (!call) {
      reply = error_reply(call.error());
    } else {
      auto answer = infer(host_, *call);
      if (answer) timings = answer->timings;
      reply = answer ? infer_response(*call, *answer) : error_reply(answer.error());
    }
    if (auto m = host_.model(*name))
      m->stats->record(outcome_of(reply.status), ms_since(t0) / 1000, timings.queue_ms / 1000, timings.compute_ms / 1000);
    send(res, std::move(reply));
  });

  s.Post("/v2/repository/index", [this](const httplib::Request& req, httplib::Response& res) {
    bool ready_only = false;
    if (!req.body.empty()) {
      auto j = parse_json(req.body, opt_.limits.max_json_depth);
      if (!j || !j->is_object() || (j->contains("ready") && !j->at("ready").is_boolean()))
        return send(res, error_reply(400, "the index request is a JSON object, e.g. {\"ready\": true}"));
      ready_only = j->value("ready", false);
    }
    send_json(res, repository_index(host_, ready_only, not_loaded()));
  });
  auto control = [this](bool load) {
    return [this, load](const httplib::Request& req, httplib::Response& res) {
      if (!opt_.explicit_control)
        return send(res, error_reply(403, "repository control is off: start kiln serve with --model-control explicit"));
      const std::string auth = req.get_header_value("Authorization");
      if (opt_.admin_token.empty() || !auth.starts_with("Bearer ") || !same_secret(auth.substr(7), opt_.admin_token))
        return send(res, error_reply(401, "repository control needs the admin token: Authorization: Bearer <token>"));
      const std::string name = req.matches[1];
      if (Status s = check_model_name(name); !s) return send(res, error_reply(s));
      Status s;
      if (load) {
        auto config = opt_.read_config ? opt_.read_config(name) : Expected<ModelConfig>(not_found("no repository"));
        s = config ? host_.load(*config) : config.error();
      } else {
        s = host_.unload(name);
      }
      if (!s) return send(res, error_reply(s));
      send_json(res, json::object());
    };
  };
  s.Post(R"(/v2/repository/models/([^/]+)/load)", control(true));
  s.Post(R"(/v2/repository/models/([^/]+)/unload)", control(false));

  s.Get("/kiln/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, model_list(host_, not_loaded()));
  });
  s.Get("/kiln/v1/server", [this](const httplib::Request&, httplib::Response& res) {
    json j = viewer_settings(opt_.explicit_control);
    j["memory"] = memory_report(host_);
    send_json(res, j);
  });
  s.Get("/kiln/v1/generate", [](const httplib::Request& req, httplib::Response& res) {
    auto png = generated_image(req.get_param_value("class"), req.get_param_value("seed"), req.get_param_value("size"));
    if (!png) return send(res, error_reply(png.error()));
    res.body = std::move(*png);
    res.set_header("Content-Type", "image/png");
  });
  s.Post(R"(/kiln/v1/models/([^/]+)/segment)", [this](const httplib::Request& req, httplib::Response& res) {
    const auto t0 = Clock::now();
    const std::string name = req.matches[1];
    SegmentRequest r;
    bool bad = false;
    if (auto t = number_param(req, "threshold", bad)) r.threshold = static_cast<float>(*t);
    if (auto a = number_param(req, "min_area", bad)) r.min_area = static_cast<int64_t>(*a);
    if (req.has_param("mask")) {
      const std::string m = req.get_param_value("mask");
      if (m != "none" && m != "scores" && m != "binary")
        return send(res, error_reply(400, "mask is none, scores (the default) or binary (scores and the mask at the threshold)"));
      r.mask = m != "none";
      r.binary_mask = m == "binary";
    }
    if (bad) return send(res, error_reply(400, "threshold and min_area are numbers"));
    r.image = req.body;
    auto answer = segment(host_, name, r);
    const int status = answer ? 200 : http_status(answer.error());
    if (auto m = host_.model(name)) {
      const double q = answer ? (*answer)["timings"]["queue_ms"].get<double>() : 0;
      const double c = answer ? (*answer)["timings"]["inference_ms"].get<double>() : 0;
      m->stats->record(outcome_of(status), ms_since(t0) / 1000, q / 1000, c / 1000);
    }
    send_json(res, answer);
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string text = prometheus_text(host_);
    const HttpListenerStats c = listener_.stats();
    text += "# HELP kiln_http_connections Open HTTP connections (idle ones included).\n"
            "# TYPE kiln_http_connections gauge\nkiln_http_connections " + std::to_string(c.open) + "\n" +
            "# HELP kiln_http_connections_max Open connections allowed before the longest-waiting idle one is closed.\n"
            "# TYPE kiln_http_connections_max gauge\nkiln_http_connections_max " + std::to_string(c.max_connections) + "\n" +
            "# HELP kiln_http_connections_closed_total HTTP connections the server closed, by why.\n"
            "# TYPE kiln_http_connections_closed_total counter\n";
    for (auto [why, n] : {std::pair{"idle", c.closed_idle}, {"slow_request", c.closed_slow},
                          {"evicted", c.evicted}, {"head_too_large", c.head_too_large}})
      text += std::string("kiln_http_connections_closed_total{reason=\"") + why + "\"} " + std::to_string(n) + "\n";
    text += "# HELP kiln_http_connections_accepted_total HTTP connections accepted.\n"
            "# TYPE kiln_http_connections_accepted_total counter\nkiln_http_connections_accepted_total " +
            std::to_string(c.accepted) + "\n";
    res.set_content(text, "text/plain; version=0.0.4");
  });
  if (!opt_.web_root.empty()) {
    s.set_mount_point("/", opt_.web_root);
    s.set_file_extension_and_mimetype_mapping("js", "text/javascript");
    // The viewer needs nothing from outside the server: say so to the browser.
    s.set_file_request_handler([](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; object-src 'none'");
      res.set_header("X-Content-Type-Options", "nosniff");
    });
  }
}

}  // namespace kiln::serve
