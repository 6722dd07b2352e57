#include "server/model_runtime.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "server/documents.h"
#include "server/grpc_status.h"
#include "server/proto/model_runtime.grpc.pb.h"

namespace kiln::serve {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(5);
// How long runtimeStatus waits for a purge before answering STARTING (ModelMesh asks again
// every 2 s).
constexpr auto kPurgeWait = std::chrono::milliseconds(1500);
// A plan charged before any has been measured here: the first U-Net-64 (256x256, one runner)
// took 142 MB beyond its weights (bench/modelmesh.sh, 2026-12-06).
constexpr size_t kUnmeasuredPlanBytes = size_t{160} << 20;

// The bytes of the files under `path` (a file, or a folder and its subfolders).
size_t file_bytes(const std::string& path) {
  std::error_code ec;
  auto size_of = [](const fs::path& p) {
    std::error_code e;
    const uintmax_t n = fs::is_regular_file(p, e) ? fs::file_size(p, e) : 0;
    return e ? size_t{0} : static_cast<size_t>(n);
  };
  if (fs::is_regular_file(path, ec)) return size_of(path);
  size_t total = 0;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    total += size_of(it->path());
  return total;
}

// "mt:kiln-0123456789abcdef|pv:grpc-v2" (ModelMesh's type label) or "kiln-0123..." -> the
// fingerprint; empty for other types.
std::string fingerprint_in_type(const std::string& type) {
  const std::string prefix = model_format_name("");
  const size_t at = type.find(prefix);
  if (at == std::string::npos) return "";
  const size_t begin = at + prefix.size();
  size_t end = begin;
  while (end < type.size() && std::isxdigit(static_cast<unsigned char>(type[end]))) ++end;
  return type.substr(begin, end - begin);
}

bool settled(ModelState s) { return s == ModelState::kReady || s == ModelState::kFailed; }

}  // namespace

class ModelRuntimeService final : public mmesh::ModelRuntime::Service {
 public:
  ModelRuntimeService(ModelHost& host, ModelRuntimeOptions o) : host_(host), opt_(std::move(o)) {
    if (opt_.capacity_bytes == 0) {
      const size_t limit = process_memory_limit_bytes(), held = process_resident_bytes() + opt_.reserve_bytes;
      opt_.capacity_bytes = limit > held ? limit - held : 0;
    }
    log_line("model runtime: capacity " + std::to_string(opt_.capacity_bytes >> 20) + " MiB for models (of " +
             std::to_string(process_memory_limit_bytes() >> 20) + " MiB the process may use)");
  }

  grpc::Status runtimeStatus(grpc::ServerContext*, const mmesh::RuntimeStatusRequest*,
                             mmesh::RuntimeStatusResponse* r) override {
    // ModelMesh asks at its start: models held from before it (it restarted) are not its,
    // and it would count their memory as free. They go first.
    if (!purge(Clock::now() + kPurgeWait)) {
      r->set_status(mmesh::RuntimeStatusResponse::STARTING);
      return grpc::Status::OK;
    }
    r->set_status(mmesh::RuntimeStatusResponse::READY);
    r->set_capacityinbytes(opt_.capacity_bytes);
    r->set_maxloadingconcurrency(static_cast<uint32_t>(std::max(1, opt_.max_loading_concurrency)));
    r->set_modelloadingtimeoutms(static_cast<uint32_t>(opt_.loading_timeout.count()));
    r->set_defaultmodelsizeinbytes(opt_.default_model_bytes);
    r->set_runtimeversion(std::string(kServerName) + " " + kServerVersion);
    // Inference on KServe v2 gRPC: ModelMesh writes the model id into field 1 (the model's
    // name) of these requests, and sends it in the mm-model-id header as well.
    for (const char* method : {"ModelInfer", "ModelMetadata", "ModelReady"})
      (*r->mutable_methodinfos())[std::string("inference.GRPCInferenceService/") + method].add_idinjectionpath(1);
    return grpc::Status::OK;
  }

