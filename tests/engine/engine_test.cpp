// The engine: shared plans, weight files, hot swaps under load, the pack cache, states.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "import/weight_file.h"
#include "import/import.h"
#include "import/safetensors.h"
#include "kiln/engine.h"
#include "optimize/optimize.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

std::string fx(const std::string& rel) { return testing::source_path("tests/fixtures/" + rel); }
const std::string kA = "unet/w4_64x64";                    // the architecture, weights A
const std::string kB = "unet/w4_64x64_seed11_renamed";     // same architecture, weights B, other names
const std::string kOther = "unet/w8_96x128";               // another architecture

Tensor npy(const std::string& rel) {
  auto t = read_npy(fx(rel));
  EXPECT_TRUE(t) << rel;
  return t ? *t : Tensor();
}

LoadSpec spec(const std::string& dir) {
  LoadSpec s;
  s.model = fx(dir + "/model.onnx");
  return s;
}

Tensor run1(Engine& e, const std::string& name, const Tensor& x) {
  auto out = e.run(name, {x});
  EXPECT_TRUE(out) << out.error().message();
  return out ? (*out)[0] : Tensor();
}

std::string temp_dir(const std::string& name) {
  fs::path p = fs::path(::testing::TempDir()) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// B's weights under A's tensor names, as a safetensors file (what a PyTorch user would save).
std::string write_b_as_safetensors(const std::string& path) {
  auto a = import_onnx(fx(kA + "/model.onnx"), {});
  auto b = import_onnx(fx(kB + "/model.onnx"), {});
  EXPECT_TRUE(a && b);
  optimize(a->graph);
  optimize(b->graph);
  WeightSignature sa = weight_signature(a->graph), sb = weight_signature(b->graph);
  RawWeights out;
  for (size_t i = 0; i < sa.names.size(); ++i) out.tensors[sa.names[i]] = b->weights.tensors.at(sb.names[i]);
  EXPECT_TRUE(write_safetensors(path, out));
  return path;
}

TEST(Engine, TwoExportsOfOneArchitectureShareAPlan) {
  Engine e;
  ASSERT_TRUE(e.load("a", spec(kA)));
  ASSERT_TRUE(e.load("b", spec(kB)));
  ASSERT_TRUE(e.load("other", spec(kOther)));
  ASSERT_TRUE(e.wait_ready("a", seconds(60)));
  ASSERT_TRUE(e.wait_ready("b", seconds(60)));
  ASSERT_TRUE(e.wait_ready("other", seconds(60)));
  EXPECT_FALSE(e.status("a")->plan_shared);
  EXPECT_TRUE(e.status("b")->plan_shared);       // renamed tensors, other weights: same plan
  EXPECT_FALSE(e.status("other")->plan_shared);  // another architecture: its own plan
  EXPECT_EQ(e.status("a")->fingerprint, e.status("b")->fingerprint);
  EXPECT_NE(e.status("a")->fingerprint, e.status("other")->fingerprint);
  EXPECT_EQ(e.memory().plans, 2u);
  EXPECT_EQ(e.memory().models, 3u);
  // Each model computes with its own weights.
  EXPECT_LE(testing::max_abs_diff(run1(e, "a", npy(kA + "/input.npy")), npy(kA + "/expected.npy")), 1e-4);
  EXPECT_LE(testing::max_abs_diff(run1(e, "b", npy(kB + "/input.npy")), npy(kB + "/expected.npy")), 1e-4);
  EXPECT_LE(testing::max_abs_diff(run1(e, "other", npy(kOther + "/input.npy")), npy(kOther + "/expected.npy")), 1e-4);
}

TEST(Engine, ReadyMeansPreparedWithProgressAndTimings) {
  Engine e;
  ASSERT_TRUE(e.load("a", spec(kA)));
  ASSERT_TRUE(e.wait_ready("a", seconds(60)));
  ModelStatus s = *e.status("a");
  EXPECT_EQ(s.state, ModelState::kReady);
  EXPECT_EQ(s.progress, 1.0);
  EXPECT_GT(s.warmup_ms, 0.0);  // the first model of a plan runs once before it is ready
  EXPECT_GT(s.weight_bytes, 0u);
  EXPECT_FALSE(e.load("a", spec(kA)));  // names are unique
}

TEST(Engine, FailedLoadReportsWhyAndOthersKeepServing) {
  Engine e;
  ASSERT_TRUE(e.load("a", spec(kA)));
  ASSERT_TRUE(e.load("broken", LoadSpec{fx("errors/truncated.onnx")}));
  ASSERT_TRUE(e.load("missing", LoadSpec{fx("no/such.onnx")}));
  ASSERT_TRUE(e.wait_ready("a", seconds(60)));
  Status s = e.wait_ready("broken", seconds(60));
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  EXPECT_EQ(e.status("broken")->state, ModelState::kFailed);
  EXPECT_FALSE(e.wait_ready("missing", seconds(60)));
  EXPECT_FALSE(e.run("broken", {npy(kA + "/input.npy")}));
  EXPECT_FALSE(e.run("nobody", {npy(kA + "/input.npy")}));
  EXPECT_LE(testing::max_abs_diff(run1(e, "a", npy(kA + "/input.npy")), npy(kA + "/expected.npy")), 1e-4);
}

TEST(Engine, WeightsFromSafetensorsAndFromAnotherExport) {
  std::string dir = temp_dir("kiln_engine_st");
  std::string st = write_b_as_safetensors(dir + "/b.safetensors");
  Engine e;
  LoadSpec s = spec(kA);
  s.weights = st;
  ASSERT_TRUE(e.load("a_with_b", s));
  ASSERT_TRUE(e.wait_ready("a_with_b", seconds(60))) << e.status("a_with_b")->error;
  EXPECT_LE(testing::max_abs_diff(run1(e, "a_with_b", npy(kB + "/input.npy")), npy(kB + "/expected.npy")), 1e-4);
  // Swap back to A's weights from A's ONNX file, then to B's from B's differently named export.
  ASSERT_TRUE(e.load_weights("a_with_b", fx(kA + "/model.onnx")));
  EXPECT_LE(testing::max_abs_diff(run1(e, "a_with_b", npy(kA + "/input.npy")), npy(kA + "/expected.npy")), 1e-4);
  ASSERT_TRUE(e.load_weights("a_with_b", fx(kB + "/model.onnx")));
  EXPECT_LE(testing::max_abs_diff(run1(e, "a_with_b", npy(kB + "/input.npy")), npy(kB + "/expected.npy")), 1e-4);
}

TEST(Engine, MismatchedWeightFilesAreRefusedAndTheOldWeightsKeepServing) {
  std::string dir = temp_dir("kiln_engine_bad");
  Engine e;
  ASSERT_TRUE(e.load("a", spec(kA)));
  ASSERT_TRUE(e.wait_ready("a", seconds(60)));
  Tensor x = npy(kA + "/input.npy"), want = npy(kA + "/expected.npy");

  Status other = e.load_weights("a", fx(kOther + "/model.onnx"));
  ASSERT_FALSE(other);
  EXPECT_NE(other.message().find("another architecture"), std::string::npos) << other.message();

  auto a = import_onnx(fx(kA + "/model.onnx"), {});
  ASSERT_TRUE(a);
  optimize(a->graph);
  WeightSignature sig = weight_signature(a->graph);
  RawWeights good;
  for (const std::string& n : sig.names) good.tensors[n] = a->weights.tensors.at(n);

  RawWeights missing = good;
  missing.tensors.erase(sig.names[3]);
  ASSERT_TRUE(write_safetensors(dir + "/missing.safetensors", missing));
  Status m = e.load_weights("a", dir + "/missing.safetensors");
  ASSERT_FALSE(m);
  EXPECT_NE(m.message().find("'" + sig.names[3] + "'"), std::string::npos) << m.message();
  EXPECT_NE(m.message().find("missing"), std::string::npos) << m.message();

  RawWeights wrong_shape = good;
  wrong_shape.tensors[sig.names[0]] = Tensor::zeros(DType::kF32, {1, 2, 3});
  ASSERT_TRUE(write_safetensors(dir + "/shape.safetensors", wrong_shape));
  Status ws = e.load_weights("a", dir + "/shape.safetensors");
  ASSERT_FALSE(ws);
  EXPECT_NE(ws.message().find("[1,2,3]"), std::string::npos) << ws.message();

  RawWeights extra = good;
  extra.tensors["not_in_the_model"] = Tensor::zeros(DType::kF32, {4});
  ASSERT_TRUE(write_safetensors(dir + "/extra.safetensors", extra));
  Status ex = e.load_weights("a", dir + "/extra.safetensors");
  ASSERT_FALSE(ex);
  EXPECT_NE(ex.message().find("not_in_the_model"), std::string::npos) << ex.message();

  std::ofstream(dir + "/garbage.safetensors") << "not a safetensors file at all";
  EXPECT_FALSE(e.load_weights("a", dir + "/garbage.safetensors"));

  // A name map fixes names that differ.
  RawWeights renamed;
  std::map<std::string, std::string> map;
  for (const auto& [n, t] : good.tensors) {
    renamed.tensors["model." + n] = t;
    map["model." + n] = n;
  }
  ASSERT_TRUE(write_safetensors(dir + "/renamed.safetensors", renamed));
  EXPECT_FALSE(e.load_weights("a", dir + "/renamed.safetensors"));
  EXPECT_TRUE(e.load_weights("a", dir + "/renamed.safetensors", map));

  EXPECT_LE(testing::max_abs_diff(run1(e, "a", x), want), 1e-4);
}

TEST(Engine, SwappingWeightsUnderConcurrentLoadNeverMixesThem) {
  EngineOptions opt;
  opt.runners = 2;
  Engine e(opt);
  ASSERT_TRUE(e.load("m", spec(kA)));
  ASSERT_TRUE(e.wait_ready("m", seconds(60)));
  Tensor x = npy(kA + "/input.npy");
  // References: the same input under each weight set, each checked against PyTorch first.
  Tensor ref_a = run1(e, "m", x);
  ASSERT_LE(testing::max_abs_diff(ref_a, npy(kA + "/expected.npy")), 1e-4);
  ASSERT_TRUE(e.load_weights("m", fx(kB + "/model.onnx")));
  Tensor ref_b = run1(e, "m", x);
  ASSERT_LE(testing::max_abs_diff(run1(e, "m", npy(kB + "/input.npy")), npy(kB + "/expected.npy")), 1e-4);
  ASSERT_GT(testing::max_abs_diff(ref_a, ref_b), 1e-2);  // the two weight sets really differ

  std::atomic<bool> stop{false};
  std::atomic<int> runs{0}, as{0}, bs{0}, mixed{0};
  auto client = [&] {
    while (!stop) {
      auto out = e.run("m", {x});
      if (!out) { ++mixed; continue; }
      double da = testing::max_abs_diff((*out)[0], ref_a), db = testing::max_abs_diff((*out)[0], ref_b);
      if (da <= 1e-6) ++as;
      else if (db <= 1e-6) ++bs;
      else ++mixed;
      ++runs;
    }
  };
  std::thread c1(client), c2(client);
  // Swap back and forth while both clients run, until each weight set has served runs
  // (bounded in time so a broken build fails instead of hanging).
  auto deadline = std::chrono::steady_clock::now() + seconds(20);
  int swaps = 0;
  while ((runs < 200 || as == 0 || bs == 0) && std::chrono::steady_clock::now() < deadline) {
    Status s = e.load_weights("m", fx((swaps % 2 ? kA : kB) + "/model.onnx"));
    if (!s) { ADD_FAILURE() << s.message(); break; }
    ++swaps;
  }
  stop = true;
  c1.join();
  c2.join();
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_GT(as.load(), 0);
  EXPECT_GT(bs.load(), 0);
  EXPECT_GT(swaps, 2);
  std::printf("[swaps] %d swaps, %d runs on A's weights, %d on B's\n", swaps, as.load(), bs.load());
}

TEST(Engine, PackCacheIsUsedAndCorruptEntriesAreRebuilt) {
  std::string cache = temp_dir("kiln_engine_cache");
  EngineOptions opt;
  opt.cache_dir = cache;
  Tensor x = npy(kA + "/input.npy"), want = npy(kA + "/expected.npy");
  {
    Engine e(opt);
    ASSERT_TRUE(e.load("a", spec(kA)));
    ASSERT_TRUE(e.wait_ready("a", seconds(60)));
    EXPECT_FALSE(e.status("a")->weights_from_cache);
  }
  std::vector<fs::path> entries;
  for (const auto& f : fs::directory_iterator(cache)) entries.push_back(f.path());
  ASSERT_EQ(entries.size(), 1u);
  {
    Engine e(opt);  // a restart: the pack is mapped, not rebuilt
    ASSERT_TRUE(e.load("a", spec(kA)));
    ASSERT_TRUE(e.wait_ready("a", seconds(60)));
    EXPECT_TRUE(e.status("a")->weights_from_cache);
    EXPECT_GT(e.memory().weight_bytes_mapped, 0u);
    EXPECT_LE(testing::max_abs_diff(run1(e, "a", x), want), 1e-4);
  }
  // Flip one byte in the data: the checksum refuses it, and it is rebuilt.
  {
    std::fstream f(entries[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(entries[0]) - 100));
    char c;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(entries[0]) - 100));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  {
    Engine e(opt);
    ASSERT_TRUE(e.load("a", spec(kA)));
    ASSERT_TRUE(e.wait_ready("a", seconds(60)));
    EXPECT_FALSE(e.status("a")->weights_from_cache);
    EXPECT_LE(testing::max_abs_diff(run1(e, "a", x), want), 1e-4);
  }
  // Truncated: refused and rebuilt too; afterwards the entry is good again.
  fs::resize_file(entries[0], fs::file_size(entries[0]) / 2);
  {
    Engine e(opt);
    ASSERT_TRUE(e.load("a", spec(kA)));
    ASSERT_TRUE(e.wait_ready("a", seconds(60)));
    EXPECT_FALSE(e.status("a")->weights_from_cache);
    EXPECT_LE(testing::max_abs_diff(run1(e, "a", x), want), 1e-4);
  }
  {
    Engine e(opt);
    ASSERT_TRUE(e.load("a", spec(kA)));
    ASSERT_TRUE(e.wait_ready("a", seconds(60)));
    EXPECT_TRUE(e.status("a")->weights_from_cache);
  }
}

