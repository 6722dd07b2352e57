// Differential-test harness: build a small kiln::Graph, run it through the real pipeline
// (compile_plan -> pack -> Runner) and through the naive reference kernels node by node,
// and compare. The reference kernels (src/reference) are the oracle.
//
//   Rand rnd(7);
//   TestGraph t(rnd);
//   int x = t.input({1, 3, 9, 9});
//   int w = t.weight({16, 3, 3, 3});
//   ConvAttrs a; a.kernel = {3, 3};
//   t.output(t.node(a, {x, w}));
//   auto plan = check_against_reference(t);   // EXPECTs every output close to the oracle
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "exec/runner.h"
#include "core/status_macros.h"
#include "graph/graph.h"
#include "reference/reference.h"
#include "ops/compile.h"
#include "weights/pack.h"

namespace kiln::testing {

// Seeded randomness for test configurations and tensor contents. Setting KILN_TEST_SEED
// mixes another seed in, to explore more configurations locally (the default is fixed).
class Rand {
 public:
  explicit Rand(uint32_t seed) : gen_(seed ^ extra_seed()) {}
  static uint32_t extra_seed() {
    const char* s = std::getenv("KILN_TEST_SEED");
    return s ? static_cast<uint32_t>(std::strtoul(s, nullptr, 10)) * 2654435761u : 0u;
  }
  float uniform(float lo = -1.0f, float hi = 1.0f) { return std::uniform_real_distribution<float>(lo, hi)(gen_); }
  // Inclusive on both ends.
  int64_t range(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen_); }
  bool coin(double p = 0.5) { return std::bernoulli_distribution(p)(gen_); }
  template <typename T>
  T pick(const std::vector<T>& v) { return v[static_cast<size_t>(range(0, static_cast<int64_t>(v.size()) - 1))]; }
  Tensor tensor(const Shape& s, float lo = -1.0f, float hi = 1.0f) {
    Tensor t = Tensor::zeros(DType::kF32, s);
    for (int64_t i = 0; i < t.elements(); ++i) t.data<float>()[i] = uniform(lo, hi);
    return t;
  }

 private:
  std::mt19937 gen_;
};

// A graph being built, with random contents for each input and weight it declares.
class TestGraph {
 public:
  explicit TestGraph(Rand& rnd) : rnd_(rnd) {}

  Graph g;
  RawWeights raw;
  std::vector<Tensor> inputs;   // in g.inputs order
  std::map<int, Tensor> known;  // value index -> contents, for inputs and weights

  int input(const Shape& s, float lo = -1.0f, float hi = 1.0f) { return input(rnd_.tensor(s, lo, hi)); }
  int input(Tensor t) {
    int v = g.add_input("x" + std::to_string(g.inputs.size()), DType::kF32, t.shape());
    inputs.push_back(t);
    known[v] = t;
    return v;
  }
  int weight(const Shape& s, float lo = -1.0f, float hi = 1.0f) { return weight(rnd_.tensor(s, lo, hi)); }
  int weight(Tensor t) {
    std::string name = "w" + std::to_string(raw.tensors.size());
    int v = g.add_weight(name, DType::kF32, t.shape());
    raw.tensors[name] = t;
    known[v] = t;
    return v;
  }
  // A node whose output shape is what kiln's shape rule says; -1 if the rule rejects it.
  int node(const OpAttrs& attrs, std::vector<int> ins, std::string source_op = "test") {
    std::vector<Shape> shapes;
    for (int v : ins) shapes.push_back(g.values[v].shape);
    Expected<Shape> s = infer_shape(attrs, shapes);
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return -1;
    std::string name = "n" + std::to_string(g.nodes.size());
    return g.add_node(name, std::move(source_op), attrs, std::move(ins), *s);
  }
  void output(int v) { g.mark_output(v); }
  const Shape& shape(int v) const { return g.values[v].shape; }

 private:
  Rand& rnd_;
};

