// ONNX MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool -> PoolAttrs.
#include "import/onnx/importer.h"
#include "core/status_macros.h"
#include "import/onnx/spatial.h"

namespace kiln::onnx_import {
namespace {

Status translate_window_pool(NodeContext& c, PoolKind kind) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  if (x.size() != 4) return c.fail("only 2-D pooling (4-D NCHW input) is supported");
  if (c.node().output_size() > 1 && !c.node().output(1).empty())
    return c.fail("the Indices output of MaxPool is not supported");
  if (c.attr_int("storage_order", 0) != 0) return c.fail("storage_order=1 is not supported");
  PoolAttrs a;
  a.kind = kind;
  auto ks = c.attr_ints("kernel_shape");
  if (ks.size() != 2) return c.bad("kernel_shape must have two values");
  a.kernel = {ks[0], ks[1]};
  KILN_ASSIGN_OR_RETURN(auto sp, read_spatial(c, {x[2], x[3]}, a.kernel));
  a.strides = sp.strides;
  a.dilations = sp.dilations;
  a.pads = sp.pads;
  a.count_include_pad = c.attr_int("count_include_pad", 0) != 0;
  if (kind == PoolKind::kAverage && (a.dilations[0] != 1 || a.dilations[1] != 1))
    return c.fail("dilated average pooling is not supported");
  if (c.attr_int("ceil_mode", 0) != 0) {
    for (int i = 0; i < 2; ++i) {
      int64_t in = x[2 + i] + a.pads[i] + a.pads[i + 2];
      int64_t span = a.dilations[i] * (a.kernel[i] - 1) + 1;
      int64_t out = (in - span + a.strides[i] - 1) / a.strides[i] + 1;
      // The last window must start inside the input or its leading pad.
      if ((out - 1) * a.strides[i] >= x[2 + i] + a.pads[i]) --out;
      a.ceil_pads[i] = std::max<int64_t>(0, (out - 1) * a.strides[i] + span - in);
    }
  }
  return c.emit(a, {0});
}

Status translate_global_pool(NodeContext& c, PoolKind kind) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  if (x.size() != 4) return c.fail("only 4-D NCHW input is supported");
  PoolAttrs a;
  a.kind = kind;
  a.global = true;
  a.kernel = {x[2], x[3]};
  a.strides = {x[2], x[3]};
  return c.emit(a, {0});
}

}  // namespace

void register_pool_ops(OpTable& t) {
  t["MaxPool"] = [](NodeContext& c) { return translate_window_pool(c, PoolKind::kMax); };
  t["AveragePool"] = [](NodeContext& c) { return translate_window_pool(c, PoolKind::kAverage); };
  t["GlobalMaxPool"] = [](NodeContext& c) { return translate_global_pool(c, PoolKind::kMax); };
  t["GlobalAveragePool"] = [](NodeContext& c) { return translate_global_pool(c, PoolKind::kAverage); };
}

}  // namespace kiln::onnx_import
