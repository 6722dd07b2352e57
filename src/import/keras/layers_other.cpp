// Keras layers other than convolutions: pooling, upsampling, merges, activations (PReLU too),
// batch normalization, padding and cropping, the classification head's Flatten, Dense and
// Reshape, and the layers inference skips (Dropout & co).
// Every tensor is NCHW here (see builder.h); NHWC axes in configs are mapped onto it.
#include "import/keras/builder.h"
#include "core/status_macros.h"

namespace kiln::keras_import {
namespace {

// NHWC axis -> the NCHW axis that holds it.
constexpr int64_t kNchwAxisOf[4] = {0, 2, 3, 1};

Expected<int64_t> nchw_axis(const LayerCall& c, int64_t axis) {
  if (axis < -4 || axis > 3) return c.bad("axis " + std::to_string(axis) + " is out of range for a 4-D tensor");
  return kNchwAxisOf[axis < 0 ? axis + 4 : axis];
}

Expected<int> pool(LayerCall& c, PoolKind kind) {
  KILN_RETURN_IF_ERROR(c.require_channels_last());
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  PoolAttrs a;
  a.kind = kind;
  KILN_ASSIGN_OR_RETURN(a.kernel, c.pair_of("pool_size", {2, 2}));
  KILN_ASSIGN_OR_RETURN(a.strides, c.pair_of("strides", a.kernel));  // null strides: the pool size
  KILN_ASSIGN_OR_RETURN(std::string padding, c.string_of("padding", "valid"));
  const Shape& xs = c.b.shape(x);
  KILN_ASSIGN_OR_RETURN(a.pads, window_pads(c, padding, {xs[2], xs[3]}, a.kernel, a.strides, {1, 1}));
  a.count_include_pad = false;  // TensorFlow's SAME average divides by the in-image count
  return c.add(a, {x}, "/pool");
}

// TensorFlow 2's Keras resizes through tf.image.resize (half-pixel centres); Keras on
// TensorFlow 1 called resize_bilinear without them. Nearest upsampling by a whole factor
// is the same either way.
bool half_pixel_bilinear(const Builder& b) {
  const std::string& v = b.file().keras_version;
  int major = b.keras_major();
  int minor = v.size() > 2 && v[1] == '.' ? std::atoi(v.c_str() + 2) : 0;
  return major >= 3 || (major == 2 && minor >= 4) || (major == 2 && minor == 3 && v.find("-tf") != std::string::npos);
}

Expected<int> upsampling2d(LayerCall& c) {
  KILN_RETURN_IF_ERROR(c.require_channels_last());
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(auto size, c.pair_of("size", {2, 2}));
  KILN_ASSIGN_OR_RETURN(std::string interpolation, c.string_of("interpolation", "nearest"));
  if (size[0] < 1 || size[1] < 1) return c.bad("size must be positive");
  const Shape& xs = c.b.shape(x);
  ResizeAttrs a;
  a.out_size = Spatial{xs[2] * size[0], xs[3] * size[1]};
  a.scales = {static_cast<float>(size[0]), static_cast<float>(size[1])};
  if (interpolation == "nearest") {
    a.mode = ResizeMode::kNearest;
    a.coord = CoordTransform::kAsymmetric;
    a.nearest = NearestRounding::kFloor;
  } else if (interpolation == "bilinear") {
    a.mode = ResizeMode::kLinear;
    a.coord = half_pixel_bilinear(c.b) ? CoordTransform::kHalfPixel : CoordTransform::kAsymmetric;
  } else {
    return c.fail("interpolation '" + interpolation + "' is not supported (kiln reads nearest and bilinear)");
  }
  return c.add(a, {x}, "/resize");
}

Status require_4d_inputs(const LayerCall& c, size_t at_least) {
  if (c.inputs.size() < at_least)
    return c.bad("takes at least " + std::to_string(at_least) + " inputs, is given " + std::to_string(c.inputs.size()));
  for (int v : c.inputs)
    if (c.b.shape(v).size() != 4) return c.fail("only 4-D (image) tensors are supported, an input is " + shape_to_string(c.b.shape(v)));
  return Status::ok();
}

Expected<int> concatenate(LayerCall& c) {
  KILN_RETURN_IF_ERROR(require_4d_inputs(c, 1));
  KILN_ASSIGN_OR_RETURN(int64_t axis, c.int_of("axis", -1));
  KILN_ASSIGN_OR_RETURN(int64_t k, nchw_axis(c, axis));
  if (c.inputs.size() == 1) return c.inputs[0];
  return c.add(ConcatAttrs{k}, c.inputs, "/concat");
}

Expected<int> merge(LayerCall& c, BinaryKind kind) {
  KILN_RETURN_IF_ERROR(require_4d_inputs(c, 2));
  if (kind == BinaryKind::kSub && c.inputs.size() != 2) return c.bad("Subtract takes exactly two inputs");
  int acc = c.inputs[0];
  for (size_t i = 1; i < c.inputs.size(); ++i) {
    std::string suffix = i + 1 == c.inputs.size() ? "/merge" : "/merge" + std::to_string(i);
    KILN_ASSIGN_OR_RETURN(acc, c.add(BinaryAttrs{kind}, {acc, c.inputs[i]}, suffix));
  }
  return acc;
}

Expected<int> activation_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input_of_any_rank());
  return c.apply_config_activation(x);
}

