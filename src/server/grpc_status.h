// kiln's errors as gRPC statuses (the gRPC services' one mapping).
#pragma once

#include <grpcpp/grpcpp.h>

#include "kiln/status.h"

namespace kiln::serve {

inline grpc::Status to_grpc(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOk: return grpc::Status::OK;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kInvalidModel:
    case ErrorCode::kUnsupported: return {grpc::StatusCode::INVALID_ARGUMENT, s.message()};
    case ErrorCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, s.message()};
    case ErrorCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, s.message()};
    case ErrorCode::kDeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, s.message()};
    case ErrorCode::kIo:
    case ErrorCode::kInternal: return {grpc::StatusCode::INTERNAL, s.message()};
  }
  return {grpc::StatusCode::INTERNAL, s.message()};
}

}  // namespace kiln::serve
