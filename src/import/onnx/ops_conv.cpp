// ONNX Conv and ConvTranspose -> ConvAttrs / ConvTransposeAttrs.
#include "import/onnx/importer.h"
#include "core/status_macros.h"
#include "import/onnx/spatial.h"

namespace kiln::onnx_import {
namespace {

Status translate_conv(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(Shape w, c.shape(1));
  KILN_ASSIGN_OR_RETURN(Spatial in, spatial_extent(c, x));
  if (w.size() != x.size()) return c.bad("weight shape " + shape_to_string(w) + " does not fit input " + shape_to_string(x));
  if (!c.is_const(1)) return c.fail("the weight input must be a constant initializer");
  if (c.has_input(2) && !c.is_const(2)) return c.fail("the bias input must be a constant initializer");
  ConvAttrs a;
  a.group = c.attr_int("group", 1);
  a.kernel = Spatial(w.begin() + 2, w.end());
  auto ks = c.attr_ints("kernel_shape");
  if (!ks.empty() && ks != a.kernel) return c.bad("kernel_shape does not match the weight shape " + shape_to_string(w));
  KILN_ASSIGN_OR_RETURN(auto sp, read_spatial(c, in, a.kernel));
  a.strides = sp.strides;
  a.dilations = sp.dilations;
  a.pads = sp.pads;
  a.has_bias = c.has_input(2);
  std::vector<size_t> ins = {0, 1};
  if (a.has_bias) ins.push_back(2);
  return c.emit(a, ins);
}

Status translate_conv_transpose(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(Shape w, c.shape(1));
  KILN_ASSIGN_OR_RETURN(Spatial in, spatial_extent(c, x));
  if (w.size() != x.size()) return c.bad("weight shape " + shape_to_string(w) + " does not fit input " + shape_to_string(x));
  if (!c.is_const(1)) return c.fail("the weight input must be a constant initializer");
  if (c.has_input(2) && !c.is_const(2)) return c.fail("the bias input must be a constant initializer");
  const size_t d = in.size();
  ConvTransposeAttrs a;
  a.group = c.attr_int("group", 1);
  a.kernel = Spatial(w.begin() + 2, w.end());
  auto strides = c.attr_ints("strides", Spatial(d, 1));
  auto dil = c.attr_ints("dilations", Spatial(d, 1));
  auto pads = c.attr_ints("pads", Spatial(2 * d, 0));
  auto out_pad = c.attr_ints("output_padding", Spatial(d, 0));
  auto out_shape = c.attr_ints("output_shape");
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  if (strides.size() != d || dil.size() != d || pads.size() != 2 * d || out_pad.size() != d)
    return c.bad("strides, dilations, pads or output_padding have the wrong length for a " + std::to_string(d) +
                 "-D transposed convolution");
  if (out_shape.size() > d) out_shape.erase(out_shape.begin(), out_shape.end() - static_cast<std::ptrdiff_t>(d));
  if (!out_shape.empty() && out_shape.size() != d) return c.bad("output_shape has the wrong length");
  a.strides.assign(d, 1);
  a.dilations.assign(d, 1);
  a.pads.assign(2 * d, 0);
  for (size_t i = 0; i < d; ++i) {
    if (strides[i] < 1 || dil[i] < 1) return c.bad("strides and dilations must be positive");
    a.strides[i] = strides[i];
    a.dilations[i] = dil[i];
    int64_t full = strides[i] * (in[i] - 1) + out_pad[i] + (a.kernel[i] - 1) * dil[i] + 1;
    int64_t begin = pads[i], end = pads[d + i];
    if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t target = out_shape.empty() ? in[i] * strides[i] : out_shape[i];
      int64_t total = full - target;
      if (total < 0) { begin = 0; end = total; }  // a larger output grows at the end, like output_padding
      else if (auto_pad == "SAME_UPPER") { begin = total / 2; end = total - total / 2; }
      else { begin = total - total / 2; end = total / 2; }
    } else if (auto_pad != "NOTSET" && auto_pad != "VALID") {
      return c.fail("auto_pad '" + auto_pad + "' is not supported");
    } else if (auto_pad == "VALID") {
      begin = end = 0;
    }
    // output_padding adds rows/columns at the end: a negative end pad.
    a.pads[i] = begin;
    a.pads[d + i] = end - out_pad[i];
  }
  a.has_bias = c.has_input(2);
  std::vector<size_t> ins = {0, 1};
  if (a.has_bias) ins.push_back(2);
  return c.emit(a, ins);
}

}  // namespace

void register_conv_ops(OpTable& t) {
  t["Conv"] = translate_conv;
  t["ConvTranspose"] = translate_conv_transpose;
}

}  // namespace kiln::onnx_import
