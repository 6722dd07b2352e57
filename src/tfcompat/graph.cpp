// Graphs of kiln's TensorFlow C API: imported GraphDefs kept in a file (what sessions load;
// the first model imports the parse made here), and their operations listed for TensorFlow's
// graph functions (import/tf/graph_listing.h).

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <cstdlib>
#include <cstring>
#include <set>

#include "tfcompat/compat.h"
#include "tfcompat/session_models.h"

using namespace kiln::tfcompat;

TF_Graph::~TF_Graph() {
  models.reset();  // unloads them first: they read the file
  std::error_code ec;
  if (!file.empty()) std::filesystem::remove(file, ec);
}

namespace kiln::tfcompat {

void release_graph_if_done(TF_Graph* g) {
  bool free_it;
  {
    std::lock_guard<std::mutex> lock(g->mu);
    free_it = g->deleted && g->sessions == 0;
  }
  if (free_it) delete g;
}

}  // namespace kiln::tfcompat

namespace {

bool valid_output(const TF_Output& o) {
  return o.oper && o.index >= 0 && static_cast<size_t>(o.index) < o.oper->node.output_types.size();
}

const std::optional<std::vector<int64_t>>* known_shape(TF_Graph* graph, TF_Output o, TF_Status* s, const char* fn) {
  if (!graph || !valid_output(o) || o.oper->graph != graph) {
    set(s, TF_INVALID_ARGUMENT, std::string(fn) + ": the output is not one of this graph's operations' outputs");
    return nullptr;
  }
  ok(s);
  return &o.oper->node.output_shapes[static_cast<size_t>(o.index)];
}

// Calls f(consumer input) for every input of the graph that reads `out`.
template <typename F>
void for_each_consumer(TF_Output out, F&& f) {
  if (!valid_output(out)) return;
  TF_Graph* g = out.oper->graph;
  std::lock_guard<std::mutex> lock(g->mu);
  const std::string name = out.oper->node.name;
  const std::string with_index = name + ":" + std::to_string(out.index);
  for (TF_Operation& op : g->ops)
    for (size_t i = 0; i < op.node.inputs.size(); ++i)
      if (op.node.inputs[i] == with_index || (out.index == 0 && op.node.inputs[i] == name)) f(TF_Input{&op, static_cast<int>(i)});
}

}  // namespace

