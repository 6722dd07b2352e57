// The JSON documents and the metrics text the server answers with, built from the host's
// models: server and model metadata (KServe v2), Triton's model configuration, statistics
// and repository index, and Prometheus text for /metrics.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "server/model_host.h"

namespace kiln::serve {

// What GET v2 advertises: the KServe v2 extensions and kiln's own endpoints this server has.
std::vector<std::string> server_extensions();
constexpr const char* kServerName = "kiln";
constexpr const char* kServerVersion = KILN_VERSION;  // the CMake project's version

nlohmann::json server_metadata();
// A ready model's inputs and outputs (datatype FP32, -1 for sizes that may vary).
Expected<nlohmann::json> model_metadata(const ModelHost& host, const std::string& name);
Expected<nlohmann::json> model_config(const ModelHost& host, const std::string& name, int runners);
// Triton statistics: one model, or every model when `name` is empty.
Expected<nlohmann::json> model_statistics(const ModelHost& host, const std::string& name);
// Triton repository index: every model with state READY / LOADING / UNAVAILABLE and reason.
nlohmann::json repository_index(const ModelHost& host, bool ready_only);
// kiln's own model list for the viewer: state, phase, progress, error, plan sharing, bytes,
// timings and steady latency.
nlohmann::json model_list(const ModelHost& host);
std::string prometheus_text(const ModelHost& host);

}  // namespace kiln::serve