Expected<int> relu_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(float slope, c.float_of("negative_slope", 0.0f));
  KILN_ASSIGN_OR_RETURN(float threshold, c.float_of("threshold", 0.0f));
  if (threshold != 0.0f) return c.fail("a non-zero threshold is not supported");
  if (c.has("max_value")) {
    KILN_ASSIGN_OR_RETURN(float max_value, c.float_of("max_value", 0.0f));
    if (slope != 0.0f) return c.fail("max_value together with negative_slope is not supported");
    return c.add(UnaryAttrs{UnaryKind::kClip, 0.0f, max_value}, {x}, "/relu");
  }
  if (slope != 0.0f) return c.add(UnaryAttrs{UnaryKind::kLeakyRelu, slope}, {x}, "/relu");
  return c.add(UnaryAttrs{UnaryKind::kRelu}, {x}, "/relu");
}

Expected<int> leaky_relu_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  // Keras 2 calls the slope alpha (default 0.3); Keras 3 negative_slope (same default).
  KILN_ASSIGN_OR_RETURN(float alpha, c.float_of("alpha", 0.3f));
  KILN_ASSIGN_OR_RETURN(alpha, c.float_of("negative_slope", alpha));
  return c.add(UnaryAttrs{UnaryKind::kLeakyRelu, alpha}, {x}, "/leaky_relu");
}

Expected<int> elu_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(float alpha, c.float_of("alpha", 1.0f));
  return c.add(UnaryAttrs{UnaryKind::kElu, alpha}, {x}, "/elu");
}

// PReLU: alpha has the input's shape without the batch, Keras order ([H, W, C] for images),
// size 1 along shared_axes; for kiln's NCHW it is transposed to [C, H, W].
Expected<int> prelu_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input_of_any_rank());
  const Shape xs = c.b.shape(x);
  Shape keras_in(xs.begin() + 1, xs.end());  // without the batch
  if (xs.size() == 4) keras_in = {xs[2], xs[3], xs[1]};
  const nlohmann::json shared = c.layer.config.value("shared_axes", nlohmann::json());
  if (shared.is_array())
    for (const auto& a : shared) {
      if (!a.is_number_integer() || a.get<int64_t>() < 1 || a.get<int64_t>() > static_cast<int64_t>(keras_in.size()))
        return c.bad("shared_axes holds " + a.dump() + ", not an axis of the input");
      keras_in[static_cast<size_t>(a.get<int64_t>() - 1)] = 1;
    }
  KILN_ASSIGN_OR_RETURN(int alpha, c.b.weight(c.layer, WeightRole::kAlpha, WeightLayout::kAsIs, keras_in, c.where()));
  if (xs.size() == 4) {
    KILN_ASSIGN_OR_RETURN(alpha, c.add(TransposeAttrs{{2, 0, 1}}, {alpha}, "/alpha_chw"));
  }
  return c.add(BinaryAttrs{BinaryKind::kPRelu}, {x, alpha}, "/prelu");
}

// Flatten: Keras flattens channels last, so an image held as NCHW is laid out NHWC first.
Expected<int> flatten_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input_of_any_rank());
  const Shape xs = c.b.shape(x);
  if (xs.size() <= 2) return x;
  if (xs.size() == 4) {
    KILN_ASSIGN_OR_RETURN(x, c.add(TransposeAttrs{{0, 2, 3, 1}}, {x}, "/channels_last"));
  }
  return c.add(ReshapeAttrs{{xs[0], shape_elements(xs) / std::max<int64_t>(xs[0], 1)}}, {x}, "/flatten");
}

