// ONNX MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool -> PoolAttrs.
#include <algorithm>

#include "import/onnx/importer.h"
#include "core/status_macros.h"
#include "import/onnx/spatial.h"

namespace kiln::onnx_import {
namespace {

Status translate_window_pool(NodeContext& c, PoolKind kind) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(Spatial in, spatial_extent(c, x));
  const size_t d = in.size();
  if (c.node().output_size() > 1 && !c.node().output(1).empty())
    return c.fail("the Indices output of MaxPool is not supported");
  if (c.attr_int("storage_order", 0) != 0) return c.fail("storage_order=1 is not supported");
  PoolAttrs a;
  a.kind = kind;
  auto ks = c.attr_ints("kernel_shape");
  if (ks.size() != d) return c.bad("kernel_shape must have " + std::to_string(d) + " values for input " + shape_to_string(x));
  a.kernel = ks;
  KILN_ASSIGN_OR_RETURN(auto sp, read_spatial(c, in, a.kernel));
  a.strides = sp.strides;
  a.dilations = sp.dilations;
  a.pads = sp.pads;
  a.count_include_pad = c.attr_int("count_include_pad", 0) != 0;
  if (kind == PoolKind::kAverage && std::any_of(a.dilations.begin(), a.dilations.end(), [](int64_t v) { return v != 1; }))
    return c.fail("dilated average pooling is not supported");
  a.ceil_pads.assign(d, 0);
  if (c.attr_int("ceil_mode", 0) != 0) {
    for (size_t i = 0; i < d; ++i) {
      int64_t padded = in[i] + a.pads[i] + a.pads[d + i];
      int64_t span = a.dilations[i] * (a.kernel[i] - 1) + 1;
      int64_t out = (padded - span + a.strides[i] - 1) / a.strides[i] + 1;
      // The last window must start inside the input or its leading pad.
      if ((out - 1) * a.strides[i] >= in[i] + a.pads[i]) --out;
      a.ceil_pads[i] = std::max<int64_t>(0, (out - 1) * a.strides[i] + span - padded);
    }
  }
  return c.emit(a, {0});
}

Status translate_global_pool(NodeContext& c, PoolKind kind) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(Spatial in, spatial_extent(c, x));
  PoolAttrs a;
  a.kind = kind;
  a.global = true;
  a.kernel = in;
  a.strides = in;
  a.dilations.assign(in.size(), 1);
  a.pads.assign(2 * in.size(), 0);
  a.ceil_pads.assign(in.size(), 0);
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
