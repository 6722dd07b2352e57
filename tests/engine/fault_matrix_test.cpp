// The fault matrix: every kind of file the engine reads (ONNX model, safetensors weights,
// weight pack) damaged in each of its parts (header, tensor table, data) by truncation and by
// a flipped bit, given to an engine that is already serving. Each must end in an error that
// names the file, except a flipped bit in the data of a format without a checksum over its
// data (ONNX, safetensors), which loads as other weights: the matrix says so. Whatever
// happens, the model already served answers exactly as before. Also: a pack-cache write that
// fails (a file-size limit) and a cache left with a half-written entry by a killed process.
// RELIABILITY.md carries the printed matrix.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "core/mapped_file.h"
#include "graph/graph.h"
#include "import/import.h"
#include "import/safetensors.h"
#include "kiln/engine.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

const std::string kModel = "tests/fixtures/unet/w4_64x64/model.onnx";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct Region {
  const char* name;
  size_t begin, end;  // byte range of the file
};

// Where each format's parts lie in these files. `weights`: the model's raw weights, to find
// where an ONNX file keeps their bytes.
std::vector<Region> regions_of(const std::string& kind, const std::string& bytes, const RawWeights& weights) {
  const size_t n = bytes.size();
  if (kind == "safetensors") {
    uint64_t header = 0;
    std::memcpy(&header, bytes.data(), 8);
    return {{"header", 0, 8}, {"table", 8, 8 + header}, {"data", 8 + header, n}};
  }
  if (kind == "pack") {
    // A 128-byte header, the slot table after it, the data from a 2 MiB boundary (pack_file.h).
    return {{"header", 0, 128}, {"table", 128, 160}, {"data", size_t{2} << 20, n}};
  }
  // ONNX: the model's opening fields, the graph's nodes, then the initializers' bytes (found
  // by the largest initializer's contents; the inputs and outputs follow them).
  const Tensor* largest = nullptr;
  for (const auto& [name, t] : weights.tensors)
    if (!largest || t.bytes() > largest->bytes()) largest = &t;
  const std::string needle(static_cast<const char*>(largest->raw()), std::min<size_t>(largest->bytes(), 256));
  const size_t at = bytes.find(needle);
  if (at == std::string::npos) return {};
  return {{"header", 0, 16}, {"table", 16, std::min<size_t>(at, 2048)}, {"data", at, at + largest->bytes()}};
}

struct Served {
  Engine engine;
  Tensor input, reference;
};

