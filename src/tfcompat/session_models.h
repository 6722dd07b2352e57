// The compiled forms of one TF_Graph: kiln models in one process-wide kiln::Engine, one per
// way the graph is run (which placeholders are fed, which tensors fetched, the values of
// non-float feeds). The engine shares one plan among models whose graphs have the same
// architecture, whichever TF_Graph or session they come from, so a second graph of a network
// holds only its weights. Models load from the graph's file (TF_Graph::file); the graph's
// first model imports the parse TF_GraphImportGraphDef made instead (keep_parse).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/engine.h"

namespace kiln::tfcompat {

// The one engine of the process, shared by every session.
Engine& engine();
// A new file name in the process's own temporary folder (removed at exit); empty if the
// folder cannot be made.
std::string new_temp_file(const std::string& suffix);

struct ModelKey {
  std::vector<std::string> fed;      // float placeholders fed, sorted
  std::vector<std::string> fetched;  // sorted, unique
  std::string constants;             // non-float feeds: names and bytes
  bool operator<(const ModelKey& o) const {
    return std::tie(fed, fetched, constants) < std::tie(o.fed, o.fetched, o.constants);
  }
};

struct GraphModel {
  std::string name;                   // in the engine
  std::vector<std::string> outputs;   // the fetches it was loaded with, in its outputs' order
  std::vector<std::string> inputs;    // its inputs, in the order run() takes them
};

class GraphModels {
 public:
  ~GraphModels();  // unloads its models

  // The model for `key`, loading it (and waiting until it is ready) the first time: its
  // inputs' shapes are `shapes` (the first feed's), `constants` fixed inputs.
  Expected<GraphModel> get(const std::string& graph_file, int generation, const ModelKey& key,
                           const std::map<std::string, Shape>& shapes, const std::map<std::string, Tensor>& constants);
  // Starts preparing `key` in the background (TF_NewSession on a graph with static shapes).
  void start(const std::string& graph_file, int generation, const ModelKey& key,
             const std::map<std::string, Shape>& shapes);
  // The graph's GraphDef as TF_GraphImportGraphDef parsed it (null once the graph has more
  // than one import): the next model loaded imports it instead of reading and parsing the
  // file again, and lets go of it.
  void keep_parse(std::shared_ptr<const ParsedModel> parsed);
  // What the engine says of this graph's models (kiln_tf_session_report).
  std::vector<ModelStatus> statuses() const;

 private:
  void forget_older(int generation);  // mu_ held: a model of an earlier import is stale
  Status load(const std::string& graph_file, const ModelKey& key, const std::map<std::string, Shape>& shapes,
              const std::map<std::string, Tensor>& constants);  // mu_ held

  mutable std::mutex mu_;
  int generation_ = -1;
  std::map<ModelKey, GraphModel> models_;
  std::shared_ptr<const ParsedModel> parsed_;  // until a model takes it
};

}  // namespace kiln::tfcompat
