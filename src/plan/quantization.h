// What an int8 plan needs to know about a graph before compiling it: which activations are
// never negative (so they can be stored as uint8 with zero point 0), and whose calibrated
// ranges give each activation's per-channel scales.
//
//   QuantizationInfo q = analyse_quantization(graph);
//   if (q.nonneg[v]) ...                       // v is a ReLU output, or a max-pool/concat of such
//   const std::vector<ScaleSegment>& s = q.scales[v];   // where v's channel scales come from
//
// Scales are per channel: channel c of an activation holds round(x / s[c]) with
// s[c] = clip[c] / 255 (clip from the calibration, kiln/calibration.h). An op that moves
// bytes without computing (max-pool, in-place or copying concat) cannot rescale, so its
// output keeps the scales of the activations it moved: a concat's are its inputs' end to end.
#pragma once

#include <string>
#include <vector>

#include "exec/plan.h"
#include "graph/graph.h"

namespace kiln {

struct QuantizationInfo {
  std::vector<bool> nonneg;                      // per value
  std::vector<std::vector<ScaleSegment>> scales;  // per value, channel order
};

QuantizationInfo analyse_quantization(const Graph& g);

// The name a calibration's per-channel clipping points travel under among the raw weights
// of an int8 pack (a [C] tensor).
std::string calibration_tensor_name(const std::string& value_name);

}  // namespace kiln
