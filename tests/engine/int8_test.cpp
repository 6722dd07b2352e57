// int8 inference on the committed demo models (U-Net-8, 512x512), against fp32 (the
// reference, itself checked against PyTorch elsewhere): calibration, int8 plans that share
// one plan across models, agreement of the masks, and the errors of a missing, corrupt or
// mismatched calibration.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>

#include "kiln/calibration.h"
#include "kiln/demo.h"
#include "kiln/engine.h"
#include "kiln/model.h"
#include "test_util.h"

namespace kiln::demo {
namespace {

using std::chrono::seconds;

std::string demo_dir() { return kiln::testing::source_path("models/demo"); }
std::string demo_model() { return demo_dir() + "/unet.onnx"; }
std::string weights_of(const std::string& texture) { return demo_dir() + "/" + texture + ".safetensors"; }

bool has_vnni() {
  auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  auto want = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_vnni);
  return (isa & want) == want;
}

std::string temp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("kiln_int8_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

std::vector<Tensor> images(Texture t, uint64_t first_seed, int n) {
  std::vector<Tensor> out;
  for (int i = 0; i < n; ++i) out.push_back(generate(t, first_seed + static_cast<uint64_t>(i)).image);
  return out;
}

// Calibrates `texture`'s weights on four images and writes the calibration next to nothing
// (a temporary file), returning its path.
std::string calibrate_texture(const std::string& texture, Texture t) {
  CalibrationOptions co;
  co.weights = weights_of(texture);
  auto c = calibrate(demo_model(), images(t, 7000, 4), co);
  EXPECT_TRUE(c) << c.error().message();
  std::string path = temp_dir() + "/" + texture + ".calibration.json";
  EXPECT_TRUE(save_calibration(*c, path));
  return path;
}

// Loads `texture`'s weights with a calibration of them into `engine` as `name`, ready to run.
::testing::AssertionResult load_calibrated(Engine& engine, const std::string& name, const std::string& texture,
                                           Texture t) {
  Status s = engine.load(name, {.model = demo_model(), .weights = weights_of(texture),
                                .calibration = calibrate_texture(texture, t)});
  if (s) s = engine.wait_ready(name, seconds(60));
  if (!s) return ::testing::AssertionFailure() << name << ": " << s.message();
  return ::testing::AssertionSuccess();
}

Engine int8_engine() {
  EngineOptions eo;
  eo.precision = Precision::kInt8;
  return Engine(eo);
}

#define SKIP_WITHOUT_INT8()                                                         \
  if (!std::filesystem::exists(demo_model())) GTEST_SKIP() << "no demo models";     \
  if (!has_vnni()) GTEST_SKIP() << "this CPU has no AVX512_VNNI: int8 is refused"

TEST(Calibration, RecordsEveryActivationsRangePerChannel) {
  SKIP_WITHOUT_INT8();
  std::vector<Tensor> imgs = images(Texture::kSpeckle, 7000, 2);
  CalibrationOptions co;
  co.weights = weights_of("speckle");
  auto c = calibrate(demo_model(), imgs, co);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->images, 2);
  // The input's range is the images' own: an independent check of what was read.
  float want = 0;
  for (const Tensor& t : imgs)
    for (int64_t i = 0; i < t.elements(); ++i) want = std::max(want, t.data<float>()[i]);
  ASSERT_EQ(c->max.count("image"), 1u);
  EXPECT_FLOAT_EQ(c->max.at("image")[0], want);
  // Every activation the int8 plan reads has one range per channel; a clip lies in [0, max].
  EXPECT_GE(c->max.size(), 20u);
  for (const auto& [name, max] : c->max) {
    ASSERT_EQ(c->clip.at(name).size(), max.size()) << name;
    for (size_t k = 0; k < max.size(); ++k) {
      EXPECT_GE(c->clip.at(name)[k], 0.0f) << name;
      EXPECT_LE(c->clip.at(name)[k], std::max(max[k], 0.0f) * 1.0001f) << name;
    }
  }
  // A save/load round trip keeps it.
  std::string path = temp_dir() + "/roundtrip.json";
  ASSERT_TRUE(save_calibration(*c, path));
  auto back = load_calibration(path);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->max, c->max);
  EXPECT_EQ(back->clip, c->clip);
  EXPECT_EQ(back->fingerprint, c->fingerprint);
}

