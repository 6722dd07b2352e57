// The load side of bench/serve.sh: the same U-Net requests in-process through Engine::run and
// over gRPC to a running `kiln serve`, each from C clients, with latency percentiles; and the
// body file of a binary-tensor HTTP request for `hey`.
//
//   serve_load inprocess MODEL --shape 1,1,256,256 --requests 500 --clients 1
//   serve_load grpc 127.0.0.1:8001 NAME --input input --shape 1,1,256,256 --requests 500 --clients 2
//   serve_load body --input input --shape 1,1,256,256 -o body.bin      # prints the JSON header's length
//
// Prints one line: mode clients requests seconds rps p50_ms p99_ms errors. Loops are bounded
// by --requests and stop by themselves.
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
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
  std::string mode, target, name, input = "input", out;
  kiln::Shape shape = {1, 1, 256, 256};
  int requests = 200, clients = 1;
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

// Runs `call` requests times over `clients` threads; prints the summary line.
template <typename Call>
int measure(const Args& a, Call&& call) {
  std::vector<double> ms(static_cast<size_t>(a.requests));
  std::atomic<int> next{0}, errors{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < a.clients; ++c)
    threads.emplace_back([&, c] {
      auto state = call.make_client(c);
      for (int i; (i = next++) < a.requests;) {
        const auto s = Clock::now();
        if (!call(state)) ++errors;
        ms[static_cast<size_t>(i)] = std::chrono::duration<double, std::milli>(Clock::now() - s).count();
      }
    });
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())))]; };
  std::printf("%s clients=%d requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n", a.mode.c_str(),
              a.clients, a.requests, seconds, a.requests / seconds, pct(0.5), pct(0.99), errors.load());
  return 0;
}

struct InProcess {
  kiln::Engine& engine;
  kiln::Tensor x;
  int make_client(int) { return 0; }
  bool operator()(int) { return static_cast<bool>(engine.run("m", {x})); }
};

struct Grpc {
  std::string target, name, input;
  kiln::Tensor x;
  std::unique_ptr<inference::GRPCInferenceService::Stub> make_client(int) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    // One channel per client thread, as separate client processes would have.
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  bool operator()(std::unique_ptr<inference::GRPCInferenceService::Stub>& stub) {
    inference::ModelInferRequest q;
    q.set_model_name(name);
    auto* in = q.add_inputs();
    in->set_name(input);
    in->set_datatype("FP32");
    for (int64_t d : x.shape()) in->add_shape(d);
    q.add_raw_input_contents(static_cast<const char*>(x.raw()), x.bytes());
    grpc::ClientContext c;
    inference::ModelInferResponse r;
    return stub->ModelInfer(&c, q, &r).ok() && r.raw_output_contents_size() == 1;
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
    else pos.push_back(s);
  }
  if (pos.empty()) {
    std::fprintf(stderr, "usage: serve_load inprocess MODEL | grpc HOST:PORT NAME | body -o FILE  [--shape ..] [--requests N] [--clients C] [--input NAME]\n");
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
    kiln::Engine engine;
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
  std::fprintf(stderr, "serve_load: unknown mode or missing arguments\n");
  return 2;
}
