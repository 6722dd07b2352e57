// Keras convolutions -> kiln ConvAttrs / ConvTransposeAttrs. Kernels are re-laid out from
// TensorFlow's layouts (see import/keras/layout.h):
//   Conv2D           kernel [kh,kw,ci/groups,filters] HWIO -> OIHW
//   DepthwiseConv2D  depthwise_kernel [kh,kw,C,M] -> [C*M,1,kh,kw], group C
//   SeparableConv2D  the depthwise convolution (no bias), then a 1x1 convolution with
//                    pointwise_kernel [1,1,C*M,filters] and the bias
//   Conv2DTranspose  kernel [kh,kw,filters,ci] HWOI -> [ci,filters,kh,kw]
// The layer's activation follows as its own node; the optimiser fuses it.
#include <algorithm>

#include "import/keras/builder.h"
#include "core/status_macros.h"

namespace kiln::keras_import {
namespace {

struct Window {
  Spatial kernel, strides, dilations;
  std::string padding;
};

Expected<Window> read_window(const LayerCall& c) {
  Window w;
  KILN_ASSIGN_OR_RETURN(w.kernel, c.pair_of("kernel_size", {0, 0}));
  KILN_ASSIGN_OR_RETURN(w.strides, c.pair_of("strides", {1, 1}));
  KILN_ASSIGN_OR_RETURN(w.dilations, c.pair_of("dilation_rate", {1, 1}));
  KILN_ASSIGN_OR_RETURN(w.padding, c.string_of("padding", "valid"));
  for (int i = 0; i < 2; ++i)
    if (w.kernel[i] < 1 || w.strides[i] < 1 || w.dilations[i] < 1)
      return c.bad("kernel_size, strides and dilation_rate must be positive");
  return w;
}

ConvAttrs conv_attrs(const Window& w) {
  ConvAttrs a;
  a.kernel = w.kernel;
  a.strides = w.strides;
  a.dilations = w.dilations;
  return a;
}

Expected<int64_t> positive(const LayerCall& c, const char* key, int64_t def) {
  KILN_ASSIGN_OR_RETURN(int64_t v, c.int_of(key, def));
  if (v < 1) return c.bad(std::string("'") + key + "' must be positive");
  return v;
}

// The bias (when use_bias) appended to a convolution's inputs.
Status add_bias(LayerCall& c, int64_t channels, std::vector<int>& ins, bool& has_bias) {
  KILN_ASSIGN_OR_RETURN(bool use_bias, c.bool_of("use_bias", true));
  if (!use_bias) return Status::ok();
  KILN_ASSIGN_OR_RETURN(int b, c.b.weight(c.layer, WeightRole::kBias, WeightLayout::kAsIs, {channels}, c.where()));
  ins.push_back(b);
  has_bias = true;
  return Status::ok();
}

Expected<int> conv2d(LayerCall& c) {
  KILN_RETURN_IF_ERROR(c.require_channels_last());
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  const int64_t channels = c.b.shape(x)[1];
  KILN_ASSIGN_OR_RETURN(int64_t filters, positive(c, "filters", 0));
  KILN_ASSIGN_OR_RETURN(int64_t groups, positive(c, "groups", 1));
  if (channels % groups != 0 || filters % groups != 0)
    return c.bad("groups " + std::to_string(groups) + " does not divide the " + std::to_string(channels) +
                 " input channels and " + std::to_string(filters) + " filters");
  KILN_ASSIGN_OR_RETURN(Window w, read_window(c));
  ConvAttrs a = conv_attrs(w);
  a.group = groups;
  const Shape& xs = c.b.shape(x);
  KILN_ASSIGN_OR_RETURN(a.pads, window_pads(c, w.padding, {xs[2], xs[3]}, w.kernel, w.strides, w.dilations));
  KILN_ASSIGN_OR_RETURN(int k, c.b.weight(c.layer, WeightRole::kKernel, WeightLayout::kHwioToOihw,
                                          {w.kernel[0], w.kernel[1], channels / groups, filters}, c.where()));
  std::vector<int> ins = {x, k};
  KILN_RETURN_IF_ERROR(add_bias(c, filters, ins, a.has_bias));
  KILN_ASSIGN_OR_RETURN(int y, c.add(a, ins, "/conv"));
  return c.apply_config_activation(y);
}

// The depthwise part of DepthwiseConv2D and SeparableConv2D: a grouped convolution.
Expected<int> depthwise(LayerCall& c, int x, bool with_bias, const std::string& suffix) {
  const Shape& xs = c.b.shape(x);
  const int64_t channels = xs[1];
  KILN_ASSIGN_OR_RETURN(int64_t mult, positive(c, "depth_multiplier", 1));
  KILN_ASSIGN_OR_RETURN(Window w, read_window(c));
  ConvAttrs a = conv_attrs(w);
  a.group = channels;
  KILN_ASSIGN_OR_RETURN(a.pads, window_pads(c, w.padding, {xs[2], xs[3]}, w.kernel, w.strides, w.dilations));
  KILN_ASSIGN_OR_RETURN(int k, c.b.weight(c.layer, WeightRole::kDepthwiseKernel, WeightLayout::kHwcmToGrouped,
                                          {w.kernel[0], w.kernel[1], channels, mult}, c.where()));
  std::vector<int> ins = {x, k};
  if (with_bias) KILN_RETURN_IF_ERROR(add_bias(c, channels * mult, ins, a.has_bias));
  return c.add(a, ins, suffix);
}

Expected<int> depthwise_conv2d(LayerCall& c) {
  KILN_RETURN_IF_ERROR(c.require_channels_last());
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(int y, depthwise(c, x, true, "/depthwise"));
  return c.apply_config_activation(y);
}

Expected<int> separable_conv2d(LayerCall& c) {
  KILN_RETURN_IF_ERROR(c.require_channels_last());
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(int64_t filters, positive(c, "filters", 0));
  KILN_ASSIGN_OR_RETURN(int d, depthwise(c, x, false, "/depthwise"));
  const int64_t mid = c.b.shape(d)[1];
  ConvAttrs a;  // 1x1, stride 1
  KILN_ASSIGN_OR_RETURN(int k, c.b.weight(c.layer, WeightRole::kPointwiseKernel, WeightLayout::kHwioToOihw,
                                          {1, 1, mid, filters}, c.where()));
  std::vector<int> ins = {d, k};
  KILN_RETURN_IF_ERROR(add_bias(c, filters, ins, a.has_bias));
  KILN_ASSIGN_OR_RETURN(int y, c.add(a, ins, "/pointwise"));
  return c.apply_config_activation(y);
}

// Keras's output length of a transposed convolution (conv_utils.deconv_output_length),
// then the pads TensorFlow's conv2d_transpose derives for it: those of the forward
// convolution from the output back to the input; a negative end pad adds rows.
Expected<int> conv2d_transpose(LayerCall& c) {
  KILN_RETURN_IF_ERROR(c.require_channels_last());
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  const Shape xs = c.b.shape(x);
  const int64_t channels = xs[1];
  KILN_ASSIGN_OR_RETURN(int64_t filters, positive(c, "filters", 0));
  KILN_ASSIGN_OR_RETURN(Window w, read_window(c));
  if (w.padding != "same" && w.padding != "valid")
    return c.fail("padding '" + w.padding + "' is not supported (kiln reads 'same' and 'valid')");
  bool has_output_padding = c.has("output_padding");
  Spatial output_padding{0, 0};
  if (has_output_padding) { KILN_ASSIGN_OR_RETURN(output_padding, c.pair_of("output_padding", {0, 0})); }
  ConvTransposeAttrs a;
  a.kernel = w.kernel;
  a.strides = w.strides;
  a.dilations = w.dilations;
  for (int i = 0; i < 2; ++i) {
    const int64_t in = xs[2 + i], s = w.strides[i];
    const int64_t span = (w.kernel[i] - 1) * w.dilations[i] + 1;
    int64_t out;
    if (!has_output_padding) out = w.padding == "valid" ? in * s + std::max<int64_t>(span - s, 0) : in * s;
    else out = (in - 1) * s + span - 2 * (w.padding == "same" ? span / 2 : 0) + output_padding[i];
    Spatial fwd = w.padding == "same" ? same_padding(out, w.kernel[i], s, w.dilations[i])
                                                     : Spatial{0, 0};
    if (out < 1 || (out + fwd[0] + fwd[1] - span) / s + 1 != in)
      return c.bad("output_padding " + std::to_string(output_padding[i]) + " gives an output size " +
                   std::to_string(out) + " that does not convolve back to the input size " + std::to_string(in));
    const int64_t full = (in - 1) * s + span;
    a.pads[i] = fwd[0];
    a.pads[i + 2] = full - out - fwd[0];
  }
  KILN_ASSIGN_OR_RETURN(int k, c.b.weight(c.layer, WeightRole::kKernel, WeightLayout::kHwoiToIohw,
                                          {w.kernel[0], w.kernel[1], filters, channels}, c.where()));
  std::vector<int> ins = {x, k};
  KILN_RETURN_IF_ERROR(add_bias(c, filters, ins, a.has_bias));
  KILN_ASSIGN_OR_RETURN(int y, c.add(a, ins, "/conv_transpose"));
  return c.apply_config_activation(y);
}

}  // namespace

void register_conv_layers(LayerTable& t) {
  t["Conv2D"] = conv2d;
  t["Convolution2D"] = conv2d;  // Keras 1 / early Keras 2 alias
  t["DepthwiseConv2D"] = depthwise_conv2d;
  t["SeparableConv2D"] = separable_conv2d;
  t["SeparableConvolution2D"] = separable_conv2d;
  t["Conv2DTranspose"] = conv2d_transpose;
  t["Convolution2DTranspose"] = conv2d_transpose;
}

}  // namespace kiln::keras_import
