// What kiln's TensorFlow C API (include/tensorflow/c/c_api.h here) is made of: the C
// structs behind TensorFlow's opaque handles, and the helpers its files share.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "import/tf/graph_listing.h"
#include "kiln/status.h"
#include "tensorflow/c/c_api.h"

struct TF_Status {
  TF_Code code = TF_OK;
  std::string message;
};

struct TF_Tensor {
  TF_DataType type = TF_FLOAT;
  std::vector<int64_t> dims;
  void* data = nullptr;
  size_t len = 0;
  void (*deallocator)(void*, size_t, void*) = nullptr;
  void* deallocator_arg = nullptr;
  bool owned = false;  // allocated by TF_AllocateTensor: freed with free()
};

struct TF_SessionOptions {
  std::string target;
};

struct TF_ImportGraphDefOptions {
  std::string prefix;
  std::string unsupported;  // the first option set that kiln does not implement (names the function)
};

struct TF_Operation {
  TF_Graph* graph = nullptr;
  kiln::tf_import::TfNode node;
};

namespace kiln::tfcompat {
class GraphModels;
}

struct TF_Graph {
  ~TF_Graph();                      // unloads its models, removes its file
  std::mutex mu;
  // Every GraphDef imported so far, concatenated (one GraphDef), in a file of the process's
  // temporary folder rather than in memory: a graph's weights are then held once, packed by
  // the engine, which reads the file (again for a new input size).
  std::string file;
  std::deque<TF_Operation> ops;     // stable addresses: TF_Operation* handed out
  std::map<std::string, TF_Operation*> by_name;
  int generation = 0;               // bumped by each import: models of older ones are not reused
  int sessions = 0;                 // open sessions on it
  bool deleted = false;             // TF_DeleteGraph called; freed with its last session
  std::shared_ptr<kiln::tfcompat::GraphModels> models;  // compiled forms, shared by its sessions
};

namespace kiln::tfcompat {

void set(TF_Status* s, TF_Code code, const std::string& message);
inline void ok(TF_Status* s) { set(s, TF_OK, ""); }
TF_Code code_of(ErrorCode c);
inline void set(TF_Status* s, const Status& st) { set(s, st ? TF_OK : code_of(st.code()), st ? "" : st.message()); }
// Sets TF_UNIMPLEMENTED naming the function.
void unimplemented(TF_Status* s, const char* function);
// "name" or "name:k" as TensorFlow names an operation's output.
std::string output_name(const TF_Output& o);
// Bytes per element of a fixed-size type (0 for strings, resources, variants).
size_t element_size(TF_DataType t);
const char* type_name(TF_DataType t);
void release_graph_if_done(TF_Graph* g);  // frees a deleted graph once its last session is gone

// Runs body; a C++ exception becomes TF_INTERNAL (nothing throws across the C API).
template <typename F>
void guarded(TF_Status* s, const char* function, F&& body) {
  try {
    body();
  } catch (const std::bad_alloc&) {
    set(s, TF_RESOURCE_EXHAUSTED, std::string(function) + ": out of memory");
  } catch (const std::exception& e) {
    set(s, TF_INTERNAL, std::string(function) + ": " + e.what());
  } catch (...) {
    set(s, TF_INTERNAL, std::string(function) + ": unknown failure");
  }
}

}  // namespace kiln::tfcompat
