#include "import/tf/graph_listing.h"

#include <algorithm>
#include <cstdlib>
#include <map>

#include "import/tf/context.h"
#include "import/tf/parsed_model.h"
#include "core/status_macros.h"

namespace kiln::tf_import {
namespace {

int type_attr(const tf::NodeDef& n, std::initializer_list<const char*> keys, int def) {
  for (const char* k : keys)
    if (auto it = n.attr().find(k); it != n.attr().end() && it->second.value_case() == tf::AttrValue::kType)
      return it->second.type();
  return def;
}

int64_t int_attr(const tf::NodeDef& n, const char* key, int64_t def) {
  auto it = n.attr().find(key);
  return it != n.attr().end() && it->second.value_case() == tf::AttrValue::kI ? it->second.i() : def;
}

// The number and types of an op's outputs: TensorFlow's op registry, for the ops frozen
// inference graphs hold; any other op has one output of its "T" (or float).
std::vector<int> output_types(const tf::NodeDef& n) {
  const std::string& op = n.op();
  const int t = type_attr(n, {"T", "dtype"}, tf::DT_FLOAT);
  if (op == "NoOp" || op == "Assert" || op == "SaveV2" || op == "Save") return {};
  if (op == "Split" || op == "SplitV") return std::vector<int>(static_cast<size_t>(std::max<int64_t>(int_attr(n, "num_split", 1), 0)), t);
  if (op == "Unpack") return std::vector<int>(static_cast<size_t>(std::max<int64_t>(int_attr(n, "num", 1), 0)), t);
  if (op == "Switch" || op == "RefSwitch") return {t, t};
  if (op == "Merge" || op == "RefMerge") return {t, tf::DT_INT32};
  if (op == "FusedBatchNorm") return {t, tf::DT_FLOAT, tf::DT_FLOAT, tf::DT_FLOAT, tf::DT_FLOAT};
  if (op == "FusedBatchNormV2" || op == "FusedBatchNormV3") {
    const int u = type_attr(n, {"U"}, tf::DT_FLOAT);
    std::vector<int> v = {t, u, u, u, u};
    if (op == "FusedBatchNormV3") v.push_back(u);
    return v;
  }
  if (op == "IdentityN") {
    auto it = n.attr().find("T");
    std::vector<int> v;
    if (it != n.attr().end()) for (int x : it->second.list().type()) v.push_back(x);
    return v;
  }
  if (op == "TopKV2" || op == "Unique") return {t, tf::DT_INT32};
  if (op == "Const" || op == "Placeholder" || op == "PlaceholderWithDefault" || op == "VariableV2" || op == "VarHandleOp")
    return {type_attr(n, {"dtype"}, tf::DT_FLOAT)};
  if (op == "Cast") return {type_attr(n, {"DstT"}, tf::DT_FLOAT)};
  if (op == "Shape" || op == "Size" || op == "Rank") return {op == "Rank" ? tf::DT_INT32 : type_attr(n, {"out_type"}, tf::DT_INT32)};
  if (op == "ArgMax" || op == "ArgMin") return {type_attr(n, {"output_type"}, tf::DT_INT64)};
  if (op == "Dequantize") return {type_attr(n, {"dtype"}, tf::DT_FLOAT)};
  if (op == "Equal" || op == "NotEqual" || op == "Less" || op == "LessEqual" || op == "Greater" ||
      op == "GreaterEqual" || op == "LogicalAnd" || op == "LogicalOr" || op == "LogicalNot" || op == "IsFinite")
    return {tf::DT_BOOL};
  return {t};
}

std::optional<std::vector<int64_t>> shape_of(const tf::TensorShapeProto& s) {
  if (s.unknown_rank()) return std::nullopt;
  std::vector<int64_t> d;
  for (const auto& dim : s.dim()) d.push_back(dim.size() < 0 ? -1 : dim.size());
  return d;
}

std::vector<std::optional<std::vector<int64_t>>> output_shapes(const tf::NodeDef& n, size_t outputs) {
  std::vector<std::optional<std::vector<int64_t>>> v(outputs);
  if (auto it = n.attr().find("_output_shapes"); it != n.attr().end())
    for (int i = 0; i < it->second.list().shape_size() && static_cast<size_t>(i) < outputs; ++i)
      v[static_cast<size_t>(i)] = shape_of(it->second.list().shape(i));
  if (outputs == 0) return v;
  if (n.op() == "Placeholder" || n.op() == "PlaceholderWithDefault")
    if (auto it = n.attr().find("shape"); it != n.attr().end() && it->second.value_case() == tf::AttrValue::kShape)
      v[0] = shape_of(it->second.shape());
  if (n.op() == "Const")
    if (auto it = n.attr().find("value"); it != n.attr().end() && it->second.value_case() == tf::AttrValue::kTensor)
      v[0] = shape_of(it->second.tensor().tensor_shape());
  return v;
}

std::string prefixed(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

}  // namespace

OutputRef split_output_name(const std::string& name) {
  const size_t colon = name.rfind(':');
  if (colon == std::string::npos || colon + 1 == name.size() || name.size() - colon - 1 > 9) return {name, 0};
  for (size_t i = colon + 1; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return {name, 0};
  return {name.substr(0, colon), static_cast<int>(std::strtol(name.c_str() + colon + 1, nullptr, 10))};
}

Expected<PrefixedGraphDef> prefix_graphdef(const void* data, size_t size, const std::string& prefix) {
  auto parsed = std::make_shared<ParsedModel>();
  tf::GraphDef& g = parsed->graphdef;
  if (size > static_cast<size_t>(INT32_MAX) || !g.ParseFromArray(data, static_cast<int>(size)))
    return invalid_model("the buffer is not a binary TensorFlow GraphDef (" + std::to_string(size) + " bytes)");
  PrefixedGraphDef out;
  for (tf::NodeDef& n : *g.mutable_node()) {
    if (n.name().empty()) return invalid_model("the GraphDef has a node without a name");
    n.set_name(prefixed(prefix, n.name()));
    TfNode t;
    t.name = n.name();
    t.op = n.op();
    t.device = n.device();
    for (std::string& in : *n.mutable_input()) {
      const bool control = !in.empty() && in[0] == '^';
      std::string target = control ? in.substr(1) : in;
      target = prefixed(prefix, target);
      in = control ? "^" + target : target;
      (control ? t.control_inputs : t.inputs).push_back(target);
    }
    t.output_types = output_types(n);
    t.output_shapes = output_shapes(n, t.output_types.size());
    out.nodes.push_back(std::move(t));
  }
  // An input "node:k" shows that node has k + 1 outputs at least (an op kiln does not list).
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < out.nodes.size(); ++i) index.emplace(out.nodes[i].name, i);
  for (size_t i = 0; i < out.nodes.size(); ++i)
    for (size_t j = 0; j < out.nodes[i].inputs.size(); ++j) {
      const OutputRef ref = split_output_name(out.nodes[i].inputs[j]);
      auto it = index.find(ref.node);
      const long k = ref.index;
      if (it == index.end() || k >= 4096) continue;
      TfNode& m = out.nodes[it->second];
      if (static_cast<size_t>(k) < m.output_types.size()) continue;
      const int t = m.output_types.empty() ? tf::DT_FLOAT : m.output_types[0];
      m.output_types.resize(static_cast<size_t>(k) + 1, t);
      m.output_shapes.resize(static_cast<size_t>(k) + 1);
    }
  if (!prefix.empty() && !g.SerializeToString(&out.bytes))
    return internal_error("re-serializing the prefixed GraphDef failed");
  out.parsed = std::move(parsed);
  return out;
}

}  // namespace kiln::tf_import
