// Shape arithmetic Keras and TensorFlow emit around resizes and transposed convolutions:
// Shape, StridedSlice, Slice, Pack, Cast, Fill, Range. Shapes are static in kiln, so these
// fold to constants; StridedSlice, Slice and Pack also work on run-time tensors. Also Split and
// SplitV.
#include <cmath>

#include "import/tf/importer.h"
#include "core/status_macros.h"
#include "import/shape_rules.h"

namespace kiln::tf_import {
namespace {

Tensor shape_tensor(const Shape& s) { return Tensor::from_i64({static_cast<int64_t>(s.size())}, s); }

Status translate_shape(NodeContext& c) {
  for (size_t i = 0; i < c.num_inputs(); ++i) {  // Shape has one input, ShapeN several
    KILN_ASSIGN_OR_RETURN(Shape s, c.shape(i));
    KILN_RETURN_IF_ERROR(c.set_const(i, shape_tensor(s)));
  }
  return Status::ok();
}

// A strided slice resolved against the input shape: one (start, end, step) per input axis in
// kiln's Slice convention, and the output shape after shrinking and adding axes.
struct Resolved {
  SliceAttrs slice;
  Shape out;
};

Expected<Resolved> resolve_strided_slice(const NodeContext& c, const Shape& in) {
  KILN_ASSIGN_OR_RETURN(auto begin, c.const_ints(1));
  KILN_ASSIGN_OR_RETURN(auto end, c.const_ints(2));
  KILN_ASSIGN_OR_RETURN(auto strides, c.const_ints(3));
  if (end.size() != begin.size() || strides.size() != begin.size()) return c.bad("begin, end and strides differ in length");
  if (begin.size() > 32) return c.bad("more than 32 slice dimensions");
  int64_t bm = c.attr_int("begin_mask", 0), em = c.attr_int("end_mask", 0), elm = c.attr_int("ellipsis_mask", 0);
  int64_t nam = c.attr_int("new_axis_mask", 0), sam = c.attr_int("shrink_axis_mask", 0);
  int64_t n = static_cast<int64_t>(begin.size());
  if (elm == 0) elm = int64_t{1} << n++;  // an implicit ellipsis at the end
  int64_t after_ellipsis = 0;
  bool seen = false;
  for (int64_t i = 0; i < n; ++i) {
    if (seen && (nam >> i & 1)) ++after_ellipsis;
    if (elm >> i & 1) seen = true;
  }
  const int64_t rank = static_cast<int64_t>(in.size());
  Resolved r;
  r.slice.starts.assign(in.size(), 0);
  r.slice.ends = in;
  r.slice.steps.assign(in.size(), 1);
  int64_t full = 0;
  bool ellipsis_done = false;
  for (int64_t i = 0; i < n; ++i) {
    if ((elm >> i & 1) && !ellipsis_done) {
      ellipsis_done = true;
      int64_t next = std::min(rank - (n - i) + 1 + after_ellipsis, rank);
      for (; full < next; ++full) r.out.push_back(in[full]);
      continue;
    }
    if (nam >> i & 1) {
      r.out.push_back(1);
      continue;
    }
    if (full >= rank) return c.bad("the slice has more axes than the input " + shape_to_string(in));
    const int64_t dim = in[full], s = strides[i];
    if (s == 0) return c.bad("stride 0");
    int64_t& start = r.slice.starts[full];
    int64_t& stop = r.slice.ends[full];
    r.slice.steps[full] = s;
    if (sam >> i & 1) {
      int64_t x = begin[i] < 0 ? begin[i] + dim : begin[i];
      if (x < 0 || x >= dim) return c.bad("index " + std::to_string(begin[i]) + " out of range for size " + std::to_string(dim));
      start = x;
      stop = x + 1;
      r.slice.steps[full] = 1;
    } else {
      auto canonical = [&](int64_t x) {
        x = x < 0 ? x + dim : x;
        return s > 0 ? std::clamp<int64_t>(x, 0, dim) : std::clamp<int64_t>(x, -1, dim - 1);
      };
      start = (bm >> i & 1) ? (s > 0 ? 0 : dim - 1) : canonical(begin[i]);
      stop = (em >> i & 1) ? (s > 0 ? dim : -1) : canonical(end[i]);
      int64_t span = s > 0 ? stop - start : start - stop, step = s > 0 ? s : -s;
      int64_t size = span <= 0 ? 0 : (span + step - 1) / step;
      if (size == 0) { start = 0; stop = 0; r.slice.steps[full] = 1; }
      r.out.push_back(size);
    }
    ++full;
  }
  for (; full < rank; ++full) r.out.push_back(in[full]);
  return r;
}

Status emit_slice(NodeContext& c, const Resolved& r, const Shape& in) {
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(0, Layout::kPlain));
  bool whole = r.slice.starts == std::vector<int64_t>(in.size(), 0) && r.slice.ends == in &&
               r.slice.steps == std::vector<int64_t>(in.size(), 1);
  if (!whole) { KILN_ASSIGN_OR_RETURN(x, c.compute(r.slice, {x}, "/slice")); }
  KILN_ASSIGN_OR_RETURN(Shape xs, c.operand_shape(x));
  if (xs == r.out) return c.bind(0, x, Layout::kPlain);
  return c.emit(ReshapeAttrs{r.out}, {x}, Layout::kPlain);
}

Status translate_strided_slice(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape in, c.shape(0));
  KILN_ASSIGN_OR_RETURN(Resolved r, resolve_strided_slice(c, in));
  return emit_slice(c, r, in);
}

