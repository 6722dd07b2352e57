// Reading a frozen GraphDef file, binary (.pb) or text (.pbtxt), and the importer's entry point.
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <fstream>
#include <new>
#include <sstream>
#include <utility>

#include "import/tf/importer.h"
#include "import/tf/parsed_model.h"

namespace kiln {

namespace {

// Keeps the first text-format error with its position, for the message.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (text.empty()) text = "line " + std::to_string(line + 1) + ", column " + std::to_string(column + 1) + ": " + message;
  }
  std::string text;
};

// The deepest nesting of { [ < in text-format protobuf, outside strings and comments, and the
// line where it is first reached. protobuf's parser skips unknown fields (which kiln allows) by
// recursing once per level with no limit of its own: fuzzing found 30,000 '[' overflowing the
// stack.
std::pair<int, int> text_nesting_depth(const std::string& text) {
  int depth = 0, deepest = 0, line = 1, deepest_line = 1;
  char quote = 0;
  bool comment = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      comment = false;
      quote = 0;  // text-format strings do not span lines
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') quote = c;
    else if (c == '#') comment = true;
    else if (c == '{' || c == '[' || c == '<') {
      if (++depth > deepest) deepest = depth, deepest_line = line;
    } else if (c == '}' || c == ']' || c == '>') {
      depth = std::max(0, depth - 1);
    }
  }
  return {deepest, deepest_line};
}

Expected<tf::GraphDef> read_graphdef(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return io_error("cannot read '" + path + "'");
  std::string bytes = std::move(ss).str();
  if (bytes.empty()) return invalid_model("'" + path + "' is empty");
  tf::GraphDef g;
  if (path.ends_with(".pbtxt")) {
    // A GraphDef nests a handful of levels (node, attr, value, list, shape, dim).
    constexpr int kMaxNesting = 100;
    if (const auto [depth, line] = text_nesting_depth(bytes); depth > kMaxNesting)
      return invalid_model("'" + path + "' is not a valid text-format TensorFlow GraphDef: its values nest more than " +
                           std::to_string(kMaxNesting) + " levels deep (line " + std::to_string(line) + ")");
    google::protobuf::TextFormat::Parser parser;
    FirstError errors;
    parser.RecordErrorsTo(&errors);
    // Fields kiln's schema leaves out (function library, debug info) are skipped, as in binary.
    parser.AllowUnknownField(true);
    parser.AllowUnknownExtension(true);
    if (!parser.ParseFromString(bytes, &g))
      return invalid_model("'" + path + "' is not a valid text-format TensorFlow GraphDef: " + errors.text);
    return g;
  }
  if (!g.ParseFromString(bytes))
    return invalid_model("'" + path + "' is not a valid TensorFlow GraphDef: the protobuf does not parse (the file "
                         "is truncated, corrupt, or not a frozen graph)");
  return g;
}

}  // namespace

namespace {

// Nothing here throws by design; a corrupt file can still claim a constant too large to
// allocate, and that must come back as an error, not escape.
template <typename F>
Expected<ImportedModel> without_exceptions(const std::string& path, F&& import) {
  try {
    return import();
  } catch (const std::bad_alloc&) {
    return invalid_model("'" + path + "': a tensor in the graph is too large to allocate (corrupt file?)");
  } catch (const std::exception& e) {
    return internal_error("'" + path + "': " + e.what());
  }
}

Expected<ImportedModel> import_parsed(const tf::GraphDef& g, const std::string& path, const ImportOptions& options) {
  tf_import::Importer imp(g, options);
  auto m = imp.run();
  if (!m) return m.error().with_context("'" + path + "'");
  return m;
}

}  // namespace

Expected<ImportedModel> import_tf_graphdef(const std::string& path, const ImportOptions& options) {
  return without_exceptions(path, [&]() -> Expected<ImportedModel> {
    auto g = read_graphdef(path);
    if (!g) return g.error();
    return import_parsed(*g, path, options);
  });
}

Expected<ImportedModel> import_tf_graphdef(const ParsedModel& parsed, const std::string& path,
                                           const ImportOptions& options) {
  return without_exceptions(path, [&] { return import_parsed(parsed.graphdef, path, options); });
}

}  // namespace kiln
