#include "import/keras/hdf5.h"

#include <filesystem>
#include <new>

namespace kiln::keras_import {

namespace {

std::mutex& h5_mutex() {
  static std::mutex m;
  return m;
}

// The innermost message on HDF5's error stack (where the problem was detected), then clears
// the stack so the next failure starts clean.
std::string h5_detail() {
  std::string detail;
  auto walk = [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
    auto* s = static_cast<std::string*>(out);
    if (s->empty() && e && e->desc && *e->desc) *s = e->desc;
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk, &detail);
  H5Eclear2(H5E_DEFAULT);
  return detail.empty() ? std::string() : " (HDF5: " + detail + ")";
}

Status h5_fail(const std::string& where, const std::string& what) {
  return invalid_model("'" + where + "': " + what + h5_detail());
}

// Largest dataset kiln reads: far above any image model's tensor, low enough that a corrupt
// size field fails here rather than in the allocator.
constexpr int64_t kMaxElements = int64_t{1} << 32;

}  // namespace

H5Session::H5Session() : lock_(h5_mutex()) {
  H5Eget_auto2(H5E_DEFAULT, &old_func_, &old_data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

H5Session::~H5Session() {
  H5Eclear2(H5E_DEFAULT);
  H5Eset_auto2(H5E_DEFAULT, old_func_, old_data_);  // leave the application's setting as it was
}

H5Id& H5Id::operator=(H5Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void H5Id::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = H5I_INVALID_HID;
}

Expected<H5Id> h5_open_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found("'" + path + "': no such file");
  if (!std::filesystem::is_regular_file(path, ec)) return io_error("'" + path + "' is not a regular file");
  htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 == 0) {
    H5Eclear2(H5E_DEFAULT);
    return invalid_model("'" + path + "' is not an HDF5 file (a Keras .h5 file is)");
  }
  if (is_h5 < 0) return h5_fail(path, "cannot read the file as HDF5");
  // Keep HDF5's shared read lock, but do not fail where the file system has no locks
  // (network and read-only mounts).
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (fapl.valid()) H5Pset_file_locking(fapl.get(), true, true);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.valid() ? fapl.get() : H5P_DEFAULT);
  if (f < 0) return h5_fail(path, "cannot open the HDF5 file (corrupt or truncated?)");
  return H5Id(f, H5Fclose);
}

bool h5_has_link(hid_t group, const std::string& name) {
  htri_t r = H5Lexists(group, name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

Expected<H5Id> h5_open_group(hid_t parent, const std::string& name, const std::string& where) {
  hid_t g = H5Gopen2(parent, name.c_str(), H5P_DEFAULT);
  if (g < 0) return h5_fail(where, "cannot open the group '" + name + "'");
  return H5Id(g, H5Gclose);
}

bool h5_has_attr(hid_t obj, const std::string& name) {
  htri_t r = H5Aexists(obj, name.c_str());
  H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

Expected<std::vector<std::string>> h5_read_strings(hid_t obj, const std::string& name, const std::string& where) {
  H5Id attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) return h5_fail(where, "cannot open the attribute '" + name + "'");
  H5Id type(H5Aget_type(attr.get()), H5Tclose);
  H5Id space(H5Aget_space(attr.get()), H5Sclose);
  if (!type.valid() || !space.valid()) return h5_fail(where, "cannot read the attribute '" + name + "'");
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0 || n > (int64_t{1} << 24)) return h5_fail(where, "the attribute '" + name + "' has a bad size");
  std::vector<std::string> out;
  if (H5Tget_class(type.get()) != H5T_STRING) {
    if (n == 0) return out;  // h5py stores an empty list as an empty float array
    return invalid_model("'" + where + "': the attribute '" + name + "' is not a string");
  }
  try {
    if (H5Tis_variable_str(type.get()) > 0) {
      H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      std::vector<char*> buf(static_cast<size_t>(n), nullptr);
      if (H5Aread(attr.get(), mem.get(), buf.data()) < 0)
        return h5_fail(where, "cannot read the attribute '" + name + "'");
      for (char* s : buf) out.emplace_back(s ? s : "");
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, buf.data());
      return out;
    }
    size_t size = H5Tget_size(type.get());
    if (size == 0) return h5_fail(where, "the attribute '" + name + "' has a bad string size");
    std::vector<char> buf(size * static_cast<size_t>(n));
    if (n > 0 && H5Aread(attr.get(), type.get(), buf.data()) < 0)
      return h5_fail(where, "cannot read the attribute '" + name + "'");
    for (hssize_t i = 0; i < n; ++i) {
      const char* s = buf.data() + static_cast<size_t>(i) * size;
      size_t len = 0;
      while (len < size && s[len] != '\0') ++len;  // fixed-length strings are NUL-padded
      out.emplace_back(s, len);
    }
    return out;
  } catch (const std::bad_alloc&) {
    return invalid_model("'" + where + "': the attribute '" + name + "' is too large to read");
  }
}

Expected<Tensor> h5_read_tensor(hid_t parent, const std::string& name, const std::string& where) {
  H5Id ds(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) return h5_fail(where, "cannot open the dataset '" + name + "'");
  H5Id type(H5Dget_type(ds.get()), H5Tclose);
  H5Id space(H5Dget_space(ds.get()), H5Sclose);
  if (!type.valid() || !space.valid()) return h5_fail(where, "cannot read the dataset '" + name + "'");
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    return unsupported("'" + where + "': the dataset '" + name + "' is not numeric");
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > 8) return h5_fail(where, "the dataset '" + name + "' has a bad rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
    return h5_fail(where, "cannot read the shape of the dataset '" + name + "'");
  Shape shape;
  int64_t elements = 1;
  for (hsize_t d : dims) {
    if (d > static_cast<hsize_t>(kMaxElements) || elements * static_cast<int64_t>(d) > kMaxElements)
      return invalid_model("'" + where + "': the dataset '" + name + "' is implausibly large");
    shape.push_back(static_cast<int64_t>(d));
    elements *= static_cast<int64_t>(d);
  }
  try {
    Tensor t = Tensor::zeros(DType::kF32, shape);
    if (elements > 0 && H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()) < 0)
      return h5_fail(where, "cannot read the dataset '" + name + "' (corrupt or truncated file?)");
    return t;
  } catch (const std::bad_alloc&) {
    return invalid_model("'" + where + "': the dataset '" + name + "' is too large to read");
  }
}

}  // namespace kiln::keras_import
