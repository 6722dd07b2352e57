#include "server/model_host.h"

#include "server/clock.h"

#include <cstdio>
#include <ctime>
#include <filesystem>

#include "server/fifo_gate.h"

namespace kiln::serve {

namespace fs = std::filesystem;

namespace {


// What tells a changed file: its modification time and size.
struct FileStamp {
  int64_t mtime = 0;
  uintmax_t size = 0;
  bool exists = false;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp(const std::string& path) {
  std::error_code ec;
  FileStamp s;
  if (path.empty()) return s;
  auto t = fs::last_write_time(path, ec);
  if (ec) return s;
  s.mtime = t.time_since_epoch().count();
  s.size = fs::file_size(path, ec);
  s.exists = !ec;
  return s;
}

std::string mb(size_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return b;
}

}  // namespace

void log_line(const std::string& text) {
  static std::mutex mu;
  char when[32];
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "%s kiln serve: %s\n", when, text.c_str());
}

struct ModelHost::EngineSlot {
  EngineSlot(EngineOptions o, int runners) : engine(std::make_unique<Engine>(std::move(o))), free_runners(runners) {}
  std::unique_ptr<Engine> engine;
  // Runners not computing a request: a request holds one while it computes, so that waiting
  // happens here, in arrival order and bounded by its deadline, and not inside the engine.
  FifoGate free_runners;
};

struct ModelHost::Entry {
  ModelConfig config;
  EngineSlot* engine = nullptr;
  std::string engine_name;  // the generation serving
  // A generation being prepared behind the serving one (a reload).
  std::optional<ModelConfig> pending_config;
  EngineSlot* pending_engine = nullptr;
  std::string pending_name;
  std::shared_ptr<ModelStats> stats = std::make_shared<ModelStats>();
  std::string reason;
  // What was logged last, so that each change is one line.
  ModelState logged_state = ModelState::kLoading;
  bool logged_any = false;
  // What --poll-repository compares against.
  FileStamp weights_stamp, model_stamp, config_stamp;
  std::string broken;  // the folder's last error, logged once
};

ModelHost::ModelHost(HostOptions options) : opt_(std::move(options)), last_poll_(Clock::now()) {
  monitor_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(stop_mu_);
    while (!stopping_) {
      lock.unlock();
      tick();
      lock.lock();
      stop_cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stopping_; });
    }
  });
}

ModelHost::~ModelHost() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  monitor_.join();
}

ModelHost::EngineSlot& ModelHost::engine_for(Precision p, ConvAlgorithm c) {
  auto key = std::make_pair(static_cast<int>(p), static_cast<int>(c));
  auto it = engines_.find(key);
  if (it != engines_.end()) return *it->second;
  EngineOptions o;
  o.runners = opt_.runners;
  o.threads = opt_.threads;
  o.cache_dir = opt_.cache_dir;
  o.precision = p;
  o.conv_algorithm = c;
  return *(engines_[key] = std::make_unique<EngineSlot>(std::move(o), std::max(1, opt_.runners)));
}

std::pair<ModelHost::EngineSlot*, std::string> ModelHost::serving(const Entry& e) const {
  std::lock_guard<std::mutex> lock(mu_);
  return {e.engine, e.engine_name};
}

std::shared_ptr<ModelHost::Entry> ModelHost::find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : it->second;
}

Status ModelHost::load(const ModelConfig& config) {
  std::lock_guard<std::mutex> lock(mu_);
  EngineSlot& slot = engine_for(config.precision, config.conv);
  const std::string ename = config.name + "@" + std::to_string(++generation_);
  if (Status s = slot.engine->load(ename, config.spec); !s) return s;
  auto it = models_.find(config.name);
  if (it == models_.end()) {
    auto e = std::make_shared<Entry>();
    e->config = config;
    e->engine = &slot;
    e->engine_name = ename;
    e->weights_stamp = stamp(config.weights_file);
    e->model_stamp = stamp(config.model_file);
    e->config_stamp = stamp(config.config_file);
    models_[config.name] = e;
    log_line("model '" + config.name + "': loading " + config.spec.model +
             (config.spec.weights.empty() ? "" : " with weights " + config.spec.weights));
    return Status::ok();
  }
  Entry& e = *it->second;
  if (e.pending_engine) (void)e.pending_engine->engine->unload(e.pending_name);  // superseded
  e.pending_config = config;
  e.pending_engine = &slot;
  e.pending_name = ename;
  e.weights_stamp = stamp(config.weights_file);
  e.model_stamp = stamp(config.model_file);
  e.config_stamp = stamp(config.config_file);
  log_line("model '" + config.name + "': preparing again (the current one serves until the new one is ready)");
  return Status::ok();
}

