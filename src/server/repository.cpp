#include "server/repository.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace kiln::serve {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxConfigBytes = 64 << 10;
const char* const kModelExtensions[] = {".onnx", ".pb", ".pbtxt", ".h5", ".hdf5"};

bool is_model_file(const fs::path& p) {
  const std::string e = p.extension().string();
  return std::any_of(std::begin(kModelExtensions), std::end(kModelExtensions), [&](const char* x) { return e == x; });
}

std::string platform_of(const std::string& model_file) {
  if (model_file.ends_with(".onnx")) return "kiln_onnx";
  if (model_file.ends_with(".h5") || model_file.ends_with(".hdf5")) return "kiln_keras_hdf5";
  return "kiln_tensorflow_graphdef";
}

// `path` as a config writes it (relative to the model's folder), resolved with its symlinks
// and required to lie inside the repository.
Expected<std::string> inside(const fs::path& root, const fs::path& folder, const std::string& path, const std::string& what) {
  if (path.empty()) return invalid_argument(what + " is empty");
  const fs::path p(path);
  if (p.is_absolute()) return invalid_argument(what + " '" + path + "' is absolute; paths are relative to the model's folder");
  std::error_code ec;
  const fs::path full = fs::weakly_canonical(folder / p, ec);
  if (ec) return invalid_argument(what + " '" + path + "': " + ec.message());
  const fs::path rel = full.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..")
    return invalid_argument(what + " '" + path + "' leaves the repository (it resolves to " + full.string() + ")");
  if (!fs::is_regular_file(full, ec)) return not_found(what + " '" + path + "' does not exist");
  return full.string();
}

Expected<json> read_config(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return io_error("cannot read '" + file.string() + "': " + ec.message());
  if (size > kMaxConfigBytes) return invalid_argument("'" + file.string() + "' is larger than 64 KiB");
  std::ifstream f(file);
  try {
    json j = json::parse(f);
    if (!j.is_object()) return invalid_argument("'" + file.string() + "' is not a JSON object");
    return j;
  } catch (const json::exception& e) {
    return invalid_argument("'" + file.string() + "' is not valid JSON: " + e.what());
  }
}

// Reads the config's fields into `c`; the first bad one is the error.
Status apply_config(const json& j, const fs::path& root, const fs::path& folder, ModelConfig& c) {
  static const char* const kKnown[] = {"model", "weights", "input_shape", "input", "outputs", "precision", "conv",
                                       "threshold", "tile", "overlap", "min_area", "calibration"};
  for (const auto& item : j.items()) {
    const std::string& key = item.key();  // (clang 14 cannot capture a structured binding)
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return key == k; }))
      return invalid_argument("unknown field \"" + key + "\"");
  }
  try {
    if (j.contains("model")) {
      auto m = inside(root, folder, j.at("model").get<std::string>(), "\"model\"");
      if (!m) return m.error();
      c.spec.model = *m;
    }
    if (j.contains("weights")) {
      auto w = inside(root, folder, j.at("weights").get<std::string>(), "\"weights\"");
      if (!w) return w.error();
      c.spec.weights = *w;
    }
    if (j.contains("calibration")) {
      auto cal = inside(root, folder, j.at("calibration").get<std::string>(), "\"calibration\"");
      if (!cal) return cal.error();
      c.spec.calibration = *cal;
    }
    const std::string input = j.value("input", std::string());
    if (j.contains("input_shape")) {
      Shape s;
      const json& dims = j.at("input_shape");
      if (!dims.is_array()) return invalid_argument("\"input_shape\" must list positive sizes (-1: as the model file says)");
      for (const json& d : dims) {
        if (!d.is_number_integer()) return invalid_argument("\"input_shape\" must list positive sizes (-1: as the model file says)");
        s.push_back(d.get<int64_t>());
      }
      if (s.empty() || std::any_of(s.begin(), s.end(), [](int64_t d) { return d == 0 || d < -1; }))
        return invalid_argument("\"input_shape\" must list positive sizes (-1: as the model file says)");
      c.spec.input_shapes[input] = s;
    }
    if (j.contains("outputs")) c.spec.outputs = j.at("outputs").get<std::vector<std::string>>();
    if (j.contains("precision")) {
      auto p = parse_precision(j.at("precision").get<std::string>());
      if (!p) return invalid_argument("\"precision\" is fp32, auto, auto-bf16, bf16 or int8");
      c.precision = *p;
    }
    if (j.contains("conv")) {
      auto a = parse_conv_algorithm(j.at("conv").get<std::string>());
      if (!a) return invalid_argument("\"conv\" is direct, winograd or auto");
      c.conv = *a;
    }
    c.threshold = j.value("threshold", c.threshold);
    for (const char* key : {"min_area", "overlap", "tile"})
      if (j.contains(key) && !j.at(key).is_number_integer())
        return invalid_argument(std::string("\"") + key + "\" must be a whole number");
    c.min_area = j.value("min_area", c.min_area);
    c.overlap = j.value("overlap", c.overlap);
    if (j.contains("tile")) {
      const int64_t t = j.at("tile").get<int64_t>();
      if (t <= 0) return invalid_argument("\"tile\" must be positive");
      if (!j.contains("input_shape")) c.spec.image_size = ImageSize{t, t};
    }
    if (c.min_area < 1 || c.overlap < 0) return invalid_argument("\"min_area\" must be at least 1 and \"overlap\" at least 0");
  } catch (const json::exception& e) {
    return invalid_argument(std::string("a field has the wrong type: ") + e.what());
  }
  return Status::ok();
}

}  // namespace

