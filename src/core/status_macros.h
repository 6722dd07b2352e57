// Returning early on failure, inside kiln (not part of the public API: a user's code should
// not depend on kiln's macro names).
//
//   KILN_RETURN_IF_ERROR(g.verify());
//   KILN_ASSIGN_OR_RETURN(ImportedModel m, import_model(path, options));
#pragma once

#include <utility>

#include "kiln/status.h"

#define KILN_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::kiln::Status kiln_status_ = (expr);     \
    if (!kiln_status_) return kiln_status_;   \
  } while (0)

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(kiln_expected_, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp) return tmp.error();                    \
  lhs = std::move(*tmp)