Status ModelHost::unload(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return not_found("no model '" + name + "' is loaded");
  Entry& e = *it->second;
  if (Status s = e.engine->engine->unload(e.engine_name); !s && s.code() != ErrorCode::kNotFound)
    return unavailable(s.message() + "; unload it once it is ready");
  if (e.pending_engine) (void)e.pending_engine->engine->unload(e.pending_name);
  models_.erase(it);
  log_line("model '" + name + "': unloaded");
  return Status::ok();
}

Status ModelHost::swap_weights(const std::string& name, const std::string& path) {
  auto e = find(name);
  if (!e) return not_found("no model '" + name + "' is loaded");
  auto [slot, ename] = serving(*e);
  auto t0 = Clock::now();
  Status s = slot->engine->load_weights(ename, path);
  std::lock_guard<std::mutex> lock(mu_);
  if (!s) {
    e->stats->swaps_failed.fetch_add(1);
    e->reason = "weight swap from " + path + " failed, the old weights serve: " + s.message();
    log_line("model '" + name + "': " + e->reason);
    return s;
  }
  e->stats->swaps.fetch_add(1);
  e->reason.clear();
  char took[32];
  std::snprintf(took, sizeof took, "%.1f ms", ms_since(t0));
  log_line("model '" + name + "': weights swapped to " + path + " in " + took);
  return Status::ok();
}

std::vector<HostedModel> ModelHost::models() const {
  std::vector<std::shared_ptr<Entry>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [n, e] : models_) all.push_back(e);
  }
  std::vector<HostedModel> out;
  for (const auto& e : all) {
    auto m = model(e->config.name);
    if (m) out.push_back(std::move(*m));
  }
  return out;
}

Expected<HostedModel> ModelHost::model(const std::string& name) const {
  auto e = find(name);
  if (!e) return not_found("no model '" + name + "' is loaded");
  HostedModel h;
  std::lock_guard<std::mutex> lock(mu_);
  h.config = e->config;
  h.reason = e->reason;
  h.reloading = e->pending_engine != nullptr;
  h.stats = e->stats;
  auto st = e->engine->engine->status(e->engine_name);
  if (st) h.status = std::move(*st);
  h.status.name = name;
  return h;
}

Expected<ModelInfo> ModelHost::info(const std::string& name) const {
  auto e = find(name);
  if (!e) return not_found("no model '" + name + "' is loaded");
  auto [slot, ename] = serving(*e);
  auto i = slot->engine->info(ename);
  if (!i && i.error().code() == ErrorCode::kUnavailable) return unavailable(i.error().message());
  return i;
}

void ModelHost::note_broken(const std::string& name, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string& last = broken_folders_[name];
  if (last != reason) log_line(reason);  // once per error
  last = reason;
}

std::map<std::string, std::string> ModelHost::broken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return broken_folders_;
}

bool ModelHost::all_ready() const {
  if (!broken().empty()) return false;
  for (const HostedModel& m : models())
    if (m.status.state != ModelState::kReady) return false;
  return true;
}

MemoryReport ModelHost::memory() const {
  MemoryReport total;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, slot] : engines_) {
    const MemoryReport m = slot->engine->memory();
    total.plans += m.plans;
    total.models += m.models;
    total.plan_bytes += m.plan_bytes;
    total.weight_bytes_resident += m.weight_bytes_resident;
    total.weight_bytes_mapped += m.weight_bytes_mapped;
    total.arena_bytes += m.arena_bytes;
    total.spare_weight_bytes += m.spare_weight_bytes;
  }
  return total;
}