class FaultMatrix : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per process: ctest runs this suite's tests two at a time, and each SetUp
    // empties its folder (a shared one failed the fresh-machine run).
    dir_ = fs::path(::testing::TempDir()) / ("kiln_fault_matrix_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    model_ = testing::source_path(kModel);
    ASSERT_TRUE(s_.engine.load("served", LoadSpec{model_}));
    ASSERT_TRUE(s_.engine.wait_ready("served", std::chrono::minutes(2)));
    s_.input = Tensor::zeros(DType::kF32, {1, 1, 64, 64});
    for (int64_t i = 0; i < s_.input.elements(); ++i) s_.input.data<float>()[i] = static_cast<float>((i * 37) % 101) / 100.0f;
    auto out = s_.engine.run("served", {s_.input});
    ASSERT_TRUE(out);
    s_.reference = (*out)[0].clone();
    // The same weights as safetensors (by initializer name) and as a weight pack.
    auto imported = import_onnx(model_, {});
    ASSERT_TRUE(imported);
    ASSERT_TRUE(write_safetensors((dir_ / "w.safetensors").string(), imported->weights));
    ASSERT_TRUE(s_.engine.export_pack("served", (dir_ / "w.kwp").string()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  void expect_served_unchanged(const std::string& after) {
    auto out = s_.engine.run("served", {s_.input});
    ASSERT_TRUE(out) << "after " << after << ": " << out.error().message();
    EXPECT_EQ(testing::max_abs_diff((*out)[0], s_.reference), 0.0) << "the served model changed after " << after;
  }

  fs::path dir_;
  std::string model_;
  Served s_;
};

TEST_F(FaultMatrix, EveryDamagedFileEndsInAClearErrorAndTheServedModelIsUntouched) {
  struct Kind {
    std::string name, source;
    bool checksummed;
  };
  auto imported = import_onnx(model_, {});
  ASSERT_TRUE(imported);
  const std::vector<Kind> kinds = {{"onnx", model_, false},
                                   {"safetensors", (dir_ / "w.safetensors").string(), false},
                                   {"pack", (dir_ / "w.kwp").string(), true}};
  int cases = 0, errors = 0, other_weights = 0;
  for (const Kind& k : kinds) {
    const std::string good = read_file(k.source);
    ASSERT_GT(good.size(), 4096u) << k.name;
    const std::vector<Region> regions = regions_of(k.name, good, imported->weights);
    ASSERT_EQ(regions.size(), 3u) << k.name;
    for (const Region& r : regions) {
      ASSERT_LT(r.begin, r.end) << k.name << " " << r.name;
      for (const char* fault : {"truncated", "bit flipped"}) {
        const size_t at = r.begin + (r.end - r.begin) / 2;
        std::string bad = good;
        if (std::string(fault) == "truncated") bad.resize(at);
        else bad[at] = static_cast<char>(bad[at] ^ 0x10);
        const std::string ext = k.name == "onnx" ? ".onnx" : k.name == "pack" ? ".kwp" : ".safetensors";
        const std::string path = (dir_ / (k.name + "_" + r.name + "_" + (fault[0] == 't' ? "cut" : "flip") + ext)).string();
        write_file(path, bad);
        Status s = Status::ok();
        if (k.name == "onnx") {
          // A new model from the damaged file, beside the served one.
          const std::string name = "m" + std::to_string(cases);
          EXPECT_TRUE(s_.engine.load(name, LoadSpec{path}));
          s = s_.engine.wait_ready(name, std::chrono::minutes(2));
          s_.engine.unload(name);
        } else {
          // A hot swap of the served model's weights.
          s = s_.engine.load_weights("served", path);
        }
        ++cases;
        std::string outcome;
        if (!s) {
          ++errors;
          outcome = "error: " + s.message();
          EXPECT_NE(s.message().find(fs::path(path).filename().string()), std::string::npos)
              << "the error does not name the file: " << s.message();
        } else {
          // Only a format without a checksum can be damaged unnoticed, and only by a flipped
          // bit (a cut file is always short): it loads as another valid file (other weights,
          // another name).
          ++other_weights;
          outcome = "loaded as another valid file (the format has no checksum)";
          EXPECT_FALSE(k.checksummed) << k.name << " " << r.name << " " << fault << " was accepted";
          EXPECT_STREQ(fault, "bit flipped") << k.name << " " << r.name << ": a truncated file was accepted";
          if (k.name != "onnx") ASSERT_TRUE(s_.engine.load_weights("served", k.source));  // back to the good ones
        }
        std::printf("[fault] %-12s %-7s %-12s -> %s\n", k.name.c_str(), r.name, fault, outcome.substr(0, 150).c_str());
        expect_served_unchanged(k.name + " " + r.name + " " + fault);
      }
    }
  }
  std::printf("[fault] %d cases: %d clear errors, %d loaded as other weights\n", cases, errors, other_weights);
  EXPECT_EQ(cases, 18);
}

// A file that changes while the engine reads it: cut short in place (its mapped pages past
// the cut would raise SIGBUS and kill the process), rewritten in place, deleted. The change is
// made right after the file is mapped and before any of it is read (the map hook), as another
// process writing it at that moment would. Each ends in an error that names the file and says
// why; the process lives on and the served model answers as before.
TEST_F(FaultMatrix, AFileChangedWhileItIsReadIsNotUsed) {
  const std::string weights = (dir_ / "w.safetensors").string();
  const std::string good = read_file(weights);
  const std::string model_copy = (dir_ / "model.onnx").string();
  write_file(model_copy, read_file(model_));
  struct Change {
    const char* name;
    std::function<void(const std::string&)> apply;
  };
  const std::vector<Change> changes = {
      {"truncated in place", [](const std::string& p) { ASSERT_EQ(truncate(p.c_str(), 4096), 0); }},
      {"rewritten in place",
       [](const std::string& p) {
         const int fd = open(p.c_str(), O_WRONLY);
         const std::string junk(8192, '\x5a');
         ASSERT_EQ(pwrite(fd, junk.data(), junk.size(), 1 << 16), static_cast<ssize_t>(junk.size()));
         close(fd);
       }},
      {"deleted", [](const std::string& p) { ASSERT_EQ(unlink(p.c_str()), 0); }},
  };
  const uint64_t zero_pages_before = truncated_pages_read();
  for (const std::string& target : {weights, model_copy}) {
    for (const Change& c : changes) {
      write_file(target, target == weights ? good : read_file(model_));
      // Written well before it is read (timestamps are kept to a few milliseconds).
      fs::last_write_time(target, fs::file_time_type::clock::now() - std::chrono::hours(1));
      bool changed = false;
      set_after_map_hook([&](const std::string& path) {
        if (path != target || changed) return;
        changed = true;
        c.apply(path);
      });
      Status s = Status::ok();
      if (target == weights) {
        s = s_.engine.load_weights("served", target);
      } else {
        EXPECT_TRUE(s_.engine.load("changing", LoadSpec{target}));
        s = s_.engine.wait_ready("changing", std::chrono::minutes(2));
        s_.engine.unload("changing");
      }
      set_after_map_hook(nullptr);
      EXPECT_TRUE(changed) << "the file was never mapped";
      ASSERT_FALSE(s) << fs::path(target).filename() << " " << c.name << " while read was used";
      std::printf("[fault] %-12s %-19s while read -> error: %s\n", fs::path(target).filename().c_str(), c.name,
                  s.message().substr(0, 150).c_str());
      EXPECT_NE(s.message().find(fs::path(target).filename().string()), std::string::npos) << s.message();
      expect_served_unchanged(std::string(c.name) + " while read");
    }
  }
  EXPECT_GT(truncated_pages_read(), zero_pages_before) << "the cut files' lost pages were read (as zeros)";
}

// The pack cache cannot be written (a file-size limit, as a full disk would): the run still
// succeeds from the weights packed in memory, no broken entry is left, and a later start
// without the limit writes the cache and uses it.
TEST_F(FaultMatrix, APackCacheThatCannotBeWrittenCostsOnlyTheCache) {
  const fs::path cache = dir_ / "cache";
  fs::create_directories(cache);
  const std::string input = (dir_ / "x.npy").string();
  ASSERT_TRUE(write_npy(input, s_.input));
  // SIGXFSZ ignored (inherited through exec), so that the write fails with EFBIG instead.
  std::string cmd = "sh -c 'trap \"\" XFSZ; ulimit -f 64; exec \"$0\" run \"$1\" --input \"$2\" --cache-dir \"$3\"' " +
                    std::string(KILN_CLI_PATH) + " " + model_ + " " + input + " " + cache.string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
  EXPECT_NE(out.find("output"), std::string::npos) << out;
  for (const auto& e : fs::directory_iterator(cache))
    if (e.path().extension() == ".kwp") ADD_FAILURE() << "a cache entry was left by the failed write: " << e.path();
  // Without the limit: written, then used.
  auto first = testing::run_cli("run " + model_ + " --input " + input + " --cache-dir " + cache.string());
  ASSERT_EQ(first.code, 0) << first.output;
  auto second = testing::run_cli("run " + model_ + " --input " + input + " --cache-dir " + cache.string());
  ASSERT_EQ(second.code, 0) << second.output;
  EXPECT_NE(second.output.find("mapped from a weight pack"), std::string::npos) << second.output;
}

// A process killed while writing the cache leaves at most its temporary file, and an entry
// cut short under the final name (a writer that did not rename atomically, a disk error) is
// detected and rebuilt: the next start still computes the right output.
TEST_F(FaultMatrix, AHalfWrittenCacheEntryIsRebuilt) {
  const fs::path cache = dir_ / "cache";
  const std::string input = (dir_ / "x.npy").string();
  ASSERT_TRUE(write_npy(input, s_.input));
  auto fill = testing::run_cli("run " + model_ + " --input " + input + " --cache-dir " + cache.string());
  ASSERT_EQ(fill.code, 0) << fill.output;
  fs::path entry;
  for (const auto& e : fs::directory_iterator(cache))
    if (e.path().extension() == ".kwp") entry = e.path();
  ASSERT_FALSE(entry.empty());
  const std::string whole = read_file(entry.string());
  write_file(entry.string(), whole.substr(0, whole.size() / 3));
  write_file(entry.string() + ".tmp12345", whole.substr(0, 1000));  // a killed writer's leftover
  const std::string out_npy = (dir_ / "y.npy").string();
  auto again = testing::run_cli("run " + model_ + " --input " + input + " --cache-dir " + cache.string() + " --output " + out_npy);
  ASSERT_EQ(again.code, 0) << again.output;
  auto y = read_npy(out_npy);
  ASSERT_TRUE(y);
  EXPECT_LT(testing::max_abs_diff(*y, s_.reference), 1e-6);
  EXPECT_EQ(read_file(entry.string()).size(), whole.size()) << "the damaged entry was not rebuilt";
}

}  // namespace
}  // namespace kiln
