#include "optimize/optimize.h"

#include "optimize/rules.h"

namespace kiln {

int sole_consumer(const Graph& g, int v) {
  if (g.is_output(v)) return -1;
  std::vector<int> c = g.consumers(v);
  return c.size() == 1 ? c[0] : -1;
}

void absorb(Graph& g, int keeper, int absorbed) {
  Node& k = g.nodes[keeper];
  Node& a = g.nodes[absorbed];
  int old_out = k.outputs[0];
  k.outputs[0] = a.outputs[0];
  g.values[a.outputs[0]].producer = keeper;
  g.values[old_out].producer = -1;
  a.inputs.clear();
  a.outputs.clear();
}

OptimizeReport optimize(Graph& g) {
  OptimizeReport report;
  const std::vector<RewriteRule>& rules = rewrite_rules();
  bool changed = true;
  while (changed) {
    changed = false;
    for (const RewriteRule& rule : rules) {
      for (int n = 0; n < static_cast<int>(g.nodes.size()); ++n) {
        if (g.nodes[n].outputs.empty()) continue;  // absorbed earlier in this sweep
        if (rule.apply(g, n)) {
          ++report.applied[rule.name];
          changed = true;
        }
      }
      g.remove_dead();
    }
  }
  return report;
}

}  // namespace kiln
