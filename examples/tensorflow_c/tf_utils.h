// tf_utils: the kind of helper file that circulates with TensorFlow C API examples (load a
// frozen graph, make and read tensors, run a session), written here for kiln's examples and
// tests. It uses TensorFlow's C API only: it builds against TensorFlow and against kiln's
// libtensorflow alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "tensorflow/c/c_api.h"

namespace tf_utils {

// A graph read from a frozen GraphDef (.pb); nullptr (and the status) on failure.
TF_Graph* LoadGraph(const char* graph_path, TF_Status* status = nullptr);
void DeleteGraph(TF_Graph* graph);

TF_Session* CreateSession(TF_Graph* graph, TF_Status* status = nullptr);
TF_Code DeleteSession(TF_Session* session, TF_Status* status = nullptr);

TF_Code RunSession(TF_Session* session, const TF_Output* inputs, TF_Tensor* const* input_tensors, std::size_t ninputs,
                   const TF_Output* outputs, TF_Tensor** output_tensors, std::size_t noutputs,
                   TF_Status* status = nullptr);

// A tensor of `data` (copied) with shape `dims`.
TF_Tensor* CreateTensor(TF_DataType data_type, const std::int64_t* dims, std::size_t num_dims, const void* data,
                        std::size_t len);
template <typename T>
TF_Tensor* CreateTensor(TF_DataType data_type, const std::vector<std::int64_t>& dims, const std::vector<T>& data) {
  return CreateTensor(data_type, dims.data(), dims.size(), data.data(), data.size() * sizeof(T));
}
TF_Tensor* CreateEmptyTensor(TF_DataType data_type, const std::vector<std::int64_t>& dims);
void DeleteTensor(TF_Tensor* tensor);

template <typename T>
std::vector<T> GetTensorData(const TF_Tensor* tensor) {
  if (!tensor) return {};
  const T* data = static_cast<const T*>(TF_TensorData(tensor));
  return std::vector<T>(data, data + TF_TensorByteSize(tensor) / sizeof(T));
}
std::vector<std::int64_t> GetTensorShape(const TF_Tensor* tensor);
// The shape the graph gives an operation's output (-1: unknown); empty when unknown.
std::vector<std::int64_t> GetTensorShape(TF_Graph* graph, const TF_Output& output);

// Prints each operation: name, type, inputs and outputs (as people print graphs to find names).
void PrintOps(TF_Graph* graph, std::FILE* out = stdout);
const char* DataTypeToString(TF_DataType data_type);

}  // namespace tf_utils