Status check_model_name(const std::string& name) {
  auto ok = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.'; };
  if (name.empty() || name.size() > kMaxNameLength || !std::all_of(name.begin(), name.end(), ok) || name[0] == '.' ||
      name[0] == '-' || name[0] == '_')
    return invalid_argument("'" + name.substr(0, kMaxNameLength) +
                            "' is not a model name (letters, digits, '_', '-', '.'; not starting with '.', '-' or '_')");
  return Status::ok();
}

namespace {

// The folder `folder` (canonical) read as the model `name`; the paths its config names must
// stay inside `root`.
Expected<ModelConfig> read_folder(const fs::path& root, const fs::path& folder, const std::string& name,
                                  const ModelDefaults& defaults) {
  std::error_code ec;
  ModelConfig c;
  c.name = name;
  c.folder = folder.string();
  c.precision = defaults.precision;
  c.conv = defaults.conv;
  const fs::path config = folder / "config.json";
  auto where = [&](const Status& s) { return s.with_context("model '" + name + "'"); };
  if (fs::exists(config, ec)) {
    c.config_file = config.string();
    auto j = read_config(config);
    if (!j) return where(j.error());
    if (Status s = apply_config(*j, root, folder, c); !s) return where(s.with_context("config.json"));
  }
  if (c.spec.model.empty()) {  // no "model": the folder's one model file
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(folder, ec))
      if (entry.is_regular_file() && is_model_file(entry.path())) found.push_back(entry.path());
    if (found.empty())
      return where(not_found("the folder has no model file (.onnx, .pb, .pbtxt, .h5) and no config.json naming one"));
    if (found.size() > 1)
      return where(invalid_argument("the folder has " + std::to_string(found.size()) +
                                    " model files; a config.json must say which is the model (\"model\")"));
    auto m = inside(root, folder, found[0].filename().string(), "model file");
    if (!m) return where(m.error());
    c.spec.model = *m;
  }
  c.model_file = c.spec.model;
  c.weights_file = c.spec.weights.empty() ? c.spec.model : c.spec.weights;
  c.platform = platform_of(c.spec.model);
  return c;
}

}  // namespace

Expected<ModelConfig> read_model(const std::string& root_dir, const std::string& name, const ModelDefaults& defaults) {
  if (Status s = check_model_name(name); !s) return s;
  std::error_code ec;
  const fs::path root = fs::canonical(root_dir, ec);
  if (ec) return not_found("the repository '" + root_dir + "' does not exist");
  const fs::path folder = fs::weakly_canonical(root / name, ec);
  const fs::path rel = folder.lexically_relative(root);
  if (ec || rel.empty() || *rel.begin() == ".." || rel.has_parent_path())
    return invalid_argument("model folder '" + name + "' leaves the repository");
  if (!fs::is_directory(folder, ec)) return not_found("no model '" + name + "' in the repository");
  return read_folder(root, folder, name, defaults);
}

Expected<ModelConfig> read_model_at(const std::string& path, const std::string& name, const ModelDefaults& defaults) {
  if (Status s = check_model_name(name); !s) return s;
  std::error_code ec;
  const fs::path p = fs::canonical(path, ec);
  if (ec) return not_found("model '" + name + "': '" + path + "' does not exist");
  if (fs::is_directory(p, ec)) return read_folder(p, p, name, defaults);
  if (!fs::is_regular_file(p, ec) || !is_model_file(p))
    return invalid_argument("model '" + name + "': '" + path + "' is neither a folder nor a model file (.onnx, .pb, .pbtxt, .h5)");
  ModelConfig c;
  c.name = name;
  c.folder = p.parent_path().string();
  c.precision = defaults.precision;
  c.conv = defaults.conv;
  c.spec.model = c.model_file = c.weights_file = p.string();
  c.platform = platform_of(c.spec.model);
  return c;
}

Expected<RepositoryScan> scan_repository(const std::string& root, const ModelDefaults& defaults) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return not_found("the repository '" + root + "' is not a directory");
  RepositoryScan scan;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.starts_with('.') || name.starts_with('_')) continue;
    scan.models.emplace(name, read_model(root, name, defaults));
  }
  if (ec) return io_error("cannot list the repository '" + root + "': " + ec.message());
  return scan;
}

Expected<RepositoryScan> demo_repository(const std::string& demo_dir, const ModelDefaults& defaults) {
  std::error_code ec;
  const fs::path dir = fs::canonical(demo_dir, ec);
  if (ec || !fs::exists(dir / "unet.onnx"))
    return not_found("no demo models in '" + demo_dir + "' (expected unet.onnx and <class>.safetensors files)");
  RepositoryScan scan;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".safetensors") continue;
    ModelConfig c;
    c.name = entry.path().stem().string();
    c.folder = dir.string();
    c.spec.model = (dir / "unet.onnx").string();
    c.spec.weights = entry.path().string();
    c.precision = defaults.precision;
    c.conv = defaults.conv;
    c.model_file = c.spec.model;
    c.weights_file = c.spec.weights;
    c.platform = "kiln_onnx";
    scan.models.emplace(c.name, std::move(c));
  }
  if (scan.models.empty()) return not_found("no demo weights (.safetensors) in '" + demo_dir + "'");
  return scan;
}

}  // namespace kiln::serve
