// TensorFlow MaxPool, AvgPool, and the reductions Mean, Max, Min, Sum, Prod: over the two
// spatial axes of a 4-D tensor Mean and Max are global pooling (on oneDNN), over any other
// axes a reduction.
#include <algorithm>
#include <optional>

#include "import/tf/importer.h"
#include "core/status_macros.h"
#include "import/tf/spatial.h"

namespace kiln::tf_import {
namespace {

Status translate_pool(NodeContext& c, PoolKind kind) {
  KILN_ASSIGN_OR_RETURN(Layout layout, c.data_format_layout());
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  if (xs.size() != 4) return c.fail("only 2-D pooling (4-D input) is supported");
  PoolAttrs a;
  a.kind = kind;
  KILN_ASSIGN_OR_RETURN(a.kernel, hw_attr(c, "ksize", layout));
  KILN_ASSIGN_OR_RETURN(a.strides, hw_attr(c, "strides", layout));
  KILN_ASSIGN_OR_RETURN(a.pads, window_pads(c, layout, hw_of(xs, layout), a.kernel, a.strides, a.dilations));
  a.count_include_pad = false;  // TensorFlow's SAME average divides by the in-image count
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, layout));
  return c.emit(a, {x}, layout);
}

// Mean / Max over H and W of a 4-D tensor: global pooling, reshaped when !keep_dims; other
// reductions and axes: ReduceAttrs over TensorFlow's own axes.
Status translate_reduce(NodeContext& c, ReduceKind reduce, std::optional<PoolKind> kind) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.const_ints(1));
  bool keep = c.attr_bool("keep_dims", false);
  const int64_t rank = static_cast<int64_t>(xs.size());
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank) return c.bad("reduction axis " + std::to_string(a) + " out of range");
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  if (axes.empty()) return c.alias(0, 0);
  // Axes {1,2} of NHWC data are H and W in kNchw; axes {2,3} already are in kPlain.
  Layout layout = Layout::kPlain;
  bool spatial = false;
  if (rank == 4 && axes == std::vector<int64_t>{1, 2}) layout = Layout::kNchw, spatial = true;
  else if (rank == 4 && axes == std::vector<int64_t>{2, 3}) spatial = true;
  if (!spatial || !kind) {
    KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, Layout::kPlain));
    return c.emit(ReduceAttrs{reduce, axes, keep}, {x}, Layout::kPlain);
  }
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, layout));
  KILN_ASSIGN_OR_RETURN(Shape ks, c.operand_shape(x));
  PoolAttrs a;
  a.kind = *kind;
  a.global = true;
  a.kernel = {ks[2], ks[3]};
  a.strides = {ks[2], ks[3]};
  if (keep) return c.emit(a, {x}, layout);
  KILN_ASSIGN_OR_RETURN(Operand pooled, c.compute(a, {x}, "/pool"));
  return c.emit(ReshapeAttrs{{ks[0], ks[1]}}, {pooled}, Layout::kPlain);
}

// ArgMax / ArgMin over one axis (TensorFlow's numbering); the indices as float32 values.
Status translate_arg_extreme(NodeContext& c, ReduceKind kind) {
  KILN_ASSIGN_OR_RETURN(Shape xs, c.shape(0));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> dim, c.const_ints(1));
  const int64_t rank = static_cast<int64_t>(xs.size());
  if (dim.size() != 1 || dim[0] < -rank || dim[0] >= rank) return c.bad("the dimension input must be one axis of the input");
  const int64_t axis = dim[0] < 0 ? dim[0] + rank : dim[0];
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, Layout::kPlain));
  return c.emit(ReduceAttrs{kind, {axis}, false}, {x}, Layout::kPlain);
}

}  // namespace

void register_pool_ops(OpTable& t) {
  t["ArgMax"] = [](NodeContext& c) { return translate_arg_extreme(c, ReduceKind::kArgMax); };
  t["ArgMin"] = [](NodeContext& c) { return translate_arg_extreme(c, ReduceKind::kArgMin); };
  t["MaxPool"] = [](NodeContext& c) { return translate_pool(c, PoolKind::kMax); };
  t["AvgPool"] = [](NodeContext& c) { return translate_pool(c, PoolKind::kAverage); };
  t["Mean"] = [](NodeContext& c) { return translate_reduce(c, ReduceKind::kMean, PoolKind::kAverage); };
  t["Max"] = [](NodeContext& c) { return translate_reduce(c, ReduceKind::kMax, PoolKind::kMax); };
  t["Min"] = [](NodeContext& c) { return translate_reduce(c, ReduceKind::kMin, std::nullopt); };
  t["Sum"] = [](NodeContext& c) { return translate_reduce(c, ReduceKind::kSum, std::nullopt); };
  t["Prod"] = [](NodeContext& c) { return translate_reduce(c, ReduceKind::kProd, std::nullopt); };
}

}  // namespace kiln::tf_import
