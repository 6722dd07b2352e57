// Sessions of kiln's TensorFlow C API: TF_SessionRun's feeds and fetches become a kiln model
// of the session's graph (session_models.h) run on the process's engine; tensors are copied
// in and out in TensorFlow's layout (NHWC images stay NHWC).
#include <algorithm>
#include <cstring>
#include <set>

#include "core/status_macros.h"
#include "kiln_tf.h"
#include "tfcompat/compat.h"
#include "tfcompat/session_models.h"

struct TF_Session {
  TF_Graph* graph = nullptr;
  std::shared_ptr<kiln::tfcompat::GraphModels> models;
  std::atomic<bool> closed{false};
};

using namespace kiln;
using namespace kiln::tfcompat;

namespace {

bool is_placeholder(const TF_Operation* o) {
  return o->node.op == "Placeholder" || o->node.op == "PlaceholderWithDefault";
}

// The graph's likely fetches: float outputs nothing reads (what a frozen inference graph
// ends in), for preparing a session before its first run.
std::vector<std::string> sinks(TF_Graph* g) {
  std::set<std::string> read;
  for (const TF_Operation& op : g->ops) {
    for (const std::string& in : op.node.inputs) read.insert(tf_import::split_output_name(in).node);
    for (const std::string& in : op.node.control_inputs) read.insert(in);
  }
  std::vector<std::string> out;
  for (const TF_Operation& op : g->ops)
    if (!read.count(op.node.name) && !op.node.output_types.empty() && op.node.output_types[0] == TF_FLOAT &&
        op.node.op != "Const" && !is_placeholder(&op))
      out.push_back(op.node.name);
  return out;
}

Expected<Tensor> to_kiln(const TF_Tensor* t, const std::string& what) {
  Shape shape(t->dims.begin(), t->dims.end());
  const int64_t n = shape_elements(shape);
  switch (t->type) {
    case TF_FLOAT:
      return Tensor::from_bytes(DType::kF32, shape, t->data, t->len);
    case TF_BOOL: {
      std::vector<uint8_t> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<const uint8_t*>(t->data)[i] != 0;
      return Tensor::from_bytes(DType::kBool, shape, v.data(), v.size());
    }
    case TF_INT32: case TF_INT64: {
      std::vector<int64_t> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        v[static_cast<size_t>(i)] = t->type == TF_INT32 ? static_cast<const int32_t*>(t->data)[i]
                                                        : static_cast<const int64_t*>(t->data)[i];
      return Tensor::from_i64(shape, v);
    }
    default:
      return unsupported(what + ": feeds of type " + type_name(t->type) + " are not supported by kiln");
  }
}

// A kiln result as a TF_Tensor of the type the graph gives that output.
Expected<TF_Tensor*> to_tf(const Tensor& t, TF_DataType type, const std::string& what) {
  const Shape& s = t.shape();
  const std::vector<float> v = t.to_f32();
  const size_t es = element_size(type);
  if (type != TF_FLOAT && type != TF_INT32 && type != TF_INT64 && type != TF_BOOL && type != TF_UINT8)
    return unsupported(what + ": kiln cannot return a tensor of type " + type_name(type));
  TF_Tensor* out = TF_AllocateTensor(type, s.data(), static_cast<int>(s.size()), v.size() * es);
  if (!out) return internal_error(what + ": out of memory for the result");
  for (size_t i = 0; i < v.size(); ++i) {
    switch (type) {
      case TF_FLOAT: static_cast<float*>(out->data)[i] = v[i]; break;
      case TF_INT32: static_cast<int32_t*>(out->data)[i] = static_cast<int32_t>(v[i]); break;
      case TF_INT64: static_cast<int64_t*>(out->data)[i] = static_cast<int64_t>(v[i]); break;
      default: static_cast<uint8_t*>(out->data)[i] = static_cast<uint8_t>(v[i]); break;
    }
  }
  return out;
}

Status run(TF_Session* session, const TF_Output* inputs, TF_Tensor* const* input_values, int ninputs,
           const TF_Output* outputs, TF_Tensor** output_values, int noutputs, const TF_Operation* const* targets,
           int ntargets) {
  if (!session) return invalid_argument("TF_SessionRun: the session is NULL");
  if (session->closed) return Status(ErrorCode::kInvalidArgument, "Session has been closed.");
  if (ninputs < 0 || noutputs < 0 || ntargets < 0) return invalid_argument("TF_SessionRun: a negative count");
  if ((ninputs && (!inputs || !input_values)) || (noutputs && (!outputs || !output_values)) || (ntargets && !targets))
    return invalid_argument("TF_SessionRun: an array is NULL while its count is not 0");
  TF_Graph* g = session->graph;
  ModelKey key;
  std::map<std::string, Shape> shapes;
  std::map<std::string, Tensor> constants;
  std::map<std::string, const TF_Tensor*> feeds;
  for (int i = 0; i < ninputs; ++i) {
    const TF_Output& in = inputs[i];
    const std::string arg = "feed " + std::to_string(i);
    if (!in.oper || in.oper->graph != g) return invalid_argument(arg + ": the operation is NULL or not of this session's graph");
    if (in.index < 0 || static_cast<size_t>(in.index) >= in.oper->node.output_types.size())
      return Status(ErrorCode::kNotFound, "Output " + std::to_string(in.index) + " of node " + in.oper->node.name +
                                              " does not exist");
    if (!is_placeholder(in.oper))
      return unsupported(arg + " ('" + output_name(in) + "', " + in.oper->node.op +
                         "): kiln feeds placeholders only, not tensors computed inside the graph");
    const TF_Tensor* v = input_values[i];
    if (!v) return invalid_argument(arg + " ('" + output_name(in) + "'): the tensor is NULL");
    const TF_DataType want = TF_OperationOutputType(in);
    if (v->type != want)
      return invalid_argument("Expects arg[" + std::to_string(i) + "] to be " + type_name(want) + " but " +
                              type_name(v->type) + " is provided");
    const std::string name = output_name(in);
    if (!feeds.emplace(name, v).second) return invalid_argument("'" + name + "' is fed more than once");
    if (v->type == TF_FLOAT) {
      key.fed.push_back(name);
      shapes[name] = Shape(v->dims.begin(), v->dims.end());
    } else {
      KILN_ASSIGN_OR_RETURN(Tensor c, to_kiln(v, arg + " ('" + name + "')"));
      constants[name] = c;
      key.constants += name + "=" + std::string(c.data<char>(), c.bytes()) + ";";
    }
  }
  std::sort(key.fed.begin(), key.fed.end());
  std::vector<std::string> fetches;
  for (int i = 0; i < noutputs; ++i) {
    const TF_Output& out = outputs[i];
    if (!out.oper || out.oper->graph != g) return invalid_argument("fetch " + std::to_string(i) + ": the operation is NULL or not of this session's graph");
    if (out.index < 0 || static_cast<size_t>(out.index) >= out.oper->node.output_types.size())
      return Status(ErrorCode::kNotFound, "Output " + std::to_string(out.index) + " of node " + out.oper->node.name +
                                              " does not exist");
    fetches.push_back(output_name(out));
  }
  for (int i = 0; i < ntargets; ++i)
    if (!targets[i] || targets[i]->graph != g) return invalid_argument("target " + std::to_string(i) + ": the operation is NULL or not of this session's graph");
  if (noutputs == 0) return Status::ok();  // targets only: inference graphs have nothing to run for effect
  key.fetched = fetches;
  std::sort(key.fetched.begin(), key.fetched.end());
  key.fetched.erase(std::unique(key.fetched.begin(), key.fetched.end()), key.fetched.end());

  std::string file;
  int generation;
  {
    std::lock_guard<std::mutex> lock(g->mu);
    file = g->file;
    generation = g->generation;
  }
  if (file.empty()) return invalid_argument("the session's graph is empty: nothing was imported into it");
  KILN_ASSIGN_OR_RETURN(GraphModel m, session->models->get(file, generation, key, shapes, constants));
  std::vector<Tensor> args;
  for (const std::string& name : m.inputs) {
    auto it = feeds.find(name);
    if (it == feeds.end() && name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0) it = feeds.find(name.substr(0, name.size() - 2));
    if (it == feeds.end())
      return invalid_argument("You must feed a value for placeholder tensor '" + name + "' with dtype float");
    KILN_ASSIGN_OR_RETURN(Tensor t, to_kiln(it->second, "'" + name + "'"));
    args.push_back(std::move(t));
  }
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> results, engine().run(m.name, args));
  if (results.size() != m.outputs.size()) return internal_error("the model returned " + std::to_string(results.size()) + " tensors for " + std::to_string(m.outputs.size()) + " fetches");
  std::vector<TF_Tensor*> made;
  for (int i = 0; i < noutputs; ++i) {
    const size_t k = static_cast<size_t>(std::find(m.outputs.begin(), m.outputs.end(), fetches[static_cast<size_t>(i)]) - m.outputs.begin());
    auto t = to_tf(results[k], TF_OperationOutputType(outputs[i]), "fetch '" + fetches[static_cast<size_t>(i)] + "'");
    if (!t) {
      for (TF_Tensor* x : made) TF_DeleteTensor(x);
      return t.error();
    }
    made.push_back(*t);
  }
  for (int i = 0; i < noutputs; ++i) output_values[i] = made[static_cast<size_t>(i)];
  return Status::ok();
}

}  // namespace

