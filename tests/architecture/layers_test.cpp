// The layering rule of docs/architecture.md, held against the code: every #include in src/
// crosses only into layers its row allows, the table has no loop, and plans are compiled and
// weights packed only through the one prepare pipeline (engine/prepare.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
const fs::path kRoot = KILN_SOURCE_DIR;

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> split_list(const std::string& cell) {
  std::vector<std::string> out;
  std::stringstream ss(cell);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// layer -> the layers it may include, from the table under "## The rule".
std::map<std::string, std::set<std::string>> read_rule() {
  std::map<std::string, std::set<std::string>> rule;
  std::stringstream doc(read_text(kRoot / "docs/architecture.md"));
  std::string line;
  bool in_section = false;
  while (std::getline(doc, line)) {
    if (line.starts_with("## ")) in_section = line == "## The rule";
    if (!in_section || !line.starts_with("| ") || line.starts_with("| layer") || line.starts_with("|---")) continue;
    std::vector<std::string> cells;
    std::stringstream row(line.substr(1));
    std::string cell;
    while (std::getline(row, cell, '|')) cells.push_back(cell);
    if (cells.size() < 3) continue;
    auto layer = split_list(cells[0]);
    auto allowed = split_list(cells[2]);
    if (layer.size() == 1) rule[layer[0]] = std::set<std::string>(allowed.begin(), allowed.end());
  }
  return rule;
}

// Source text without comments and string literals (examples in header comments and
// messages name functions freely).
std::string code_of(const fs::path& p) {
  const std::string text = read_text(p);
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "//") == 0) {
      i = text.find('\n', i);
      if (i == std::string::npos) break;
    } else if (text.compare(i, 2, "/*") == 0) {
      i = text.find("*/", i);
      if (i == std::string::npos) break;
      ++i;
      continue;
    } else if (text[i] == '"' || text[i] == '\'') {
      const char quote = text[i];
      for (++i; i < text.size() && text[i] != quote; ++i)
        if (text[i] == '\\') ++i;
      out += "\"\"";
      continue;
    }
    out += text[i];
  }
  return out;
}

std::vector<fs::path> sources() {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "src"))
    if (e.is_regular_file() && (e.path().extension() == ".cpp" || e.path().extension() == ".h")) files.push_back(e.path());
  return files;
}

std::string layer_of(const fs::path& file) { return fs::relative(file, kRoot / "src").begin()->string(); }

TEST(Architecture, TheRuleNamesEveryLayerAndHasNoLoop) {
  auto rule = read_rule();
  ASSERT_GE(rule.size(), 10u) << "docs/architecture.md has no readable '## The rule' table";
  for (const auto& e : fs::directory_iterator(kRoot / "src"))
    if (e.is_directory()) EXPECT_TRUE(rule.count(e.path().filename().string())) << "src/" << e.path().filename().string()
                                                                                  << "/ is not in docs/architecture.md";
  // Depth-first search for a cycle in "may include".
  std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<bool(const std::string&)> loops = [&](const std::string& l) {
    if (state[l] == 1) {
      path.push_back(l);
      return true;
    }
    if (state[l] == 2) return false;
    state[l] = 1;
    path.push_back(l);
    for (const std::string& next : rule[l])
      if (loops(next)) return true;
    path.pop_back();
    state[l] = 2;
    return false;
  };
  for (const auto& [layer, allowed] : rule) {
    for (const std::string& a : allowed) EXPECT_TRUE(rule.count(a)) << layer << " may include '" << a << "', not a layer";
    path.clear();
    if (loops(layer)) {
      std::string p;
      for (const std::string& l : path) p += l + " -> ";
      ADD_FAILURE() << "the rule has a loop: " << p;
      break;
    }
  }
}

TEST(Architecture, EveryIncludeCrossesOnlyIntoAllowedLayers) {
  auto rule = read_rule();
  ASSERT_FALSE(rule.empty());
  const std::regex include(R"(^\s*#\s*include\s+"([^"/]+)/[^"]*")");
  int checked = 0;
  for (const fs::path& file : sources()) {
    const std::string layer = layer_of(file);
    std::stringstream in(read_text(file));
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      std::smatch m;
      if (!std::regex_search(line, m, include)) continue;
      const std::string target = m[1];
      ++checked;
      if (target == layer || target == "kiln") continue;  // itself, the public API
      const bool is_layer = rule.count(target) > 0;
      // The command line includes nothing but the public headers and its own.
      if (layer == "cli" || (is_layer && !rule[layer].count(target)))
        ADD_FAILURE() << fs::relative(file, kRoot).string() << ":" << n << " includes " << target << "/ ("
                      << line << "), which docs/architecture.md does not allow " << layer << "/";
    }
  }
  EXPECT_GT(checked, 200) << "found too few #include lines: is KILN_SOURCE_DIR right?";
}

// Where each step of preparing a model may be called from: its own layer, and the pipeline.
TEST(Architecture, PlansAreCompiledAndWeightsPackedOnlyByThePipeline) {
  struct Call {
    std::regex pattern;
    std::string what;
    std::vector<std::string> allowed;  // path prefixes under src/
  };
  const std::vector<Call> calls = {
      {std::regex(R"(\bcompile_plan\s*\()"), "compile_plan", {"ops/compile.", "engine/prepare.cpp"}},
      {std::regex(R"(\bpack_cached\s*\()"), "pack_cached", {"weights/", "engine/prepare.cpp"}},
      {std::regex(R"((^|[^_\w:.>])pack\s*\()"), "pack", {"weights/"}},
      {std::regex(R"(\bread_graph\s*\()"), "read_graph", {"import/", "engine/prepare.cpp"}},
      {std::regex(R"(\bimport_model\s*\()"), "import_model", {"import/"}},
      {std::regex(R"((^|[^_\w])optimize\s*\()"), "optimize", {"optimize/", "import/import_model.cpp"}},
      // Other layers evaluate ops through the reference kernels' one entry, reference::run.
      {std::regex(R"(reference::(?!run\b)\w+\s*\()"), "a reference kernel other than reference::run", {"reference/"}},
  };
  int found = 0;
  for (const fs::path& file : sources()) {
    const std::string rel = fs::relative(file, kRoot / "src").string();
    const std::string code = code_of(file);
    for (const Call& c : calls) {
      if (!std::regex_search(code, c.pattern)) continue;
      ++found;
      bool ok = false;
      std::string who;
      for (const std::string& a : c.allowed) {
        ok = ok || rel.starts_with(a);
        who += (who.empty() ? "src/" : ", src/") + a;
      }
      EXPECT_TRUE(ok) << "src/" << rel << " calls " << c.what << "(): only " << who
                      << " may (docs/architecture.md, 'One way through')";
    }
  }
  EXPECT_GE(found, 6) << "the patterns found fewer call sites than exist: the test is not looking";
}

}  // namespace
