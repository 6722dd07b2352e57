#include "plan/layout.h"

#include <sstream>

#include "exec/plan.h"

namespace kiln {

dnnl::memory::dims to_dims(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }

tag plain_tag(size_t rank) {
  switch (rank) {
    case 0:
    case 1: return tag::a;
    case 2: return tag::ab;
    case 3: return tag::abc;
    case 4: return tag::abcd;
    case 5: return tag::abcde;
    case 6: return tag::abcdef;
    case 7: return tag::abcdefg;  // ranks above 6: Tile's and DepthToSpace's interleaved axes
    case 8: return tag::abcdefgh;
    case 9: return tag::abcdefghi;
    case 10: return tag::abcdefghij;
    case 11: return tag::abcdefghijk;
    case 12: return tag::abcdefghijkl;
    default: return tag::undef;
  }
}

md_t plain_md(const Shape& s) {
  if (s.empty()) return md_t({1}, dnnl::memory::data_type::f32, tag::a);
  return md_t(to_dims(s), dnnl::memory::data_type::f32, plain_tag(s.size()));
}

md_t any_md(const Shape& s, dnnl::memory::data_type dt) { return md_t(to_dims(s), dt, tag::any); }

bool is_plain(const md_t& md) {
  auto dims = md.dims();
  if (dims.empty()) return true;
  return md == md_t(dims, md.data_type(), plain_tag(dims.size()));
}

int channel_block(const md_t& md) {
  auto dims = md.dims();
  if (dims.size() != 4) return 0;
  if (md == md_t(dims, md.data_type(), tag::abcd)) return 1;
  if (md == md_t(dims, md.data_type(), tag::aBcd8b)) return 8;
  if (md == md_t(dims, md.data_type(), tag::aBcd16b)) return 16;
  return 0;
}

std::string md_to_string(const md_t& md) {
  std::ostringstream os;
  auto dims = md.dims();
  os << '[';
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? "," : "") << dims[i];
  os << ']';
  int b = channel_block(md);
  if (b == 1) os << " nchw";
  else if (b) os << " nChw" << b << "c";
  else if (is_plain(md)) os << " plain";
  else os << " blocked";
  return os.str();
}

}  // namespace kiln
