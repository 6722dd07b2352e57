// kiln's C API (include/kiln/kiln.h) over kiln::Engine. Every entry point catches what C++
// could throw (bad_alloc, a bug) and turns it into a status, and every failure leaves its
// message in the calling thread's last error: no exception and no C++ type crosses into C.
#include "kiln/kiln.h"

#include <dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "kiln/engine.h"

struct kiln_engine {
  kiln::Engine engine;
  explicit kiln_engine(kiln::EngineOptions o) : engine(std::move(o)) {}
};

namespace {

thread_local std::string last_error;

kiln_status code_of(kiln::ErrorCode c) {
  switch (c) {
    case kiln::ErrorCode::kOk: return KILN_OK;
    case kiln::ErrorCode::kInvalidArgument: return KILN_INVALID_ARGUMENT;
    case kiln::ErrorCode::kInvalidModel: return KILN_INVALID_MODEL;
    case kiln::ErrorCode::kUnsupported: return KILN_UNSUPPORTED;
    case kiln::ErrorCode::kNotFound: return KILN_NOT_FOUND;
    case kiln::ErrorCode::kIo: return KILN_IO;
    case kiln::ErrorCode::kInternal: return KILN_INTERNAL;
    case kiln::ErrorCode::kUnavailable: return KILN_UNAVAILABLE;
    case kiln::ErrorCode::kDeadlineExceeded: return KILN_DEADLINE_EXCEEDED;
  }
  return KILN_INTERNAL;
}

kiln_status fail(kiln_status code, std::string message) {
  last_error = std::move(message);
  return code;
}

kiln_status from(const kiln::Status& s) {
  if (s) {
    last_error.clear();
    return KILN_OK;
  }
  return fail(code_of(s.code()), s.message());
}

// Runs `body` (returning kiln_status) with every exception turned into KILN_INTERNAL.
template <typename F>
kiln_status guarded(const char* what, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(KILN_INTERNAL, std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(KILN_INTERNAL, std::string(what) + ": " + e.what());
  } catch (...) {
    return fail(KILN_INTERNAL, std::string(what) + ": unknown failure");
  }
}

kiln_status null_argument(const char* what, const char* arg) {
  return fail(KILN_INVALID_ARGUMENT, std::string(what) + ": " + arg + " is NULL");
}

// The caller's inputs as tensors viewing their memory (no copy: Engine::run reads them).
kiln::Expected<std::vector<kiln::Tensor>> input_tensors(const kiln_tensor* inputs, size_t count) {
  std::vector<kiln::Tensor> out;
  for (size_t i = 0; i < count; ++i) {
    const kiln_tensor& t = inputs[i];
    if (!t.data || !t.shape || t.rank < 1 || t.rank > 8)
      return kiln::invalid_argument("input " + std::to_string(i) + ": data and shape are needed, rank 1 to 8");
    kiln::Shape shape(t.shape, t.shape + t.rank);
    int64_t elements = 1;
    for (int64_t d : shape) {
      if (d <= 0) return kiln::invalid_argument("input " + std::to_string(i) + " has shape " + kiln::shape_to_string(shape));
      elements *= d;
    }
    if (static_cast<size_t>(elements) > t.capacity)
      return kiln::invalid_argument("input " + std::to_string(i) + " has shape " + kiln::shape_to_string(shape) + ": " +
                                    std::to_string(elements) + " elements, but its buffer holds " +
                                    std::to_string(t.capacity));
    out.push_back(kiln::Tensor::view(kiln::DType::kF32, shape, nullptr, t.data));
  }
  return out;
}

kiln::Expected<std::vector<kiln::Tensor>> run(kiln_engine* e, const char* name, const kiln_tensor* inputs, size_t count) {
  if (count > 0 && !inputs) return kiln::invalid_argument("inputs is NULL");
  auto in = input_tensors(inputs, count);
  if (!in) return in.error();
  auto out = e->engine.run(name, *in);
  if (!out) return out.error();
  for (kiln::Tensor& t : *out)
    if (t.dtype() != kiln::DType::kF32) return kiln::unsupported("model '" + std::string(name) + "' gives a non-float32 output");
  return out;
}

}  // namespace