// Runs the graph node by node on the reference kernels; returns the graph outputs.
inline Expected<std::vector<Tensor>> run_reference(const Graph& g, std::map<int, Tensor> known) {
  for (const Node& n : g.nodes) {
    std::vector<Tensor> ins;
    for (int v : n.inputs) {
      auto it = known.find(v);
      if (it == known.end()) return internal_error("reference run: value '" + g.values[v].name + "' has no contents");
      ins.push_back(it->second);
    }
    Expected<Tensor> y = reference::run(n.attrs, ins);
    if (!y) return y.error().with_context("reference '" + n.name + "'");
    if (y->shape() != g.values[n.outputs[0]].shape)
      return internal_error("reference '" + n.name + "' made shape " + shape_to_string(y->shape()) +
                            ", the graph says " + shape_to_string(g.values[n.outputs[0]].shape));
    known[n.outputs[0]] = *y;
  }
  std::vector<Tensor> out;
  for (int v : g.outputs) out.push_back(known.at(v));
  return out;
}

struct KilnRun {
  std::shared_ptr<const Plan> plan;
  std::vector<Tensor> outputs;
};

// The real pipeline: compile a plan, pack the raw weights for it, run.
inline Expected<KilnRun> run_kiln(const Graph& g, const RawWeights& raw, const std::vector<Tensor>& inputs) {
  KilnRun r;
  KILN_ASSIGN_OR_RETURN(r.plan, compile_plan(g, {}));
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<const Weights> w, pack(*r.plan, raw));
  Runner runner;
  KILN_ASSIGN_OR_RETURN(r.outputs, runner.run(*r.plan, *w, inputs));
  return r;
}

inline double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.elements(); ++i) m = std::max(m, static_cast<double>(std::fabs(t.data<float>()[i])));
  return m;
}

// Compares within `tol` scaled by the magnitude of the expected values (at least 1), so that
// long reductions with large results get a proportionate allowance.
inline void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-4, const std::string& what = "") {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  double allowed = tol * std::max(1.0, max_abs(want));
  double worst = 0;
  int64_t at = -1;
  for (int64_t i = 0; i < want.elements(); ++i) {
    double a = got.data<float>()[i], b = want.data<float>()[i];
    double d = std::fabs(a - b);
    if (!(d <= worst)) {  // also catches NaN
      worst = std::isnan(d) ? INFINITY : d;
      at = i;
    }
  }
  EXPECT_LE(worst, allowed) << what << ": max abs error " << worst << " at flat index " << at << " (got "
                            << got.data<float>()[at] << ", want " << want.data<float>()[at] << ")";
}

// Compiles, packs and runs the graph, compares every output with the reference run, and
// returns the plan (null on failure) so that callers can check which path was taken.
inline std::shared_ptr<const Plan> check_against_reference(const TestGraph& t, double tol = 1e-4) {
  Expected<std::vector<Tensor>> want = run_reference(t.g, t.known);
  EXPECT_TRUE(want) << want.error().message();
  if (!want) return nullptr;
  Expected<KilnRun> got = run_kiln(t.g, t.raw, t.inputs);
  EXPECT_TRUE(got) << got.error().message();
  if (!got) return nullptr;
  EXPECT_EQ(got->outputs.size(), want->size());
  for (size_t i = 0; i < std::min(got->outputs.size(), want->size()); ++i)
    expect_close(got->outputs[i], (*want)[i], tol, "output " + std::to_string(i));
  return got->plan;
}

// Number of plan steps whose kind starts with `prefix` (e.g. "conv", "reference:").
inline int count_steps(const Plan& p, const std::string& prefix) {
  int n = 0;
  for (const auto& s : p.steps) n += s->kind.rfind(prefix, 0) == 0;
  return n;
}

inline std::string steps_summary(const Plan& p) {
  std::ostringstream os;
  for (const auto& s : p.steps) os << s->kind << "(" << s->name << ") ";
  return os.str();
}

template <typename Ints>
std::string str(const Ints& a) {
  std::string s = "{";
  for (size_t i = 0; i < a.size(); ++i) s += (i ? "," : "") + std::to_string(a[i]);
  return s + "}";
}

}  // namespace kiln::testing
