// POST /kiln/v1/models/{m}/segment: an image in, regions and a score map out, against the
// demo model run in-process on the same pixels.
#include <gtest/gtest.h>

#include "kiln/demo.h"
#include "server/server_test_util.h"

namespace kiln {
namespace {

using namespace testing;

std::string decode_base64(const std::string& s) {
  std::string out;
  int bits = 0, value = 0;
  for (char ch : s) {
    int v = ch >= 'A' && ch <= 'Z' ? ch - 'A' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26 : ch >= '0' && ch <= '9' ? ch - '0' + 52
          : ch == '+' ? 62 : ch == '/' ? 63 : -1;
    if (v < 0) continue;
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

// An image of `rows` x `cols` cut from a generated demo sample, as PNG bytes and pixels.
std::pair<std::string, Tensor> sample_png(demo::Texture t, uint64_t seed, int64_t rows, int64_t cols, Tensor* truth = nullptr) {
  demo::Sample s = demo::generate(t, seed);
  Tensor cut = Tensor::zeros(DType::kF32, {1, 1, rows, cols}), mask = Tensor::zeros(DType::kF32, {1, 1, rows, cols});
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t x = 0; x < cols; ++x) {
      cut.data<float>()[y * cols + x] = s.image.data<float>()[y * 512 + x];
      mask.data<float>()[y * cols + x] = s.mask.data<float>()[y * 512 + x];
    }
  if (truth) *truth = mask;
  auto png = encode_mask_png(cut, -1.0f);  // 8-bit gray: what a camera would send
  EXPECT_TRUE(png);
  auto pixels = decode_image(*png, 1);  // and what the server will see
  return {*png, *pixels};
}

class Segment : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServeProcess({"--demo", "--demo-models", source_path("models/demo")}, false);
    // Checked in SetUp: a failed assertion here would report every test as skipped, not failed.
    ready_ = server_->started() && server_->wait_ready();
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the server did not start or get ready:\n" << server_->log(); }
  static inline bool ready_ = false;
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->terminate(), 0);
    delete server_;
  }
  static ServeProcess* server_;
};
ServeProcess* Segment::server_ = nullptr;

TEST_F(Segment, RegionsAndScoresOfAnImageAreTheEnginesOwn) {
  auto [png, pixels] = sample_png(demo::Texture::kLeather, 900000, 512, 512);
  auto r = server_->http().Post("/kiln/v1/models/leather/segment", png, "image/png");
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 400);
  json j = json::parse(r->body);
  EXPECT_EQ(j["width"], 512);
  EXPECT_EQ(j["tiles"], false);
  // In process: the demo model with the leather weights on the same pixels.
  ModelOptions opt;
  opt.weights = demo_file("leather.safetensors");
  auto m = Model::load(demo_file("unet.onnx"), opt);
  ASSERT_TRUE(m);
  Tensor scores = (*m->run({pixels}))[0];
  auto regions = demo::find_regions(scores, 0.5f, 12);
  ASSERT_FALSE(regions.empty()) << "the sample should have a defect";
  ASSERT_EQ(j["regions"].size(), regions.size()) << r->body.substr(0, 400);
  for (size_t k = 0; k < regions.size(); ++k) {
    EXPECT_EQ(j["regions"][k]["box"], json::array({regions[k].x0, regions[k].y0, regions[k].x1, regions[k].y1}));
    EXPECT_EQ(j["regions"][k]["area"], regions[k].area);
  }
  // The score map: scores x 255, rounded.
  auto map = decode_image(decode_base64(j["scores_png"]), 1);
  ASSERT_TRUE(map);
  ASSERT_EQ(map->shape(), (Shape{1, 1, 512, 512}));
  double worst = 0;
  for (int64_t i = 0; i < scores.elements(); ++i)
    worst = std::max<double>(worst, std::abs(map->data<float>()[i] - std::clamp(scores.data<float>()[i], 0.0f, 1.0f)));
  EXPECT_LE(worst, 0.5 / 255 + 1e-6);
  for (const char* t : {"decode_ms", "inference_ms", "total_ms"}) EXPECT_GT(j["timings"][t].get<double>(), 0) << t;
  // mask=binary: the defect mask at the threshold, the in-process scores' own.
  auto b = server_->http().Post("/kiln/v1/models/leather/segment?mask=binary&threshold=0.3", png, "image/png");
  ASSERT_EQ(b->status, 200) << b->body.substr(0, 400);
  auto mask = decode_image(decode_base64(json::parse(b->body)["mask_png"]), 1);
  ASSERT_TRUE(mask);
  ASSERT_EQ(mask->shape(), (Shape{1, 1, 512, 512}));
  int64_t differ = 0, defects = 0;
  for (int64_t i = 0; i < scores.elements(); ++i) {
    const bool want = scores.data<float>()[i] >= 0.3f;
    defects += want;
    differ += want != (mask->data<float>()[i] > 0.5f);
  }
  EXPECT_GT(defects, 100);
  EXPECT_LE(differ, 2) << "of " << defects << " defect pixels";
  EXPECT_EQ(server_->http().Post("/kiln/v1/models/leather/segment?mask=maybe", png, "image/png")->status, 400);
}