Status translate_slice(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Shape in, c.shape(0));
  KILN_ASSIGN_OR_RETURN(auto begin, c.const_ints(1));
  KILN_ASSIGN_OR_RETURN(auto size, c.const_ints(2));
  if (begin.size() != in.size() || size.size() != in.size()) return c.bad("begin and size must have one value per axis");
  Resolved r;
  for (size_t i = 0; i < in.size(); ++i) {
    int64_t len = size[i] == -1 ? in[i] - begin[i] : size[i];
    if (begin[i] < 0 || len < 0 || begin[i] + len > in[i]) return c.bad("slice out of range of " + shape_to_string(in));
    r.slice.starts.push_back(begin[i]);
    r.slice.ends.push_back(begin[i] + len);
    r.slice.steps.push_back(1);
    r.out.push_back(len);
  }
  return emit_slice(c, r, in);
}

Status translate_pack(NodeContext& c) {
  if (c.num_inputs() == 0) return c.bad("no inputs");
  KILN_ASSIGN_OR_RETURN(Shape s0, c.shape(0));
  int64_t rank = static_cast<int64_t>(s0.size()) + 1, axis = c.attr_int("axis", 0);
  if (axis < -rank || axis >= rank) return c.bad("axis out of range");
  if (axis < 0) axis += rank;
  Shape unit = s0;
  unit.insert(unit.begin() + axis, 1);
  std::vector<Operand> parts;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    KILN_ASSIGN_OR_RETURN(Shape s, c.shape(i));
    if (s != s0) return c.bad("inputs of different shapes");
    KILN_ASSIGN_OR_RETURN(Operand x, c.operand(i, Layout::kPlain));
    KILN_ASSIGN_OR_RETURN(x, c.compute(ReshapeAttrs{unit}, {x}, "/unit" + std::to_string(i)));
    parts.push_back(x);
  }
  if (parts.size() == 1) return c.bind(0, parts[0], Layout::kPlain);
  return c.emit(ConcatAttrs{axis}, parts, Layout::kPlain);
}

Status translate_cast(NodeContext& c) {
  int to = c.attr_type("DstT", tf::DT_FLOAT);
  if (!c.is_const(0)) {
    if (to == tf::DT_FLOAT) return c.alias(0, 0);  // run-time tensors are float32 already
    return c.fail(std::string("casting run-time data to ") + tf_dtype_name(to) + " is not supported");
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, c.const_value(0));
  if (is_float_dtype(to)) return c.set_const(0, Tensor::from_floats(t.shape(), t.to_f32()));
  if (to == tf::DT_BOOL) {
    std::vector<float> f = t.to_f32();
    std::vector<uint8_t> b(f.size());
    for (size_t i = 0; i < f.size(); ++i) b[i] = f[i] != 0.0f;
    return c.set_const(0, Tensor::from_bytes(DType::kBool, t.shape(), b.data(), b.size()));
  }
  return c.set_const(0, Tensor::from_i64(t.shape(), t.to_i64()));
}

Status translate_fill(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(auto dims, c.const_ints(0));
  KILN_ASSIGN_OR_RETURN(Tensor v, c.const_value(1));
  if (v.elements() != 1) return c.bad("the value must be a scalar");
  for (int64_t d : dims)
    if (d < 0) return c.bad("negative dimension");
  int64_t n = shape_elements(dims);
  if (v.dtype() == DType::kF32) return c.set_const(0, Tensor::from_floats(dims, std::vector<float>(n, v.to_f32()[0])));
  return c.set_const(0, Tensor::from_i64(dims, std::vector<int64_t>(n, v.to_i64()[0])));
}

