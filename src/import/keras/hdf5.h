// The little of HDF5 the Keras importer reads: groups, string attributes (fixed or
// variable length, scalar or 1-D) and numeric datasets read as float32. Handles close
// themselves; nothing throws or aborts. Every call must run inside an H5Session, which
// serialises HDF5 use (builds without thread safety exist) and keeps HDF5 from printing
// its error stack to stderr: failures come back as Status values instead, with HDF5's own
// innermost message ("truncated file: eof = ...") attached.
//
//   H5Session session;
//   KILN_ASSIGN_OR_RETURN(H5Id file, h5_open_file(path));
//   KILN_ASSIGN_OR_RETURN(H5Id g, h5_open_group(file.get(), "model_weights", path));
//   KILN_ASSIGN_OR_RETURN(std::vector<std::string> names, h5_read_strings(g.get(), "layer_names", path));
#pragma once

#include <hdf5.h>

#include <mutex>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "core/status_macros.h"
#include "kiln/tensor.h"

namespace kiln::keras_import {

class H5Session {
 public:
  H5Session();
  ~H5Session();
  H5Session(const H5Session&) = delete;
  H5Session& operator=(const H5Session&) = delete;

 private:
  std::unique_lock<std::mutex> lock_;
  H5E_auto2_t old_func_ = nullptr;
  void* old_data_ = nullptr;
};

// An owned HDF5 identifier, closed with the function that matches its kind.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;
  H5Id(hid_t id, Closer close) : id_(id), close_(close) {}
  H5Id(H5Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  H5Id& operator=(H5Id&& o) noexcept;
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// `where` (the file's path) prefixes every error message.
Expected<H5Id> h5_open_file(const std::string& path);
Expected<H5Id> h5_open_group(hid_t parent, const std::string& name, const std::string& where);
bool h5_has_attr(hid_t obj, const std::string& name);
bool h5_has_link(hid_t group, const std::string& name);
// A string attribute as a list (a scalar gives one element); trailing NULs are trimmed.
// An empty numeric array (what h5py writes for an empty list) reads as no strings.
Expected<std::vector<std::string>> h5_read_strings(hid_t obj, const std::string& name, const std::string& where);
// A dataset of any integer or floating type, converted to float32 by HDF5.
Expected<Tensor> h5_read_tensor(hid_t parent, const std::string& name, const std::string& where);

}  // namespace kiln::keras_import
