// Internal helpers of tome_ingest (common.h): file reading with messages that name the file,
// segments, report totals.
#include "core/common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/utf8.h"

namespace tome::ingest::detail {

std::string errno_message(int err) {
  switch (err) {
    case ENOENT: return "no such file";
    case EACCES:
    case EPERM: return "permission denied";
    case EISDIR: return "is a folder";
    case ELOOP: return "symbolic link loop";
    case ENOTDIR: return "a part of the path is not a folder";
    case EIO: return "input/output error";
    default: return std::strerror(err);
  }
}

std::string human_bytes(uint64_t n) {
  char buf[64];
  if (n < 1024) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else if (n < (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024.0);
  } else if (n < (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(n) / (1ull << 30));
  }
  return buf;
}

uint64_t hash_bytes(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

status cancelled_error(const fs::path& path) { return error(path.string() + ": cancelled"); }

result<std::string> read_file(const fs::path& path, uint64_t max_bytes) {
  const std::string name = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return error(name + ": " + errno_message(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return error(name + ": " + errno_message(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return error(name + ": is a folder");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(name + ": not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    return error(name + ": " + human_bytes(size) + " is over the " + human_bytes(max_bytes) +
                 " limit");
  }
  std::string data;
  data.resize(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data.data() + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return error(name + ": " + errno_message(e));
    }
    if (n == 0) break;  // shrank while reading
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(done);
  return data;
}

int32_t count_lines(std::string_view text) {
  int64_t n = 0;
  for (const char c : text) n += c == '\n';
  if (!text.empty() && text.back() != '\n') ++n;
  return static_cast<int32_t>(std::min<int64_t>(n, INT32_MAX));
}

void add_segment(document& doc, segment_kind kind, std::string text, source_ref src) {
  bool visible = false;
  for (const char c : text) {
    if (c != ' ' && c != '\n' && c != '\t' && c != '\f' && c != '\v' && c != '\r') {
      visible = true;
      break;
    }
  }
  if (!visible) return;
  if (text.back() != '\n') text.push_back('\n');
  if (src.line_begin > 0) {
    src.line_end = static_cast<int32_t>(
        std::min<int64_t>(INT32_MAX, int64_t{src.line_begin} + count_lines(text) - 1));
  }
  doc.segments.push_back(segment{kind, std::move(text), std::move(src)});
}

void finish_report(document& doc, const params& p, clock::time_point start) {
  ingest_report& r = doc.report;
  r.bytes = r.characters = r.lines = 0;
  for (const segment& s : doc.segments) {
    r.bytes += s.text.size();
    r.characters += count_code_points(s.text);
    r.lines += static_cast<uint64_t>(count_lines(s.text));
  }
  const double bpt = p.bytes_per_token > 0 ? p.bytes_per_token : 3.6;
  r.estimated_tokens = static_cast<uint64_t>(std::ceil(static_cast<double>(r.bytes) / bpt));
  r.tokens_exact = false;
  r.seconds = std::chrono::duration<double>(clock::now() - start).count();
}

std::string page_ranges(const std::vector<int32_t>& pages) {
  std::string out;
  for (size_t i = 0; i < pages.size();) {
    size_t j = i;
    while (j + 1 < pages.size() && pages[j + 1] == pages[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += std::to_string(pages[i]);
    if (j > i) out += "\u2013" + std::to_string(pages[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace tome::ingest::detail
