// oneDNN memory-descriptor helpers: dims, plain tags, and recognising layouts.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "kiln/tensor.h"

namespace kiln {

using md_t = dnnl::memory::desc;
using tag = dnnl::memory::format_tag;

dnnl::memory::dims to_dims(const Shape& s);
// Row-major (plain) tag for a rank: a, ab, abc, abcd, ...
tag plain_tag(size_t rank);
md_t plain_md(const Shape& s);
md_t any_md(const Shape& s, dnnl::memory::data_type dt = dnnl::memory::data_type::f32);
bool is_plain(const md_t& md);
// Channel block size of an NCHW layout that stores channel blocks contiguously
// (abcd -> 1, aBcd8b -> 8, aBcd16b -> 16), or 0 for any other layout.
int channel_block(const md_t& md);
std::string md_to_string(const md_t& md);

}  // namespace kiln
