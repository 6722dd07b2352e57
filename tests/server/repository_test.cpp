// The model repository behind kiln serve: readiness only once every model is warm, paths
// that leave the repository refused, repository control behind its switch and token, and
// weight files swapped under load with no failed request and no mixed output.
#include <gtest/gtest.h>

#include <algorithm>

#include <atomic>
#include <thread>

#include "server/server_test_util.h"

namespace kiln {
namespace {

using namespace testing;

json index_of(httplib::Client& c) {
  auto r = c.Post("/v2/repository/index", "{}", "application/json");
  return r && r->status == 200 ? json::parse(r->body) : json::array();
}

TEST(Repository, LiveAtOnceReadyOnlyWhenEveryModelIsWarm) {
  fs::path repo = standard_repository("ready");
  // A model that takes a while: the demo U-Net compiled and warmed at 1536 x 1536.
  fs::create_directories(repo / "big");
  fs::copy_file(demo_file("leather.safetensors"), repo / "big/w.safetensors");
  write_file(repo / "big/config.json",
             json{{"model", "../_shared/unet.onnx"}, {"weights", "w.safetensors"}, {"input_shape", {1, 1, 1536, 1536}}}.dump());
  ServeProcess s({"--repository", repo.string()});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = s.http();
  EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
  int not_ready = 0;
  bool ready = false;
  for (int i = 0; i < 6000 && !ready; ++i) {
    auto r = c.Get("/v2/health/ready");
    ASSERT_TRUE(r);
    json idx = index_of(c);
    bool all = !idx.empty();
    for (const json& m : idx) all = all && m["state"] == "READY";
    if (r->status == 200) {
      ready = true;
      EXPECT_TRUE(all) << idx.dump();  // ready means every model ready
      EXPECT_EQ(idx.size(), 4u) << idx.dump();
    } else {
      EXPECT_EQ(r->status, 503);
      ++not_ready;
      // A model not ready refuses requests with 503, not an error (unless it became ready
      // between the two requests).
      if (c.Get("/v2/models/big/ready")->status == 503) {
        const int infer = c.Post("/v2/models/big/infer", json_request("image", random_image({1, 1, 64, 64}, 1)),
                                 "application/json")->status;
        if (infer != 503) EXPECT_EQ(c.Get("/v2/models/big/ready")->status, 200) << "answered " << infer << " while not ready";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_TRUE(ready) << s.log();
  EXPECT_GT(not_ready, 0) << "the server was ready at its first answer: the slow model did not show";
  EXPECT_TRUE(s.log_shows("model 'big': ready in")) << s.log();
  EXPECT_EQ(s.terminate(), 0);
}

TEST(Repository, PathsThatLeaveTheRepositoryAreRefused) {
  fs::path repo = make_repository("escape");
  fs::path outside = fs::path(::testing::TempDir()) / "kiln_outside";
  fs::create_directories(outside);
  fs::copy_file(fixture("unet/w4_64x64/model.onnx"), outside / "model.onnx", fs::copy_options::overwrite_existing);
  fs::create_directories(repo / "good");
  fs::copy_file(fixture("unet/w4_64x64/model.onnx"), repo / "good/model.onnx");
  write_file(repo / "dotdot/config.json", json{{"model", "../../kiln_outside/model.onnx"}}.dump());
  write_file(repo / "absolute/config.json", json{{"model", (outside / "model.onnx").string()}}.dump());
  fs::create_directories(repo / "linked_file");
  fs::create_symlink(outside / "model.onnx", repo / "linked_file/model.onnx");
  fs::create_directory_symlink(outside, repo / "linked_folder");
  write_file(repo / "typo/config.json", json{{"modle", "x.onnx"}}.dump());
  ServeProcess s({"--repository", repo.string()});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = s.http();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (c.Get("/v2/models/good/ready")->status != 200 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(c.Get("/v2/models/good/ready")->status, 200);
  json idx = index_of(c);
  std::map<std::string, json> by_name;
  for (const json& m : idx) by_name[m["name"]] = m;
  const std::map<std::string, std::string> refused = {{"dotdot", "leaves the repository"},
                                                      {"absolute", "absolute"},
                                                      {"linked_file", "leaves the repository"},
                                                      {"linked_folder", "leaves the repository"},
                                                      {"typo", "unknown field \"modle\""}};
  for (const auto& [name, why] : refused) {
    ASSERT_TRUE(by_name.count(name)) << name << " missing from " << idx.dump();
    EXPECT_EQ(by_name[name]["state"], "UNAVAILABLE") << name;
    EXPECT_NE(by_name[name]["reason"].get<std::string>().find(why), std::string::npos) << by_name[name].dump();
    EXPECT_EQ(c.Get("/v2/models/" + name)->status, 404) << name;
  }
  EXPECT_EQ(by_name["good"]["state"], "READY");
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 503);  // strict: a broken folder is a model not ready
  EXPECT_EQ(c.Get("/v2/models/%2e%2e/ready")->status, 404);
  EXPECT_EQ(s.terminate(), 0);
}

TEST(Repository, ControlNeedsTheSwitchAndTheToken) {
  fs::path repo = standard_repository("control");
  {
    ServeProcess off({"--repository", repo.string()});
    ASSERT_TRUE(off.wait_ready()) << off.log();
    auto r = off.http().Post("/v2/repository/models/unet/unload", "", "application/json");
    EXPECT_EQ(r->status, 403);
    EXPECT_NE(r->body.find("--model-control explicit"), std::string::npos);
    EXPECT_EQ(off.terminate(), 0);
  }
  const std::string token = "kiln-test-token-0123456789abcdef";
  const fs::path token_file = repo.parent_path() / "kiln_admin_token";
  write_file(token_file, token + "\n");
  ServeProcess s({"--repository", repo.string(), "--model-control", "explicit", "--admin-token-file", token_file.string()});
  ASSERT_TRUE(s.wait_ready()) << s.log();
  auto c = s.http();
  const httplib::Headers right = {{"Authorization", "Bearer " + token}}, wrong = {{"Authorization", "Bearer nope"}};
  EXPECT_EQ(c.Post("/v2/repository/models/unet/unload", "", "application/json")->status, 401);
  EXPECT_EQ(c.Post("/v2/repository/models/unet/unload", wrong, "", "application/json")->status, 401);
  EXPECT_EQ(c.Post("/v2/repository/models/../load", right, "", "application/json")->status / 100, 4);
  ASSERT_EQ(c.Post("/v2/repository/models/unet/unload", right, "", "application/json")->status, 200);
  const std::string body = json_request("input", random_image({1, 1, 64, 64}, 1));
  EXPECT_EQ(c.Post("/v2/models/unet/infer", body, "application/json")->status, 404);
  // Unloaded, it is still the repository's: listed as such, so it can be loaded again.
  auto index = json::parse(c.Post("/v2/repository/index", "", "application/json")->body);
  const json unloaded = {{"name", "unet"}, {"state", "UNAVAILABLE"}, {"reason", "unloaded"}};
  EXPECT_NE(std::find(index.begin(), index.end(), unloaded), index.end()) << index.dump();
  auto listed = json::parse(c.Get("/kiln/v1/models")->body);
  const json listed_unloaded = {{"name", "unet"}, {"state", "unloaded"}};
  EXPECT_NE(std::find(listed.begin(), listed.end(), listed_unloaded), listed.end()) << listed.dump();
  EXPECT_EQ(c.Post("/v2/models/leather/infer", json_request("image", random_image({1, 1, 512, 512}, 1)),
                   "application/json")->status, 200);  // the others serve on
  ASSERT_EQ(c.Post("/v2/repository/models/unet/load", right, "", "application/json")->status, 200);
  ASSERT_TRUE(s.wait_ready()) << s.log();
  EXPECT_EQ(c.Post("/v2/models/unet/infer", body, "application/json")->status, 200);
  EXPECT_EQ(c.Post("/v2/repository/models/not_there/load", right, "", "application/json")->status, 404);
  // Loading a loaded model prepares it again behind the serving one: no gap.
  const std::string leather = json_request("image", random_image({1, 1, 512, 512}, 2));
  ASSERT_EQ(c.Post("/v2/repository/models/leather/load", right, "", "application/json")->status, 200);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (s.log().find("model 'leather': the new version serves") == std::string::npos &&
         std::chrono::steady_clock::now() < until) {
    EXPECT_EQ(c.Get("/v2/models/leather/ready")->status, 200);
    EXPECT_EQ(c.Post("/v2/models/leather/infer", leather, "application/json")->status, 200);
  }
  EXPECT_NE(s.log().find("model 'leather': the new version serves"), std::string::npos) << s.log();
  EXPECT_EQ(c.Post("/v2/models/leather/infer", leather, "application/json")->status, 200);
  EXPECT_EQ(s.terminate(), 0);
}

TEST(Repository, WeightFilesSwapUnderLoadWithNoFailureAndNoMixedOutput) {
  fs::path repo = make_repository("swap");
  fs::create_directories(repo / "_shared");
  fs::copy_file(demo_file("unet.onnx"), repo / "_shared/unet.onnx");
  fs::copy_file(demo_file("leather.safetensors"), repo / "_shared/a.safetensors");
  fs::copy_file(demo_file("wood_grain.safetensors"), repo / "_shared/b.safetensors");
  fs::create_directories(repo / "flip");
  fs::copy_file(repo / "_shared/a.safetensors", repo / "flip/w.safetensors");
  write_file(repo / "flip/config.json", json{{"model", "../_shared/unet.onnx"}, {"weights", "w.safetensors"},
                                             {"input_shape", {1, 1, 64, 64}}}.dump());
  Tensor x = random_image({1, 1, 64, 64}, 21);
  const std::vector<float> out_a = values(reference_output(demo_file("unet.onnx"), x, demo_file("leather.safetensors")));
  const std::vector<float> out_b = values(reference_output(demo_file("unet.onnx"), x, demo_file("wood_grain.safetensors")));
  ASSERT_NE(out_a, out_b);
  ServeProcess s({"--repository", repo.string(), "--poll-repository", "0.05", "--runners", "2"});
  ASSERT_TRUE(s.wait_ready()) << s.log();

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, mixed{0}, saw_a{0}, saw_b{0};
  std::string first_failure;
  std::mutex mu;
  auto [body, n] = binary_request("image", x);
  std::vector<std::thread> clients;
  for (int k = 0; k < 3; ++k)
    clients.emplace_back([&, body = body, n = n] {
      auto c = s.http();
      const httplib::Headers h = {{"Inference-Header-Content-Length", std::to_string(n)}};
      for (int i = 0; i < 3000 && !stop; ++i) {
        auto r = c.Post("/v2/models/flip/infer", h, body, "application/octet-stream");
        if (!r || r->status != 200) {
          std::lock_guard<std::mutex> lock(mu);
          if (failed++ == 0) first_failure = r ? r->body : httplib::to_string(r.error());
          continue;
        }
        std::vector<float> got = binary_output(r);
        ++ok;
        if (got == out_a) ++saw_a;
        else if (got == out_b) ++saw_b;
        else ++mixed;
      }
    });
  auto put = [&](const std::string& from) {  // as a deploy would: write beside, then rename over
    fs::copy_file(repo / "_shared" / from, repo / "flip/w.tmp", fs::copy_options::overwrite_existing);
    fs::rename(repo / "flip/w.tmp", repo / "flip/w.safetensors");
  };
  for (int flip = 0; flip < 8; ++flip) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    put(flip % 2 == 0 ? "b.safetensors" : "a.safetensors");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // A broken file: refused, the last good weights serve on, the index says why.
  write_file(repo / "flip/w.tmp", "not a safetensors file at all");
  fs::rename(repo / "flip/w.tmp", repo / "flip/w.safetensors");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  stop = true;
  for (auto& t : clients) t.join();

  std::printf("[swap] %d requests answered while the weights flipped 8 times: %d with A's outputs, %d with B's, "
              "%d failed, %d mixed\n", ok.load(), saw_a.load(), saw_b.load(), failed.load(), mixed.load());
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_GT(ok.load(), 100);
  EXPECT_GT(saw_a.load(), 0);
  EXPECT_GT(saw_b.load(), 0);
  auto c = s.http();
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("kiln_weight_swaps_total{model=\"flip\",outcome=\"success\"} 8"), std::string::npos)
      << metrics.substr(metrics.find("kiln_weight_swaps_total"), 300) << s.log();
  EXPECT_NE(metrics.find("kiln_weight_swaps_total{model=\"flip\",outcome=\"failure\"} 1"), std::string::npos);
  json idx = index_of(c);
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx[0]["state"], "READY");
  EXPECT_NE(idx[0]["reason"].get<std::string>().find("old weights serve"), std::string::npos) << idx.dump();
  auto r = c.Post("/v2/models/flip/infer", {{"Inference-Header-Content-Length", std::to_string(n)}}, body,
                  "application/octet-stream");
  EXPECT_EQ(binary_output(r), out_a);  // the eighth flip put A back
  EXPECT_EQ(s.terminate(), 0);
}

}  // namespace
}  // namespace kiln