std::map<std::string, ModelHost::PlanUse> ModelHost::plans() const {
  std::map<std::string, PlanUse> out;
  for (const HostedModel& m : models()) {
    if (m.status.state != ModelState::kReady) continue;
    // Appended piece by piece: g++ 12 warns (-Wrestrict, falsely) on "/" + std::string here.
    std::string key = m.status.fingerprint;
    key.append("/").append(precision_name(m.config.precision)).append("/").append(conv_algorithm_name(m.config.conv));
    for (const auto& [n, s] : m.status.inputs) key.append("/").append(shape_to_string(s));
    out[key].models += 1;
    out[key].weight_bytes += m.status.weight_bytes;
  }
  return out;
}

template <typename F>
auto ModelHost::admitted(Entry& e, RunTimings& t, std::optional<std::chrono::milliseconds> timeout, F&& compute)
    -> decltype(compute(std::declval<Engine&>(), std::string())) {
  const auto t0 = Clock::now();
  auto [slot, ename] = serving(e);
  const std::string& name = e.config.name;
  auto st = slot->engine->status(ename);
  if (!st) return unavailable("model '" + name + "' was unloaded");
  if (st->state != ModelState::kReady)
    return unavailable("model '" + name + "' is " + model_state_name(st->state) +
                       (st->state == ModelState::kFailed ? ": " + st->error : " (" + st->phase + ")"));
  if (e.stats->waiting.fetch_add(1) >= opt_.max_queue) {
    e.stats->waiting.fetch_sub(1);
    return unavailable("model '" + name + "' has " + std::to_string(opt_.max_queue) +
                       " requests waiting (the queue's limit); try again shortly");
  }
  const auto limit = timeout.value_or(opt_.request_timeout);
  const bool got = slot->free_runners.acquire_until(t0 + limit);
  e.stats->waiting.fetch_sub(1);
  t.queue_ms = ms_since(t0);
  if (!got)
    return deadline_exceeded("model '" + name + "': no runner was free within " + std::to_string(limit.count()) + " ms");
  const auto t1 = Clock::now();
  auto r = compute(*slot->engine, ename);
  slot->free_runners.release();
  if (!r) {  // the engine's name for this generation is the server's business, not the client's
    std::string m = r.error().message();
    for (size_t at; (at = m.find("'" + ename + "'")) != std::string::npos;) m.replace(at, ename.size() + 2, "'" + name + "'");
    r = Status(r.error().code(), m);
  }
  t.compute_ms = ms_since(t1);
  e.stats->executions.fetch_add(1);
  return r;
}

Expected<std::vector<Tensor>> ModelHost::run(const std::string& name, const std::vector<Tensor>& inputs, RunTimings& t,
                                             std::optional<std::chrono::milliseconds> timeout) {
  auto e = find(name);
  if (!e) return not_found("no model '" + name + "' is loaded");
  auto r = admitted(*e, t, timeout, [&](Engine& engine, const std::string& ename) { return engine.run(ename, inputs); });
  if (r) e->stats->note_compute(t.compute_ms);
  return r;
}

Expected<std::vector<Tensor>> ModelHost::run_tiled(const std::string& name, const Tensor& image,
                                                   const TileOptions& tiles, RunTimings& t) {
  auto e = find(name);
  if (!e) return not_found("no model '" + name + "' is loaded");
  return admitted(*e, t, std::nullopt,
                  [&](Engine& engine, const std::string& ename) { return engine.run_tiled(ename, image, tiles); });
}

