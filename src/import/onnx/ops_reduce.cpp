// ONNX reductions (and ArgMax, ArgMin): ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare,
// ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp. Their axes moved from an attribute to an
// input at opset 13 (ReduceSum) and 18 (the others); both spellings resolve here to one set of
// non-negative axes.
#include <algorithm>

#include "core/status_macros.h"
#include "import/onnx/importer.h"

namespace kiln::onnx_import {
namespace {

OpTranslator reduce(ReduceKind kind) {
  return [=](NodeContext& c) -> Status {
    KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
    const int axes_input_from = kind == ReduceKind::kSum ? 13 : 18;
    std::vector<int64_t> axes;
    bool noop_with_empty_axes = false;
    if (c.opset() < axes_input_from) {
      axes = c.attr_ints("axes");
    } else {
      if (c.has_input(1)) { KILN_ASSIGN_OR_RETURN(axes, c.const_ints(1)); }
      noop_with_empty_axes = c.attr_int("noop_with_empty_axes", 0) != 0;
    }
    if (axes.empty() && noop_with_empty_axes) return c.alias(0, 0);
    if (x.empty()) return c.fail("a reduction of a scalar is not supported");
    const int64_t rank = static_cast<int64_t>(x.size());
    if (axes.empty())
      for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
    for (int64_t& a : axes) {
      if (a < -rank || a >= rank) return c.bad("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
      if (a < 0) a += rank;
    }
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) return c.bad("an axis is listed twice");
    return c.emit(ReduceAttrs{kind, axes, c.attr_int("keepdims", 1) != 0}, {0});
  };
}

// ArgMax / ArgMin over one axis; kiln gives the indices as float32 values (exact below 2^24).
OpTranslator arg_extreme(ReduceKind kind) {
  return [=](NodeContext& c) -> Status {
    KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
    const int64_t rank = static_cast<int64_t>(x.size());
    int64_t axis = c.attr_int("axis", 0);
    if (rank == 0) return c.fail("ArgMax/ArgMin of a scalar is not supported");
    if (axis < -rank || axis >= rank) return c.bad("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    if (axis < 0) axis += rank;
    ReduceAttrs a{kind, {axis}, c.attr_int("keepdims", 1) != 0, c.attr_int("select_last_index", 0) != 0};
    return c.emit(a, {0});
  };
}

}  // namespace

void register_reduce_ops(OpTable& t) {
  t["ArgMax"] = arg_extreme(ReduceKind::kArgMax);
  t["ArgMin"] = arg_extreme(ReduceKind::kArgMin);
  t["ReduceSum"] = reduce(ReduceKind::kSum);
  t["ReduceMean"] = reduce(ReduceKind::kMean);
  t["ReduceMax"] = reduce(ReduceKind::kMax);
  t["ReduceMin"] = reduce(ReduceKind::kMin);
  t["ReduceProd"] = reduce(ReduceKind::kProd);
  t["ReduceSumSquare"] = reduce(ReduceKind::kSumSquare);
  t["ReduceL1"] = reduce(ReduceKind::kL1);
  t["ReduceL2"] = reduce(ReduceKind::kL2);
  t["ReduceLogSum"] = reduce(ReduceKind::kLogSum);
  t["ReduceLogSumExp"] = reduce(ReduceKind::kLogSumExp);
}

}  // namespace kiln::onnx_import
