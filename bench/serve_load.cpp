// The load side of bench/serve.sh: the same U-Net requests in-process through Engine::run,
// over gRPC and over HTTP to a running `kiln serve`, with latency percentiles; and the body
// file of a binary-tensor HTTP request for `hey`.
//
//   serve_load inprocess MODEL --shape 1,1,256,256 --requests 500 --clients 1
//   serve_load grpc 127.0.0.1:8001 NAME --input input --shape 1,1,256,256 --requests 500 --clients 2
//   serve_load http 127.0.0.1:8000 /v2/models/NAME/infer --body body.bin --header-length N --type T
//   serve_load body --input input --shape 1,1,256,256 -o body.bin      # prints the JSON header's length
//   serve_load pair MODEL http HOST:PORT PATH --body F --header-length N    # or: pair MODEL grpc HOST:PORT NAME
//
// pair: the server's overhead, measured request by request: each in-process run of MODEL is
// followed by the same request to the server, and the difference of each pair is kept, so
// that the VM's drift (10-20% between batches here) cancels.
//
// Closed loop: --requests over --clients, each sending its next when the last is answered.
// Open loop (--rate R --seconds S): request i is due at i/R seconds, whether or not earlier
// ones were answered, and its latency counts from when it was due (so a slow server cannot
// hide its queue by slowing the client); --clients is how many may be outstanding.
// Prints one line: mode, clients, requests, seconds, rps (answered 200 per second), p50 and
// p99 of the 200s and of every answer, and the other outcomes. Every loop stops by itself.
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kiln/engine.h"
#include "server/proto/grpc_predict_v2.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode, target, name, input = "input", out, body, type = "application/octet-stream";
  kiln::Shape shape = {1, 1, 256, 256};
  int requests = 200, clients = 1;
  long header_length = -1;
  double rate = 0, seconds = 10;
  kiln::EngineOptions engine;  // in-process: runners, threads per runner, precision
};

kiln::Shape parse_shape(const std::string& s) {
  kiln::Shape out;
  std::stringstream ss(s);
  for (std::string d; std::getline(ss, d, ',');) out.push_back(std::stoll(d));
  return out;
}

kiln::Tensor image(const kiln::Shape& s) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  kiln::Tensor t = kiln::Tensor::zeros(kiln::DType::kF32, s);
  for (int64_t i = 0; i < t.elements(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// Sends requests through `call` (closed or open loop, see the top); prints the summary line.
// `call(state)` returns the HTTP-like status of one request: 200, another code, or -1 for no answer.
template <typename Call>
int measure(const Args& a, Call&& call) {
  const bool open = a.rate > 0;
  const int total = open ? static_cast<int>(a.rate * a.seconds) : a.requests;
  std::vector<double> ok_ms, all_ms;
  std::map<int, int> outcomes;
  std::mutex mu;
  std::atomic<int> next{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < a.clients; ++c)
    threads.emplace_back([&, c] {
      auto state = call.make_client(c);
      for (int i; (i = next++) < total;) {
        auto due = Clock::now();
        if (open) {
          due = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / a.rate));
          std::this_thread::sleep_until(due);
        }
        const int status = call(state);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
        std::lock_guard<std::mutex> lock(mu);
        ++outcomes[status];
        if (status > 0) all_ms.push_back(ms);
        if (status == 200) ok_ms.push_back(ms);
      }
    });
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  auto pct = [](std::vector<double> v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
  };
  std::string other;
  for (const auto& [status, n] : outcomes)
    if (status != 200) other += " " + (status < 0 ? std::string("no_answer") : std::to_string(status)) + "=" + std::to_string(n);
  char offered[64] = "";
  if (open) std::snprintf(offered, sizeof offered, " offered_rps=%.1f", a.rate);
  double mean = 0;
  for (double v : ok_ms) mean += v / static_cast<double>(std::max<size_t>(1, ok_ms.size()));
  std::printf("%s clients=%d requests=%d seconds=%.2f%s rps=%.1f mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f all_p50_ms=%.3f "
              "all_p99_ms=%.3f ok=%zu%s\n",
              a.mode.c_str(), a.clients, total, seconds, offered, static_cast<double>(ok_ms.size()) / seconds, mean,
              pct(ok_ms, 0.5), pct(ok_ms, 0.99), pct(all_ms, 0.5), pct(all_ms, 0.99), ok_ms.size(), other.c_str());
  return 0;
}

struct InProcess {
  kiln::Engine& engine;
  kiln::Tensor x;
  int make_client(int) { return 0; }
  int operator()(int) { return engine.run("m", {x}) ? 200 : 500; }
};