  grpc::Status loadModel(grpc::ServerContext* ctx, const mmesh::LoadModelRequest* q,
                         mmesh::LoadModelResponse* r) override {
    const std::string& id = q->modelid();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = sizes_.find(id); it != sizes_.end() && it->second > 0) {  // loaded already: the same answer
        r->set_sizeinbytes(it->second);
        return grpc::Status::OK;
      }
    }
    // Nothing is loaded unless the path reads as a model: then INVALID_ARGUMENT, which tells
    // ModelMesh that no memory stays used.
    auto config = read_model_at(q->modelpath(), id, opt_.defaults);
    if (!config) return {grpc::StatusCode::INVALID_ARGUMENT, "loadModel: " + config.error().message()};
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (sizes_.count(id)) return {grpc::StatusCode::ALREADY_EXISTS, "model '" + id + "' is being loaded already"};
      sizes_[id] = 0;  // loading
    }
    const size_t resident_before = process_resident_bytes();
    if (Status s = host_.load(*config); !s) {
      forget(id);
      return to_grpc(s.with_context("loadModel '" + id + "'"));
    }
    const auto deadline = Clock::now() + opt_.loading_timeout;
    for (;;) {
      Expected<HostedModel> m = host_.model(id);
      if (!m || settled(m->status.state)) return loaded(id, q->modeltype(), m, resident_before, r);
      // Given up (ModelMesh cancelled, the timeout passed, or an unload came first): the model
      // is dropped here too, once its preparation ends, so that nothing stays whichever of
      // this and ModelMesh's unloadModel finishes first.
      const char* why = ctx->IsCancelled()            ? "was cancelled"
                        : Clock::now() >= deadline    ? "timed out"
                        : !wanted(id)                 ? "was unloaded"
                                                      : nullptr;
      if (why) {
        (void)unload_waiting(id, Clock::now() + opt_.loading_timeout);
        return {Clock::now() >= deadline ? grpc::StatusCode::DEADLINE_EXCEEDED : grpc::StatusCode::CANCELLED,
                "loadModel '" + id + "' " + why + " while the model was prepared (after " +
                    std::to_string(opt_.loading_timeout.count()) + " ms at most); nothing of it stays loaded"};
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  }

  grpc::Status unloadModel(grpc::ServerContext* ctx, const mmesh::UnloadModelRequest* q, mmesh::UnloadModelResponse*) override {
    if (Status s = unload_waiting(q->modelid(), Clock::now() + opt_.loading_timeout, ctx); !s) return to_grpc(s);
    return grpc::Status::OK;
  }

  grpc::Status predictModelSize(grpc::ServerContext*, const mmesh::PredictModelSizeRequest* q,
                                mmesh::PredictModelSizeResponse* r) override {
    // Must be immediate: the files' sizes (fp32 packed weights are as large as the weights
    // in the file; bf16 and int8 smaller), and a plan unless one of its type is here.
    const std::string fp = fingerprint_in_type(q->modeltype());
    auto config = read_model_at(q->modelpath(), "predicted", opt_.defaults);  // its config.json, no model read
    size_t plan = 0;
    if (fp.empty() || !config || !holds_plan(fp, *config)) plan = largest_plan_charge();
    const size_t files = file_bytes(q->modelpath());
    r->set_sizeinbytes((files ? files : opt_.default_model_bytes) + plan);
    return grpc::Status::OK;
  }

  grpc::Status modelSize(grpc::ServerContext*, const mmesh::ModelSizeRequest* q, mmesh::ModelSizeResponse* r) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(q->modelid());
    if (it == sizes_.end() || it->second == 0) return {grpc::StatusCode::NOT_FOUND, "no model '" + q->modelid() + "' is loaded"};
    r->set_sizeinbytes(it->second);
    return grpc::Status::OK;
  }

 private:
  // The end of a load: a failed preparation is unloaded (it holds nothing worth keeping) and
  // its error returned; a ready model's size is kept and returned.
  grpc::Status loaded(const std::string& id, const std::string& type, const Expected<HostedModel>& m,
                      size_t resident_before, mmesh::LoadModelResponse* r) {
    if (!m || m->status.state == ModelState::kFailed) {
      const std::string why = m ? m->status.error : m.error().message();
      const ErrorCode code = m ? m->status.error_code : m.error().code();
      unload_now(id);
      return to_grpc(Status(code == ErrorCode::kOk ? ErrorCode::kInternal : code, why).with_context("loadModel '" + id + "'"));
    }
    const size_t size = size_of(id, *m, resident_before);
    if (const std::string fp = fingerprint_in_type(type); !fp.empty() && fp != m->status.fingerprint)
      log_line("model runtime: '" + id + "' came as type '" + type + "' but its architecture is " +
               model_format_name(m->status.fingerprint) + ": placement by architecture is off for it");
    bool still_wanted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = sizes_.find(id);
      still_wanted = it != sizes_.end();
      if (still_wanted) it->second = size;
    }
    if (!still_wanted) {  // unloaded (or purged) while it was prepared
      unload_now(id);
      return {grpc::StatusCode::CANCELLED, "model '" + id + "' was unloaded while it was prepared"};
    }
    log_line("model runtime: '" + id + "' loaded, " + std::to_string(size >> 10) + " KiB" +
             (m->status.plan_shared ? " (plan shared)" : " (its own plan)"));
    r->set_sizeinbytes(size);
    return grpc::Status::OK;
  }

  // Weights, and for the first model of its architecture here its plan: the memory compiling
  // it took and the activation arena it may grow in every runner, or what the process grew
  // by while it loaded when that is more (the import's buffers the allocator keeps, and the
  // engine's threads for the first model of all: measured 70 MB more than weights and plan
  // for the first U-Net-64). Models sharing the plan grow the process by their weights.
  size_t size_of(const std::string& id, const HostedModel& m, size_t resident_before) {
    size_t size = m.status.weight_bytes;
    if (!m.status.plan_shared) {
      auto info = host_.info(id);
      const size_t plan = info ? info->plan_bytes + info->arena_bytes * static_cast<size_t>(std::max(1, opt_.runners)) : 0;
      const size_t resident = process_resident_bytes(), grown = resident > resident_before ? resident - resident_before : 0;
      size = std::max(size + plan, grown);
      std::lock_guard<std::mutex> lock(mu_);
      largest_plan_ = std::max(largest_plan_, size - m.status.weight_bytes);
    }
    return size;
  }

  size_t largest_plan_charge() const {
    std::lock_guard<std::mutex> lock(mu_);
    return largest_plan_ ? largest_plan_ : kUnmeasuredPlanBytes;
  }

  // A plan of this architecture, input size and settings is here (what makes models share).
  bool holds_plan(const std::string& fingerprint, const ModelConfig& c) const {
    auto same_size = [](const std::optional<ImageSize>& a, const std::optional<ImageSize>& b) {
      return a.has_value() == b.has_value() && (!a || (a->height == b->height && a->width == b->width));
    };
    for (const HostedModel& m : host_.models())
      if (m.status.state == ModelState::kReady && m.status.fingerprint == fingerprint &&
          m.config.precision == c.precision && m.config.conv == c.conv && m.config.spec.input_shapes == c.spec.input_shapes &&
          same_size(m.config.spec.image_size, c.spec.image_size))
        return true;
    return false;
  }

  bool wanted(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    return sizes_.count(id) > 0;
  }

  void forget(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    sizes_.erase(id);
  }

  // Unloads `id` once its preparation has ended (a preparing model cannot be dropped
  // half-built); unknown ids are done at once.
  Status unload_waiting(const std::string& id, Clock::time_point deadline, grpc::ServerContext* ctx = nullptr) {
    forget(id);  // first: a load still waiting for it sees that it is no longer wanted
    for (;;) {
      Status s = host_.unload(id);
      if (s || s.code() == ErrorCode::kNotFound) break;
      if (s.code() != ErrorCode::kUnavailable || Clock::now() >= deadline || (ctx && ctx->IsCancelled()))
        return s.with_context("unloadModel '" + id + "'");
      std::this_thread::sleep_for(kPollInterval);
    }
    return Status::ok();
  }
  void unload_now(const std::string& id) { (void)unload_waiting(id, Clock::now()); }

  // Unloads every model; false when one is still being prepared at `deadline`.
  bool purge(Clock::time_point deadline) {
    bool all = true;
    for (const HostedModel& m : host_.models()) {
      const std::string& id = m.config.name;
      if (!unload_waiting(id, deadline)) {
        all = false;
        continue;
      }
      log_line("model runtime: '" + id + "' unloaded (held from before ModelMesh started)");
    }
    return all;
  }

  ModelHost& host_;
  ModelRuntimeOptions opt_;
  mutable std::mutex mu_;
  std::map<std::string, size_t> sizes_;  // models loaded through the SPI; 0 while loading
  size_t largest_plan_ = 0;
};

std::unique_ptr<grpc::Service> make_model_runtime_service(ModelHost& host, ModelRuntimeOptions options) {
  return std::make_unique<ModelRuntimeService>(host, std::move(options));
}

}  // namespace kiln::serve