TEST_F(Segment, TheGeneratorEndpointDrawsTheGeneratorsImages) {
  auto c = server_->http();
  auto r = c.Get("/kiln/v1/generate?class=wood_grain&seed=7&size=300");
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 400);
  EXPECT_EQ(r->get_header_value("Content-Type"), "image/png");
  auto image = decode_image(r->body, 1);
  ASSERT_TRUE(image);
  const demo::Sample want = demo::generate(demo::Texture::kWoodGrain, 7, 300);
  ASSERT_EQ(image->shape(), want.image.shape());
  double worst = 0;
  for (int64_t i = 0; i < want.image.elements(); ++i)
    worst = std::max<double>(worst, std::abs(image->data<float>()[i] - want.image.data<float>()[i]));
  EXPECT_LE(worst, 0.5 / 255 + 1e-6);
  // Defaults: seed 1, 512 px.
  auto d = decode_image(c.Get("/kiln/v1/generate?class=leather")->body, 1);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->shape(), (Shape{1, 1, 512, 512}));
  for (const char* bad : {"class=nope", "class=leather&seed=-1", "class=leather&seed=x", "class=leather&size=63",
                          "class=leather&size=4097", "class=leather&size=1e3", ""}) {
    auto e = c.Get(std::string("/kiln/v1/generate?") + bad);
    EXPECT_EQ(e->status, 400) << bad;
    EXPECT_FALSE(json::parse(e->body)["error"].get<std::string>().empty()) << bad;
  }
  auto settings = json::parse(c.Get("/kiln/v1/server")->body);
  EXPECT_EQ(settings["generator"]["classes"].size(), size_t(demo::kTextureCount));
  EXPECT_EQ(settings["model_control"], false);
}

TEST_F(Segment, ImagesOfAnySizeGoThroughTheOnePlan) {
  // 300 x 460 and 512 x 380: smaller than the 512 x 512 plan one way or both (padded with the
  // edge pixels), and not multiples of 16 as the U-Net needs.
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{300, 460}, {512, 380}}) {
    Tensor truth;
    auto [png, pixels] = sample_png(demo::Texture::kWoodGrain, 900001, rows, cols, &truth);
    auto r = server_->http().Post("/kiln/v1/models/wood_grain/segment?threshold=0.5&min_area=4", png, "image/png");
    ASSERT_EQ(r->status, 200) << r->body.substr(0, 400);
    json j = json::parse(r->body);
    EXPECT_EQ(j["height"], rows);
    EXPECT_EQ(j["width"], cols);
    auto map = decode_image(decode_base64(j["scores_png"]), 1);
    ASSERT_TRUE(map);
    ASSERT_EQ(map->shape(), (Shape{1, 1, rows, cols}));
    // The defects the generator drew are found (the model card's IoU is about 0.9).
    EXPECT_GT(demo::score(*map, truth, 0.5f).iou, 0.6) << rows << "x" << cols;
  }
  // Larger than the plan in both directions: tiles.
  demo::Sample big = demo::generate(demo::Texture::kConcrete, 5, 700);
  auto png = encode_mask_png(big.image, -1.0f);
  auto r = server_->http().Post("/kiln/v1/models/concrete/segment", *png, "image/png");
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 400);
  json j = json::parse(r->body);
  EXPECT_EQ(j["tiles"], true);
  auto map = decode_image(decode_base64(j["scores_png"]), 1);
  ASSERT_TRUE(map);
  EXPECT_EQ(map->shape(), (Shape{1, 1, 700, 700}));
  EXPECT_GT(demo::score(*map, big.mask, 0.5f).iou, 0.6);
}

TEST_F(Segment, BadImagesAndParametersAre400) {
  auto c = server_->http();
  EXPECT_EQ(c.Post("/kiln/v1/models/leather/segment", "", "image/png")->status, 400);
  auto junk = c.Post("/kiln/v1/models/leather/segment", std::string(5000, 'x'), "image/png");
  EXPECT_EQ(junk->status, 400);
  EXPECT_NE(json::parse(junk->body)["error"].get<std::string>().find("decode"), std::string::npos);
  auto [png, pixels] = sample_png(demo::Texture::kLeather, 1, 64, 64);
  EXPECT_EQ(c.Post("/kiln/v1/models/leather/segment?threshold=abc", png, "image/png")->status, 400);
  EXPECT_EQ(c.Post("/kiln/v1/models/leather/segment?threshold=2", png, "image/png")->status, 400);
  EXPECT_EQ(c.Post("/kiln/v1/models/nope/segment", png, "image/png")->status, 404);
  EXPECT_EQ(c.Post("/kiln/v1/models/leather/segment?mask=none", png, "image/png")->status, 200);
}

}  // namespace
}  // namespace kiln
