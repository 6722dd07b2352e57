// The model repository `kiln serve` serves: one folder per model.
//
//   repository/
//     leather/            a folder is a model; its name is the model's name
//       config.json       optional: {"model": "../_shared/unet.onnx", "weights": "leather.safetensors",
//                         "tile": 256}   (see README "kiln serve")
//       leather.safetensors
//     bottle/
//       model.onnx        no config.json: the folder's one model file (.onnx, .pb, .pbtxt, .h5)
//     _shared/            folders starting with '_' or '.' are not models (files several models use)
//       unet.onnx
//
//   kiln::serve::RepositoryScan scan = kiln::serve::scan_repository("repository", defaults);
//   for (auto& [name, config] : scan.models) if (!config) log(config.error().message());
//
// Every path a config names is relative to its model's folder and must stay inside the
// repository once symlinks are resolved: absolute paths, '..' and links that leave it are
// refused with a message naming the path.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kiln/compile_options.h"
#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln::serve {

// What a model folder does not say: the server's command-line defaults.
struct ModelDefaults {
  Precision precision = Precision::kF32;
  ConvAlgorithm conv = ConvAlgorithm::kDirect;
};

struct ModelConfig {
  std::string name;
  std::string folder;  // canonical
  LoadSpec spec;       // paths canonical, inside the repository
  Precision precision = Precision::kF32;
  ConvAlgorithm conv = ConvAlgorithm::kDirect;
  // Images sent to /kiln/v1/models/{m}/segment: scores >= threshold are defects, regions of
  // at least min_area pixels are reported, and images larger than the loaded input size go
  // through tiles of that size overlapping by `overlap` pixels.
  float threshold = 0.5f;
  int64_t min_area = 12;
  int64_t overlap = 128;
  std::string platform;  // "kiln_onnx", "kiln_tensorflow_graphdef", "kiln_keras_hdf5"
  // The files whose change --poll-repository acts on: the weights (swapped in place) and
  // the model file and config (the model is prepared again).
  std::string weights_file, model_file, config_file;
};

// A model name as the URL and the folder spell it: letters, digits, '_', '-', '.', not
// starting with '.', '-' or '_', at most 128 characters.
Status check_model_name(const std::string& name);

// One folder of the repository, read as the model named `name`.
Expected<ModelConfig> read_model(const std::string& root, const std::string& name, const ModelDefaults& defaults);

// A model on its own, outside any repository: a folder read as a repository's model folder
// whose config.json may name only files inside it (KServe's /mnt/models, the path ModelMesh
// gives a model), or a model file.
Expected<ModelConfig> read_model_at(const std::string& path, const std::string& name, const ModelDefaults& defaults);

struct RepositoryScan {
  std::map<std::string, Expected<ModelConfig>> models;  // by name; a bad folder is an error, not an absence
};
Expected<RepositoryScan> scan_repository(const std::string& root, const ModelDefaults& defaults);

// The six demo models (kiln demo's: one unet.onnx, a .safetensors per surface class) as a
// repository in memory.
Expected<RepositoryScan> demo_repository(const std::string& demo_dir, const ModelDefaults& defaults);

}  // namespace kiln::serve
