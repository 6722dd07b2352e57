// What a TensorFlow C API program sees relinked against kiln's libtensorflow: the cost of
// "Prepare session" (TF_NewSession + a run on zeros), the first real run against later runs,
// and what a second session of the same architecture (other weights) costs in time and memory.
// Links libtensorflow.so.2 only, as the user's program does.
//
//   tf_capi_bench A.pb B.pb [--runs N]     (make_tf_unet writes A.pb and B.pb: seeds 1 and 2)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kiln_tf.h"
#include "tensorflow/c/c_api.h"

namespace {

using Clock = std::chrono::steady_clock;
double ms(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

size_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * 4096;
}

void check(TF_Status* s, const char* what) {
  if (TF_GetCode(s) == TF_OK) return;
  std::fprintf(stderr, "tf_capi_bench: %s: %s\n", what, TF_Message(s));
  std::exit(1);
}

TF_Graph* load(const char* path, TF_Status* s) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  TF_Buffer* buf = TF_NewBufferFromString(bytes.data(), bytes.size());
  TF_Graph* g = TF_NewGraph();
  TF_ImportGraphDefOptions* o = TF_NewImportGraphDefOptions();
  TF_GraphImportGraphDef(g, buf, o, s);
  check(s, path);
  TF_DeleteImportGraphDefOptions(o);
  TF_DeleteBuffer(buf);
  return g;
}

struct Timings {
  double load_ms = 0, prepare_ms = 0, first_ms = 0, later_ms = 0, slowest_later_ms = 0;
  size_t rss_growth = 0;
  std::string report;
};

Timings measure(const char* path, int runs, TF_Session** keep, TF_Graph** keep_graph) {
  TF_Status* s = TF_NewStatus();
  Timings t;
  const size_t rss0 = resident_bytes();
  auto t0 = Clock::now();
  TF_Graph* g = load(path, s);
  t.load_ms = ms(t0);
  TF_Output in{TF_GraphOperationByName(g, "input_1"), 0}, out{TF_GraphOperationByName(g, "conv2d_23/Sigmoid"), 0};
  if (!in.oper || !out.oper) check(s, "input_1 / conv2d_23/Sigmoid not found");
  int64_t dims[4];
  TF_GraphGetTensorShape(g, in, dims, 4, s);
  check(s, "input shape");
  dims[0] = 1;
  const size_t n = static_cast<size_t>(dims[1] * dims[2] * dims[3]);
  auto t1 = Clock::now();
  TF_SessionOptions* so = TF_NewSessionOptions();
  TF_Session* session = TF_NewSession(g, so, s);
  check(s, "TF_NewSession");
  TF_DeleteSessionOptions(so);
  TF_Tensor* zeros = TF_AllocateTensor(TF_FLOAT, dims, 4, n * 4);
  std::memset(TF_TensorData(zeros), 0, n * 4);
  TF_Tensor* y = nullptr;
  TF_SessionRun(session, nullptr, &in, &zeros, 1, &out, &y, 1, nullptr, 0, nullptr, s);
  check(s, "prepare run");
  t.prepare_ms = ms(t1);
  TF_DeleteTensor(y);
  TF_Tensor* x = TF_AllocateTensor(TF_FLOAT, dims, 4, n * 4);
  float* xv = static_cast<float*>(TF_TensorData(x));
  for (size_t i = 0; i < n; ++i) xv[i] = static_cast<float>((i * 2654435761u >> 9) % 1000) / 1000.0f;
  std::vector<double> later;
  for (int r = 0; r <= runs; ++r) {
    auto tr = Clock::now();
    TF_SessionRun(session, nullptr, &in, &x, 1, &out, &y, 1, nullptr, 0, nullptr, s);
    check(s, "run");
    (r == 0 ? t.first_ms : later.emplace_back()) = ms(tr);
    TF_DeleteTensor(y);
  }
  std::sort(later.begin(), later.end());
  t.later_ms = later[later.size() / 2];
  t.slowest_later_ms = later.back();  // the noise a single first run is judged against
  t.rss_growth = resident_bytes() - rss0;
  char buf[8192];
  kiln_tf_session_report(session, buf, sizeof buf);
  t.report = buf;
  TF_DeleteTensor(x);
  TF_DeleteTensor(zeros);
  TF_DeleteStatus(s);
  *keep = session;
  *keep_graph = g;
  return t;
}

// A number out of the report's JSON ("weight_bytes":123).
double field(const std::string& json, const char* key) {
  const size_t at = json.find(std::string("\"") + key + "\":");
  return at == std::string::npos ? -1 : std::atof(json.c_str() + at + std::strlen(key) + 3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tf_capi_bench A.pb B.pb [--runs N]\n");
    return 2;
  }
  int runs = 10;
  for (int i = 3; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
  std::printf("tf_capi_bench: TensorFlow C API %s, %d runs each\n", TF_Version(), runs);
  TF_Session *sa = nullptr, *sb = nullptr;
  TF_Graph *ga = nullptr, *gb = nullptr;
  const Timings a = measure(argv[1], runs, &sa, &ga);
  const Timings b = measure(argv[2], runs, &sb, &gb);
  std::printf("%-34s %12s %12s\n", "", "session A", "session B");
  std::printf("%-34s %12.1f %12.1f\n", "import graph (ms)", a.load_ms, b.load_ms);
  std::printf("%-34s %12.1f %12.1f\n", "prepare: session + zeros run (ms)", a.prepare_ms, b.prepare_ms);
  std::printf("%-34s %12.2f %12.2f\n", "first real run (ms)", a.first_ms, b.first_ms);
  std::printf("%-34s %12.2f %12.2f\n", "later runs, median (ms)", a.later_ms, b.later_ms);
  std::printf("%-34s %12.2f %12.2f\n", "later runs, slowest (ms)", a.slowest_later_ms, b.slowest_later_ms);
  std::printf("%-34s %12.2f %12.2f\n", "first / later", a.first_ms / a.later_ms, b.first_ms / b.later_ms);
  for (const char* k : {"prepare_ms", "import_ms", "compile_ms", "pack_ms", "warmup_ms"})
    std::printf("  engine %-27s %12.1f %12.1f\n", k, field(a.report, k), field(b.report, k));
  std::printf("%-34s %12.1f %12.1f\n", "process memory growth (MB)", a.rss_growth / 1e6, b.rss_growth / 1e6);
  std::printf("%-34s %12.1f %12.1f\n", "its weights (MB)", field(a.report, "weight_bytes") / 1e6,
              field(b.report, "weight_bytes") / 1e6);
  // The prepare run is itself a run: what preparing costs beyond it is what a warm session saves.
  const double extra_a = a.prepare_ms - a.later_ms, extra_b = b.prepare_ms - b.later_ms;
  std::printf("%-34s %12.1f %12.1f\n", "prepare beyond one run (ms)", extra_a, extra_b);
  std::printf("second session's prepare: %.1f%% of the first's (beyond one run: %.1f%%); plan shared: %s; engine "
              "plans: %.0f\n",
              100.0 * b.prepare_ms / a.prepare_ms, 100.0 * extra_b / extra_a,
              b.report.find("\"plan_shared\":true") != std::string::npos ? "yes" : "no", field(b.report, "plans"));
  TF_Status* s = TF_NewStatus();
  TF_DeleteSession(sa, s);
  TF_DeleteSession(sb, s);
  TF_DeleteGraph(ga);
  TF_DeleteGraph(gb);
  TF_DeleteStatus(s);
  return 0;
}