extern "C" {

TF_SessionOptions* TF_NewSessionOptions(void) { return new (std::nothrow) TF_SessionOptions; }
void TF_SetTarget(TF_SessionOptions* o, const char* target) {
  if (o) o->target = target ? target : "";
}
void TF_SetConfig(TF_SessionOptions* o, const void*, size_t, TF_Status* s) {
  if (!o) return set(s, TF_INVALID_ARGUMENT, "TF_SetConfig: the options are NULL");
  ok(s);  // device placement, GPU memory and thread pools mean nothing to kiln's engine
}
void TF_DeleteSessionOptions(TF_SessionOptions* o) { delete o; }

TF_Session* TF_NewSession(TF_Graph* graph, const TF_SessionOptions* opts, TF_Status* status) {
  TF_Session* session = nullptr;
  guarded(status, "TF_NewSession", [&] {
    if (!graph) return set(status, TF_INVALID_ARGUMENT, "TF_NewSession: the graph is NULL");
    if (opts && !opts->target.empty() && opts->target != "local")
      return set(status, TF_UNIMPLEMENTED, "TF_NewSession: target '" + opts->target +
                                               "': kiln runs sessions in this process only");
    auto s = std::make_unique<TF_Session>();
    s->graph = graph;
    std::string file;
    int generation;
    ModelKey key;
    std::map<std::string, Shape> shapes;
    bool all_static = true;
    {
      std::lock_guard<std::mutex> lock(graph->mu);
      s->models = graph->models;
      ++graph->sessions;
      file = graph->file;
      generation = graph->generation;
      // Placeholders of static shapes (a leading unknown batch taken as 1): prepare now.
      for (const TF_Operation& op : graph->ops) {
        if (op.node.op != "Placeholder" || op.node.output_types.empty() || op.node.output_types[0] != TF_FLOAT) continue;
        const auto& shape = op.node.output_shapes[0];
        Shape sh = shape ? *shape : Shape{};
        if (!sh.empty() && sh[0] < 0) sh[0] = 1;
        if (!shape || std::any_of(sh.begin(), sh.end(), [](int64_t d) { return d < 0; })) all_static = false;
        key.fed.push_back(op.node.name);
        shapes[op.node.name] = sh;
      }
      key.fetched = sinks(graph);
    }
    std::sort(key.fed.begin(), key.fed.end());
    std::sort(key.fetched.begin(), key.fetched.end());
    if (all_static && !file.empty() && !key.fed.empty() && !key.fetched.empty() && key.fetched.size() <= 8)
      s->models->start(file, generation, key, shapes);
    session = s.release();
    ok(status);
  });
  return session;
}

void TF_CloseSession(TF_Session* s, TF_Status* status) {
  if (!s) return set(status, TF_INVALID_ARGUMENT, "TF_CloseSession: the session is NULL");
  s->closed = true;
  ok(status);
}

void TF_DeleteSession(TF_Session* s, TF_Status* status) {
  if (!s) return ok(status);
  TF_Graph* g = s->graph;
  {
    std::lock_guard<std::mutex> lock(g->mu);
    --g->sessions;
  }
  delete s;
  release_graph_if_done(g);
  ok(status);
}

void TF_SessionRun(TF_Session* session, const TF_Buffer*, const TF_Output* inputs, TF_Tensor* const* input_values,
                   int ninputs, const TF_Output* outputs, TF_Tensor** output_values, int noutputs,
                   const TF_Operation* const* targets, int ntargets, TF_Buffer*, TF_Status* status) {
  for (int i = 0; output_values && i < noutputs; ++i) output_values[i] = nullptr;
  guarded(status, "TF_SessionRun", [&] {
    set(status, run(session, inputs, input_values, ninputs, outputs, output_values, noutputs, targets, ntargets));
  });
}

size_t kiln_tf_session_report(TF_Session* session, char* buffer, size_t size) {
  std::string json;
  try {
    const MemoryReport mem = engine().memory();
    json = "{\"models\":[";
    bool first = true;
    for (const ModelStatus& m : session ? session->models->statuses() : std::vector<ModelStatus>{}) {
      json += std::string(first ? "" : ",") + "{\"name\":\"" + m.name + "\",\"fingerprint\":\"" + m.fingerprint +
              "\",\"ready\":" + (m.state == ModelState::kReady ? "true" : "false") +
              ",\"plan_shared\":" + (m.plan_shared ? "true" : "false") +
              ",\"weight_bytes\":" + std::to_string(m.weight_bytes) + ",\"prepare_ms\":" + std::to_string(m.prepare_ms) +
              ",\"import_ms\":" + std::to_string(m.import_ms) + ",\"compile_ms\":" + std::to_string(m.compile_ms) +
              ",\"pack_ms\":" + std::to_string(m.pack_ms) + ",\"warmup_ms\":" + std::to_string(m.warmup_ms) + "}";
      first = false;
    }
    json += "],\"engine\":{\"plans\":" + std::to_string(mem.plans) + ",\"models\":" + std::to_string(mem.models) +
            ",\"plan_bytes\":" + std::to_string(mem.plan_bytes) +
            ",\"weight_bytes\":" + std::to_string(mem.weight_bytes_resident + mem.weight_bytes_mapped) +
            ",\"arena_bytes\":" + std::to_string(mem.arena_bytes) +
            ",\"process_resident_bytes\":" + std::to_string(process_resident_bytes()) + "}}";
  } catch (...) {
    json = "{}";
  }
  if (buffer && size) {
    const size_t n = std::min(size - 1, json.size());
    std::memcpy(buffer, json.data(), n);
    buffer[n] = '\0';
  }
  return json.size();
}

}  // extern "C"