// Reshape to target_shape (without the batch, Keras order; one -1 inferred); an image
// result is held as NCHW again.
Expected<int> reshape_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input_of_any_rank());
  const Shape xs = c.b.shape(x);
  const nlohmann::json target = c.layer.config.value("target_shape", nlohmann::json());
  if (!target.is_array() || target.empty()) return c.bad("target_shape must be a list of sizes");
  Shape spec = {xs[0]};
  for (const auto& d : target) {
    if (!d.is_number_integer()) return c.bad("target_shape holds " + d.dump() + ", not a size");
    spec.push_back(d.get<int64_t>());
  }
  if (xs.size() == 4) {
    KILN_ASSIGN_OR_RETURN(x, c.add(TransposeAttrs{{0, 2, 3, 1}}, {x}, "/channels_last"));
  }
  const Shape from = c.b.shape(x);
  int64_t known = 1, unknown = -1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1 && unknown < 0) unknown = static_cast<int64_t>(i);
    else if (spec[i] < 0) return c.bad("target_shape holds a negative size other than one -1");
    else known *= spec[i];
  }
  if (unknown >= 0 && known > 0) spec[static_cast<size_t>(unknown)] = shape_elements(from) / known;
  if (shape_elements(spec) != shape_elements(from))
    return c.bad("cannot reshape " + shape_to_string(from) + " to " + shape_to_string(spec));
  KILN_ASSIGN_OR_RETURN(int y, c.add(ReshapeAttrs{spec}, {x}, "/reshape"));
  if (spec.size() == 4) return c.add(TransposeAttrs{{0, 3, 1, 2}}, {y}, "/channels_first");
  return y;
}

// Dense on a flat [N, F] tensor: x @ kernel [F, units] + bias, then the activation. On an
// image Keras applies the kernel to each pixel's channels (the last axis of NHWC): a 1x1
// convolution over the NCHW tensor kiln holds, with the kernel re-laid out to [units, F, 1, 1].
Expected<int> dense_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input_of_any_rank());
  const Shape xs = c.b.shape(x);
  if (xs.size() != 2 && xs.size() != 4)
    return c.fail("Dense on a tensor of rank " + std::to_string(xs.size()) +
                  " is not supported (kiln reads it on a flat tensor, after Flatten, or on an image's channels)");
  KILN_ASSIGN_OR_RETURN(int64_t units, c.int_of("units", 0));
  if (units < 1) return c.bad("units must be positive");
  const bool image = xs.size() == 4;
  const int64_t features = xs[1];  // NCHW: the channels
  KILN_ASSIGN_OR_RETURN(int kernel, c.b.weight(c.layer, WeightRole::kKernel,
                                               image ? WeightLayout::kIoToOi11 : WeightLayout::kAsIs,
                                               {features, units}, c.where()));
  std::vector<int> ins = {x, kernel};
  KILN_ASSIGN_OR_RETURN(bool use_bias, c.bool_of("use_bias", true));
  if (use_bias) {
    KILN_ASSIGN_OR_RETURN(int bias, c.b.weight(c.layer, WeightRole::kBias, WeightLayout::kAsIs, {units}, c.where()));
    ins.push_back(bias);
  }
  int y;
  if (image) {
    ConvAttrs a;
    a.kernel = {1, 1};
    a.has_bias = use_bias;
    KILN_ASSIGN_OR_RETURN(y, c.add(a, ins, "/dense"));
  } else {
    MatMulAttrs a;
    a.has_c = use_bias;
    KILN_ASSIGN_OR_RETURN(y, c.add(a, ins, "/dense"));
  }
  return c.apply_config_activation(y);
}

Expected<int> softmax_layer(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(int64_t axis, c.int_of("axis", -1));
  KILN_ASSIGN_OR_RETURN(int64_t k, nchw_axis(c, axis));
  return c.add(SoftmaxAttrs{k}, {x}, "/softmax");
}

