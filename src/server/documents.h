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
// Sizes the generator endpoint makes (square, pixels): up to the large images the viewer tiles.
constexpr int kMinGeneratedSize = 64;
constexpr int kMaxGeneratedSize = 4096;

nlohmann::json server_metadata();
// A ready model's inputs and outputs (datatype FP32, -1 for sizes that may vary).
Expected<nlohmann::json> model_metadata(const ModelHost& host, const std::string& name);
Expected<nlohmann::json> model_config(const ModelHost& host, const std::string& name, int runners);
// Triton statistics: one model, or every model when `name` is empty.
Expected<nlohmann::json> model_statistics(const ModelHost& host, const std::string& name);
// Triton repository index: every model with state READY / LOADING / UNAVAILABLE and reason;
// `not_loaded` are the repository's models that are not loaded (UNAVAILABLE, "unloaded").
nlohmann::json repository_index(const ModelHost& host, bool ready_only, const std::vector<std::string>& not_loaded = {});
// kiln's own model list for the viewer: state, phase, progress, error, plan sharing, bytes,
// timings and steady latency; then `not_loaded` with state "unloaded".
nlohmann::json model_list(const ModelHost& host, const std::vector<std::string>& not_loaded = {});
// What the viewer needs to know of the server: name, version, whether models may be loaded
// and unloaded, and the generator's texture classes.
nlohmann::json viewer_settings(bool explicit_control);
// The process's memory and the engines' share of it: plans, packed weights, arenas.
nlohmann::json memory_report(const ModelHost& host);
std::string prometheus_text(const ModelHost& host);

}  // namespace kiln::serve
