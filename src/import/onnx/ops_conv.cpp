// ONNX Conv and ConvTranspose -> ConvAttrs / ConvTransposeAttrs.
#include "import/onnx/importer.h"
#include "core/status_macros.h"
#include "import/onnx/spatial.h"

namespace kiln::onnx_import {
namespace {

Status translate_conv(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape x, c.shape(0));
  KILN_ASSIGN_OR_RETURN(Shape w, c.shape(1));
  if (x.size() != 4 || w.size() != 4)
    return c.fail("only 2-D convolutions (4-D NCHW input) are supported; input has rank " + std::to_string(x.size()));
  if (!c.is_const(1)) return c.fail("the weight input must be a constant initializer");
  if (c.has_input(2) && !c.is_const(2)) return c.fail("the bias input must be a constant initializer");
  ConvAttrs a;
  a.group = c.attr_int("group", 1);
  a.kernel = {w[2], w[3]};
  auto ks = c.attr_ints("kernel_shape");
  if (!ks.empty() && (ks.size() != 2 || ks[0] != w[2] || ks[1] != w[3]))
    return c.bad("kernel_shape does not match the weight shape " + shape_to_string(w));
  KILN_ASSIGN_OR_RETURN(auto sp, read_spatial(c, {x[2], x[3]}, a.kernel));
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
  if (x.size() != 4 || w.size() != 4)
    return c.fail("only 2-D transposed convolutions (4-D NCHW input) are supported");
  if (!c.is_const(1)) return c.fail("the weight input must be a constant initializer");
  if (c.has_input(2) && !c.is_const(2)) return c.fail("the bias input must be a constant initializer");
  ConvTransposeAttrs a;
  a.group = c.attr_int("group", 1);
  a.kernel = {w[2], w[3]};
  auto strides = c.attr_ints("strides", {1, 1});
  auto dil = c.attr_ints("dilations", {1, 1});
  auto pads = c.attr_ints("pads", {0, 0, 0, 0});
  auto out_pad = c.attr_ints("output_padding", {0, 0});
  auto out_shape = c.attr_ints("output_shape");
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4 || out_pad.size() != 2)
    return c.bad("strides, dilations, pads or output_padding have the wrong length for a 2-D transposed convolution");
  if (out_shape.size() > 2) out_shape.erase(out_shape.begin(), out_shape.end() - 2);
  for (int i = 0; i < 2; ++i) {
    a.strides[i] = strides[i];
    a.dilations[i] = dil[i];
    int64_t full = strides[i] * (x[2 + i] - 1) + out_pad[i] + (w[2 + i] - 1) * dil[i] + 1;
    int64_t begin = pads[i], end = pads[i + 2];
    if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t target = out_shape.empty() ? x[2 + i] * strides[i] : out_shape[i];
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
    a.pads[i + 2] = end - out_pad[i];
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