// Inference-time batch normalization with the moving statistics. Without scale (center),
// gamma (beta) is a made weight of ones (zeros), so the node keeps kiln's five inputs.
Expected<int> batch_norm(LayerCall& c) {
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(int64_t axis, c.int_of("axis", -1));
  if (axis != -1 && axis != 3) return c.fail("only normalization over the channels (axis -1) of NHWC data is supported");
  KILN_ASSIGN_OR_RETURN(float eps, c.float_of("epsilon", 1e-3f));
  KILN_ASSIGN_OR_RETURN(bool center, c.bool_of("center", true));
  KILN_ASSIGN_OR_RETURN(bool scale, c.bool_of("scale", true));
  const Shape ch = {c.b.shape(x)[1]};
  auto param = [&](WeightRole role, bool present, WeightLayout made) -> Expected<int> {
    if (!present) return c.b.made_weight(c.name(), role, made, ch);
    return c.b.weight(c.layer, role, WeightLayout::kAsIs, ch, c.where());
  };
  KILN_ASSIGN_OR_RETURN(int gamma, param(WeightRole::kGamma, scale, WeightLayout::kOnes));
  KILN_ASSIGN_OR_RETURN(int beta, param(WeightRole::kBeta, center, WeightLayout::kZeros));
  KILN_ASSIGN_OR_RETURN(int mean, param(WeightRole::kMovingMean, true, WeightLayout::kZeros));
  KILN_ASSIGN_OR_RETURN(int var, param(WeightRole::kMovingVariance, true, WeightLayout::kOnes));
  return c.add(BatchNormAttrs{eps}, {x, gamma, beta, mean, var}, "/batch_norm");
}

Expected<int> identity(LayerCall& c) { return c.one_input(); }

Expected<int> zero_padding(LayerCall& c) {
  KILN_RETURN_IF_ERROR(c.require_channels_last());
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(auto p, c.sides_of("padding"));
  PadAttrs a;
  a.begin = {0, 0, p[0], p[1]};
  a.end = {0, 0, p[2], p[3]};
  return c.add(a, {x}, "/pad");
}

Expected<int> cropping(LayerCall& c) {
  KILN_RETURN_IF_ERROR(c.require_channels_last());
  KILN_ASSIGN_OR_RETURN(int x, c.one_input());
  KILN_ASSIGN_OR_RETURN(auto p, c.sides_of("cropping"));
  const Shape& xs = c.b.shape(x);
  if (p[0] + p[2] >= xs[2] || p[1] + p[3] >= xs[3])
    return c.bad("cropping " + std::to_string(p[0]) + "+" + std::to_string(p[2]) + " rows and " + std::to_string(p[1]) +
                 "+" + std::to_string(p[3]) + " columns leaves nothing of a " + std::to_string(xs[2]) + "x" +
                 std::to_string(xs[3]) + " input");
  SliceAttrs a;
  a.starts = {0, 0, p[0], p[1]};
  a.ends = {xs[0], xs[1], xs[2] - p[2], xs[3] - p[3]};
  a.steps = {1, 1, 1, 1};
  return c.add(a, {x}, "/crop");
}

}  // namespace

void register_other_layers(LayerTable& t) {
  t["MaxPooling2D"] = [](LayerCall& c) { return pool(c, PoolKind::kMax); };
  t["MaxPool2D"] = t["MaxPooling2D"];
  t["AveragePooling2D"] = [](LayerCall& c) { return pool(c, PoolKind::kAverage); };
  t["AvgPool2D"] = t["AveragePooling2D"];
  t["UpSampling2D"] = upsampling2d;
  t["Concatenate"] = concatenate;
  t["Add"] = [](LayerCall& c) { return merge(c, BinaryKind::kAdd); };
  t["Subtract"] = [](LayerCall& c) { return merge(c, BinaryKind::kSub); };
  t["Multiply"] = [](LayerCall& c) { return merge(c, BinaryKind::kMul); };
  t["Maximum"] = [](LayerCall& c) { return merge(c, BinaryKind::kMax); };
  t["Minimum"] = [](LayerCall& c) { return merge(c, BinaryKind::kMin); };
  t["Activation"] = activation_layer;
  t["ReLU"] = relu_layer;
  t["LeakyReLU"] = leaky_relu_layer;
  t["ELU"] = elu_layer;
  t["Softmax"] = softmax_layer;
  t["PReLU"] = prelu_layer;
  t["Flatten"] = flatten_layer;
  t["Reshape"] = reshape_layer;
  t["Dense"] = dense_layer;
  t["BatchNormalization"] = batch_norm;
  t["ZeroPadding2D"] = zero_padding;
  t["Cropping2D"] = cropping;
  for (const char* skipped : {"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                              "ActivityRegularization"})
    t[skipped] = identity;
}

}  // namespace kiln::keras_import
