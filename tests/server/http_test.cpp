// kiln serve over HTTP, through a real process on a loopback port: health and readiness,
// metadata, inference with JSON and binary tensors against the in-process engine and
// `kiln run`, and bad requests that get 4xx while the server keeps serving.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "server/server_test_util.h"

namespace kiln {
namespace {

using namespace testing;

class Http : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new fs::path(standard_repository("http"));
    server_ = new ServeProcess({"--repository", repo_->string(), "--max-body-mb", "8"});
    // Checked in SetUp: a failed assertion here would report every test as skipped, not failed.
    ready_ = server_->started() && server_->wait_ready();
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the server did not start or get ready:\n" << server_->log(); }
  static inline bool ready_ = false;
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->terminate(), 0) << server_->log();
    delete server_;
    delete repo_;
  }
  static ServeProcess* server_;
  static fs::path* repo_;
};
ServeProcess* Http::server_ = nullptr;
fs::path* Http::repo_ = nullptr;

json body_json(const httplib::Result& r) {
  if (!r) return json();
  return json::parse(r->body, nullptr, false);
}

TEST_F(Http, ServerMetadataHealthAndModelMetadata) {
  auto c = server_->http();
  auto meta = body_json(c.Get("/v2"));
  EXPECT_EQ(meta["name"], "kiln");
  EXPECT_NE(std::find(meta["extensions"].begin(), meta["extensions"].end(), "binary_tensor_data"), meta["extensions"].end());
  EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
  for (const char* path : {"/v2/models/unet", "/v2/models/unet/versions/1"}) {
    auto r = c.Get(path);
    ASSERT_EQ(r->status, 200) << path;
    json m = json::parse(r->body);
    EXPECT_EQ(m["name"], "unet");
    EXPECT_EQ(m["platform"], "kiln_onnx");
    EXPECT_EQ(m["inputs"][0]["name"], "input");
    EXPECT_EQ(m["inputs"][0]["datatype"], "FP32");
    EXPECT_EQ(m["inputs"][0]["shape"], json::array({1, 1, -1, -1}));  // height and width free
    EXPECT_EQ(m["outputs"][0]["name"], "output");
  }
  EXPECT_EQ(c.Get("/v2/models/unet/ready")->status, 200);
  auto v2 = c.Get("/v2/models/unet/versions/2");
  EXPECT_EQ(v2->status, 404);
  EXPECT_NE(body_json(v2)["error"].get<std::string>().find("version"), std::string::npos);
  auto missing = c.Get("/v2/models/no_such_model");
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(body_json(missing)["error"].get<std::string>().find("no_such_model"), std::string::npos);
  auto config = body_json(c.Get("/v2/models/leather/config"));
  EXPECT_EQ(config["backend"], "kiln");
  EXPECT_EQ(config["input"][0]["data_type"], "TYPE_FP32");
  EXPECT_EQ(c.Get("/v2/nothing/here")->status, 404);
  // kiln's own list for the viewer: every model, ready, leather and wood_grain on one plan.
  json list = body_json(c.Get("/kiln/v1/models"));
  ASSERT_EQ(list.size(), 3u) << list.dump();
  std::map<std::string, json> by;
  for (const json& m : list) by[m["name"]] = m;
  EXPECT_EQ(by["unet"]["state"], "ready");
  EXPECT_EQ(by["leather"]["fingerprint"], by["wood_grain"]["fingerprint"]);
  EXPECT_TRUE(by["leather"]["plan_shared"].get<bool>() != by["wood_grain"]["plan_shared"].get<bool>());
  EXPECT_GT(by["leather"]["weight_bytes"].get<int64_t>(), 0);
}

TEST_F(Http, ASecondServerOnTheSamePortIsRefused) {
  // (Not shared as SO_REUSEPORT would, silently taking half the connections.)
  CliResult r = run_cli("serve --demo --demo-models " + source_path("models/demo") + " --grpc '' --http 127.0.0.1:" +
                        std::to_string(server_->http_port()));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot listen on 127.0.0.1:" + std::to_string(server_->http_port())), std::string::npos)
      << r.output;
  EXPECT_EQ(server_->http().Get("/v2/health/live")->status, 200);
}

