// kiln serve over gRPC (KServe v2 GRPCInferenceService), through a C++ client of the
// generated stub: health, metadata, inference with raw and typed tensors against the
// in-process engine, and the errors of bad calls.
#include <gtest/gtest.h>

#ifdef KILN_WITH_GRPC
#include <grpcpp/grpcpp.h>

#include "server/proto/grpc_predict_v2.grpc.pb.h"
#include "server/server_test_util.h"

namespace kiln {
namespace {

using namespace testing;

class Grpc : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new fs::path(standard_repository("grpc"));
    server_ = new ServeProcess({"--repository", repo_->string()});
    // Checked in SetUp: a failed assertion here would report every test as skipped, not failed.
    ready_ = server_->started() && server_->grpc_port() > 0 && server_->wait_ready();
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the server did not start or get ready:\n" << server_->log(); }
  static inline bool ready_ = false;
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->terminate(), 0) << server_->log();
    delete server_;
    delete repo_;
  }
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub() const {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                             grpc::InsecureChannelCredentials(), args);
    return inference::GRPCInferenceService::NewStub(channel);
  }
  static ServeProcess* server_;
  static fs::path* repo_;
};
ServeProcess* Grpc::server_ = nullptr;
fs::path* Grpc::repo_ = nullptr;

inference::ModelInferRequest request_for(const Tensor& x, bool raw) {
  inference::ModelInferRequest q;
  q.set_model_name("unet");
  q.set_id("g-1");
  auto* in = q.add_inputs();
  in->set_name("input");
  in->set_datatype("FP32");
  for (int64_t d : x.shape()) in->add_shape(d);
  if (raw) {
    q.add_raw_input_contents(static_cast<const char*>(x.raw()), x.bytes());
  } else {
    const float* v = x.data<float>();
    in->mutable_contents()->mutable_fp32_contents()->Add(v, v + x.elements());
  }
  return q;
}

TEST_F(Grpc, HealthAndMetadata) {
  auto s = stub();
  grpc::ClientContext c1, c2, c3, c4;
  inference::ServerLiveResponse live;
  ASSERT_TRUE(s->ServerLive(&c1, {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(s->ServerReady(&c2, {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  inference::ModelMetadataRequest mq;
  mq.set_name("unet");
  inference::ModelMetadataResponse meta;
  ASSERT_TRUE(s->ModelMetadata(&c3, mq, &meta).ok());
  EXPECT_EQ(meta.platform(), "kiln_onnx");
  ASSERT_EQ(meta.inputs_size(), 1);
  EXPECT_EQ(meta.inputs(0).name(), "input");
  EXPECT_EQ(std::vector<int64_t>(meta.inputs(0).shape().begin(), meta.inputs(0).shape().end()),
            (std::vector<int64_t>{1, 1, -1, -1}));
  inference::ServerMetadataResponse server;
  ASSERT_TRUE(s->ServerMetadata(&c4, {}, &server).ok());
  EXPECT_EQ(server.name(), "kiln");
}

TEST_F(Grpc, RawAndTypedTensorsEqualTheInProcessEngine) {
  auto s = stub();
  Tensor x = random_image({1, 1, 64, 64}, 31);
  const std::vector<float> want = values(reference_output(fixture("unet/w4_64x64/model.onnx").string(), x));
  {
    grpc::ClientContext c;
    inference::ModelInferResponse r;
    grpc::Status st = s->ModelInfer(&c, request_for(x, true), &r);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(r.id(), "g-1");
    ASSERT_EQ(r.raw_output_contents_size(), 1);
    std::vector<float> got(r.raw_output_contents(0).size() / 4);
    std::memcpy(got.data(), r.raw_output_contents(0).data(), got.size() * 4);
    EXPECT_EQ(got, want);
    EXPECT_EQ(r.outputs(0).name(), "output");
  }
  {
    grpc::ClientContext c;
    inference::ModelInferResponse r;
    grpc::Status st = s->ModelInfer(&c, request_for(x, false), &r);
    ASSERT_TRUE(st.ok()) << st.error_message();
    const auto& v = r.outputs(0).contents().fp32_contents();
    EXPECT_EQ(std::vector<float>(v.begin(), v.end()), want);
  }
}

TEST_F(Grpc, BadCallsGetTheirStatusAndTheServerServesOn) {
  auto s = stub();
  Tensor x = random_image({1, 1, 64, 64}, 1);
  auto call = [&](inference::ModelInferRequest q) {
    grpc::ClientContext c;
    inference::ModelInferResponse r;
    return s->ModelInfer(&c, q, &r);
  };
  auto q = request_for(x, true);
  q.set_model_name("nope");
  EXPECT_EQ(call(q).error_code(), grpc::StatusCode::NOT_FOUND);
  q = request_for(x, true);
  q.mutable_raw_input_contents(0)->resize(100);  // the bytes lie about the shape
  grpc::Status lie = call(q);
  EXPECT_EQ(lie.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(lie.error_message().find("bytes"), std::string::npos) << lie.error_message();
  q = request_for(x, false);
  q.mutable_inputs(0)->set_datatype("STRING");
  EXPECT_EQ(call(q).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  q = request_for(x, false);
  q.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->RemoveLast();
  EXPECT_EQ(call(q).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  q = request_for(x, true);
  q.set_model_version("3");
  EXPECT_EQ(call(q).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(call(request_for(x, true)).ok());
}

}  // namespace
}  // namespace kiln
#endif  // KILN_WITH_GRPC