// What `kiln quantize` does, then a check on other images: calibrate on sixteen images, keep
// out of int8 the convolutions where int8 strays from fp32 on 32 images of their own until
// their mask IoU reaches 0.995 (`--check DIR --target-iou 0.995`), then compare the masks on
// eight held-out images. The margin over the 0.98 goal is wood_grain's: retrained (2400
// steps), it leaves faint stains near the threshold, where int8's small moves flip pixels;
// chosen at 0.99 on 16 or 32 images it kept one convolution out and agreed at 0.947 held out.
TEST(Int8, AgreesWithFp32OnTheDemoModels) {
  SKIP_WITHOUT_INT8();
  int all_int8 = 0;  // models that need no layer kept out of int8
  for (int k = 0; k < kTextureCount; ++k) {
    auto t = static_cast<Texture>(k);
    std::string name = texture_name(t);
    CalibrationOptions co;
    co.weights = weights_of(name);
    std::vector<Tensor> seen = images(t, 7000, 16);
    auto c = calibrate(demo_model(), seen, co);
    ASSERT_TRUE(c) << c.error().message();
    FloatLayerSearch search;
    search.target_iou = 0.995;
    auto chosen = choose_float_layers(demo_model(), *c, images(t, 8000, 32), search, co);
    ASSERT_TRUE(chosen) << chosen.error().message();
    auto held_out = compare_int8(demo_model(), *c, images(t, 500, 8), co);
    ASSERT_TRUE(held_out) << held_out.error().message();
    std::printf("[int8] %-14s held-out mask IoU vs fp32 %.4f (calibration images %.4f), mean |p_int8 - p_fp32| "
                "%.2e, %zu convolutions int8, %zu kept out of int8\n",
                name.c_str(), held_out->iou, chosen->iou, held_out->mean_abs, held_out->int8_layers.size(),
                c->float_layers.size());
    // Really int8: convolutions run VNNI kernels (16 of the network's 24 can). Measured
    // (2026-12-06): all 16 for woven_fabric and speckle, 12-13 for brushed_metal, concrete
    // and leather, 8 for wood_grain.
    EXPECT_GE(held_out->int8_layers.size(), 8u) << name;
    EXPECT_EQ(held_out->int8_layers.size() + c->float_layers.size(), 16u) << name;
    all_int8 += held_out->int8_layers.size() == 16;
    EXPECT_GE(held_out->iou, 0.98) << name;  // the goal
    EXPECT_LT(held_out->mean_abs, 5e-3) << name;
    EXPECT_GT(held_out->max_abs, 0.0) << name << ": identical to fp32, so not quantized";
  }
  EXPECT_GE(all_int8, 2);
}

TEST(Int8, ModelsOfOneArchitectureShareTheInt8Plan) {
  SKIP_WITHOUT_INT8();
  Engine engine = int8_engine();
  ASSERT_TRUE(load_calibrated(engine, "speckle", "speckle", Texture::kSpeckle));
  ASSERT_TRUE(load_calibrated(engine, "leather", "leather", Texture::kLeather));
  auto st = engine.status("leather");
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->plan_shared);
  // Each runs with its own weights and scales: the same as a Model of its own.
  Tensor image = generate(Texture::kLeather, 501).image;
  auto from_engine = engine.run("leather", {image});
  ModelOptions opt;
  opt.weights = weights_of("leather");
  opt.precision = Precision::kInt8;
  opt.calibration = temp_dir() + "/leather.calibration.json";
  auto alone = Model::load(demo_model(), opt);
  ASSERT_TRUE(from_engine && alone);
  auto want = alone->run({image});
  ASSERT_TRUE(want);
  EXPECT_EQ(kiln::testing::max_abs_diff((*from_engine)[0], (*want)[0]), 0.0);
}

