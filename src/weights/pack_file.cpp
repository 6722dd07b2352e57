#include "weights/pack_file.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "core/mapped_file.h"

namespace kiln {

namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'W', 'P', 'K', '1'};
constexpr size_t kHeaderBytes = 128;
constexpr size_t kDataAlignment = size_t{2} << 20;
constexpr size_t kSlotAlignment = 64;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint64_t fingerprint;
  uint64_t key;
  uint64_t slot_count;
  uint64_t table_offset;
  uint64_t data_offset;
  uint64_t data_bytes;
  uint64_t data_checksum;
  uint64_t header_checksum;  // of everything above
  uint64_t weight_layout;    // Plan::weight_layout (format 2 on)
  uint64_t table_checksum;   // of the slot table (format 3 on: a flipped offset was accepted)
  uint8_t reserved[kHeaderBytes - 96];
};
static_assert(sizeof(Header) == kHeaderBytes);

struct SlotEntry {
  uint64_t offset;  // from the data section
  uint64_t bytes;
};

size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

uint64_t header_checksum(const Header& h) {
  uint64_t c = hash_bytes(&h, offsetof(Header, header_checksum), 0x6b696c6e);
  c = hash_bytes(&h.weight_layout, sizeof h.weight_layout, c);
  return hash_bytes(&h.table_checksum, sizeof h.table_checksum, c);
}

}  // namespace


Status write_pack_file(const std::string& path, const Plan& plan, const Weights& weights, uint64_t key) {
  size_t n = plan.weight_slots.size();
  std::vector<SlotEntry> table(n);
  size_t offset = 0;
  for (size_t i = 0; i < n; ++i) {
    table[i] = {offset, plan.weight_slots[i].packed_md.get_size()};
    offset = align_up(offset + table[i].bytes, kSlotAlignment);
  }
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kPackFormatVersion;
  h.header_bytes = kHeaderBytes;
  h.fingerprint = plan.fingerprint;
  h.weight_layout = plan.weight_layout;
  h.key = key;
  h.slot_count = n;
  h.table_offset = kHeaderBytes;
  h.data_offset = align_up(kHeaderBytes + n * sizeof(SlotEntry), kDataAlignment);
  h.data_bytes = offset;
  std::vector<uint8_t> data(offset, 0);
  for (size_t i = 0; i < n; ++i) std::memcpy(data.data() + table[i].offset, weights.slot_data(static_cast<int>(i)), table[i].bytes);
  h.data_checksum = hash_bytes(data.data(), data.size());
  h.table_checksum = hash_bytes(table.data(), table.size() * sizeof(SlotEntry));
  h.header_checksum = header_checksum(h);
  // Write to a temporary name and rename: a crash never leaves a half-written entry.
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return io_error("cannot write the weight pack '" + tmp + "'");
  std::vector<uint8_t> gap(h.data_offset - kHeaderBytes - n * sizeof(SlotEntry), 0);
  bool ok = std::fwrite(&h, sizeof h, 1, f) == 1 &&
            (n == 0 || std::fwrite(table.data(), sizeof(SlotEntry), n, f) == n) &&
            std::fwrite(gap.data(), 1, gap.size(), f) == gap.size() &&
            std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return io_error("writing the weight pack '" + path + "' failed");
  }
  return Status::ok();
}

Expected<std::shared_ptr<const Weights>> map_pack_file(const std::string& path, const Plan& plan, uint64_t key) {
  auto file = map_file(path);
  if (!file) {
    if (file.error().code() == ErrorCode::kNotFound) return not_found("no weight pack at '" + path + "'");
    return file.error();
  }
  size_t size = file->size;
  std::shared_ptr<uint8_t> mapping = file->data;
  auto bad = [&](const std::string& why) { return invalid_model("weight pack '" + path + "' is unusable: " + why); };
  if (size < kHeaderBytes) return bad("truncated header");
  Header h;
  std::memcpy(&h, mapping.get(), sizeof h);
  if (std::memcmp(h.magic, kMagic, 8) != 0) return bad("not a kiln weight pack");
  if (h.header_checksum != header_checksum(h)) return bad("header checksum mismatch (corrupt)");
  if (h.version != kPackFormatVersion) return bad("format version " + std::to_string(h.version));
  if (h.fingerprint != plan.fingerprint) return bad("made for another architecture");
  if (h.weight_layout != plan.weight_layout)
    return bad("its weights are laid out for another plan of this architecture (other convolution algorithms)");
  if (key != kAnyKey && h.key != key) return bad("made for other weights, oneDNN version, ISA or input shape (stale)");
  if (h.slot_count != plan.weight_slots.size()) return bad("slot count differs from the plan");
  if (h.table_offset + h.slot_count * sizeof(SlotEntry) > size || h.data_offset > size ||
      h.data_bytes > size - h.data_offset)
    return bad("truncated");
  std::vector<SlotEntry> table(h.slot_count);
  std::memcpy(table.data(), mapping.get() + h.table_offset, table.size() * sizeof(SlotEntry));
  if (hash_bytes(table.data(), table.size() * sizeof(SlotEntry)) != h.table_checksum)
    return bad("slot table checksum mismatch (corrupt)");
  std::vector<size_t> offsets(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i].bytes != plan.weight_slots[i].packed_md.get_size() || table[i].offset + table[i].bytes > h.data_bytes)
      return bad("slot " + std::to_string(i) + " does not match the plan's layout");
    offsets[i] = table[i].offset;
  }
  const uint8_t* data = mapping.get() + h.data_offset;
  if (hash_bytes(data, h.data_bytes) != h.data_checksum) return bad("data checksum mismatch (corrupt)");
  std::shared_ptr<uint8_t> base(mapping, const_cast<uint8_t*>(data));
  return Weights::from_storage(std::move(base), std::move(offsets), h.data_bytes, plan.weight_layout, /*mapped=*/true);
}

}  // namespace kiln
