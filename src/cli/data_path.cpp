// Where the kiln binary finds the files it ships with (demo models, the viewer): in the
// working directory when run from the source tree, else where `cmake --install` (or the
// .deb) put them, <prefix>/share/kiln, found from the binary's own path.
#include <filesystem>

#include "cli/commands.h"

namespace kiln::cli {

std::string data_path(const std::string& relative, const std::string& marker) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(fs::path(relative) / marker, ec)) return relative;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "kiln" / relative;
    if (fs::exists(installed / marker, ec)) return installed.string();
  }
  return "";
}

}  // namespace kiln::cli
