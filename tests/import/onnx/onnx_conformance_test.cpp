// The ONNX project's backend conformance cases (Debian's libonnx-testdata): every case
// whose ops kiln supports must match ONNX's reference outputs at rtol 1e-3, atol 1e-5.
// Cases kiln refuses as unsupported are counted and listed, never silently passed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "import/onnx/context.h"
#include "core/status_macros.h"
#include "kiln/model.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
constexpr const char* kTestData = "/usr/share/libonnx-testdata/data";
constexpr double kRtol = 1e-3, kAtol = 1e-5;

Expected<Tensor> read_tensor_pb(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  onnx::TensorProto t;
  if (!t.ParseFromString(ss.str())) return invalid_model("cannot parse " + p.string());
  return onnx_import::tensor_from_proto(t, p.parent_path().string());
}

struct GraphInput {
  std::string name;
};

// Names of the graph's non-initializer inputs, in order (test data binds by position).
std::vector<std::string> runtime_inputs(const fs::path& model) {
  std::ifstream f(model, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  onnx::ModelProto m;
  std::vector<std::string> names;
  if (!m.ParseFromString(ss.str())) return names;
  std::set<std::string> inits;
  for (const auto& i : m.graph().initializer()) inits.insert(i.name());
  for (const auto& i : m.graph().input())
    if (!inits.count(i.name())) names.push_back(i.name());
  return names;
}

enum class Outcome { kPass, kFail, kUnsupported };

struct CaseResult {
  Outcome outcome;
  std::string detail;
};

CaseResult run_case(const fs::path& dir) {
  fs::path model = dir / "model.onnx";
  fs::path data = dir / "test_data_set_0";
  if (!fs::exists(model) || !fs::exists(data)) return {Outcome::kUnsupported, "no model or data"};
  std::vector<std::string> names = runtime_inputs(model);
  std::vector<Tensor> inputs, expected;
  // kiln computes in float32 and takes float64 graph inputs as float32: such cases are fed
  // their inputs in float32 and checked against their float64 outputs at the same tolerance.
  auto as_f32 = [](const Tensor& t) { return t.dtype() == DType::kF64 ? Tensor::from_floats(t.shape(), t.to_f32()) : t; };
  for (size_t i = 0; fs::exists(data / ("input_" + std::to_string(i) + ".pb")); ++i) {
    auto t = read_tensor_pb(data / ("input_" + std::to_string(i) + ".pb"));
    if (!t) return {Outcome::kUnsupported, t.error().message()};
    inputs.push_back(as_f32(*t));
  }
  for (size_t i = 0; fs::exists(data / ("output_" + std::to_string(i) + ".pb")); ++i) {
    auto t = read_tensor_pb(data / ("output_" + std::to_string(i) + ".pb"));
    if (!t) return {Outcome::kUnsupported, t.error().message()};
    // Integer outputs (ArgMax's indices) kiln gives as float32 values: compared as such
    // where float32 holds them exactly.
    if (t->dtype() == DType::kI64 || t->dtype() == DType::kI32) {
      std::vector<int64_t> v = t->to_i64();
      if (std::any_of(v.begin(), v.end(), [](int64_t x) { return x < -(int64_t{1} << 24) || x > (int64_t{1} << 24); }))
        return {Outcome::kUnsupported, "integer output beyond float32's exact range"};
      expected.push_back(Tensor::from_floats(t->shape(), std::vector<float>(v.begin(), v.end())));
      continue;
    }
    if (t->dtype() != DType::kF32 && t->dtype() != DType::kF64) return {Outcome::kUnsupported, "non-float output"};
    expected.push_back(as_f32(*t));
  }
  if (inputs.size() != names.size()) return {Outcome::kUnsupported, "input count mismatch"};

  // Float inputs are run-time tensors; others (shapes, indices) are fixed for the case. If
  // the model needs a float input to be constant (e.g. a Conv's weights fed as an input),
  // retry with every input but the first frozen.
  auto attempt = [&](bool freeze_all_but_first) -> Expected<std::vector<Tensor>> {
    ModelOptions opt;
    std::vector<Tensor> runtime;
    for (size_t i = 0; i < inputs.size(); ++i) {
      bool freeze = inputs[i].dtype() != DType::kF32 || (freeze_all_but_first && i > 0);
      if (freeze) opt.constant_inputs[names[i]] = inputs[i];
      else {
        opt.input_shapes[names[i]] = inputs[i].shape();
        runtime.push_back(inputs[i]);
      }
    }
    KILN_ASSIGN_OR_RETURN(Model m, Model::load(model.string(), opt));
    return m.run(runtime);
  };
  auto out = attempt(false);
  if (!out && inputs.size() > 1) {
    auto retry = attempt(true);
    if (retry) out = std::move(retry);
  }
  if (!out) {
    if (out.error().code() == ErrorCode::kUnsupported) return {Outcome::kUnsupported, out.error().message()};
    return {Outcome::kFail, out.error().message()};
  }
  if (out->size() != expected.size()) return {Outcome::kFail, "output count differs"};
  for (size_t o = 0; o < expected.size(); ++o) {
    const Tensor& a = (*out)[o];
    const Tensor& b = expected[o];
    if (a.elements() != b.elements())
      return {Outcome::kFail, "output " + std::to_string(o) + " shape " + shape_to_string(a.shape()) + " vs expected " +
                                  shape_to_string(b.shape())};
    for (int64_t i = 0; i < a.elements(); ++i) {
      float x = a.data<float>()[i], y = b.data<float>()[i];
      bool both_nan = std::isnan(x) && std::isnan(y);
      // Equal values pass (infinities included, as numpy.allclose has it).
      if (!both_nan && x != y && !(std::fabs(x - y) <= kAtol + kRtol * std::fabs(y)))
        return {Outcome::kFail, "output " + std::to_string(o) + " element " + std::to_string(i) + ": " + std::to_string(x) +
                                    " vs expected " + std::to_string(y)};
    }
  }
  return {Outcome::kPass, ""};
}

void run_suite(const std::string& suite, int min_passes) {
  fs::path root = fs::path(kTestData) / suite;
  if (!fs::exists(root)) GTEST_SKIP() << root << " is absent: apt-get install libonnx-testdata";
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  int pass = 0, fail = 0, unsupported = 0;
  std::map<std::string, int> reasons;
  bool trace = std::getenv("KILN_CONFORMANCE_TRACE") != nullptr;
  for (const fs::path& c : cases) {
    if (trace) std::fprintf(stderr, "case %s\n", c.filename().c_str());
    CaseResult r = run_case(c);
    switch (r.outcome) {
      case Outcome::kPass: ++pass; break;
      case Outcome::kFail:
        ++fail;
        ADD_FAILURE() << c.filename().string() << ": " << r.detail;
        break;
      case Outcome::kUnsupported: {
        ++unsupported;
        // Group by the op and the reason ("node 'n' (Op): why" -> "Op: why"), for a summary.
        std::string why = r.detail;
        if (why.rfind("'/", 0) == 0) why = why.substr(why.find("': ") + 3);  // drop the file path
        if (auto k = why.rfind("): "); k != std::string::npos) {
          const auto open = why.rfind(" (", k);
          const std::string op = open == std::string::npos ? "" : why.substr(open + 2, k - open - 2);
          why = (op.empty() ? "" : op + ": ") + why.substr(k + 3);
        }
        ++reasons[why.substr(0, 100)];
        if (std::getenv("KILN_CONFORMANCE_CASES")) std::printf("  refused %s: %s\n", c.filename().c_str(), why.c_str());
        break;
      }
    }
  }
  std::printf("[conformance] %s: %d passed, %d failed, %d refused of %zu cases\n", suite.c_str(), pass, fail,
              unsupported, cases.size());
  // The refusals by reason, most frequent first (all of them with KILN_CONFORMANCE_VERBOSE).
  std::vector<std::pair<int, std::string>> by_count;
  for (const auto& [why, n] : reasons) by_count.emplace_back(n, why);
  std::sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  const size_t shown = std::getenv("KILN_CONFORMANCE_VERBOSE") ? by_count.size() : std::min<size_t>(by_count.size(), 12);
  for (size_t i = 0; i < shown; ++i)
    std::printf("[conformance]   refused x%d  %s\n", by_count[i].first, by_count[i].second.c_str());
  if (shown < by_count.size()) {
    int rest = 0;
    for (size_t i = shown; i < by_count.size(); ++i) rest += by_count[i].first;
    std::printf("[conformance]   refused x%d  for %zu other reasons (KILN_CONFORMANCE_VERBOSE=1 lists them)\n", rest,
                by_count.size() - shown);
  }
  if (std::getenv("KILN_CONFORMANCE_LIST")) {
    for (const fs::path& c : cases)
      if (run_case(c).outcome == Outcome::kPass) std::printf("  pass %s\n", c.filename().c_str());
  }
  EXPECT_GE(pass, min_passes) << "fewer supported cases than before: a regression in op coverage";
}

TEST(OnnxConformance, Node) { run_suite("node", 465); }
TEST(OnnxConformance, PytorchConverted) { run_suite("pytorch-converted", 77); }
TEST(OnnxConformance, PytorchOperator) { run_suite("pytorch-operator", 33); }

}  // namespace
}  // namespace kiln
