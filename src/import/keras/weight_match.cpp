#include "import/keras/weight_match.h"
#include "core/status_macros.h"

#include <set>
#include <vector>

#include "import/keras/layout.h"

namespace kiln::keras_import {

namespace {

bool all_digits(const std::string& s, size_t from) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// "name:3" -> "name".
std::string strip_output_index(const std::string& s) {
  size_t colon = s.rfind(':');
  return colon != std::string::npos && all_digits(s, colon + 1) ? s.substr(0, colon) : s;
}

// One dataset of the file.
struct Entry {
  std::string name;   // "conv2d_7/kernel:0"
  std::string key;    // "conv2d_7/kernel"
  std::string layer;  // its layer group
  std::string var;    // "kernel"
  const Tensor* value;
};

std::vector<std::string> split_path(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == '/') {
      if (i > start) parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}

const char* role_text(WeightRole r) {
  switch (r) {
    case WeightRole::kKernel: return "a kernel";
    case WeightRole::kDepthwiseKernel: return "a depthwise kernel";
    case WeightRole::kPointwiseKernel: return "a pointwise kernel";
    case WeightRole::kBias: return "a bias";
    case WeightRole::kGamma: return "a batch-norm gamma";
    case WeightRole::kBeta: return "a batch-norm beta";
    case WeightRole::kMovingMean: return "a batch-norm moving mean";
    case WeightRole::kMovingVariance: return "a batch-norm moving variance";
    case WeightRole::kAlpha: return "a PReLU's slopes";
    case WeightRole::kUnknown: break;
  }
  return "a weight";
}

class Matcher {
 public:
  Matcher(const KerasFile& file, const std::map<std::string, std::string>& name_map) {
    for (const KerasLayerWeights& l : file.layers)
      for (size_t i = 0; i < l.names.size(); ++i)
        entries_.push_back({l.names[i], strip_output_index(l.names[i]), l.layer, keras_variable(l.names[i]), &l.values[i]});
    for (const auto& [file_name, graph_name] : name_map) mapped_[graph_name] = file_name;
  }

  const Entry* find(const std::string& graph_name, WeightRole role) const {
    if (auto it = mapped_.find(graph_name); it != mapped_.end()) {
      for (const Entry& e : entries_)
        if (e.name == it->second || e.key == it->second) return &e;
      return nullptr;
    }
    std::string key = strip_read_suffixes(graph_name);
    if (const Entry* e = by_name(key)) return e;
    // A second copy an importer made of one constant ("k/1"): the same dataset.
    if (size_t slash = key.rfind('/'); slash != std::string::npos && all_digits(key, slash + 1))
      if (const Entry* e = by_name(key.substr(0, slash))) return e;
    return by_role(key, role);
  }

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  const Entry* by_name(const std::string& key) const {
    const Entry* found = nullptr;
    for (const Entry& e : entries_) {
      if (e.key == key) return &e;
      if (key.ends_with("/" + e.key)) {
        if (found) return nullptr;  // two candidates: leave it to the role
        found = &e;
      }
    }
    return found;
  }

  const Entry* by_role(const std::string& key, WeightRole role) const {
    std::string var = weight_role_variable(role);
    if (var.empty()) return nullptr;
    std::vector<std::string> parts = split_path(key);
    for (size_t p = parts.size(); p-- > 0;) {
      const Entry* pointwise = nullptr;
      for (const Entry& e : entries_) {
        if (e.layer != parts[p] && e.key.rfind(parts[p] + "/", 0) != 0) continue;
        if (e.var == var) return &e;
        if (e.var == "pointwise_kernel") pointwise = &e;
      }
      // TensorFlow reads a SeparableConv2D's pointwise kernel with a plain Conv2D.
      if (role == WeightRole::kKernel && pointwise) return pointwise;
    }
    return nullptr;
  }

