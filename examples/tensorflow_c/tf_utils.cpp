#include "tf_utils.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace tf_utils {
namespace {

void DeallocateBuffer(void* data, std::size_t) { std::free(data); }

TF_Buffer* ReadBufferFromFile(const char* file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) return nullptr;
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  void* data = std::malloc(bytes.size() ? bytes.size() : 1);
  if (!data) return nullptr;
  std::memcpy(data, bytes.data(), bytes.size());
  TF_Buffer* buf = TF_NewBuffer();
  buf->data = data;
  buf->length = bytes.size();
  buf->data_deallocator = DeallocateBuffer;
  return buf;
}

}  // namespace

TF_Graph* LoadGraph(const char* graph_path, TF_Status* status) {
  TF_Buffer* buffer = ReadBufferFromFile(graph_path);
  if (!buffer) {
    if (status) TF_SetStatus(status, TF_NOT_FOUND, (std::string("cannot read ") + graph_path).c_str());
    return nullptr;
  }
  TF_Status* s = status ? status : TF_NewStatus();
  TF_Graph* graph = TF_NewGraph();
  TF_ImportGraphDefOptions* opts = TF_NewImportGraphDefOptions();
  TF_GraphImportGraphDef(graph, buffer, opts, s);
  TF_DeleteImportGraphDefOptions(opts);
  TF_DeleteBuffer(buffer);
  const bool ok = TF_GetCode(s) == TF_OK;
  if (!status) TF_DeleteStatus(s);
  if (!ok) {
    TF_DeleteGraph(graph);
    return nullptr;
  }
  return graph;
}

void DeleteGraph(TF_Graph* graph) {
  if (graph) TF_DeleteGraph(graph);
}

TF_Session* CreateSession(TF_Graph* graph, TF_Status* status) {
  TF_Status* s = status ? status : TF_NewStatus();
  TF_SessionOptions* options = TF_NewSessionOptions();
  TF_Session* session = TF_NewSession(graph, options, s);
  TF_DeleteSessionOptions(options);
  const bool ok = TF_GetCode(s) == TF_OK;
  if (!status) TF_DeleteStatus(s);
  return ok ? session : nullptr;
}

TF_Code DeleteSession(TF_Session* session, TF_Status* status) {
  TF_Status* s = status ? status : TF_NewStatus();
  TF_CloseSession(session, s);
  TF_DeleteSession(session, s);
  const TF_Code code = TF_GetCode(s);
  if (!status) TF_DeleteStatus(s);
  return code;
}

TF_Code RunSession(TF_Session* session, const TF_Output* inputs, TF_Tensor* const* input_tensors, std::size_t ninputs,
                   const TF_Output* outputs, TF_Tensor** output_tensors, std::size_t noutputs, TF_Status* status) {
  TF_Status* s = status ? status : TF_NewStatus();
  TF_SessionRun(session, nullptr, inputs, input_tensors, static_cast<int>(ninputs), outputs, output_tensors,
                static_cast<int>(noutputs), nullptr, 0, nullptr, s);
  const TF_Code code = TF_GetCode(s);
  if (!status) TF_DeleteStatus(s);
  return code;
}

TF_Tensor* CreateTensor(TF_DataType data_type, const std::int64_t* dims, std::size_t num_dims, const void* data,
                        std::size_t len) {
  TF_Tensor* tensor = TF_AllocateTensor(data_type, dims, static_cast<int>(num_dims), len);
  if (!tensor) return nullptr;
  if (data && len) std::memcpy(TF_TensorData(tensor), data, len);
  return tensor;
}

TF_Tensor* CreateEmptyTensor(TF_DataType data_type, const std::vector<std::int64_t>& dims) {
  std::size_t n = 1;
  for (std::int64_t d : dims) n *= static_cast<std::size_t>(d);
  TF_Tensor* t = CreateTensor(data_type, dims.data(), dims.size(), nullptr, n * TF_DataTypeSize(data_type));
  if (t) std::memset(TF_TensorData(t), 0, TF_TensorByteSize(t));
  return t;
}

void DeleteTensor(TF_Tensor* tensor) {
  if (tensor) TF_DeleteTensor(tensor);
}

std::vector<std::int64_t> GetTensorShape(const TF_Tensor* tensor) {
  std::vector<std::int64_t> dims;
  for (int i = 0; tensor && i < TF_NumDims(tensor); ++i) dims.push_back(TF_Dim(tensor, i));
  return dims;
}

std::vector<std::int64_t> GetTensorShape(TF_Graph* graph, const TF_Output& output) {
  TF_Status* s = TF_NewStatus();
  const int n = TF_GraphGetTensorNumDims(graph, output, s);
  std::vector<std::int64_t> dims;
  if (TF_GetCode(s) == TF_OK && n > 0) {
    dims.resize(static_cast<std::size_t>(n));
    TF_GraphGetTensorShape(graph, output, dims.data(), n, s);
    if (TF_GetCode(s) != TF_OK) dims.clear();
  }
  TF_DeleteStatus(s);
  return dims;
}

void PrintOps(TF_Graph* graph, std::FILE* out) {
  std::size_t pos = 0;
  while (TF_Operation* op = TF_GraphNextOperation(graph, &pos)) {
    std::fprintf(out, "%s (%s): %d inputs, %d outputs", TF_OperationName(op), TF_OperationOpType(op),
                 TF_OperationNumInputs(op), TF_OperationNumOutputs(op));
    for (int i = 0; i < TF_OperationNumOutputs(op); ++i)
      std::fprintf(out, " %s", DataTypeToString(TF_OperationOutputType(TF_Output{op, i})));
    std::fprintf(out, "\n");
  }
}

const char* DataTypeToString(TF_DataType data_type) {
  switch (data_type) {
    case TF_FLOAT: return "TF_FLOAT";
    case TF_DOUBLE: return "TF_DOUBLE";
    case TF_INT32: return "TF_INT32";
    case TF_UINT8: return "TF_UINT8";
    case TF_INT16: return "TF_INT16";
    case TF_INT8: return "TF_INT8";
    case TF_STRING: return "TF_STRING";
    case TF_INT64: return "TF_INT64";
    case TF_BOOL: return "TF_BOOL";
    case TF_HALF: return "TF_HALF";
    default: return "Unknown";
  }
}

}  // namespace tf_utils
