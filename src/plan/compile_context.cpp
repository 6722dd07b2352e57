#include "plan/compile_context.h"

#include <algorithm>
#include <climits>

#include "plan/memory_planner.h"

namespace kiln {

// The ISA masks nest (oneDNN's cpu_isa bits): AVX512_BF16 implies AVX512_CORE and VNNI.
bool cpu_has(dnnl::cpu_isa want) {
  auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  return (isa & static_cast<unsigned>(want)) == static_cast<unsigned>(want);
}

namespace {
constexpr size_t kArenaAlignment = 64;  // a cache line; AVX-512 loads want it
}

int CompileContext::new_buffer(size_t bytes) {
  plan_.buffers.push_back({static_cast<int>(storage_bytes_.size()), 0});
  storage_bytes_.push_back(bytes);
  storage_first_.push_back(INT_MAX);
  storage_last_.push_back(-1);
  return static_cast<int>(plan_.buffers.size()) - 1;
}

void CompileContext::note_conv_choice(const std::string& variant, const std::string& measured, double chosen_ms,
                                      double fp32_direct_ms) {
  if (!plan_.steps.empty()) {
    plan_.steps.back()->variant = variant;
    plan_.steps.back()->measured = measured;
  }
  ++plan_.conv_variants[variant];
  if (chosen_ms > 0 && fp32_direct_ms > 0) {
    plan_.conv_ms += chosen_ms;
    plan_.conv_fp32_direct_ms += fp32_direct_ms;
  }
}

md_t CompileContext::stored_md(int v) const {
  if (is_weight(v) || !values_[v].defined) return plain_md(shape(v));
  return values_[v].ref.md;
}

namespace {
bool is_int8(const md_t& md) {
  return md.data_type() == dnnl::memory::data_type::u8 || md.data_type() == dnnl::memory::data_type::s8;
}
}  // namespace

md_t CompileContext::md(int v) const {
  md_t m = stored_md(v);
  if (is_int8(m)) m.data.data_type = dnnl_f32;  // same layout; strides count elements
  return m;
}

TensorRef CompileContext::activation_scale(int v, bool inverse) {
  WeightSlot slot;
  slot.transform = WeightTransform::kActivationScale;
  slot.input_scales = quant_.scales[v];
  slot.inverse = inverse;
  slot.source_tag = tag::a;
  slot.packed_md = md_t({shape(v).size() >= 2 ? shape(v)[1] : 1}, dnnl::memory::data_type::f32, tag::a);
  return weight(std::move(slot));
}

TensorRef CompileContext::read(int v, const md_t& want) {
  ValueState& s = values_[v];
  if (is_weight(v)) {
    for (auto& [key, ref] : s.converted)
      if (ref.md == want) return ref;
    WeightSlot slot;
    slot.transform = WeightTransform::kCopy;
    slot.sources = {g_.values[v].name};
    slot.source_shapes = {shape(v)};
    slot.source_tag = plain_tag(want.dims().size());
    slot.packed_md = want;
    TensorRef r = weight(std::move(slot));
    s.converted.emplace(std::to_string(s.converted.size()), r);
    return r;
  }
  if (s.ref.md == want) return s.ref;
  for (auto& [key, ref] : s.converted)
    if (ref.md == want) return ref;
  TensorRef out;
  out.md = want;
  out.buffer = new_buffer(want.get_size());
  std::vector<std::pair<int, TensorRef>> args{{DNNL_ARG_FROM, s.ref}, {DNNL_ARG_TO, out}};
  dnnl::primitive_attr attr;
  if (is_int8(s.ref.md) != is_int8(want)) {  // (de)quantizing: the scale comes with the weights
    attr.set_output_scales(shape(v).size() >= 2 ? 1 << 1 : 0, {DNNL_RUNTIME_F32_VAL});  // per channel
    args.emplace_back(DNNL_ARG_ATTR_OUTPUT_SCALES, activation_scale(v, /*inverse=*/is_int8(want)));
  }
  auto pd = dnnl::reorder::primitive_desc(plan_.engine, s.ref.md, plan_.engine, want, attr);
  auto step = std::make_unique<PrimitiveStep>(dnnl::reorder(pd), std::move(args));
  step->name = g_.values[v].name;
  step->kind = "reorder";
  step->impl = pd.impl_info_str();
  step->reads = {s.ref};
  step->writes = {out};
  add_step(std::move(step));
  s.converted.emplace(std::to_string(s.converted.size()), out);
  return out;
}

TensorRef CompileContext::define(int v, const md_t& md) {
  TensorRef r;
  r.md = md;
  r.buffer = new_buffer(md.get_size());
  values_[v].ref = r;
  values_[v].defined = true;
  if (plan_.options.keep_values) plan_.values.emplace_back(g_.values[v].name, r);
  return r;
}

TensorRef CompileContext::define_alias(int v, const TensorRef& src, const md_t& md) {
  TensorRef r = src;
  r.md = md;
  values_[v].ref = r;
  values_[v].defined = true;
  if (plan_.options.keep_values) plan_.values.emplace_back(g_.values[v].name, r);
  return r;
}

TensorRef CompileContext::weight(WeightSlot slot) {
  slot.pack_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(plan_.engine, slot.source_md(), plan_.engine, slot.packed_md));
  plan_.weight_slots.push_back(std::move(slot));
  TensorRef r;
  r.md = plan_.weight_slots.back().packed_md;
  r.weight_slot = static_cast<int>(plan_.weight_slots.size()) - 1;
  return r;
}