// Swapping weights into an int8 model: load_weights(W) packs W with "W.calibration.json";
// without one it is refused and the old weights keep serving.
TEST(Int8, LoadWeightsBringsItsCalibration) {
  SKIP_WITHOUT_INT8();
  Engine engine = int8_engine();
  ASSERT_TRUE(load_calibrated(engine, "m", "speckle", Texture::kSpeckle));
  Tensor image = generate(Texture::kLeather, 502).image;
  auto before = engine.run("m", {image});
  ASSERT_TRUE(before) << before.error().message();

  // Weights without a calibration next to them: refused, naming what to do.
  std::string bare = temp_dir() + "/bare_leather.safetensors";
  std::filesystem::copy_file(weights_of("leather"), bare, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(bare + ".calibration.json");
  Status refused = engine.load_weights("m", bare);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.message().find("kiln quantize"), std::string::npos) << refused.message();
  auto still = engine.run("m", {image});
  ASSERT_TRUE(still) << still.error().message();
  EXPECT_EQ(kiln::testing::max_abs_diff((*still)[0], (*before)[0]), 0.0);

  // With "W.calibration.json": the model now computes what a Model of W and its calibration does.
  std::string w = temp_dir() + "/swapped_leather.safetensors";
  std::filesystem::copy_file(weights_of("leather"), w, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(calibrate_texture("leather", Texture::kLeather), w + ".calibration.json",
                             std::filesystem::copy_options::overwrite_existing);
  Status swapped = engine.load_weights("m", w);
  ASSERT_TRUE(swapped) << swapped.message();
  auto after = engine.run("m", {image});
  ModelOptions opt;
  opt.weights = w;
  opt.precision = Precision::kInt8;  // reads w + ".calibration.json" by default
  auto alone = Model::load(demo_model(), opt);
  ASSERT_TRUE(after && alone);
  auto want = alone->run({image});
  ASSERT_TRUE(want);
  EXPECT_EQ(kiln::testing::max_abs_diff((*after)[0], (*want)[0]), 0.0);
  EXPECT_GT(kiln::testing::max_abs_diff((*after)[0], (*before)[0]), 0.0);

  // Another input size runs the swapped weights and their scales too.
  Tensor quarter = Tensor::zeros(DType::kF32, {1, 1, 256, 256});
  for (int64_t y = 0; y < 256; ++y)
    std::copy_n(image.data<float>() + y * 512, 256, quarter.data<float>() + y * 256);
  auto small = engine.run("m", {quarter});
  auto small_want = alone->run({quarter});
  ASSERT_TRUE(small && small_want) << (small ? small_want.error().message() : small.error().message());
  EXPECT_EQ(kiln::testing::max_abs_diff((*small)[0], (*small_want)[0]), 0.0);
}

TEST(Int8, CalibrationErrorsAreClearAndLeaveLoadedModelsServing) {
  SKIP_WITHOUT_INT8();
  ModelOptions opt;
  opt.weights = weights_of("concrete");
  opt.precision = Precision::kInt8;
  opt.calibration = temp_dir() + "/absent.json";
  auto missing = Model::load(demo_model(), opt);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("kiln quantize"), std::string::npos) << missing.error().message();

  std::string good = calibrate_texture("concrete", Texture::kConcrete);
  std::string corrupt = temp_dir() + "/corrupt.json";
  std::ofstream(corrupt) << "{\"format\": \"kiln-calibration\", \"version\": 1, \"max\": [";
  opt.calibration = corrupt;
  auto bad = Model::load(demo_model(), opt);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("not a valid calibration"), std::string::npos) << bad.error().message();

  // One activation's range missing (as in a calibration of another model): named.
  nlohmann::json j = nlohmann::json::parse(std::ifstream(good));
  std::string dropped = "/enc3/relu_1/Relu_output_0";
  ASSERT_TRUE(j["clip"].contains(dropped));
  j["clip"].erase(dropped);
  std::string partial = temp_dir() + "/partial.json";
  std::ofstream(partial) << j.dump();
  opt.calibration = partial;
  auto lacking = Model::load(demo_model(), opt);
  ASSERT_FALSE(lacking);
  EXPECT_NE(lacking.error().message().find(dropped), std::string::npos) << lacking.error().message();

  // In an engine: the failed load fails alone.
  EngineOptions eo;
  eo.precision = Precision::kInt8;
  Engine engine(eo);
  ASSERT_TRUE(engine.load("good", {.model = demo_model(), .weights = weights_of("concrete"), .calibration = good}));
  ASSERT_TRUE(engine.wait_ready("good", seconds(60)));
  ASSERT_TRUE(engine.load("bad", {.model = demo_model(), .weights = weights_of("concrete"), .calibration = partial}));
  EXPECT_FALSE(engine.wait_ready("bad", seconds(60)));
  auto bad_status = engine.status("bad");
  ASSERT_TRUE(bad_status);
  EXPECT_EQ(bad_status->state, ModelState::kFailed);
  EXPECT_NE(bad_status->error.find(dropped), std::string::npos) << bad_status->error;
  EXPECT_TRUE(engine.run("good", {generate(Texture::kConcrete, 1).image}));
}

TEST(Int8, QuantizeCommandCalibratesAndChecks) {
  SKIP_WITHOUT_INT8();
  std::string dir = temp_dir() + "/cli_images";
  std::filesystem::create_directories(dir);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(write_mask_png(dir + "/" + std::to_string(i) + ".png", generate(Texture::kSpeckle, 7100 + i).image, -1));
  std::string out = temp_dir() + "/cli.calibration.json";
  auto r = kiln::testing::run_cli("quantize " + demo_model() + " --weights " + weights_of("speckle") +
                                  " --calibration " + dir + " -o " + out + " --target-iou 0");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("mask IoU"), std::string::npos) << r.output;
  auto c = load_calibration(out);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->images, 3);
  auto none = kiln::testing::run_cli("quantize " + demo_model() + " --calibration " + temp_dir() + "/no_such_dir");
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.output.find("does not exist"), std::string::npos) << none.output;
}

}  // namespace
}  // namespace kiln::demo
