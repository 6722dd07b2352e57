// What kiln decides about speed on the machine it runs on, through the real binary: the
// compute threads reach the runners, the OpenMP wait policy is PASSIVE unless the
// environment chooses, and the timings of --precision auto are cached per CPU, so that a
// second start times nothing and chooses the same.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;

std::string fx(const std::string& rel) { return testing::source_path("tests/fixtures/" + rel); }

nlohmann::json last_json(const std::string& output) {
  size_t at = output.rfind("\n{");
  at = at == std::string::npos ? output.find('{') : at + 1;
  return nlohmann::json::parse(output.substr(at == std::string::npos ? 0 : at), nullptr, false);
}

TEST(SpeedChoices, ThreadsReachTheRunner) {
  for (int threads : {1, 2}) {
    auto r = run_cli("bench " + fx("errors/tiny_conv.onnx") + " --runs 2 --json --threads " + std::to_string(threads));
    ASSERT_EQ(r.code, 0) << r.output;
    nlohmann::json j = last_json(r.output);
    ASSERT_TRUE(j.is_object()) << r.output;
    // Read back by omp_get_max_threads() on the runner's own thread.
    EXPECT_EQ(j.value("threads", -1), threads) << r.output;
  }
}

TEST(SpeedChoices, WaitPolicyIsPassiveUnlessTheEnvironmentChooses) {
  auto r = run_cli("bench " + fx("errors/tiny_conv.onnx") + " --runs 2 --json", "-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(last_json(r.output).value("wait_policy", ""), "PASSIVE") << r.output;
  r = run_cli("bench " + fx("errors/tiny_conv.onnx") + " --runs 2 --json", "OMP_WAIT_POLICY=ACTIVE");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(last_json(r.output).value("wait_policy", ""), "ACTIVE") << r.output;
}

TEST(SpeedChoices, AutoTimingsAreCachedPerCpu) {
  const fs::path dir = fs::path(::testing::TempDir()) / "kiln_timing_cache_test";
  fs::remove_all(dir);
  const std::string env = "XDG_CACHE_HOME=" + dir.string();
  const std::string cmd = "inspect " + fx("unet/w4_64x64/model.onnx") + " --precision auto --json";
  auto first = run_cli(cmd, env);
  ASSERT_EQ(first.code, 0) << first.output;
  nlohmann::json a = last_json(first.output);
  EXPECT_GT(a.value("timings_measured", 0), 0) << first.output;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir / "kiln")) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename().string().rfind("timings-", 0), 0u) << files[0];

  auto second = run_cli(cmd, env);
  ASSERT_EQ(second.code, 0) << second.output;
  nlohmann::json b = last_json(second.output);
  EXPECT_EQ(b.value("timings_measured", -1), 0) << "the second start timed again: " << second.output;
  EXPECT_EQ(a["conv_variants"], b["conv_variants"]) << "the same timings must choose the same";

  // A damaged file is no error: the timings are measured again and the file rewritten.
  std::ofstream(files[0]) << "{ not json";
  auto third = run_cli(cmd, env);
  ASSERT_EQ(third.code, 0) << third.output;
  EXPECT_GT(last_json(third.output).value("timings_measured", 0), 0) << third.output;
  nlohmann::json rewritten = nlohmann::json::parse(std::ifstream(files[0]), nullptr, false);
  EXPECT_TRUE(rewritten.is_object() && rewritten.contains("ms")) << "the cache file was not rewritten";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln
