// The one prepare pipeline seen from its public faces: describe_model (its first stage),
// image sizes resolved from the model's own declaration, and an engine model's info,
// profile and failure code.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "kiln/engine.h"
#include "kiln/model.h"
#include "test_util.h"
#ifdef KILN_WITH_TF
#include <cstring>
#include <sstream>

#include "import/tf/parsed_model.h"
#endif

namespace kiln {
namespace {

using std::chrono::seconds;

std::string fx(const std::string& rel) { return testing::source_path("tests/fixtures/" + rel); }
const std::string kUnet = "unet/w4_64x64/model.onnx";  // [1,1,64,64] NCHW, gray

Tensor random_input(const Shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Tensor t = Tensor::zeros(DType::kF32, s);
  for (int64_t i = 0; i < t.elements(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

TEST(DescribeModel, SaysWhatLoadSaysWithoutCompiling) {
  auto d = describe_model(fx(kUnet));
  ASSERT_TRUE(d) << d.error().message();
  ModelOptions opt;
  opt.warm_up = false;
  auto m = Model::load(fx(kUnet), opt);
  ASSERT_TRUE(m) << m.error().message();
  const ModelInfo& l = m->info();
  ASSERT_EQ(d->inputs.size(), l.inputs.size());
  EXPECT_EQ(d->inputs[0].name, l.inputs[0].name);
  EXPECT_EQ(d->inputs[0].shape, (Shape{1, 1, 64, 64}));
  EXPECT_EQ(d->outputs[0].shape, l.outputs[0].shape);
  EXPECT_EQ(d->fingerprint, l.fingerprint);
  EXPECT_EQ(d->parameters, 121725);  // the width-4 U-Net (as the CLI test counts it)
  EXPECT_DOUBLE_EQ(d->flops, l.flops);
  EXPECT_EQ(d->source_ops, l.source_ops);
  EXPECT_FALSE(d->channels_last);
  // Nothing compiled or packed.
  EXPECT_EQ(d->steps, 0u);
  EXPECT_EQ(d->weight_bytes, 0u);
  EXPECT_GT(l.steps, 0u);
  EXPECT_GT(l.weight_bytes, 0u);
}

TEST(ImageSize, BatchAndChannelsComeFromTheModel) {
  ModelOptions opt;
  opt.image_size = ImageSize{96, 128};
  opt.warm_up = false;
  auto m = Model::load(fx(kUnet), opt);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->info().inputs[0].shape, (Shape{1, 1, 96, 128}));
  // The same plan as one compiled for the full shape given by hand.
  ModelOptions by_hand;
  by_hand.input_shapes[""] = {1, 1, 96, 128};
  by_hand.warm_up = false;
  auto h = Model::load(fx(kUnet), by_hand);
  ASSERT_TRUE(h) << h.error().message();
  Tensor x = random_input({1, 1, 96, 128}, 5);
  auto a = m->run({x});
  auto b = h->run({x});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(testing::max_abs_diff((*a)[0], (*b)[0]), 0.0);
}

TEST(ImageSize, ChannelsLastModelsTakeNhwcImages) {
  const std::string pb = testing::source_path("../shared/fixtures/tf/keras_relu6/keras_relu6_net.pb");
  if (!std::ifstream(pb)) GTEST_SKIP() << pb << " is absent (../shared/fixtures not beside the repository)";
  auto in = read_npy(testing::source_path("../shared/fixtures/tf/keras_relu6/keras_relu6_in.npy"));
  ASSERT_TRUE(in);  // the fixture's input, stored NCHW: its channels are axis 1
  ModelOptions opt;
  opt.image_size = ImageSize{8, 12};
  auto d = describe_model(pb, opt);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_TRUE(d->channels_last);
  EXPECT_EQ(d->inputs[0].shape, (Shape{1, 8, 12, in->shape()[1]}));  // the file's channels, last
}

#ifdef KILN_WITH_TF
// kiln's TensorFlow C API parses each GraphDef once and hands the parse to the engine
// (LoadSpec::parsed): the engine imports it without reading the file, which here does not
// exist, computes what the file computes, and lets go of the parse once the model is prepared.
TEST(ParsedModel, TheEngineImportsTheParseAndReadsNoFile) {
  const std::string pb = testing::source_path("../shared/fixtures/tf/keras_relu6/keras_relu6_net.pb");
  if (!std::ifstream(pb)) GTEST_SKIP() << pb << " is absent (../shared/fixtures not beside the repository)";
  std::ifstream f(pb, std::ios::binary);
  std::stringstream bytes;
  bytes << f.rdbuf();
  auto parsed = std::make_shared<ParsedModel>();
  ASSERT_TRUE(parsed->graphdef.ParseFromString(bytes.str()));
  Engine engine;
  ASSERT_TRUE(engine.load("file", {.model = pb}));
  LoadSpec from_parse{.model = "/nonexistent-folder/never-written.pb"};
  from_parse.parsed = parsed;
  ASSERT_TRUE(engine.load("parse", std::move(from_parse)));
  for (const char* name : {"file", "parse"}) {
    Status ready = engine.wait_ready(name, seconds(120));
    ASSERT_TRUE(ready) << name << ": " << ready.message();
  }
  EXPECT_EQ(parsed.use_count(), 1);  // the engine keeps no parse once the model is prepared
  auto info = engine.info("file");
  ASSERT_TRUE(info);
  const Tensor x = random_input(info->inputs[0].shape, 7);
  auto a = engine.run("file", {x});
  auto b = engine.run("parse", {x});
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    ASSERT_EQ((*a)[i].shape(), (*b)[i].shape());
    EXPECT_EQ(std::memcmp((*a)[i].raw(), (*b)[i].raw(), (*a)[i].bytes()), 0) << "output " << i;
  }
}
#endif

TEST(InputShapes, MinusOneKeepsTheFilesSizeAndAWrongRankIsNamed) {
  ModelOptions opt;
  opt.input_shapes[""] = {1, -1, 32, 48};
  auto d = describe_model(fx(kUnet), opt);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->inputs[0].shape, (Shape{1, 1, 32, 48}));
  opt.input_shapes[""] = {1, -1, 32};  // a -1 where the file's rank does not say
  auto bad = describe_model(fx(kUnet), opt);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("unknown size on axis 1"), std::string::npos) << bad.error().message();
}

TEST(EngineModel, InfoProfileAndFailureCode) {
  Engine engine;
  ASSERT_TRUE(engine.load("unet", {.model = fx(kUnet)}));
  ASSERT_TRUE(engine.load("missing", {.model = fx("no/such/model.onnx")}));
  ASSERT_TRUE(engine.wait_ready("unet", seconds(60)));
  EXPECT_FALSE(engine.wait_ready("missing", seconds(60)));

  auto info = engine.info("unet");
  ASSERT_TRUE(info) << info.error().message();
  auto st = engine.status("unet");
  ASSERT_TRUE(st);
  EXPECT_EQ(info->fingerprint, st->fingerprint);
  EXPECT_EQ(info->weight_bytes, st->weight_bytes);
  EXPECT_EQ(info->inputs[0].shape, (Shape{1, 1, 64, 64}));

  Tensor x = random_input({1, 1, 64, 64}, 9);
  auto prof = engine.profile("unet", {x});
  ASSERT_TRUE(prof) << prof.error().message();
  EXPECT_EQ(prof->size(), info->steps);
  double flops = 0;
  for (const StepProfile& s : *prof) {
    EXPECT_GE(s.ms, 0.0) << s.name;
    flops += s.flops;
  }
  // The steps' own work: the convolutions' (most of it), never more than the graph's (ops fused
  // into a convolution, such as its ReLU, count in the graph's figure but not as a step).
  EXPECT_GT(flops, 0.9 * info->flops);
  EXPECT_LE(flops, info->flops * (1 + 1e-9));

  auto failed = engine.status("missing");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->state, ModelState::kFailed);
  EXPECT_EQ(failed->error_code, ErrorCode::kNotFound) << failed->error;
  EXPECT_NE(failed->error.find("no/such/model.onnx"), std::string::npos) << failed->error;
  auto no_info = engine.info("missing");
  ASSERT_FALSE(no_info);
  EXPECT_NE(no_info.error().message().find("failed"), std::string::npos) << no_info.error().message();
  // The failure took nothing from the model that loaded.
  auto out = engine.run("unet", {x});
  EXPECT_TRUE(out) << out.error().message();
}

}  // namespace
}  // namespace kiln

#include "engine/prepare.h"

namespace kiln {
namespace {

// A forced option (bf16, int8, Winograd) whose convolutions measured slower than fp32 direct
// while compiling says so with both numbers; a faster one, and auto, say nothing.
TEST(SlowerThanFp32, ForcedOptionsSaySoWithTheMeasuredNumbers) {
  Plan p;
  p.options.precision = Precision::kBF16;
  p.conv_ms = 515.0;
  p.conv_fp32_direct_ms = 280.0;
  std::string note = slower_than_fp32_note(p);
  EXPECT_NE(note.find("--precision bf16"), std::string::npos) << note;
  EXPECT_NE(note.find("515.0 ms"), std::string::npos) << note;
  EXPECT_NE(note.find("280.0 ms"), std::string::npos) << note;
  p.options.precision = Precision::kF32;
  p.options.conv_algorithm = ConvAlgorithm::kWinograd;
  EXPECT_NE(slower_than_fp32_note(p).find("--conv winograd"), std::string::npos);
  p.options.precision = Precision::kAuto;
  p.options.conv_algorithm = ConvAlgorithm::kDirect;
  EXPECT_EQ(slower_than_fp32_note(p), "");
  p.options.precision = Precision::kInt8;
  p.conv_ms = 250.0;
  EXPECT_EQ(slower_than_fp32_note(p), "") << "faster than fp32: nothing to say";
  p.conv_fp32_direct_ms = 0;  // nothing measured
  p.conv_ms = 515.0;
  EXPECT_EQ(slower_than_fp32_note(p), "");
}

}  // namespace
}  // namespace kiln