extern "C" {

const char* kiln_last_error(void) { return last_error.c_str(); }

const char* kiln_version(void) { return KILN_VERSION; }

const char* kiln_onednn_version(void) {
  static const std::string v = [] {
    const dnnl_version_t* d = dnnl_version();
    return std::to_string(d->major) + "." + std::to_string(d->minor) + "." + std::to_string(d->patch);
  }();
  return v.c_str();
}

void kiln_engine_options_init(kiln_engine_options* options) {
  if (!options) return;
  options->runners = 1;
  options->cache_dir = nullptr;
  options->precision = KILN_FP32;
  options->winograd = 0;
  options->threads = 0;
}

kiln_status kiln_engine_create(const kiln_engine_options* options, kiln_engine** engine) {
  return guarded("kiln_engine_create", [&] {
    if (!engine) return null_argument("kiln_engine_create", "engine");
    *engine = nullptr;
    kiln::EngineOptions o;
    if (options) {
      if (options->runners < 1 || options->runners > 256)
        return fail(KILN_INVALID_ARGUMENT, "kiln_engine_create: runners must be 1 to 256, not " + std::to_string(options->runners));
      o.runners = options->runners;
      if (options->cache_dir) o.cache_dir = options->cache_dir;
      switch (options->precision) {
        case KILN_FP32: o.precision = kiln::Precision::kF32; break;
        case KILN_BF16: o.precision = kiln::Precision::kBF16; break;
        case KILN_INT8: o.precision = kiln::Precision::kInt8; break;
        case KILN_AUTO: o.precision = kiln::Precision::kAuto; break;
        case KILN_AUTO_BF16: o.precision = kiln::Precision::kAutoBF16; break;
        default: return fail(KILN_INVALID_ARGUMENT, "kiln_engine_create: unknown precision " + std::to_string(options->precision));
      }
      if (options->winograd) o.conv_algorithm = kiln::ConvAlgorithm::kWinograd;
      if (options->threads < 0 || options->threads > 1024)
        return fail(KILN_INVALID_ARGUMENT, "kiln_engine_create: threads must be 0 (all cores) to 1024, not " +
                                               std::to_string(options->threads));
      o.threads = options->threads;
    }
    *engine = new kiln_engine(std::move(o));
    last_error.clear();
    return KILN_OK;
  });
}

void kiln_engine_destroy(kiln_engine* engine) {
  try {
    delete engine;
  } catch (...) {
  }
}

void kiln_load_spec_init(kiln_load_spec* spec) {
  if (!spec) return;
  spec->model = nullptr;
  spec->weights = nullptr;
  spec->height = 0;
  spec->width = 0;
}

kiln_status kiln_load(kiln_engine* engine, const char* name, const kiln_load_spec* spec) {
  return guarded("kiln_load", [&] {
    if (!engine) return null_argument("kiln_load", "engine");
    if (!name) return null_argument("kiln_load", "name");
    if (!spec || !spec->model) return null_argument("kiln_load", "spec->model");
    kiln::LoadSpec s;
    s.model = spec->model;
    if (spec->weights) s.weights = spec->weights;
    if (spec->height > 0 || spec->width > 0) {
      if (spec->height <= 0 || spec->width <= 0)
        return fail(KILN_INVALID_ARGUMENT, "kiln_load: height and width are given together (both > 0)");
      s.image_size = kiln::ImageSize{spec->height, spec->width};
    }
    return from(engine->engine.load(name, std::move(s)));
  });
}

kiln_status kiln_wait_ready(kiln_engine* engine, const char* name, int64_t timeout_ms) {
  return guarded("kiln_wait_ready", [&] {
    if (!engine) return null_argument("kiln_wait_ready", "engine");
    if (!name) return null_argument("kiln_wait_ready", "name");
    return from(engine->engine.wait_ready(name, std::chrono::milliseconds(std::max<int64_t>(0, timeout_ms))));
  });
}

kiln_status kiln_model_status(kiln_engine* engine, const char* name, kiln_model_state* state, double* progress) {
  return guarded("kiln_model_status", [&] {
    if (!engine) return null_argument("kiln_model_status", "engine");
    if (!name) return null_argument("kiln_model_status", "name");
    auto s = engine->engine.status(name);
    if (!s) return from(s.error());
    if (state) *state = static_cast<kiln_model_state>(static_cast<int>(s->state));
    if (progress) *progress = s->progress;
    last_error = s->error;
    return KILN_OK;
  });
}

kiln_status kiln_model_io(kiln_engine* engine, const char* name, size_t* inputs, size_t* outputs) {
  return guarded("kiln_model_io", [&] {
    if (!engine) return null_argument("kiln_model_io", "engine");
    if (!name) return null_argument("kiln_model_io", "name");
    auto info = engine->engine.info(name);
    if (!info) return from(info.error());
    if (inputs) *inputs = info->inputs.size();
    if (outputs) *outputs = info->outputs.size();
    last_error.clear();
    return KILN_OK;
  });
}

kiln_status kiln_model_tensor(kiln_engine* engine, const char* name, int output, size_t index, const char** tensor_name,
                              int64_t shape[8], int* rank) {
  return guarded("kiln_model_tensor", [&] {
    if (!engine) return null_argument("kiln_model_tensor", "engine");
    if (!name) return null_argument("kiln_model_tensor", "name");
    auto info = engine->engine.info(name);
    if (!info) return from(info.error());
    const auto& list = output ? info->outputs : info->inputs;
    if (index >= list.size())
      return fail(KILN_INVALID_ARGUMENT, "model '" + std::string(name) + "' has " + std::to_string(list.size()) +
                                             (output ? " output(s)" : " input(s)") + ", not " + std::to_string(index + 1));
    const kiln::TensorInfo& t = list[index];
    if (t.shape.size() > 8) return fail(KILN_UNSUPPORTED, "tensor '" + t.name + "' has more than 8 dimensions");
    // The name stays valid while the model is loaded: keep it with the thread's last strings.
    thread_local std::string held;
    held = t.name;
    if (tensor_name) *tensor_name = held.c_str();
    if (shape) std::copy(t.shape.begin(), t.shape.end(), shape);
    if (rank) *rank = static_cast<int>(t.shape.size());
    last_error.clear();
    return KILN_OK;
  });
}

kiln_status kiln_run(kiln_engine* engine, const char* name, const kiln_tensor* inputs, size_t input_count,
                     kiln_tensor* outputs, size_t output_count) {
  return guarded("kiln_run", [&] {
    if (!engine) return null_argument("kiln_run", "engine");
    if (!name) return null_argument("kiln_run", "name");
    if (output_count > 0 && !outputs) return null_argument("kiln_run", "outputs");
    auto out = run(engine, name, inputs, input_count);
    if (!out) return from(out.error());
    if (out->size() != output_count)
      return fail(KILN_INVALID_ARGUMENT, "model '" + std::string(name) + "' gives " + std::to_string(out->size()) +
                                             " output(s); " + std::to_string(output_count) + " buffer(s) were passed");
    for (size_t i = 0; i < out->size(); ++i) {  // check every buffer before writing any
      const size_t n = static_cast<size_t>((*out)[i].elements());
      if (!outputs[i].data || outputs[i].capacity < n)
        return fail(KILN_INVALID_ARGUMENT, "output " + std::to_string(i) + " has shape " +
                                               kiln::shape_to_string((*out)[i].shape()) + " (" + std::to_string(n) +
                                               " floats); its buffer holds " + std::to_string(outputs[i].capacity));
      if ((*out)[i].shape().size() > 8) return fail(KILN_UNSUPPORTED, "an output has more than 8 dimensions");
    }
    for (size_t i = 0; i < out->size(); ++i) {
      const kiln::Tensor& t = (*out)[i];
      std::memcpy(outputs[i].data, t.raw(), t.bytes());
      if (outputs[i].shape) std::copy(t.shape().begin(), t.shape().end(), outputs[i].shape);
      outputs[i].rank = static_cast<int>(t.shape().size());
    }
    last_error.clear();
    return KILN_OK;
  });
}

kiln_status kiln_run_alloc(kiln_engine* engine, const char* name, const kiln_tensor* inputs, size_t input_count,
                           kiln_tensor** outputs, size_t* output_count) {
  return guarded("kiln_run_alloc", [&] {
    if (!engine) return null_argument("kiln_run_alloc", "engine");
    if (!name) return null_argument("kiln_run_alloc", "name");
    if (!outputs || !output_count) return null_argument("kiln_run_alloc", "outputs or output_count");
    *outputs = nullptr;
    *output_count = 0;
    auto out = run(engine, name, inputs, input_count);
    if (!out) return from(out.error());
    std::vector<kiln_tensor> made(out->size(), kiln_tensor{nullptr, nullptr, 0, 0});
    auto release = [&] {
      for (kiln_tensor& t : made) {
        delete[] t.data;
        delete[] t.shape;
      }
    };
    try {
      for (size_t i = 0; i < out->size(); ++i) {
        const kiln::Tensor& t = (*out)[i];
        made[i].capacity = static_cast<size_t>(t.elements());
        made[i].data = new float[made[i].capacity];
        made[i].shape = new int64_t[8]();
        made[i].rank = static_cast<int>(t.shape().size());
        std::memcpy(made[i].data, t.raw(), t.bytes());
        std::copy(t.shape().begin(), t.shape().end(), made[i].shape);
      }
      *outputs = new kiln_tensor[made.size()];
    } catch (...) {
      release();
      throw;
    }
    std::copy(made.begin(), made.end(), *outputs);
    *output_count = made.size();
    last_error.clear();
    return KILN_OK;
  });
}

void kiln_free_tensors(kiln_tensor* tensors, size_t count) {
  if (!tensors) return;
  for (size_t i = 0; i < count; ++i) {
    delete[] tensors[i].data;
    delete[] tensors[i].shape;
  }
  delete[] tensors;
}

kiln_status kiln_load_weights(kiln_engine* engine, const char* name, const char* weights_path) {
  return guarded("kiln_load_weights", [&] {
    if (!engine) return null_argument("kiln_load_weights", "engine");
    if (!name || !weights_path) return null_argument("kiln_load_weights", "name or weights_path");
    return from(engine->engine.load_weights(name, weights_path));
  });
}

kiln_status kiln_unload(kiln_engine* engine, const char* name) {
  return guarded("kiln_unload", [&] {
    if (!engine) return null_argument("kiln_unload", "engine");
    if (!name) return null_argument("kiln_unload", "name");
    return from(engine->engine.unload(name));
  });
}

kiln_status kiln_export_pack(kiln_engine* engine, const char* name, const char* path) {
  return guarded("kiln_export_pack", [&] {
    if (!engine) return null_argument("kiln_export_pack", "engine");
    if (!name || !path) return null_argument("kiln_export_pack", "name or path");
    return from(engine->engine.export_pack(name, path));
  });
}

kiln_status kiln_memory(kiln_engine* engine, kiln_memory_report* report) {
  return guarded("kiln_memory", [&] {
    if (!engine) return null_argument("kiln_memory", "engine");
    if (!report) return null_argument("kiln_memory", "report");
    const kiln::MemoryReport m = engine->engine.memory();
    report->plans = m.plans;
    report->models = m.models;
    report->plan_bytes = m.plan_bytes;
    report->weight_bytes_resident = m.weight_bytes_resident;
    report->weight_bytes_mapped = m.weight_bytes_mapped;
    report->arena_bytes = m.arena_bytes;
    last_error.clear();
    return KILN_OK;
  });
}

}  // extern "C"