Status translate_range(NodeContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor start, c.const_value(0));
  KILN_ASSIGN_OR_RETURN(Tensor limit, c.const_value(1));
  KILN_ASSIGN_OR_RETURN(Tensor delta, c.const_value(2));
  auto r = range_constant(start, limit, delta);
  if (!r) return c.bad(r.error().message());
  return c.set_const(0, std::move(*r));
}

// Split (split_dim, value; num_split equal parts) and SplitV (value, size_splits with at most
// one -1, split_dim): one slice per output, on the value in the layout kiln holds it in.
Status translate_split(NodeContext& c, bool sized) {
  const size_t value = sized ? 0 : 1, dim_input = sized ? 2 : 0;
  KILN_ASSIGN_OR_RETURN(Shape tf_shape, c.shape(value));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> dim, c.const_ints(dim_input));
  const int64_t rank = static_cast<int64_t>(tf_shape.size());
  if (dim.size() != 1 || dim[0] < -rank || dim[0] >= rank) return c.bad("split_dim must be one axis of the value");
  const int64_t tf_axis = dim[0] < 0 ? dim[0] + rank : dim[0];
  const int64_t parts = c.attr_int("num_split", 1), extent = tf_shape[static_cast<size_t>(tf_axis)];
  if (parts < 1) return c.bad("num_split must be positive");
  std::vector<int64_t> sizes;
  if (sized) {
    KILN_ASSIGN_OR_RETURN(sizes, c.const_ints(1));
    int64_t known = 0, unknown = -1;
    for (size_t k = 0; k < sizes.size(); ++k) {
      if (sizes[k] == -1 && unknown < 0) unknown = static_cast<int64_t>(k);
      else if (sizes[k] < 0) return c.bad("size_splits may hold one -1 and otherwise sizes");
      else known += sizes[k];
    }
    if (unknown >= 0) sizes[static_cast<size_t>(unknown)] = extent - known;
  } else {
    if (extent % parts != 0) return c.bad("axis of size " + std::to_string(extent) + " does not split into " + std::to_string(parts) + " parts");
    sizes.assign(static_cast<size_t>(parts), extent / parts);
  }
  int64_t total = 0;
  for (int64_t v : sizes) total += v < 0 ? extent + 1 : v;
  if (static_cast<int64_t>(sizes.size()) != parts || total != extent)
    return c.bad("the split sizes do not add up to the axis's " + std::to_string(extent));
  const Layout layout = rank == 4 ? c.layout(value) : Layout::kPlain;
  KILN_ASSIGN_OR_RETURN(Operand x, c.operand(value, layout));
  KILN_ASSIGN_OR_RETURN(Shape ks, c.operand_shape(x));
  const int64_t axis = kiln_axis(tf_axis, layout);
  int64_t start = 0;
  for (int64_t k = 0; k < parts; ++k) {
    const int64_t size = sizes[static_cast<size_t>(k)];
    KILN_ASSIGN_OR_RETURN(Operand part, c.compute(axis_slice(ks, axis, start, start + size), {x}, "/part" + std::to_string(k)));
    start += size;
    KILN_RETURN_IF_ERROR(c.bind(static_cast<size_t>(k), part, layout));
  }
  return Status::ok();
}

}  // namespace

void register_shape_ops(OpTable& t) {
  t["Shape"] = translate_shape;
  t["ShapeN"] = translate_shape;
  t["Size"] = [](NodeContext& c) -> Status {
    KILN_ASSIGN_OR_RETURN(Shape s, c.shape(0));
    return c.set_const(0, Tensor::from_i64({}, {shape_elements(s)}));
  };
  t["Rank"] = [](NodeContext& c) -> Status {
    KILN_ASSIGN_OR_RETURN(Shape s, c.shape(0));
    return c.set_const(0, Tensor::from_i64({}, {static_cast<int64_t>(s.size())}));
  };
  t["StridedSlice"] = translate_strided_slice;
  t["Slice"] = translate_slice;
  t["Split"] = [](NodeContext& c) { return translate_split(c, false); };
  t["SplitV"] = [](NodeContext& c) { return translate_split(c, true); };
  t["Pack"] = translate_pack;
  t["Cast"] = translate_cast;
  t["Fill"] = translate_fill;
  t["Range"] = translate_range;
}

}  // namespace kiln::tf_import
