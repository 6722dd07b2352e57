// kiln's C API (kiln/kiln.h) against the C++ engine on the demo models: the same outputs,
// background preparation with progress, weight swaps, unload, packs, memory; and every bad
// argument a status and a message, never a crash. (examples/c/segment_png.c runs it from C.)
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/demo.h"
#include "kiln/kiln.h"
#include "kiln/model.h"
#include "test_util.h"

namespace {

std::string demo(const std::string& file) { return kiln::testing::source_path("models/demo/" + file); }

struct Engine {
  kiln_engine* e = nullptr;
  Engine() { EXPECT_EQ(kiln_engine_create(nullptr, &e), KILN_OK) << kiln_last_error(); }
  ~Engine() { kiln_engine_destroy(e); }
};

kiln_status load(kiln_engine* e, const char* name, const std::string& model, const std::string& weights = "") {
  kiln_load_spec spec;
  kiln_load_spec_init(&spec);
  spec.model = model.c_str();
  spec.weights = weights.empty() ? nullptr : weights.c_str();
  return kiln_load(e, name, &spec);
}

// The C++ API's answer for the same weights and image: the reference the C API must equal.
std::vector<float> cpp_output(const std::string& weights, const kiln::Tensor& image) {
  kiln::ModelOptions opt;
  opt.weights = weights;
  auto m = kiln::Model::load(demo("unet.onnx"), opt);
  EXPECT_TRUE(m);
  auto out = m->run({image});
  EXPECT_TRUE(out);
  const float* p = (*out)[0].data<float>();
  return std::vector<float>(p, p + (*out)[0].elements());
}

TEST(CApi, PreparesInTheBackgroundAndRunsAsTheCppEngine) {
  Engine e;
  ASSERT_EQ(load(e.e, "leather", demo("unet.onnx"), demo("leather.safetensors")), KILN_OK) << kiln_last_error();
  kiln_model_state state = KILN_FAILED;
  double progress = -1;
  ASSERT_EQ(kiln_model_status(e.e, "leather", &state, &progress), KILN_OK);
  EXPECT_NE(state, KILN_FAILED);
  EXPECT_GE(progress, 0.0);
  ASSERT_EQ(kiln_wait_ready(e.e, "leather", 120000), KILN_OK) << kiln_last_error();
  ASSERT_EQ(kiln_model_status(e.e, "leather", &state, &progress), KILN_OK);
  EXPECT_EQ(state, KILN_READY);

  size_t inputs = 0, outputs = 0;
  ASSERT_EQ(kiln_model_io(e.e, "leather", &inputs, &outputs), KILN_OK);
  EXPECT_EQ(inputs, 1u);
  EXPECT_EQ(outputs, 1u);
  const char* tensor_name = nullptr;
  int64_t shape[8];
  int rank = 0;
  ASSERT_EQ(kiln_model_tensor(e.e, "leather", 0, 0, &tensor_name, shape, &rank), KILN_OK);
  EXPECT_STREQ(tensor_name, "image");
  EXPECT_EQ(rank, 4);
  EXPECT_EQ(kiln_model_tensor(e.e, "leather", 1, 1, &tensor_name, shape, &rank), KILN_INVALID_ARGUMENT);

  kiln::Tensor image = kiln::demo::generate(kiln::demo::Texture::kLeather, 900001).image;
  const std::vector<float> want = cpp_output(demo("leather.safetensors"), image);
  int64_t in_shape[4] = {1, 1, 512, 512}, out_shape[8] = {};
  std::vector<float> got(want.size(), -1.0f);
  kiln_tensor in = {image.data<float>(), in_shape, 4, static_cast<size_t>(image.elements())};
  kiln_tensor out = {got.data(), out_shape, 0, got.size()};
  ASSERT_EQ(kiln_run(e.e, "leather", &in, 1, &out, 1), KILN_OK) << kiln_last_error();
  EXPECT_EQ(out.rank, 4);
  EXPECT_EQ(out_shape[3], 512);
  EXPECT_EQ(got, want);  // bitwise: the same plan and weights

  kiln_tensor* made = nullptr;
  size_t count = 0;
  ASSERT_EQ(kiln_run_alloc(e.e, "leather", &in, 1, &made, &count), KILN_OK) << kiln_last_error();
  ASSERT_EQ(count, 1u);
  EXPECT_EQ(std::vector<float>(made[0].data, made[0].data + made[0].capacity), want);
  EXPECT_EQ(made[0].rank, 4);
  kiln_free_tensors(made, count);

  // Another size compiles on first use, through the same call.
  kiln::Tensor small = kiln::demo::generate(kiln::demo::Texture::kLeather, 3, 256).image;
  int64_t small_shape[4] = {1, 1, 256, 256};
  std::vector<float> small_out(256 * 256);
  kiln_tensor small_in = {small.data<float>(), small_shape, 4, small_out.size()};
  kiln_tensor small_o = {small_out.data(), nullptr, 0, small_out.size()};
  EXPECT_EQ(kiln_run(e.e, "leather", &small_in, 1, &small_o, 1), KILN_OK) << kiln_last_error();
}

TEST(CApi, SwapsWeightsUnloadsAndExportsPacks) {
  Engine e;
  ASSERT_EQ(load(e.e, "m", demo("unet.onnx"), demo("leather.safetensors")), KILN_OK);
  ASSERT_EQ(kiln_wait_ready(e.e, "m", 120000), KILN_OK) << kiln_last_error();
  kiln::Tensor image = kiln::demo::generate(kiln::demo::Texture::kWoodGrain, 900002).image;
  int64_t shape[4] = {1, 1, 512, 512};
  std::vector<float> got(512 * 512);
  kiln_tensor in = {image.data<float>(), shape, 4, got.size()}, out = {got.data(), nullptr, 0, got.size()};

  ASSERT_EQ(kiln_load_weights(e.e, "m", demo("wood_grain.safetensors").c_str()), KILN_OK) << kiln_last_error();
  ASSERT_EQ(kiln_run(e.e, "m", &in, 1, &out, 1), KILN_OK);
  EXPECT_EQ(got, cpp_output(demo("wood_grain.safetensors"), image));

  // A weight file of another architecture is refused; the loaded weights keep serving.
  const std::string other = kiln::testing::source_path("tests/fixtures/unet/w4_64x64/model.onnx");
  if (std::filesystem::exists(other)) {
    EXPECT_NE(kiln_load_weights(e.e, "m", other.c_str()), KILN_OK);
    EXPECT_STRNE(kiln_last_error(), "");
    ASSERT_EQ(kiln_run(e.e, "m", &in, 1, &out, 1), KILN_OK);
    EXPECT_EQ(got, cpp_output(demo("wood_grain.safetensors"), image));
  }

  const std::string pack = (std::filesystem::temp_directory_path() / "kiln_capi_test.kwp").string();
  ASSERT_EQ(kiln_export_pack(e.e, "m", pack.c_str()), KILN_OK) << kiln_last_error();
  ASSERT_EQ(load(e.e, "from_pack", demo("unet.onnx"), pack), KILN_OK);
  ASSERT_EQ(kiln_wait_ready(e.e, "from_pack", 120000), KILN_OK) << kiln_last_error();
  std::vector<float> again(got.size());
  kiln_tensor out2 = {again.data(), nullptr, 0, again.size()};
  ASSERT_EQ(kiln_run(e.e, "from_pack", &in, 1, &out2, 1), KILN_OK);
  EXPECT_EQ(again, got);

  kiln_memory_report mem{};
  ASSERT_EQ(kiln_memory(e.e, &mem), KILN_OK);
  EXPECT_EQ(mem.models, 2u);
  EXPECT_EQ(mem.plans, 1u);  // one architecture, one plan
  EXPECT_GT(mem.weight_bytes_resident + mem.weight_bytes_mapped, 0u);

  ASSERT_EQ(kiln_unload(e.e, "m"), KILN_OK);
  EXPECT_EQ(kiln_run(e.e, "m", &in, 1, &out, 1), KILN_NOT_FOUND);
  EXPECT_NE(std::string(kiln_last_error()).find("m"), std::string::npos);
  EXPECT_EQ(kiln_run(e.e, "from_pack", &in, 1, &out2, 1), KILN_OK);  // the other serves on
  std::filesystem::remove(pack);
}

TEST(CApi, BadInputIsAStatusAndAMessage) {
  Engine e;
  EXPECT_EQ(kiln_engine_create(nullptr, nullptr), KILN_INVALID_ARGUMENT);
  kiln_engine_options bad;
  kiln_engine_options_init(&bad);
  bad.runners = 0;
  kiln_engine* none = nullptr;
  EXPECT_EQ(kiln_engine_create(&bad, &none), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(none, nullptr);
  EXPECT_NE(std::string(kiln_last_error()).find("runners"), std::string::npos);
  kiln_engine_destroy(nullptr);

  EXPECT_EQ(kiln_load(e.e, "x", nullptr), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(kiln_load(nullptr, "x", nullptr), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(kiln_wait_ready(e.e, "nope", 10), KILN_NOT_FOUND);
  EXPECT_NE(std::string(kiln_last_error()).find("nope"), std::string::npos);

  // A corrupt model file: the load starts, the wait says why it failed.
  const std::string corrupt = (std::filesystem::temp_directory_path() / "kiln_capi_corrupt.onnx").string();
  {
    std::ifstream src(demo("unet.onnx"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(src)), std::istreambuf_iterator<char>());
    std::ofstream(corrupt, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  ASSERT_EQ(load(e.e, "corrupt", corrupt), KILN_OK);
  const kiln_status s = kiln_wait_ready(e.e, "corrupt", 60000);
  EXPECT_TRUE(s == KILN_INVALID_MODEL || s == KILN_IO) << s << " " << kiln_last_error();
  EXPECT_NE(std::string(kiln_last_error()).find("kiln_capi_corrupt.onnx"), std::string::npos) << kiln_last_error();
  kiln_model_state state = KILN_READY;
  ASSERT_EQ(kiln_model_status(e.e, "corrupt", &state, nullptr), KILN_OK);
  EXPECT_EQ(state, KILN_FAILED);
  std::filesystem::remove(corrupt);

  ASSERT_EQ(load(e.e, "ok", demo("unet.onnx")), KILN_OK);
  EXPECT_EQ(load(e.e, "ok", demo("unet.onnx")), KILN_INVALID_ARGUMENT);  // the name is taken
  ASSERT_EQ(kiln_wait_ready(e.e, "ok", 120000), KILN_OK);
  std::vector<float> image(512 * 512, 0.5f), out(512 * 512);
  int64_t shape[4] = {1, 1, 512, 512}, wrong[4] = {1, 3, 512, 512}, zero[4] = {1, 1, 0, 512};
  kiln_tensor in = {image.data(), shape, 4, image.size()}, o = {out.data(), nullptr, 0, out.size()};
  kiln_tensor short_out = {out.data(), nullptr, 0, out.size() - 1};
  EXPECT_EQ(kiln_run(e.e, "ok", &in, 1, &short_out, 1), KILN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kiln_last_error()).find("buffer holds"), std::string::npos) << kiln_last_error();
  kiln_tensor lying = {image.data(), shape, 4, image.size() / 2};
  EXPECT_EQ(kiln_run(e.e, "ok", &lying, 1, &o, 1), KILN_INVALID_ARGUMENT);
  kiln_tensor channels = {image.data(), wrong, 4, image.size() * 3};
  std::vector<float> big(image.size() * 3);
  channels.data = big.data();
  EXPECT_EQ(kiln_run(e.e, "ok", &channels, 1, &o, 1), KILN_INVALID_ARGUMENT);
  EXPECT_STRNE(kiln_last_error(), "");
  kiln_tensor empty = {image.data(), zero, 4, image.size()};
  EXPECT_EQ(kiln_run(e.e, "ok", &empty, 1, &o, 1), KILN_INVALID_ARGUMENT);
  // Too many inputs (the second without data), too many outputs. (The arrays hold as many as
  // the counts say: AddressSanitizer found the test reading past a single tensor.)
  const kiln_tensor two_in[2] = {in, {}};
  kiln_tensor two_out[2] = {o, {}};
  EXPECT_EQ(kiln_run(e.e, "ok", two_in, 2, &o, 1), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(kiln_run(e.e, "ok", &in, 1, two_out, 2), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(kiln_run(e.e, "ok", &in, 1, nullptr, 1), KILN_INVALID_ARGUMENT);
  EXPECT_EQ(kiln_run(e.e, "ok", &in, 1, &o, 1), KILN_OK) << kiln_last_error();  // and it still serves
  EXPECT_STREQ(kiln_last_error(), "");
  EXPECT_NE(kiln_load_weights(e.e, "ok", "/nonexistent.safetensors"), KILN_OK);
  EXPECT_NE(std::string(kiln_last_error()).find("/nonexistent.safetensors"), std::string::npos) << kiln_last_error();
  EXPECT_EQ(kiln_run(e.e, "ok", &in, 1, &o, 1), KILN_OK);
  EXPECT_STRNE(kiln_version(), "");
  EXPECT_EQ(std::string(kiln_onednn_version()).substr(0, 2), "2.");
}

TEST(CApi, TheCExampleSegmentsAPng) {
  const std::string exe = KILN_C_EXAMPLE_PATH;
  const std::string dir = (std::filesystem::temp_directory_path() / "kiln_capi_example").string();
  std::filesystem::create_directories(dir);
  auto gen = kiln::testing::run_cli("gen-defects --out " + dir + " --classes concrete --count 1 --seed 900001");
  ASSERT_EQ(gen.code, 0) << gen.output;
  const std::string png = dir + "/concrete/900001.png", mask = dir + "/mask.pgm";
  const std::string cmd = exe + " " + demo("unet.onnx") + " " + demo("concrete.safetensors") + " " + png + " " + mask + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  ASSERT_EQ(pclose(p), 0) << out;
  EXPECT_NE(out.find("defect pixels"), std::string::npos) << out;
  // Its mask against the engine's own on the same 8-bit pixels.
  auto image = kiln::read_image(png, 1);
  ASSERT_TRUE(image);
  const std::vector<float> want = cpp_output(demo("concrete.safetensors"), *image);
  std::ifstream f(mask, std::ios::binary);
  std::string header;
  std::getline(f, header);
  std::getline(f, header);
  std::getline(f, header);
  std::string pixels((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(pixels.size(), want.size());
  size_t differ = 0, defects = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const bool w = want[i] >= 0.5f;
    defects += w;
    differ += w != (static_cast<unsigned char>(pixels[i]) == 255);
  }
  EXPECT_GT(defects, 50u);
  EXPECT_EQ(differ, 0u);
  // A file that is not an image: a message and exit status 1.
  FILE* q = popen((exe + " " + demo("unet.onnx") + " " + demo("unet.onnx") + " " + mask + " 2>&1").c_str(), "r");
  std::string err;
  while (fgets(buf, sizeof buf, q)) err += buf;
  EXPECT_EQ(WEXITSTATUS(pclose(q)), 1) << err;
  EXPECT_NE(err.find("cannot read"), std::string::npos) << err;
  std::filesystem::remove_all(dir);
}

}  // namespace
