// The models a server serves, on kiln engines: one engine per (precision, convolution
// algorithm), so that models of one architecture and settings share one plan. Adds what a
// service needs around Engine: a bounded queue per model and a deadline per request,
// preparing a model again without a gap (the new one serves once it is warm), weight swaps
// from the repository, a log line per state change, and the counters behind /metrics.
//
//   kiln::serve::ModelHost host(options);
//   host.load(config);                              // returns at once; prepares in the background
//   kiln::serve::RunTimings t;
//   auto out = host.run("leather", {image}, t);     // 503 when its queue is full, 504 past the deadline
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "kiln/engine.h"
#include "server/metrics.h"
#include "server/repository.h"

namespace kiln::serve {

struct HostOptions {
  int runners = 1;                 // per engine
  int threads = 0;                 // per runner (EngineOptions::threads)
  std::string cache_dir;           // weight-pack cache
  int max_queue = 16;              // requests waiting per model beyond those running
  std::chrono::milliseconds request_timeout{30000};  // from arrival to the start of computing
  std::string repository;          // polled for changes when poll > 0
  ModelDefaults defaults;
  std::chrono::milliseconds poll{0};
};

struct RunTimings {
  double queue_ms = 0, compute_ms = 0;
};

// One model as the server sees it.
struct HostedModel {
  ModelConfig config;
  ModelStatus status;           // of the generation serving (or being prepared first)
  std::string reason;           // the last failure: preparation, reload or weight swap
  bool reloading = false;       // a new generation is being prepared behind the serving one
  std::shared_ptr<ModelStats> stats;
};

class ModelHost {
 public:
  explicit ModelHost(HostOptions options);
  ~ModelHost();
  ModelHost(const ModelHost&) = delete;
  ModelHost& operator=(const ModelHost&) = delete;

  // Starts preparing `config`; a model of that name already there keeps serving until the
  // new one is ready (then it is dropped), or keeps serving if the new one fails.
  Status load(const ModelConfig& config);
  Status unload(const std::string& name);
  // Swaps the model's weights for those of `path` (atomic; a bad file leaves the old ones).
  Status swap_weights(const std::string& name, const std::string& path);

  // A repository folder that does not read as a model: listed (index, readiness) with why.
  void note_broken(const std::string& name, const std::string& reason);
  std::map<std::string, std::string> broken() const;

  std::vector<HostedModel> models() const;
  Expected<HostedModel> model(const std::string& name) const;
  Expected<ModelInfo> info(const std::string& name) const;
  bool all_ready() const;  // every model ready, and no folder broken
  // Plans and the models on them: fingerprint -> {models, packed weight bytes}.
  struct PlanUse {
    int models = 0;
    size_t weight_bytes = 0;
  };
  std::map<std::string, PlanUse> plans() const;
  // The engines' memory (kiln/engine.h), summed over engines.
  MemoryReport memory() const;

  // Runs a request under the model's admission: refused (kUnavailable) when its queue is
  // full or it is not ready, kDeadlineExceeded when no runner frees up by the deadline.
  // `timeout` overrides the server's request timeout when given.
  Expected<std::vector<Tensor>> run(const std::string& name, const std::vector<Tensor>& inputs, RunTimings& t,
                                    std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  Expected<std::vector<Tensor>> run_tiled(const std::string& name, const Tensor& image, const TileOptions& tiles,
                                          RunTimings& t);

  // Logs state changes, promotes reloaded generations, and (with a poll interval) applies
  // repository changes: a step of the background thread, also callable directly.
  void tick();

 private:
  struct Entry;
  struct EngineSlot;
  std::shared_ptr<Entry> find(const std::string& name) const;
  // The engine and engine-side name of the generation serving `e` now.
  std::pair<EngineSlot*, std::string> serving(const Entry& e) const;
  EngineSlot& engine_for(Precision p, ConvAlgorithm c);
  template <typename F>
  auto admitted(Entry& e, RunTimings& t, std::optional<std::chrono::milliseconds> timeout, F&& compute)
      -> decltype(compute(std::declval<Engine&>(), std::string()));
  void poll_repository();
  void log_changes(Entry& e);

  HostOptions opt_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> models_;
  std::map<std::pair<int, int>, std::unique_ptr<EngineSlot>> engines_;
  uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point last_poll_;
  std::map<std::string, std::string> broken_folders_;  // polled folders that do not read, by name

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread monitor_;
};

// "2026-12-06T12:00:00Z kiln serve: ..." on stderr, one line at a time.
void log_line(const std::string& text);

}  // namespace kiln::serve