void ModelHost::log_changes(Entry& e) {
  // The serving generation's state changes, and a reload's outcome. Called under mu_.
  auto st = e.engine->engine->status(e.engine_name);
  if (st && (!e.logged_any || st->state != e.logged_state)) {
    e.logged_any = true;
    e.logged_state = st->state;
    const std::string& n = e.config.name;
    char line[256];
    switch (st->state) {
      case ModelState::kReady:
        std::snprintf(line, sizeof line, "ready in %.0f ms (plan %s, weights %s)", st->prepare_ms,
                      st->plan_shared ? "shared" : "new", mb(st->weight_bytes).c_str());
        log_line("model '" + n + "': " + line);
        if (!st->plan_shared) {  // how the new plan computes, and (once) a forced option's cost
          auto info = e.engine->engine->info(e.engine_name);
          if (info) {
            std::string how;
            for (const auto& [variant, layers] : info->conv_variants)
              how += (how.empty() ? "" : ", ") + std::to_string(layers) + " " + variant;
            if (!how.empty()) log_line("model '" + n + "': convolutions " + how);
            if (!info->slower_than_fp32.empty()) log_line("model '" + n + "': note: " + info->slower_than_fp32);
          }
        }
        break;
      case ModelState::kFailed:
        e.reason = st->error;
        log_line("model '" + n + "': failed: " + st->error);
        break;
      case ModelState::kPreparing: log_line("model '" + n + "': preparing"); break;
      case ModelState::kLoading: break;
    }
  }
  if (!e.pending_engine) return;
  auto pst = e.pending_engine->engine->status(e.pending_name);
  if (!pst || pst->state == ModelState::kLoading || pst->state == ModelState::kPreparing) return;
  if (pst->state == ModelState::kFailed) {
    e.reason = "preparing again failed, the previous version serves: " + pst->error;
    log_line("model '" + e.config.name + "': " + e.reason);
    (void)e.pending_engine->engine->unload(e.pending_name);
  } else {
    // The new generation is warm: it takes over; requests already running finish on the old.
    (void)e.engine->engine->unload(e.engine_name);
    e.engine = e.pending_engine;
    e.engine_name = e.pending_name;
    e.config = *e.pending_config;
    e.reason.clear();
    e.logged_any = false;
    log_line("model '" + e.config.name + "': the new version serves");
  }
  e.pending_engine = nullptr;
  e.pending_config.reset();
  e.pending_name.clear();
}

void ModelHost::tick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, e] : models_) log_changes(*e);
  }
  if (opt_.poll.count() > 0 && !opt_.repository.empty() && Clock::now() - last_poll_ >= opt_.poll) {
    last_poll_ = Clock::now();
    poll_repository();
  }
}

void ModelHost::poll_repository() {
  auto scan = scan_repository(opt_.repository, opt_.defaults);
  if (!scan) {
    log_line("repository: " + scan.error().message());
    return;
  }
  std::vector<std::string> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, e] : models_)
      if (!scan->models.count(name)) gone.push_back(name);
  }
  for (const std::string& name : gone) (void)unload(name);
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(broken_folders_, [&](const auto& b) { return !scan->models.count(b.first); });
  }
  for (auto& [name, config] : scan->models) {
    auto e = find(name);
    if (!config) {
      if (e && e->broken != config.error().message()) {
        std::lock_guard<std::mutex> lock(mu_);
        e->broken = config.error().message();
        e->reason = "the folder no longer reads, the loaded version serves: " + e->broken;
        log_line("model '" + name + "': " + e->reason);
      } else if (!e) {
        note_broken(name, config.error().message());
      }
      continue;
    }
    if (!e) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        broken_folders_.erase(name);
      }
      (void)load(*config);
      continue;
    }
    bool reload = false, swap = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      e->broken.clear();
      reload = stamp(config->model_file) != e->model_stamp || stamp(config->config_file) != e->config_stamp ||
               config->spec.model != e->config.spec.model || config->spec.weights != e->config.spec.weights;
      const FileStamp w = stamp(config->weights_file);
      swap = !reload && w != e->weights_stamp && w.exists;
      if (swap) e->weights_stamp = w;  // tried once per change: a broken file waits for the next write
    }
    if (reload) {
      (void)load(*config);
    } else if (swap) {
      (void)swap_weights(name, config->weights_file);
    }
  }
}

}  // namespace kiln::serve
