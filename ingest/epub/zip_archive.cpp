// libzip behind zip_archive.h, with the zip-bomb limits enforced before and during inflation.
#include "epub/zip_archive.h"

#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "core/common.h"

namespace tome::ingest::detail {

namespace {

std::string zip_error_text(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string s = zip_error_strerror(&e);
  zip_error_fini(&e);
  return s;
}

std::string open_error(int code) {
  switch (code) {
    case ZIP_ER_NOZIP: return "not a zip archive";
    case ZIP_ER_INCONS: return "inconsistent zip archive (corrupt or truncated)";
    case ZIP_ER_NOENT: return "no such file";
    case ZIP_ER_OPEN:
    case ZIP_ER_READ: return "cannot be read";
    default: return "cannot be opened as a zip archive: " + zip_error_text(code);
  }
}

}  // namespace

zip_archive::zip_archive(zip_archive&& o) noexcept
    : zip_(std::exchange(o.zip_, nullptr)),
      limits_(o.limits_),
      entries_(o.entries_),
      total_read_(o.total_read_),
      index_(std::move(o.index_)) {}

zip_archive& zip_archive::operator=(zip_archive&& o) noexcept {
  if (this != &o) {
    if (zip_) zip_discard(zip_);
    zip_ = std::exchange(o.zip_, nullptr);
    limits_ = o.limits_;
    entries_ = o.entries_;
    total_read_ = o.total_read_;
    index_ = std::move(o.index_);
  }
  return *this;
}

zip_archive::~zip_archive() {
  if (zip_) zip_discard(zip_);
}

result<zip_archive> zip_archive::finish_open(struct zip* z, const zip_limits& lim) {
  zip_archive a;
  a.zip_ = z;
  a.limits_ = lim;
  const zip_int64_t n = zip_get_num_entries(z, 0);
  if (n < 0) return error("cannot list the zip archive's entries");
  a.entries_ = static_cast<uint64_t>(n);
  if (a.entries_ > lim.max_entries) {
    return error(std::to_string(a.entries_) + " zip entries, over the limit of " +
                 std::to_string(lim.max_entries) + " (zip bomb?)");
  }
  a.index_.reserve(a.entries_);
  for (uint64_t i = 0; i < a.entries_; ++i) {
    const char* name = zip_get_name(z, i, ZIP_FL_ENC_GUESS);
    if (name) a.index_.emplace(name, i);
  }
  return a;
}

result<zip_archive> zip_archive::open_file(const std::filesystem::path& path,
                                           const zip_limits& lim) {
  int err = 0;
  struct zip* z = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!z) return error(open_error(err));
  return finish_open(z, lim);
}

result<zip_archive> zip_archive::open_memory(std::string_view bytes, const zip_limits& lim) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &ze);
  if (!src) {
    zip_error_fini(&ze);
    return error("cannot read the archive from memory");
  }
  struct zip* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
  if (!z) {
    const int code = zip_error_code_zip(&ze);
    zip_source_free(src);
    zip_error_fini(&ze);
    return error(open_error(code));
  }
  zip_error_fini(&ze);
  return finish_open(z, lim);
}

result<std::string> zip_archive::read(const std::string& name) {
  const auto it = index_.find(name);
  if (it == index_.end()) return error("no entry " + name + " in the archive");
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(zip_, it->second, 0, &st) != 0) return error(name + ": cannot be read");
  if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
    return error(name + ": encrypted zip entry");
  }
  const uint64_t declared = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
  const uint64_t packed = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
  if (declared > limits_.max_entry_bytes) {
    return error(name + ": inflates to " + human_bytes(declared) + ", over the " +
                 human_bytes(limits_.max_entry_bytes) + " limit per entry (zip bomb?)");
  }
  const auto ratio_error = [&](uint64_t inflated) {
    char buf[64];
    std::snprintf(
        buf, sizeof buf, "%.0f:1",
        static_cast<double>(inflated) / static_cast<double>(std::max<uint64_t>(packed, 1)));
    return error(name + ": compression ratio " + buf + ", over the limit of " +
                 std::to_string(static_cast<long long>(limits_.max_ratio)) + ":1 (zip bomb?)");
  };
  if (declared > (1u << 20) &&
      static_cast<double>(declared) > limits_.max_ratio * static_cast<double>(packed)) {
    return ratio_error(declared);
  }
  if (total_read_ + declared > limits_.max_total_bytes) {
    return error(name + ": the archive inflates to more than " +
                 human_bytes(limits_.max_total_bytes) + " in total (limit)");
  }
  zip_file_t* f = zip_fopen_index(zip_, it->second, 0);
  if (!f) return error(name + ": cannot be opened: " + zip_strerror(zip_));
  std::string out;
  // Read at most one byte past the declared size: more means the size field lies.
  const uint64_t cap = std::min(declared, limits_.max_entry_bytes) + 1;
  out.resize(std::min<uint64_t>(cap, 1u << 16));
  uint64_t used = 0;
  for (;;) {
    if (used == out.size()) {
      if (out.size() >= cap) break;
      out.resize(std::min<uint64_t>(cap, out.size() * 2));
    }
    const zip_int64_t n = zip_fread(f, out.data() + used, out.size() - used);
    if (n < 0) {
      std::string why = zip_file_strerror(f);
      zip_fclose(f);
      return error(name + ": corrupt zip entry (" + why + ")");
    }
    if (n == 0) break;
    used += static_cast<uint64_t>(n);
    if (used > (1u << 20) &&
        static_cast<double>(used) > limits_.max_ratio * static_cast<double>(packed)) {
      zip_fclose(f);
      return ratio_error(used);
    }
  }
  zip_fclose(f);
  if (used > declared) return error(name + ": inflates to more than its declared size (zip bomb?)");
  out.resize(used);
  total_read_ += used;
  return out;
}

}  // namespace tome::ingest::detail