TEST(Engine, CacheSizeLimitEvictsOldEntries) {
  std::string cache = temp_dir("kiln_engine_cache_limit");
  EngineOptions opt;
  opt.cache_dir = cache;
  opt.cache_limit_bytes = 1;  // smaller than any entry: only the newest write survives, then goes too
  Engine e(opt);
  ASSERT_TRUE(e.load("a", spec(kA)));
  ASSERT_TRUE(e.load("b", spec(kB)));
  ASSERT_TRUE(e.wait_ready("b", seconds(60)));
  size_t n = 0;
  for (const auto& f : fs::directory_iterator(cache)) n += f.path().extension() == ".kwp";
  EXPECT_EQ(n, 0u);
}

TEST(Engine, ExportedPackLoadsAsWeights) {
  std::string dir = temp_dir("kiln_engine_pack");
  Engine e;
  ASSERT_TRUE(e.load("b", spec(kB)));
  ASSERT_TRUE(e.wait_ready("b", seconds(60)));
  ASSERT_TRUE(e.export_pack("b", dir + "/b.kwp"));
  LoadSpec s = spec(kA);
  s.weights = dir + "/b.kwp";
  ASSERT_TRUE(e.load("a_from_pack", s));
  ASSERT_TRUE(e.wait_ready("a_from_pack", seconds(60))) << e.status("a_from_pack")->error;
  EXPECT_LE(testing::max_abs_diff(run1(e, "a_from_pack", npy(kB + "/input.npy")), npy(kB + "/expected.npy")), 1e-4);
  // A pack of another architecture is refused.
  ASSERT_TRUE(e.load("other", spec(kOther)));
  ASSERT_TRUE(e.wait_ready("other", seconds(60)));
  Status s2 = e.load_weights("other", dir + "/b.kwp");
  ASSERT_FALSE(s2);
  EXPECT_NE(s2.message().find("another architecture"), std::string::npos) << s2.message();
}

