// kiln/status.h — errors as values.
//
//   kiln::Expected<kiln::Model> m = kiln::Model::load("unet.onnx");     // kiln/model.h
//   if (!m) { std::cerr << m.error().message() << "\n"; return 1; }
//   m->run({image});
//
//   kiln::Status s = engine.load_weights("cable", "cable_v2.safetensors");   // kiln/engine.h
//   if (!s) return s.with_context("swapping the weights of 'cable'");
//
// The library never throws across its public boundary; every failure a user can cause
// (bad file, wrong shape, unsupported op) comes back as a Status carrying enough
// context to act on.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace kiln {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,   // the caller passed something wrong (shape, dtype, name)
  kInvalidModel,      // the model file is corrupt, truncated or inconsistent
  kUnsupported,       // valid model, but an op/attribute kiln does not implement
  kNotFound,          // a named thing (file, tensor, model) does not exist
  kIo,                // reading or writing a file failed
  kInternal,          // a bug in kiln or a backend failure
  kUnavailable,       // not now: the model is still being prepared, or the server is full
  kDeadlineExceeded,  // the request waited longer than its deadline
};

const char* error_code_name(ErrorCode code);

class Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes the message with where the error happened: "ctx: message".
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Status invalid_model(std::string m) { return {ErrorCode::kInvalidModel, std::move(m)}; }
inline Status unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status not_found(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Status internal_error(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }
inline Status unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
inline Status deadline_exceeded(std::string m) { return {ErrorCode::kDeadlineExceeded, std::move(m)}; }

// A value or the Status explaining why there is none.
template <typename T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Expected(Status error) : v_(std::move(error)) {}      // NOLINT: implicit by design

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Status& error() const { return std::get<1>(v_); }
  Status status() const { return has_value() ? Status::ok() : error(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kiln
