// TF_Status, TF_Buffer, TF_Tensor and the type helpers of kiln's TensorFlow C API.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "tfcompat/compat.h"

namespace kiln::tfcompat {

void set(TF_Status* s, TF_Code code, const std::string& message) {
  if (!s) return;
  s->code = code;
  s->message = code == TF_OK ? std::string() : message;
}

TF_Code code_of(ErrorCode c) {
  switch (c) {
    case ErrorCode::kOk: return TF_OK;
    case ErrorCode::kInvalidArgument: return TF_INVALID_ARGUMENT;
    case ErrorCode::kInvalidModel: return TF_INVALID_ARGUMENT;  // TensorFlow: "Invalid GraphDef"
    case ErrorCode::kUnsupported: return TF_UNIMPLEMENTED;
    case ErrorCode::kNotFound: return TF_NOT_FOUND;
    case ErrorCode::kIo: return TF_UNAVAILABLE;
    case ErrorCode::kInternal: return TF_INTERNAL;
    case ErrorCode::kUnavailable: return TF_UNAVAILABLE;
    case ErrorCode::kDeadlineExceeded: return TF_DEADLINE_EXCEEDED;
  }
  return TF_INTERNAL;
}

void unimplemented(TF_Status* s, const char* function) {
  set(s, TF_UNIMPLEMENTED,
      std::string(function) + " is not implemented by kiln's TensorFlow C API (kiln runs inference on imported "
                              "graphs: see \"Already using TensorFlow's C API?\" in kiln's README)");
}

std::string output_name(const TF_Output& o) {
  const std::string& n = o.oper->node.name;
  return o.index == 0 ? n : n + ":" + std::to_string(o.index);
}

size_t element_size(TF_DataType t) {
  switch (t) {
    case TF_FLOAT: case TF_INT32: case TF_UINT32: case TF_QINT32: return 4;
    case TF_DOUBLE: case TF_INT64: case TF_UINT64: case TF_COMPLEX64: return 8;
    case TF_COMPLEX128: return 16;
    case TF_INT16: case TF_UINT16: case TF_QINT16: case TF_QUINT16: case TF_BFLOAT16: case TF_HALF: return 2;
    case TF_INT8: case TF_UINT8: case TF_QINT8: case TF_QUINT8: case TF_BOOL: case TF_FLOAT8_E5M2:
    case TF_FLOAT8_E4M3FN: return 1;
    default: return 0;
  }
}

const char* type_name(TF_DataType t) {
  switch (t) {
    case TF_FLOAT: return "float";
    case TF_DOUBLE: return "double";
    case TF_INT32: return "int32";
    case TF_UINT8: return "uint8";
    case TF_INT16: return "int16";
    case TF_INT8: return "int8";
    case TF_STRING: return "string";
    case TF_COMPLEX64: return "complex64";
    case TF_INT64: return "int64";
    case TF_BOOL: return "bool";
    case TF_QINT8: return "qint8";
    case TF_QUINT8: return "quint8";
    case TF_QINT32: return "qint32";
    case TF_BFLOAT16: return "bfloat16";
    case TF_QINT16: return "qint16";
    case TF_QUINT16: return "quint16";
    case TF_UINT16: return "uint16";
    case TF_COMPLEX128: return "complex128";
    case TF_HALF: return "half";
    case TF_RESOURCE: return "resource";
    case TF_VARIANT: return "variant";
    case TF_UINT32: return "uint32";
    case TF_UINT64: return "uint64";
    default: return "an unknown type";
  }
}

}  // namespace kiln::tfcompat

using namespace kiln::tfcompat;

