#include "server/documents.h"

#include <cstdio>

#include "kiln/demo.h"
#include "server/inference.h"

namespace kiln::serve {

using nlohmann::json;

std::vector<std::string> server_extensions() {
  return {"binary_tensor_data", "model_configuration", "statistics", "model_repository", "kiln_segment", "kiln_metrics"};
}

json server_metadata() {
  return {{"name", kServerName}, {"version", kServerVersion}, {"extensions", server_extensions()}};
}

namespace {

json tensors(const std::vector<TensorInfo>& ts, bool channels_last) {
  json out = json::array();
  for (const TensorInfo& t : ts) out.push_back({{"name", t.name}, {"datatype", "FP32"}, {"shape", free_shape(t.shape, channels_last)}});
  return out;
}

const char* index_state(const HostedModel& m) {
  switch (m.status.state) {
    case ModelState::kReady: return "READY";
    case ModelState::kLoading:
    case ModelState::kPreparing: return "LOADING";
    case ModelState::kFailed: return "UNAVAILABLE";
  }
  return "UNAVAILABLE";
}

json duration(uint64_t count, uint64_t ns) { return {{"count", count}, {"ns", ns}}; }

json statistics_of(const HostedModel& m) {
  const ModelStats& s = *m.stats;
  const uint64_t ok = s.requests[static_cast<int>(Outcome::kSuccess)].load();
  uint64_t failed = 0;
  for (int o = 1; o < kOutcomes; ++o) failed += s.requests[o].load();
  const uint64_t executions = s.executions.load();
  return {{"name", m.config.name},
          {"version", "1"},
          {"last_inference", s.last_inference_ms.load()},
          {"inference_count", ok},
          {"execution_count", executions},
          {"inference_stats",
           {{"success", duration(ok, s.success_ns.load())},
            {"fail", duration(failed, s.fail_ns.load())},
            {"queue", duration(executions, s.queue_ns.load())},
            {"compute_input", duration(executions, 0)},
            {"compute_infer", duration(executions, s.compute_ns.load())},
            {"compute_output", duration(executions, 0)},
            {"cache_hit", duration(0, 0)},
            {"cache_miss", duration(0, 0)}}},
          {"batch_stats", json::array()}};
}

}  // namespace

Expected<json> model_metadata(const ModelHost& host, const std::string& name) {
  auto m = host.model(name);
  if (!m) return m.error();
  auto info = host.info(name);
  if (!info) return info.error();
  return json{{"name", name},
              {"versions", {"1"}},
              {"platform", m->config.platform},
              {"inputs", tensors(info->inputs, info->channels_last)},
              {"outputs", tensors(info->outputs, info->channels_last)}};
}

Expected<json> model_config(const ModelHost& host, const std::string& name, int runners) {
  auto m = host.model(name);
  if (!m) return m.error();
  auto info = host.info(name);
  if (!info) return info.error();
  auto io = [&](const std::vector<TensorInfo>& ts, bool input) {
    json out = json::array();
    for (const TensorInfo& t : ts) {
      json x = {{"name", t.name}, {"data_type", "TYPE_FP32"}, {"dims", free_shape(t.shape, info->channels_last)}};
      if (input) x["format"] = "FORMAT_NONE";
      out.push_back(std::move(x));
    }
    return out;
  };
  const ModelConfig& c = m->config;
  return json{{"name", name},
              {"platform", c.platform},
              {"backend", "kiln"},
              {"version_policy", {{"latest", {{"num_versions", 1}}}}},
              {"max_batch_size", 0},
              {"input", io(info->inputs, true)},
              {"output", io(info->outputs, false)},
              {"instance_group", {{{"name", name}, {"kind", "KIND_CPU"}, {"count", runners}}}},
              {"default_model_filename", c.spec.model},
              {"parameters",
               {{"precision", {{"string_value", precision_name(c.precision)}}},
                {"conv", {{"string_value", conv_algorithm_name(c.conv)}}},
                {"weights", {{"string_value", c.spec.weights}}},
                {"threshold", {{"string_value", std::to_string(c.threshold)}}},
                {"fingerprint", {{"string_value", m->status.fingerprint}}}}}};
}

Expected<json> model_statistics(const ModelHost& host, const std::string& name) {
  json stats = json::array();
  if (name.empty()) {
    for (const HostedModel& m : host.models()) stats.push_back(statistics_of(m));
  } else {
    auto m = host.model(name);
    if (!m) return m.error();
    stats.push_back(statistics_of(*m));
  }
  return json{{"model_stats", stats}};
}

json repository_index(const ModelHost& host, bool ready_only, const std::vector<std::string>& not_loaded) {
  json out = json::array();
  for (const HostedModel& m : host.models()) {
    if (ready_only && m.status.state != ModelState::kReady) continue;
    out.push_back({{"name", m.config.name}, {"version", "1"}, {"state", index_state(m)}, {"reason", m.reason}});
  }
  if (!ready_only)
    for (const auto& [name, why] : host.broken())
      out.push_back({{"name", name}, {"version", "1"}, {"state", "UNAVAILABLE"}, {"reason", why}});
  if (!ready_only)
    for (const std::string& name : not_loaded) out.push_back({{"name", name}, {"state", "UNAVAILABLE"}, {"reason", "unloaded"}});
  return out;
}

json model_list(const ModelHost& host, const std::vector<std::string>& not_loaded) {
  json out = json::array();
  for (const HostedModel& m : host.models()) {
    const ModelStatus& s = m.status;
    out.push_back({{"name", m.config.name},
                   {"state", model_state_name(s.state)},
                   {"phase", s.phase},
                   {"progress", s.progress},
                   {"error", s.error},
                   {"reason", m.reason},
                   {"reloading", m.reloading},
                   {"fingerprint", s.fingerprint},
                   {"plan_shared", s.plan_shared},
                   {"precision", precision_name(m.config.precision)},
                   {"weight_bytes", s.weight_bytes},
                   {"prepare_ms", s.prepare_ms},
                   {"steady_ms", m.stats->steady_ms()},
                   {"threshold", m.config.threshold}});
  }
  for (const auto& [name, why] : host.broken())
    out.push_back({{"name", name}, {"state", "failed"}, {"phase", "reading the repository"}, {"error", why}});
  for (const std::string& name : not_loaded) out.push_back({{"name", name}, {"state", "unloaded"}});
  return out;
}

json viewer_settings(bool explicit_control) {
  json classes = json::array();
  for (int k = 0; k < demo::kTextureCount; ++k) classes.push_back(demo::texture_name(static_cast<demo::Texture>(k)));
  return {{"name", kServerName},
          {"version", kServerVersion},
          {"model_control", explicit_control},
          {"generator", {{"classes", classes}, {"min_size", kMinGeneratedSize}, {"max_size", kMaxGeneratedSize}}}};
}

json memory_report(const ModelHost& host) {
  const MemoryReport m = host.memory();
  return {{"resident_bytes", process_resident_bytes()},
          {"limit_bytes", process_memory_limit_bytes()},
          {"plans", m.plans},
          {"models", m.models},
          {"plan_bytes", m.plan_bytes},
          {"weight_bytes", m.weight_bytes_resident + m.weight_bytes_mapped},
          {"weight_bytes_mapped", m.weight_bytes_mapped},
          {"arena_bytes", m.arena_bytes},
          {"spare_weight_bytes", m.spare_weight_bytes}};
}

std::string prometheus_text(const ModelHost& host) {
  std::string out;
  char line[512];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  const std::vector<HostedModel> models = host.models();
  out += "# HELP kiln_requests_total Inference requests by model and outcome.\n# TYPE kiln_requests_total counter\n";
  for (const HostedModel& m : models)
    for (int o = 0; o < kOutcomes; ++o)
      add("kiln_requests_total{model=\"%s\",outcome=\"%s\"} %llu\n", label(m.config.name).c_str(),
          outcome_name(static_cast<Outcome>(o)), static_cast<unsigned long long>(m.stats->requests[o].load()));
  const struct {
    const char* name;
    const char* help;
    Histogram ModelStats::*field;
  } histograms[] = {
      {"kiln_request_duration_seconds", "Time from a request's arrival to its answer.", &ModelStats::total},
      {"kiln_queue_duration_seconds", "Time a request waited for a runner.", &ModelStats::queue},
      {"kiln_compute_duration_seconds", "Time a request computed on a runner.", &ModelStats::compute},
  };
  for (const auto& h : histograms) {
    add("# HELP %s %s\n# TYPE %s histogram\n", h.name, h.help, h.name);
    for (const HostedModel& m : models) ((*m.stats).*h.field).render(out, h.name, "model=\"" + label(m.config.name) + "\"");
  }
  out += "# HELP kiln_queue_depth Requests waiting for a runner.\n# TYPE kiln_queue_depth gauge\n";
  for (const HostedModel& m : models) add("kiln_queue_depth{model=\"%s\"} %d\n", label(m.config.name).c_str(), m.stats->waiting.load());
  out += "# HELP kiln_model_state The model's state (1 for the state it is in).\n# TYPE kiln_model_state gauge\n";
  for (const HostedModel& m : models)
    for (ModelState st : {ModelState::kLoading, ModelState::kPreparing, ModelState::kReady, ModelState::kFailed})
      add("kiln_model_state{model=\"%s\",state=\"%s\"} %d\n", label(m.config.name).c_str(), model_state_name(st),
          m.status.state == st ? 1 : 0);
  out += "# HELP kiln_model_weight_bytes Packed weight bytes of the model.\n# TYPE kiln_model_weight_bytes gauge\n";
  for (const HostedModel& m : models)
    add("kiln_model_weight_bytes{model=\"%s\"} %zu\n", label(m.config.name).c_str(), m.status.weight_bytes);
  out += "# HELP kiln_model_prepare_seconds Time the model took from loading to ready.\n# TYPE kiln_model_prepare_seconds gauge\n";
  for (const HostedModel& m : models)
    add("kiln_model_prepare_seconds{model=\"%s\"} %.6f\n", label(m.config.name).c_str(), m.status.prepare_ms / 1000.0);
  out += "# HELP kiln_weight_swaps_total Weight swaps by outcome.\n# TYPE kiln_weight_swaps_total counter\n";
  for (const HostedModel& m : models) {
    add("kiln_weight_swaps_total{model=\"%s\",outcome=\"success\"} %llu\n", label(m.config.name).c_str(),
        static_cast<unsigned long long>(m.stats->swaps.load()));
    add("kiln_weight_swaps_total{model=\"%s\",outcome=\"failure\"} %llu\n", label(m.config.name).c_str(),
        static_cast<unsigned long long>(m.stats->swaps_failed.load()));
  }
  const auto plans = host.plans();
  out += "# HELP kiln_plan_models Models served by one compiled plan.\n# TYPE kiln_plan_models gauge\n";
  for (const auto& [plan, use] : plans) add("kiln_plan_models{plan=\"%s\"} %d\n", label(plan).c_str(), use.models);
  out += "# HELP kiln_plan_weight_bytes Packed weight bytes of the models of one plan.\n# TYPE kiln_plan_weight_bytes gauge\n";
  for (const auto& [plan, use] : plans)
    add("kiln_plan_weight_bytes{plan=\"%s\"} %zu\n", label(plan).c_str(), use.weight_bytes);
  const MemoryReport m = host.memory();
  out += "# HELP kiln_memory_bytes The process's resident memory, and the engines' plans, packed weights and "
         "activation arenas in it.\n# TYPE kiln_memory_bytes gauge\n";
  add("kiln_memory_bytes{kind=\"resident\"} %zu\n", process_resident_bytes());
  add("kiln_memory_bytes{kind=\"plans\"} %zu\n", m.plan_bytes);
  add("kiln_memory_bytes{kind=\"weights\"} %zu\n", m.weight_bytes_resident + m.weight_bytes_mapped);
  add("kiln_memory_bytes{kind=\"arenas\"} %zu\n", m.arena_bytes);
  out += "# HELP kiln_plans Compiled plans held.\n# TYPE kiln_plans gauge\n";
  add("kiln_plans %zu\n", m.plans);
  return out;
}

}  // namespace kiln::serve
