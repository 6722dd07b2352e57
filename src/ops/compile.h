// Compiling a graph into a plan: every node through its op's compiler (ops/dispatch.cpp)
// into the plan builder (plan/compile_context.h), then the memory plan.
//
//   kiln::Expected<std::shared_ptr<const kiln::Plan>> plan = kiln::compile_plan(graph, options);
//
// The engine's prepare pipeline (engine/prepare.h) is the one caller outside tests: it
// also decides the options (precision, float layers) and shares plans by architecture.
#pragma once

#include <memory>

#include "exec/plan.h"
#include "graph/graph.h"

namespace kiln {

Expected<std::shared_ptr<const Plan>> compile_plan(const Graph& g, const CompileOptions& options);

}  // namespace kiln