extern "C" {

// TensorFlow's version string whose C API this follows, then kiln's.
const char* TF_Version(void) { return "2.15.0-kiln" KILN_VERSION; }

TF_Status* TF_NewStatus(void) { return new (std::nothrow) TF_Status; }
void TF_DeleteStatus(TF_Status* s) { delete s; }
void TF_SetStatus(TF_Status* s, TF_Code code, const char* msg) { set(s, code, msg ? msg : ""); }
void TF_SetPayload(TF_Status*, const char*, const char*) {}  // payloads carry nothing kiln reads
void TF_ForEachPayload(const TF_Status*, void (*)(const char*, const char*, void*), void*) {}
void TF_SetStatusFromIOError(TF_Status* s, int error_code, const char* context) {
  const TF_Code code = error_code == ENOENT ? TF_NOT_FOUND
                       : error_code == EACCES || error_code == EPERM ? TF_PERMISSION_DENIED
                       : error_code == ENOSPC || error_code == ENOMEM ? TF_RESOURCE_EXHAUSTED
                                                                     : TF_UNKNOWN;
  set(s, code, std::string(context ? context : "") + (context ? ": " : "") + std::strerror(error_code));
}
TF_Code TF_GetCode(const TF_Status* s) { return s ? s->code : TF_INVALID_ARGUMENT; }
const char* TF_Message(const TF_Status* s) { return s ? s->message.c_str() : "TF_Message: the status is NULL"; }

namespace {
void free_copied(void* data, size_t) { std::free(data); }
}  // namespace

TF_Buffer* TF_NewBufferFromString(const void* proto, size_t proto_len) {
  TF_Buffer* b = TF_NewBuffer();
  if (!b) return nullptr;
  void* copy = std::malloc(proto_len ? proto_len : 1);
  if (!copy) {
    delete b;
    return nullptr;
  }
  if (proto_len) std::memcpy(copy, proto, proto_len);
  b->data = copy;
  b->length = proto_len;
  b->data_deallocator = free_copied;
  return b;
}
TF_Buffer* TF_NewBuffer(void) { return new (std::nothrow) TF_Buffer{nullptr, 0, nullptr}; }
void TF_DeleteBuffer(TF_Buffer* b) {
  if (!b) return;
  if (b->data_deallocator) b->data_deallocator(const_cast<void*>(b->data), b->length);
  delete b;
}
TF_Buffer TF_GetBuffer(TF_Buffer* b) { return b ? *b : TF_Buffer{nullptr, 0, nullptr}; }

size_t TF_DataTypeSize(TF_DataType dt) { return element_size(dt); }

namespace {
// Elements of dims; -1 on a negative dimension or overflow.
int64_t element_count(const int64_t* dims, int num_dims) {
  int64_t n = 1;
  for (int i = 0; i < num_dims; ++i) {
    if (dims[i] < 0 || (dims[i] > 0 && n > INT64_MAX / dims[i])) return -1;
    n *= dims[i];
  }
  return n;
}
}  // namespace

TF_Tensor* TF_NewTensor(TF_DataType type, const int64_t* dims, int num_dims, void* data, size_t len,
                        void (*deallocator)(void*, size_t, void*), void* deallocator_arg) {
  if (num_dims < 0 || (num_dims > 0 && !dims)) return nullptr;
  const int64_t n = element_count(dims, num_dims);
  const size_t es = element_size(type);
  // TensorFlow refuses a buffer whose size does not match a fixed-size type's dims.
  if (n < 0 || (es != 0 && static_cast<uint64_t>(n) * es != len)) return nullptr;
  TF_Tensor* t = new (std::nothrow) TF_Tensor;
  if (!t) return nullptr;
  t->type = type;
  t->dims.assign(dims, dims + num_dims);
  t->data = data;
  t->len = len;
  t->deallocator = deallocator;
  t->deallocator_arg = deallocator_arg;
  return t;
}

TF_Tensor* TF_AllocateTensor(TF_DataType type, const int64_t* dims, int num_dims, size_t len) {
  if (num_dims < 0 || (num_dims > 0 && !dims)) return nullptr;
  const int64_t n = element_count(dims, num_dims);
  const size_t es = element_size(type);
  if (n < 0 || (es != 0 && static_cast<uint64_t>(n) * es != len)) return nullptr;
  void* data = std::aligned_alloc(64, (len + 63) / 64 * 64 + 64);
  if (!data) return nullptr;
  TF_Tensor* t = TF_NewTensor(type, dims, num_dims, data, len, nullptr, nullptr);
  if (!t) {
    std::free(data);
    return nullptr;
  }
  t->owned = true;
  return t;
}

TF_Tensor* TF_TensorMaybeMove(TF_Tensor* t) { return t && t->owned ? t : nullptr; }

void TF_DeleteTensor(TF_Tensor* t) {
  if (!t) return;
  if (t->owned) std::free(t->data);
  else if (t->deallocator) t->deallocator(t->data, t->len, t->deallocator_arg);
  delete t;
}

TF_DataType TF_TensorType(const TF_Tensor* t) { return t ? t->type : TF_FLOAT; }
void TF_SetShape(TF_Tensor* t, const int64_t* dims, int num_dims) {
  if (t && num_dims >= 0 && (num_dims == 0 || dims)) t->dims.assign(dims, dims + num_dims);
}
int TF_NumDims(const TF_Tensor* t) { return t ? static_cast<int>(t->dims.size()) : 0; }
int64_t TF_Dim(const TF_Tensor* t, int i) {
  return t && i >= 0 && static_cast<size_t>(i) < t->dims.size() ? t->dims[static_cast<size_t>(i)] : 0;
}
size_t TF_TensorByteSize(const TF_Tensor* t) { return t ? t->len : 0; }
void* TF_TensorData(const TF_Tensor* t) { return t ? t->data : nullptr; }
int64_t TF_TensorElementCount(const TF_Tensor* t) {
  return t ? element_count(t->dims.data(), static_cast<int>(t->dims.size())) : 0;
}
size_t TF_TensorDefaultAlignment(void) { return 64; }
bool TF_TensorIsAligned(const TF_Tensor* t) { return t && reinterpret_cast<uintptr_t>(t->data) % 64 == 0; }

void TF_TensorBitcastFrom(const TF_Tensor* from, TF_DataType type, TF_Tensor* to, const int64_t* new_dims,
                          int num_new_dims, TF_Status* status) {
  if (!from || !to || num_new_dims < 0 || (num_new_dims > 0 && !new_dims))
    return set(status, TF_INVALID_ARGUMENT, "TF_TensorBitcastFrom: a tensor or the dims are NULL");
  const int64_t n = element_count(new_dims, num_new_dims);
  const size_t es = element_size(type);
  if (n < 0 || es == 0 || static_cast<uint64_t>(n) * es != from->len)
    return set(status, TF_INVALID_ARGUMENT, "TF_TensorBitcastFrom: " + std::to_string(from->len) +
                                                " bytes cannot be viewed as that shape of " + type_name(type));
  // `to` views `from`'s memory; `from` keeps ownership.
  if (to->owned) std::free(to->data);
  else if (to->deallocator) to->deallocator(to->data, to->len, to->deallocator_arg);
  to->type = type;
  to->dims.assign(new_dims, new_dims + num_new_dims);
  to->data = from->data;
  to->len = from->len;
  to->deallocator = nullptr;
  to->owned = false;
  ok(status);
}

}  // extern "C"