struct Grpc {
  std::string target, name, input;
  kiln::Tensor x;
  std::unique_ptr<inference::GRPCInferenceService::Stub> make_client(int) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    // One channel per client thread, as separate client processes would have.
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 4 << 20);  // as the server: a tensor in one window
    args.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, 1 << 20);
    return inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  int operator()(std::unique_ptr<inference::GRPCInferenceService::Stub>& stub) {
    inference::ModelInferRequest q;
    q.set_model_name(name);
    auto* in = q.add_inputs();
    in->set_name(input);
    in->set_datatype("FP32");
    for (int64_t d : x.shape()) in->add_shape(d);
    q.add_raw_input_contents(static_cast<const char*>(x.raw()), x.bytes());
    grpc::ClientContext c;
    inference::ModelInferResponse r;
    const grpc::Status st = stub->ModelInfer(&c, q, &r);
    if (st.ok()) return r.raw_output_contents_size() == 1 ? 200 : 500;
    switch (st.error_code()) {
      case grpc::StatusCode::UNAVAILABLE: return 503;
      case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
      case grpc::StatusCode::INVALID_ARGUMENT: return 400;
      default: return 500;
    }
  }
};

// A lean HTTP/1.1 keep-alive client on a plain socket: the request in one writev, the answer
// read in as few recv calls as the kernel allows. It measures the server and the loopback, not
// a client library's copies and 4 KiB reads (cpp-httplib's client adds ~0.1 ms a request here).
struct Http {
  std::string host, path, body, type;
  long header_length;
  int port;
  struct Connection {
    int fd = -1;
    std::string head;
    std::vector<char> in;
    ~Connection() {
      if (fd >= 0) ::close(fd);
    }
  };
  std::unique_ptr<Connection> make_client(int) {
    auto c = std::make_unique<Connection>();
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return c;
    c->fd = ::socket(res->ai_family, SOCK_STREAM, 0);
    if (c->fd >= 0 && ::connect(c->fd, res->ai_addr, res->ai_addrlen) != 0) {
      ::close(c->fd);
      c->fd = -1;
    }
    freeaddrinfo(res);
    if (c->fd < 0) return c;
    int yes = 1;  // as curl, Go and urllib3 do: otherwise a small request waits on a delayed ACK (40 ms)
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    timeval tv{120, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c->head = "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: " + type +
              "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    if (header_length >= 0) c->head += "Inference-Header-Content-Length: " + std::to_string(header_length) + "\r\n";
    c->head += "\r\n";
    c->in.resize(1 << 20);
    return c;
  }
  // The answer's status, or -1 when the connection failed (the connection is then closed).
  int operator()(std::unique_ptr<Connection>& c) {
    if (!c || c->fd < 0) c = make_client(0);
    if (c->fd < 0) return -1;
    iovec iov[2] = {{c->head.data(), c->head.size()}, {body.data(), body.size()}};
    const ssize_t n = ::writev(c->fd, iov, 2);
    if (n <= 0) return fail(c);
    if (static_cast<size_t>(n) < c->head.size() + body.size()) {  // rare: a short write; send the rest
      const std::string rest = (c->head + body).substr(static_cast<size_t>(n));
      if (!send_all(c->fd, rest.data(), rest.size())) return fail(c);
    }
    size_t have = 0, end = std::string::npos;
    while (end == std::string::npos) {
      if (have == c->in.size()) return fail(c);
      const ssize_t n = ::recv(c->fd, c->in.data() + have, c->in.size() - have, 0);
      if (n <= 0) return fail(c);
      have += static_cast<size_t>(n);
      end = std::string_view(c->in.data(), have).find("\r\n\r\n");
    }
    const std::string_view headers(c->in.data(), end);
    const int status = headers.size() > 12 ? std::atoi(std::string(headers.substr(9, 3)).c_str()) : -1;
    size_t length = 0;
    for (size_t at = 0; at < headers.size();) {
      size_t eol = headers.find("\r\n", at);
      if (eol == std::string_view::npos) eol = headers.size();
      std::string line(headers.substr(at, eol - at));
      std::transform(line.begin(), line.end(), line.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (line.rfind("content-length:", 0) == 0) length = std::stoul(line.substr(15));
      at = eol + 2;
    }
    size_t body_have = have - (end + 4);
    if (c->in.size() < end + 4 + length) c->in.resize(end + 4 + length);
    if (body_have < length) {
      const ssize_t n = ::recv(c->fd, c->in.data() + have, length - body_have, MSG_WAITALL);
      if (n != static_cast<ssize_t>(length - body_have)) return fail(c);
    }
    return status;
  }
  static bool send_all(int fd, const char* p, size_t n) {
    while (n > 0) {
      const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }
  static int fail(std::unique_ptr<Connection>& c) {
    c.reset();
    return -1;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (s == "--shape") a.shape = parse_shape(value());
    else if (s == "--requests") a.requests = std::stoi(value());
    else if (s == "--clients") a.clients = std::stoi(value());
    else if (s == "--input") a.input = value();
    else if (s == "-o") a.out = value();
    else if (s == "--body") a.body = value();
    else if (s == "--type") a.type = value();
    else if (s == "--header-length") a.header_length = std::stol(value());
    else if (s == "--rate") a.rate = std::stod(value());
    else if (s == "--seconds") a.seconds = std::stod(value());
    else if (s == "--runners") a.engine.runners = std::stoi(value());
    else if (s == "--threads") a.engine.threads = std::stoi(value());
    else if (s == "--precision") a.engine.precision = kiln::parse_precision(value()).value_or(kiln::Precision::kF32);
    else pos.push_back(s);
  }
  if (pos.empty()) {
    std::fprintf(stderr,
                 "usage: serve_load inprocess MODEL | grpc HOST:PORT NAME | http HOST:PORT PATH --body F | body -o F\n"
                 "       [--shape ..] [--requests N] [--clients C] [--rate R --seconds S] [--input NAME]\n"
                 "       [--header-length N] [--type CONTENT-TYPE]\n"
                 "       in process: [--runners R] [--threads T per runner] [--precision P]\n");
    return 2;
  }
  a.mode = pos[0];
  const kiln::Tensor x = image(a.shape);
  if (a.mode == "body") {
    const std::string head =
        nlohmann::json{{"inputs", {{{"name", a.input}, {"shape", a.shape}, {"datatype", "FP32"},
                                    {"parameters", {{"binary_data_size", x.bytes()}}}}}},
                       {"parameters", {{"binary_data_output", true}}}}
            .dump();
    std::ofstream f(a.out, std::ios::binary);
    f << head;
    f.write(static_cast<const char*>(x.raw()), static_cast<std::streamsize>(x.bytes()));
    std::printf("%zu\n", head.size());
    return f ? 0 : 1;
  }
  if (a.mode == "inprocess" && pos.size() == 2) {
    kiln::Engine engine(a.engine);
    kiln::LoadSpec spec;
    spec.model = pos[1];
    spec.input_shapes[""] = a.shape;
    if (!engine.load("m", spec) || !engine.wait_ready("m", std::chrono::minutes(5))) {
      std::fprintf(stderr, "serve_load: cannot load %s\n", pos[1].c_str());
      return 1;
    }
    InProcess call{engine, x};
    return measure(a, call);
  }
  if (a.mode == "grpc" && pos.size() == 3) {
    Grpc call{pos[1], pos[2], a.input, x};
    return measure(a, call);
  }
  if (a.mode == "pair" && pos.size() >= 4) {
    kiln::Engine engine(a.engine);
    kiln::LoadSpec spec;
    spec.model = pos[1];
    spec.input_shapes[""] = a.shape;
    if (!engine.load("m", spec) || !engine.wait_ready("m", std::chrono::minutes(5))) return 1;
    InProcess local{engine, x};
    std::function<int()> remote;
    std::unique_ptr<inference::GRPCInferenceService::Stub> stub;
    std::unique_ptr<Http::Connection> client;
    Grpc grpc_call{pos[3], pos.size() > 4 ? pos[4] : "", a.input, x};
    std::ifstream f(a.body, std::ios::binary);
    std::stringstream body;
    body << f.rdbuf();
    const size_t colon = pos[3].rfind(':');
    Http http_call{pos[3].substr(0, colon), pos.size() > 4 ? pos[4] : "", body.str(), a.type, a.header_length,
                   colon == std::string::npos ? 0 : std::stoi(pos[3].substr(colon + 1))};
    if (pos[2] == "grpc") {
      stub = grpc_call.make_client(0);
      remote = [&] { return grpc_call(stub); };
    } else {
      client = http_call.make_client(0);
      remote = [&] { return http_call(client); };
    }
    std::vector<double> in_ms, out_ms, diff;
    for (int i = 0; i < a.requests; ++i) {
      auto t0 = Clock::now();
      if (local(0) != 200) return 1;
      auto t1 = Clock::now();
      if (remote() != 200) {
        std::fprintf(stderr, "serve_load: the server refused a request\n");
        return 1;
      }
      auto t2 = Clock::now();
      in_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      out_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
      diff.push_back(out_ms.back() - in_ms.back());
    }
    auto pct = [](std::vector<double> v, double p) {
      std::sort(v.begin(), v.end());
      return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
    };
    std::printf("pair %s requests=%d in_process_p50_ms=%.3f server_p50_ms=%.3f overhead_p50_ms=%.3f overhead_p25_ms=%.3f "
                "overhead_p75_ms=%.3f\n",
                pos[2].c_str(), a.requests, pct(in_ms, 0.5), pct(out_ms, 0.5), pct(diff, 0.5), pct(diff, 0.25),
                pct(diff, 0.75));
    return 0;
  }
  if (a.mode == "http" && pos.size() == 3) {
    const size_t colon = pos[1].rfind(':');
    std::ifstream f(a.body, std::ios::binary);
    std::stringstream body;
    body << f.rdbuf();
    if (colon == std::string::npos || !f) {
      std::fprintf(stderr, "serve_load: http HOST:PORT PATH --body FILE\n");
      return 2;
    }
    Http call{pos[1].substr(0, colon), pos[2], body.str(), a.type, a.header_length, std::stoi(pos[1].substr(colon + 1))};
    return measure(a, call);
  }
  std::fprintf(stderr, "serve_load: unknown mode or missing arguments\n");
  return 2;
}
