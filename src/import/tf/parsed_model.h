// A TensorFlow GraphDef parsed once and imported from memory (kiln/engine.h's
// LoadSpec::parsed): kiln's TensorFlow C API parses each imported GraphDef for its graph
// functions and hands the same parse to the engine, which then neither reads nor parses the
// file again.
//
//   auto parsed = std::make_shared<kiln::ParsedModel>();
//   parsed->graphdef.ParseFromArray(data, size);
//   kiln::LoadSpec spec{.model = "graph.pb"};  // still names the model (messages, format)
//   spec.parsed = parsed;
#pragma once

#include "import/tf/proto/graph.pb.h"

namespace kiln {

struct ParsedModel {
  tf::GraphDef graphdef;
};

}  // namespace kiln