extern "C" {

TF_Graph* TF_NewGraph(void) {
  try {
    TF_Graph* g = new TF_Graph;
    g->models = std::make_shared<GraphModels>();
    return g;
  } catch (...) {
    return nullptr;
  }
}

void TF_DeleteGraph(TF_Graph* g) {
  if (!g) return;
  {
    std::lock_guard<std::mutex> lock(g->mu);
    g->deleted = true;
  }
  release_graph_if_done(g);
}

TF_ImportGraphDefOptions* TF_NewImportGraphDefOptions(void) { return new (std::nothrow) TF_ImportGraphDefOptions; }
void TF_DeleteImportGraphDefOptions(TF_ImportGraphDefOptions* o) { delete o; }
void TF_ImportGraphDefOptionsSetPrefix(TF_ImportGraphDefOptions* o, const char* prefix) {
  if (o) o->prefix = prefix ? prefix : "";
}
void TF_ImportGraphDefOptionsSetDefaultDevice(TF_ImportGraphDefOptions*, const char*) {}

namespace {
// Options kiln does not implement take effect at import: it fails naming the first one set.
void unsupported_option(TF_ImportGraphDefOptions* o, const char* function) {
  if (o && o->unsupported.empty()) o->unsupported = function;
}
}  // namespace

void TF_ImportGraphDefOptionsSetUniquifyNames(TF_ImportGraphDefOptions* o, unsigned char v) {
  if (v) unsupported_option(o, "TF_ImportGraphDefOptionsSetUniquifyNames");
}
void TF_ImportGraphDefOptionsSetUniquifyPrefix(TF_ImportGraphDefOptions* o, unsigned char v) {
  if (v) unsupported_option(o, "TF_ImportGraphDefOptionsSetUniquifyPrefix");
}
void TF_ImportGraphDefOptionsAddInputMapping(TF_ImportGraphDefOptions* o, const char*, int, TF_Output) {
  unsupported_option(o, "TF_ImportGraphDefOptionsAddInputMapping");
}
void TF_ImportGraphDefOptionsRemapControlDependency(TF_ImportGraphDefOptions* o, const char*, TF_Operation*) {
  unsupported_option(o, "TF_ImportGraphDefOptionsRemapControlDependency");
}
void TF_ImportGraphDefOptionsAddControlDependency(TF_ImportGraphDefOptions* o, TF_Operation*) {
  unsupported_option(o, "TF_ImportGraphDefOptionsAddControlDependency");
}
void TF_ImportGraphDefOptionsAddReturnOutput(TF_ImportGraphDefOptions* o, const char*, int) {
  unsupported_option(o, "TF_ImportGraphDefOptionsAddReturnOutput");
}
int TF_ImportGraphDefOptionsNumReturnOutputs(const TF_ImportGraphDefOptions*) { return 0; }
void TF_ImportGraphDefOptionsAddReturnOperation(TF_ImportGraphDefOptions* o, const char*) {
  unsupported_option(o, "TF_ImportGraphDefOptionsAddReturnOperation");
}
int TF_ImportGraphDefOptionsNumReturnOperations(const TF_ImportGraphDefOptions*) { return 0; }

void TF_GraphImportGraphDef(TF_Graph* graph, const TF_Buffer* graph_def, const TF_ImportGraphDefOptions* options,
                            TF_Status* status) {
  guarded(status, "TF_GraphImportGraphDef", [&] {
    if (!graph || !graph_def || (!graph_def->data && graph_def->length))
      return set(status, TF_INVALID_ARGUMENT, "TF_GraphImportGraphDef: the graph or the buffer is NULL");
    if (options && !options->unsupported.empty())
      return unimplemented(status, options->unsupported.c_str());
    const std::string prefix = options ? options->prefix : std::string();
    auto parsed = kiln::tf_import::prefix_graphdef(graph_def->data, graph_def->length, prefix);
    if (!parsed) return set(status, TF_INVALID_ARGUMENT, "Invalid GraphDef: " + parsed.error().message());
    std::lock_guard<std::mutex> lock(graph->mu);
    for (const auto& n : parsed->nodes)
      if (graph->by_name.count(n.name))
        return set(status, TF_INVALID_ARGUMENT,
                   "Node name '" + n.name + "' already exists in the Graph (import with a prefix: "
                   "TF_ImportGraphDefOptionsSetPrefix)");
    std::set<std::string> names;
    for (const auto& n : parsed->nodes)
      if (!names.insert(n.name).second)
        return set(status, TF_INVALID_ARGUMENT, "Invalid GraphDef: two nodes are named '" + n.name + "'");
    // Serialized GraphDefs concatenate into one: append this import to the graph's file.
    if (graph->file.empty()) graph->file = new_temp_file(".pb");
    if (graph->file.empty())
      return set(status, TF_UNAVAILABLE, "TF_GraphImportGraphDef: cannot create a temporary folder for the graph");
    std::ofstream f(graph->file, std::ios::binary | std::ios::app);
    if (prefix.empty()) f.write(static_cast<const char*>(graph_def->data), static_cast<std::streamsize>(graph_def->length));
    else f.write(parsed->bytes.data(), static_cast<std::streamsize>(parsed->bytes.size()));
    f.close();
    if (!f) return set(status, TF_UNAVAILABLE, "TF_GraphImportGraphDef: cannot write '" + graph->file + "'");
    ++graph->generation;
    // The parse serves the graph's first model (a graph of one import: the file holds no more).
    graph->models->keep_parse(graph->generation == 1 ? parsed->parsed : nullptr);
    for (auto& n : parsed->nodes) {
      graph->ops.push_back(TF_Operation{graph, std::move(n)});
      graph->by_name[graph->ops.back().node.name] = &graph->ops.back();
    }
    ok(status);
  });
}

void TF_GraphToGraphDef(TF_Graph* graph, TF_Buffer* out, TF_Status* status) {
  guarded(status, "TF_GraphToGraphDef", [&] {
    if (!graph || !out) return set(status, TF_INVALID_ARGUMENT, "TF_GraphToGraphDef: the graph or the buffer is NULL");
    std::string def;
    {
      std::lock_guard<std::mutex> lock(graph->mu);
      std::ifstream f(graph->file, std::ios::binary);  // the imported GraphDefs, concatenated: one GraphDef
      def.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    if (out->data_deallocator) out->data_deallocator(const_cast<void*>(out->data), out->length);
    void* copy = std::malloc(def.size() ? def.size() : 1);
    if (!copy) return set(status, TF_RESOURCE_EXHAUSTED, "TF_GraphToGraphDef: out of memory");
    std::memcpy(copy, def.data(), def.size());
    out->data = copy;
    out->length = def.size();
    out->data_deallocator = [](void* d, size_t) { std::free(d); };
    ok(status);
  });
}

TF_Operation* TF_GraphOperationByName(TF_Graph* graph, const char* name) {
  if (!graph || !name) return nullptr;
  std::lock_guard<std::mutex> lock(graph->mu);
  auto it = graph->by_name.find(name);
  return it == graph->by_name.end() ? nullptr : it->second;
}

TF_Operation* TF_GraphNextOperation(TF_Graph* graph, size_t* pos) {
  if (!graph || !pos) return nullptr;
  std::lock_guard<std::mutex> lock(graph->mu);
  if (*pos >= graph->ops.size()) return nullptr;
  return &graph->ops[(*pos)++];
}

const char* TF_OperationName(TF_Operation* o) { return o ? o->node.name.c_str() : ""; }
const char* TF_OperationOpType(TF_Operation* o) { return o ? o->node.op.c_str() : ""; }
const char* TF_OperationDevice(TF_Operation* o) { return o ? o->node.device.c_str() : ""; }
int TF_OperationNumOutputs(TF_Operation* o) { return o ? static_cast<int>(o->node.output_types.size()) : 0; }
TF_DataType TF_OperationOutputType(TF_Output o) {
  return valid_output(o) ? static_cast<TF_DataType>(o.oper->node.output_types[static_cast<size_t>(o.index)]) : TF_FLOAT;
}
int TF_OperationNumInputs(TF_Operation* o) { return o ? static_cast<int>(o->node.inputs.size()) : 0; }

TF_Output TF_OperationInput(TF_Input in) {
  TF_Output none{nullptr, -1};
  if (!in.oper || in.index < 0 || static_cast<size_t>(in.index) >= in.oper->node.inputs.size()) return none;
  const auto ref = kiln::tf_import::split_output_name(in.oper->node.inputs[static_cast<size_t>(in.index)]);
  TF_Operation* producer = TF_GraphOperationByName(in.oper->graph, ref.node.c_str());
  return producer ? TF_Output{producer, ref.index} : none;
}

TF_DataType TF_OperationInputType(TF_Input in) { return TF_OperationOutputType(TF_OperationInput(in)); }

void TF_OperationAllInputs(TF_Operation* o, TF_Output* inputs, int max_inputs) {
  for (int i = 0; o && inputs && i < max_inputs && i < TF_OperationNumInputs(o); ++i) inputs[i] = TF_OperationInput({o, i});
}


int TF_OperationOutputNumConsumers(TF_Output out) {
  int n = 0;
  for_each_consumer(out, [&](TF_Input) { ++n; });
  return n;
}
int TF_OperationOutputConsumers(TF_Output out, TF_Input* consumers, int max_consumers) {
  int n = 0;
  for_each_consumer(out, [&](TF_Input in) {
    if (consumers && n < max_consumers) consumers[n] = in;
    ++n;
  });
  return n;
}
int TF_OperationNumControlInputs(TF_Operation* o) { return o ? static_cast<int>(o->node.control_inputs.size()) : 0; }
int TF_OperationGetControlInputs(TF_Operation* o, TF_Operation** control_inputs, int max_control_inputs) {
  int n = 0;
  for (size_t i = 0; o && i < o->node.control_inputs.size(); ++i) {
    TF_Operation* c = TF_GraphOperationByName(o->graph, o->node.control_inputs[i].c_str());
    if (c && control_inputs && n < max_control_inputs) control_inputs[n++] = c;
  }
  return n;
}

int TF_GraphGetTensorNumDims(TF_Graph* graph, TF_Output o, TF_Status* s) {
  const auto* shape = known_shape(graph, o, s, "TF_GraphGetTensorNumDims");
  return shape && *shape ? static_cast<int>((*shape)->size()) : -1;
}

void TF_GraphGetTensorShape(TF_Graph* graph, TF_Output o, int64_t* dims, int num_dims, TF_Status* s) {
  const auto* shape = known_shape(graph, o, s, "TF_GraphGetTensorShape");
  if (!shape) return;
  const int rank = *shape ? static_cast<int>((*shape)->size()) : -1;
  if (num_dims != rank)
    return set(s, TF_INVALID_ARGUMENT, "Expected rank is " + std::to_string(rank) + " but actual rank is " +
                                           std::to_string(num_dims));
  for (int i = 0; i < num_dims; ++i) dims[i] = (**shape)[static_cast<size_t>(i)];
}

void TF_GraphSetTensorShape(TF_Graph* graph, TF_Output o, const int64_t* dims, const int num_dims, TF_Status* s) {
  if (!known_shape(graph, o, s, "TF_GraphSetTensorShape")) return;
  std::lock_guard<std::mutex> lock(graph->mu);
  auto& shape = o.oper->node.output_shapes[static_cast<size_t>(o.index)];
  if (num_dims < 0) shape.reset();
  else shape = std::vector<int64_t>(dims, dims + num_dims);
}

}  // extern "C"