TEST_F(Http, JsonInferenceEqualsTheInProcessEngineFlatAndNested) {
  auto c = server_->http();
  Tensor x = random_image({1, 1, 64, 64}, 3);
  Tensor want = reference_output(fixture("unet/w4_64x64/model.onnx"), x);
  auto r = c.Post("/v2/models/unet/infer", json_request("input", x), "application/json");
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  json j = json::parse(r->body);
  EXPECT_EQ(j["model_name"], "unet");
  EXPECT_EQ(j["outputs"][0]["name"], "output");
  EXPECT_EQ(j["outputs"][0]["shape"], json::array({1, 1, 64, 64}));
  EXPECT_EQ(j["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["outputs"][0]["data"].get<std::vector<float>>(), values(want));
  // The same values as nested arrays, with an id that comes back.
  json nested = json::array();
  for (int y = 0; y < 64; ++y) {
    json row = json::array();
    for (int x0 = 0; x0 < 64; ++x0) row.push_back(x.data<float>()[y * 64 + x0]);
    nested.push_back(row);
  }
  json req = {{"id", "n-1"}, {"inputs", {{{"name", "input"}, {"shape", {1, 1, 64, 64}}, {"datatype", "FP32"},
                                          {"data", json::array({json::array({nested})})}}}}};
  auto r2 = c.Post("/v2/models/unet/versions/1/infer", req.dump(), "application/json");
  ASSERT_EQ(r2->status, 200) << r2->body.substr(0, 300);
  EXPECT_EQ(json::parse(r2->body)["id"], "n-1");
  EXPECT_EQ(json::parse(r2->body)["outputs"][0]["data"].get<std::vector<float>>(), values(want));
}

TEST_F(Http, OutputEqualsKilnRun) {
  Tensor x = random_image({1, 1, 64, 64}, 17);
  const std::string in = ::testing::TempDir() + "/kiln_serve_in.npy", out = ::testing::TempDir() + "/kiln_serve_out.npy";
  ASSERT_TRUE(write_npy(in, x));
  CliResult run = run_cli("run " + fixture("unet/w4_64x64/model.onnx").string() + " --input " + in + " --output " + out);
  ASSERT_EQ(run.code, 0) << run.output;
  auto want = read_npy(out);
  ASSERT_TRUE(want);
  auto [body, n] = binary_request("input", x);
  httplib::Headers h = {{"Inference-Header-Content-Length", std::to_string(n)}};
  auto r = server_->http().Post("/v2/models/unet/infer", h, body, "application/octet-stream");
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  EXPECT_EQ(binary_output(r), values(*want));
}

TEST_F(Http, BinaryTensorsFp16AndUint8) {
  auto c = server_->http();
  Tensor x = random_image({1, 1, 64, 64}, 5);
  // FP32 in and out as raw bytes.
  auto [body, n] = binary_request("input", x);
  auto r = c.Post("/v2/models/unet/infer", {{"Inference-Header-Content-Length", std::to_string(n)}}, body,
                  "application/octet-stream");
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  const size_t header = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
  json head = json::parse(r->body.substr(0, header));
  EXPECT_EQ(head["outputs"][0]["parameters"]["binary_data_size"], 64 * 64 * 4);
  EXPECT_EQ(binary_output(r), values(reference_output(fixture("unet/w4_64x64/model.onnx"), x)));

  // FP16: values k/1024, which a half holds exactly (10 bits of mantissa), so the model must
  // see exactly these floats. Encoded here by their definition: 2^e * (1 + m/1024).
  std::string halves;
  Tensor widened = Tensor::zeros(DType::kF32, {1, 1, 64, 64});
  for (int64_t i = 0; i < widened.elements(); ++i) {
    const int k = static_cast<int>((i * 37) % 1024);
    widened.data<float>()[i] = static_cast<float>(k) / 1024.0f;
    uint16_t bits = 0;
    if (k > 0) {
      int e = 0;
      while ((k >> (e + 1)) > 0) ++e;  // 2^e <= k < 2^(e+1): value = 2^(e-10) * (k / 2^e)
      const int mantissa = ((k << 10) >> e) - 1024;
      bits = static_cast<uint16_t>(((e - 10 + 15) << 10) | mantissa);
    }
    halves.append(reinterpret_cast<const char*>(&bits), 2);
  }
  std::string fp16 = json{{"inputs", {{{"name", "input"}, {"shape", {1, 1, 64, 64}}, {"datatype", "FP16"},
                                       {"parameters", {{"binary_data_size", halves.size()}}}}}},
                          {"outputs", {{{"name", "output"}, {"parameters", {{"binary_data", true}}}}}}}
                         .dump();
  const size_t n16 = fp16.size();
  auto r16 = c.Post("/v2/models/unet/infer", {{"Inference-Header-Content-Length", std::to_string(n16)}}, fp16 + halves,
                    "application/octet-stream");
  ASSERT_EQ(r16->status, 200) << r16->body.substr(0, 300);
  EXPECT_EQ(binary_output(r16), values(reference_output(fixture("unet/w4_64x64/model.onnx"), widened)));

  // UINT8 in JSON: numbers, converted as numbers.
  std::vector<int> bytes(64 * 64);
  Tensor as_float = Tensor::zeros(DType::kF32, {1, 1, 64, 64});
  for (size_t i = 0; i < bytes.size(); ++i) as_float.data<float>()[i] = static_cast<float>(bytes[i] = (i * 37) % 256);
  std::string u8 = json{{"inputs", {{{"name", "input"}, {"shape", {1, 1, 64, 64}}, {"datatype", "UINT8"}, {"data", bytes}}}}}.dump();
  auto ru8 = c.Post("/v2/models/unet/infer", u8, "application/json");
  ASSERT_EQ(ru8->status, 200) << ru8->body.substr(0, 300);
  EXPECT_EQ(json::parse(ru8->body)["outputs"][0]["data"].get<std::vector<float>>(),
            values(reference_output(fixture("unet/w4_64x64/model.onnx"), as_float)));
}

TEST_F(Http, OtherImageSizesRunAndUnknownOutputsAreRefused) {
  auto c = server_->http();
  Tensor x = random_image({1, 1, 96, 128}, 8);  // not the loaded 64x64: a plan for it on first use
  auto r = c.Post("/v2/models/unet/infer", json_request("input", x), "application/json");
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  EXPECT_EQ(json::parse(r->body)["outputs"][0]["data"].get<std::vector<float>>(),
            values(reference_output(fixture("unet/w4_64x64/model.onnx"), x)));
  json req = json::parse(json_request("input", random_image({1, 1, 64, 64}, 1)));
  req["outputs"] = {{{"name", "nope"}}};
  auto bad = c.Post("/v2/models/unet/infer", req.dump(), "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(json::parse(bad->body)["error"].get<std::string>().find("'output'"), std::string::npos) << bad->body;
}

TEST_F(Http, BadRequestsGet4xxAndTheServerKeepsServing) {
  auto c = server_->http();
  const std::string good = json_request("input", random_image({1, 1, 64, 64}, 2));
  auto input = [](json shape, const std::string& type, json data) {
    return json{{"inputs", {{{"name", "input"}, {"shape", shape}, {"datatype", type}, {"data", data}}}}}.dump();
  };
  std::string deep(100000, '[');
  struct Case {
    std::string what, body, header_length;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"not JSON", "{inputs: nope", "", 400, "not valid JSON"},
      {"an array", "[1, 2, 3]", "", 400, "JSON object"},
      {"no inputs", "{}", "", 400, "\"inputs\""},
      {"no shape", R"({"inputs":[{"name":"input","datatype":"FP32","data":[1]}]})", "", 400, "\"shape\""},
      {"unknown datatype", input({1, 1, 2, 2}, "STRING", {1, 2, 3, 4}), "", 400, "datatype 'STRING'"},
      {"negative size", input({1, 1, -4, 4}, "FP32", {1}), "", 400, "negative"},
      {"overflowing shape", input({1LL << 40, 1LL << 40, 1, 1}, "FP32", {1}), "", 400, "more elements"},
      {"data shorter than the shape", input({1, 1, 64, 64}, "FP32", {1, 2, 3}), "", 400, "has 3 values"},
      {"data longer than the shape", input({1, 1, 2, 2}, "FP32", {1, 2, 3, 4, 5}), "", 400, "more than 4"},
      {"text in the data", input({1, 1, 1, 2}, "FP32", {1, "x"}), "", 400, "string"},
      {"wrong input name", json_request("picture", random_image({1, 1, 64, 64}, 1)), "", 400, "no input 'picture'"},
      {"wrong channel count", json_request("input", random_image({1, 3, 64, 64}, 1)), "", 400, "[1,1,-1,-1]"},
      {"nested ten thousand deep", deep, "", 400, "deeper than"},
      {"binary size beyond the body",
       json{{"inputs", {{{"name", "input"}, {"shape", {1, 1, 64, 64}}, {"datatype", "FP32"},
                         {"parameters", {{"binary_data_size", 16384}}}}}}}.dump() + "short",
       "", 400, ""},
      {"header length beyond the body", good, std::to_string(good.size() + 10), 400, "Inference-Header-Content-Length"},
      {"header length not a number", good, "12abc", 400, "not a byte count"},
      {"bytes no input claims", good + "trailing", std::to_string(good.size()), 400, "no input claims"},
  };
  for (const Case& k : cases) {
    httplib::Headers h;
    if (!k.header_length.empty()) h.emplace("Inference-Header-Content-Length", k.header_length);
    // binary-size case: the JSON part is everything before "short"
    if (k.what == "binary size beyond the body") h.emplace("Inference-Header-Content-Length", std::to_string(k.body.size() - 5));
    auto r = c.Post("/v2/models/unet/infer", h, k.body, "application/json");
    ASSERT_TRUE(r) << k.what;
    EXPECT_EQ(r->status, k.status) << k.what << ": " << r->body;
    json err = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(err.is_object() && err.contains("error")) << k.what << ": " << r->body;
    EXPECT_NE(err["error"].get<std::string>().find(k.says), std::string::npos) << k.what << ": " << r->body;
  }
  EXPECT_EQ(c.Post("/v2/models/nope/infer", good, "application/json")->status, 404);
  EXPECT_EQ(c.Post("/v2/models/unet/versions/7/infer", good, "application/json")->status, 404);
  // Larger than --max-body-mb 8.
  auto big = c.Post("/v2/models/unet/infer", std::string(9 << 20, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  // Still serving, and still right.
  auto r = c.Post("/v2/models/unet/infer", good, "application/json");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
}

TEST_F(Http, StatisticsAndMetricsCountRequests) {
  auto c = server_->http();
  auto count = [&] {
    return json::parse(c.Get("/v2/models/wood_grain/stats")->body)["model_stats"][0]["inference_count"].get<int>();
  };
  const int before = count();
  const std::string body = json_request("image", random_image({1, 1, 512, 512}, 4));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(c.Post("/v2/models/wood_grain/infer", body, "application/json")->status, 200);
  EXPECT_EQ(c.Post("/v2/models/wood_grain/infer", "{}", "application/json")->status, 400);
  EXPECT_EQ(count(), before + 3);
  auto m = c.Get("/metrics");
  ASSERT_EQ(m->status, 200);
  const std::string& t = m->body;
  EXPECT_NE(t.find("kiln_requests_total{model=\"wood_grain\",outcome=\"success\"} " + std::to_string(before + 3)),
            std::string::npos) << t.substr(0, 2000);
  EXPECT_NE(t.find("kiln_requests_total{model=\"wood_grain\",outcome=\"client_error\"} "), std::string::npos);
  EXPECT_NE(t.find("kiln_compute_duration_seconds_bucket{model=\"wood_grain\",le=\"+Inf\"}"), std::string::npos);
  EXPECT_NE(t.find("kiln_model_state{model=\"leather\",state=\"ready\"} 1"), std::string::npos);
  // leather and wood_grain share one plan: one plan line counts two models.
  EXPECT_NE(t.find("} 2\n", t.find("kiln_plan_models{plan=")), std::string::npos) << t.substr(t.find("kiln_plan_models"), 400);
}

}  // namespace
}  // namespace kiln