TEST(Engine, UnloadFreesWeightsAndTheLastModelFreesThePlan) {
  Engine e;
  ASSERT_TRUE(e.load("a", spec(kA)));
  ASSERT_TRUE(e.load("b", spec(kB)));
  ASSERT_TRUE(e.wait_ready("b", seconds(60)));
  ASSERT_TRUE(e.wait_ready("a", seconds(60)));
  MemoryReport before = e.memory();
  EXPECT_EQ(before.plans, 1u);
  ASSERT_TRUE(e.unload("a"));
  MemoryReport mid = e.memory();
  EXPECT_EQ(mid.models, 1u);
  EXPECT_LT(mid.weight_bytes_resident, before.weight_bytes_resident);
  EXPECT_EQ(mid.plans, 1u);
  ASSERT_TRUE(e.unload("b"));
  EXPECT_EQ(e.memory().plans, 0u);
  EXPECT_FALSE(e.unload("b"));
}

TEST(Engine, FreedWeightBuffersAreReusedByTheNextModel) {
  Engine e;
  ASSERT_TRUE(e.load("a", spec(kA)));
  ASSERT_TRUE(e.load("b", spec(kB)));
  ASSERT_TRUE(e.wait_ready("a", seconds(60)));
  ASSERT_TRUE(e.wait_ready("b", seconds(60)));
  size_t bytes = e.status("a")->weight_bytes;
  EXPECT_EQ(e.memory().spare_weight_bytes, 0u);
  ASSERT_TRUE(e.unload("b"));
  // Weights go when their last holder lets go (a run in flight, or the preparing thread
  // finishing its bookkeeping), so the buffer comes back shortly after the unload.
  auto deadline = std::chrono::steady_clock::now() + seconds(5);
  while (e.memory().spare_weight_bytes == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(e.memory().spare_weight_bytes, bytes);  // kept, and reported
  // The next model packs into that buffer, and its results are its own weights' results.
  ASSERT_TRUE(e.load("c", spec(kB)));
  ASSERT_TRUE(e.wait_ready("c", seconds(60)));
  EXPECT_EQ(e.memory().spare_weight_bytes, 0u);
  EXPECT_LE(testing::max_abs_diff(run1(e, "c", npy(kB + "/input.npy")), npy(kB + "/expected.npy")), 1e-4);
  EXPECT_LE(testing::max_abs_diff(run1(e, "a", npy(kA + "/input.npy")), npy(kA + "/expected.npy")), 1e-4);
  EngineOptions off;
  off.recycle_weight_bytes = 0;
  Engine f(off);
  ASSERT_TRUE(f.load("a", spec(kA)));
  ASSERT_TRUE(f.load("b", spec(kB)));
  ASSERT_TRUE(f.wait_ready("b", seconds(60)));
  ASSERT_TRUE(f.unload("b"));
  EXPECT_EQ(f.memory().spare_weight_bytes, 0u);
}

// A request of another input size gets a plan of its own (shared with other models of the
// architecture at that size) and matches a model loaded at that size; swapping weights
// drops it; a size the network cannot take is refused and the model keeps serving.
TEST(Engine, OtherInputSizesRunOnPlansOfTheirOwn) {
  Engine e;
  ASSERT_TRUE(e.load("a", spec(kA)));
  LoadSpec at_96x64 = spec(kA);
  at_96x64.input_shapes[""] = {1, 1, 96, 64};
  ASSERT_TRUE(e.load("a96", at_96x64));
  ASSERT_TRUE(e.wait_ready("a", seconds(60)));
  ASSERT_TRUE(e.wait_ready("a96", seconds(60)));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  Tensor x = Tensor::zeros(DType::kF32, {1, 1, 96, 64});
  for (int64_t i = 0; i < x.elements(); ++i) x.data<float>()[i] = uniform(rng);
  Tensor want = run1(e, "a96", x);
  EXPECT_LE(testing::max_abs_diff(run1(e, "a", x), want), 1e-6);  // compiled on first use
  EXPECT_LE(testing::max_abs_diff(run1(e, "a", x), want), 1e-6);  // and kept
  EXPECT_LE(testing::max_abs_diff(run1(e, "a", npy(kA + "/input.npy")), npy(kA + "/expected.npy")), 1e-4);
  // After a swap the other size runs the new weights.
  ASSERT_TRUE(e.load_weights("a", fx(kB + "/model.onnx")));
  ASSERT_TRUE(e.load_weights("a96", fx(kB + "/model.onnx")));
  EXPECT_LE(testing::max_abs_diff(run1(e, "a", x), run1(e, "a96", x)), 1e-6);
  auto bad = e.run("a", {Tensor::zeros(DType::kF32, {1, 1, 50, 50})});  // not a multiple of 16
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("input shape"), std::string::npos) << bad.error().message();
  EXPECT_LE(testing::max_abs_diff(run1(e, "a", x), run1(e, "a96", x)), 1e-6);
}

}  // namespace
}  // namespace kiln