  std::vector<Entry> entries_;
  std::map<std::string, std::string> mapped_;  // graph name -> file name
};

// The graph tensor for a file tensor when the importer did not record the layout: the one
// re-layout that produces the graph's shape.
Expected<Tensor> infer_layout(const Tensor& t, const Shape& want, const std::string& what) {
  const Shape& s = t.shape();
  std::vector<WeightLayout> fits;
  if (s == want) fits.push_back(WeightLayout::kAsIs);
  if (s.size() == 4) {
    if (Shape{s[3], s[2], s[0], s[1]} == want) fits.push_back(WeightLayout::kHwioToOihw);
    // [kh,kw,1,M] re-lays out to the same tensor either way: count it once.
    if (Shape{s[2] * s[3], 1, s[0], s[1]} == want && s[2] != 1) fits.push_back(WeightLayout::kHwcmToGrouped);
  }
  if (fits.empty()) return invalid_argument(what + " has shape " + shape_to_string(s) + ", which no TensorFlow layout "
                                            "turns into the architecture's " + shape_to_string(want));
  if (fits.size() > 1)
    return invalid_argument(what + " has shape " + shape_to_string(s) + ": both '" + weight_layout_name(fits[0]) +
                            "' and '" + weight_layout_name(fits[1]) + "' give the architecture's " +
                            shape_to_string(want) + "; the graph does not say which (import the architecture from "
                            "a .pb or .h5, which record it)");
  return to_kiln_layout(t, fits[0]);
}

}  // namespace

std::string strip_read_suffixes(const std::string& tf_name) {
  std::string s = strip_output_index(tf_name);
  for (bool again = true; again;) {
    again = false;
    for (const char* suffix : {"/read", "/Read/ReadVariableOp", "/ReadVariableOp"})
      if (s.ends_with(suffix) && s.size() > std::string(suffix).size()) {
        s.resize(s.size() - std::string(suffix).size());
        again = true;
      }
    // "ReadVariableOp_1": the second variable a TensorFlow 2 op reads.
    size_t slash = s.rfind('/');
    const std::string tail = slash == std::string::npos ? std::string() : s.substr(slash + 1);
    if (tail.rfind("ReadVariableOp_", 0) == 0 && all_digits(tail, 15)) {
      s.resize(slash);
      again = true;
    }
  }
  return s;
}

Expected<RawWeights> keras_weights_for_graph(const KerasFile& file, const Graph& graph,
                                             const std::map<std::string, std::string>& name_map) {
  const std::string label = "'" + file.path + "'";
  Matcher m(file, name_map);
  RawWeights out;
  std::set<const Entry*> used;
  std::set<int> seen;
  for (const Node& n : graph.nodes)
    for (int v : n.inputs) {
      const Value& val = graph.values[v];
      if (val.kind != ValueKind::kWeight || !seen.insert(v).second) continue;
      const WeightOrigin& o = val.origin;
      if (is_made_weight(o.layout)) {
        KILN_ASSIGN_OR_RETURN(out.tensors[val.name], make_weight(o.layout, val.shape));
        continue;
      }
      const Entry* e = m.find(val.name, o.role);
      if (!e)
        return invalid_argument(label + ": no Keras weight matches the architecture's weight '" + val.name + "' (" +
                                role_text(o.role) + ", shape " + shape_to_string(val.shape) +
                                " as kiln holds it): no dataset named like it, and no layer named in it with that "
                                "variable");
      used.insert(e);
      std::string what = label + ": Keras weight '" + e->name + "' (for '" + val.name + "')";
      Expected<Tensor> t = o.layout == WeightLayout::kUnknown ? infer_layout(*e->value, val.shape, what)
                                                               : to_kiln_layout(*e->value, o.layout);
      if (!t) return t.error().with_context(what);
      if (t->shape() != val.shape)
        return invalid_argument(what + " has shape " + shape_to_string(e->value->shape()) + ", which is " +
                                shape_to_string(t->shape()) + " after " + weight_layout_name(o.layout) +
                                "; the architecture needs " + shape_to_string(val.shape));
      out.tensors[val.name] = *t;
    }
  for (const Entry& e : m.entries())
    if (!used.count(&e))
      return invalid_argument(label + ": tensor '" + e.name + "' (layer '" + e.layer +
                              "') is not a weight of this architecture");
  return out;
}

}  // namespace kiln::keras_import
