#pragma once

#include <vector>

#include "optimize/optimize.h"

namespace kiln {

// In the order the driver tries them: structural clean-up first, then folds, then fusions
// (so that a BatchNorm is folded before its ReLU is fused behind it).
const std::vector<RewriteRule>& rewrite_rules();

}  // namespace kiln