void CompileContext::add_step(std::unique_ptr<Step> step) {
  int index = static_cast<int>(plan_.steps.size());
  auto touch = [&](const TensorRef& r) {
    if (r.is_weight() || r.buffer < 0) return;
    // Lifetimes are tracked per buffer; finish() folds them into storages.
    while (buffer_first_.size() <= static_cast<size_t>(r.buffer)) {
      buffer_first_.push_back(INT_MAX);
      buffer_last_.push_back(-1);
    }
    buffer_first_[r.buffer] = std::min(buffer_first_[r.buffer], index);
    buffer_last_[r.buffer] = std::max(buffer_last_[r.buffer], index);
  };
  for (const TensorRef& r : step->reads) touch(r);
  for (const TensorRef& r : step->writes) touch(r);
  plan_.steps.push_back(std::move(step));
}

bool CompileContext::owns_storage(int b) const {
  int s = plan_.buffers[b].storage;
  for (size_t i = 0; i < plan_.buffers.size(); ++i)
    if (static_cast<int>(i) != b && plan_.buffers[i].storage == s) return false;
  return b != plan_.scratchpad_buffer;
}

bool CompileContext::place_inside(int b, int into, size_t offset) {
  if (!owns_storage(b) || b == into) return false;
  plan_.buffers[b].storage = plan_.buffers[into].storage;
  plan_.buffers[b].offset_in_storage = plan_.buffers[into].offset_in_storage + offset;
  return true;
}

Status CompileContext::finish() {
  for (int v : g_.outputs) {
    TensorRef r = read(v, plain_md(shape(v)));
    plan_.outputs.push_back({g_.values[v].name, shape(v), r});
  }
  int end = static_cast<int>(plan_.steps.size());
  buffer_first_.resize(plan_.buffers.size(), INT_MAX);
  buffer_last_.resize(plan_.buffers.size(), -1);
  // Inputs are written before the first step; outputs are read after the last.
  for (const PlanIO& io : plan_.inputs) {
    buffer_first_[io.ref.buffer] = 0;
    buffer_last_[io.ref.buffer] = std::max(buffer_last_[io.ref.buffer], 0);
  }
  for (const PlanIO& io : plan_.outputs) {
    buffer_first_[io.ref.buffer] = std::min(buffer_first_[io.ref.buffer], end);
    buffer_last_[io.ref.buffer] = end;
  }
  storage_bytes_[plan_.buffers[plan_.scratchpad_buffer].storage] = scratchpad_bytes_;
  buffer_first_[plan_.scratchpad_buffer] = 0;
  buffer_last_[plan_.scratchpad_buffer] = end;

  size_t n = storage_bytes_.size();
  std::vector<BufferRequest> reqs(n, BufferRequest{0, INT_MAX, -1});
  std::vector<bool> used(n, false);
  for (size_t b = 0; b < plan_.buffers.size(); ++b) {
    if (buffer_last_[b] < 0) continue;  // never touched
    int s = plan_.buffers[b].storage;
    used[s] = true;
    reqs[s].first_use = std::min(reqs[s].first_use, buffer_first_[b]);
    reqs[s].last_use = std::max(reqs[s].last_use, buffer_last_[b]);
  }
  for (size_t s = 0; s < n; ++s) {
    if (plan_.options.keep_values && used[s]) reqs[s].first_use = 0, reqs[s].last_use = end;
    reqs[s].size = used[s] ? storage_bytes_[s] : 0;
    if (!used[s]) reqs[s].first_use = reqs[s].last_use = 0;
  }
  MemoryPlan mp = plan_memory(reqs, kArenaAlignment);
  plan_.storage_offsets = mp.offsets;
  plan_.arena_bytes = mp.arena_bytes;
  return Status::ok();
}

}  // namespace kiln
