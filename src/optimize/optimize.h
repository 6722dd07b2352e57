// Graph optimisation: small rewrite rules run to a fixed point by one driver.
//
//   kiln::OptimizeReport r = kiln::optimize(graph);   // graph is rewritten in place
//   for (auto& [rule, count] : r.applied) std::cout << rule << ": " << count << "\n";
//
// Rules never touch weight values: folding batch norm or a zero pad into a convolution
// only changes the convolution's attributes and inputs, and the arithmetic on the weights
// is recorded for the packer (DESIGN.md "Weight transforms are recorded").
#pragma once

#include <map>
#include <string>

#include "graph/graph.h"

namespace kiln {

struct OptimizeReport {
  std::map<std::string, int> applied;  // rule name -> times applied
};

OptimizeReport optimize(Graph& g);

// The rule interface: try at node `n`; return true if the graph changed.
struct RewriteRule {
  const char* name;
  bool (*apply)(Graph& g, int n);
};

// Pattern helpers shared by the rules.
// The single node that reads `v`, if exactly one does and `v` is not a graph output.
int sole_consumer(const Graph& g, int v);
// Makes node `keeper` produce node `absorbed`'s output and deletes `absorbed`.
void absorb(Graph& g, int keeper, int absorbed);

}  // namespace kiln
