// The public entry points (ingest.h): format detection by content then extension, and dispatch
// to the format folders. Exceptions from the libraries underneath (std::bad_alloc ...) stop here
// and become errors naming the file.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <new>

#include "core/common.h"
#include "epub/zip_archive.h"
#include "repo/languages.h"
#include "text/text_decode.h"

namespace tome::ingest {

namespace {

std::string lower_extension(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

bool looks_like_html(std::string_view head) {
  if (head.substr(0, 3) == "\xEF\xBB\xBF") head.remove_prefix(3);
  while (!head.empty() && std::isspace(static_cast<unsigned char>(head.front())))
    head.remove_prefix(1);
  if (starts_with_ci(head, "<?xml")) {
    const size_t end = head.find("?>");
    if (end == std::string_view::npos) return false;
    head.remove_prefix(end + 2);
    while (!head.empty() && std::isspace(static_cast<unsigned char>(head.front())))
      head.remove_prefix(1);
  }
  return starts_with_ci(head, "<!doctype html") || starts_with_ci(head, "<html");
}

}  // namespace

result<format> detect_format(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const std::string name = path.string();
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    if (fs::is_symlink(fs::symlink_status(path, ec)))
      return error(name + ": a broken symbolic link");
    return error(name + ": no such file or folder");
  }
  if (fs::is_directory(st)) return format::repository;
  if (!fs::is_regular_file(st)) return error(name + ": not a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return error(name + ": " + detail::errno_message(errno));
  std::string head(8192, '\0');
  const ssize_t n = ::read(fd, head.data(), head.size());
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) return error(name + ": " + detail::errno_message(read_errno));
  head.resize(static_cast<size_t>(n));

  const std::string ext = lower_extension(path);
  if (head.substr(0, 1024).find("%PDF-") != std::string::npos) return format::pdf;
  if (head.substr(0, 4) == std::string_view("PK\x03\x04", 4)) {
    if (head.find("application/epub+zip") != std::string::npos || ext == ".epub")
      return format::epub;
    // Not every EPUB starts with its mimetype entry: look for the container inside.
    if (auto zip = detail::zip_archive::open_file(path, detail::zip_limits{})) {
      if (zip->contains("META-INF/container.xml")) return format::epub;
    }
    return error(name +
                 ": a zip archive, not an EPUB (Tome reads PDF, EPUB, HTML, Markdown, text "
                 "and folders)");
  }
  if (ext == ".pdf") return format::pdf;    // the PDF reader says what is wrong with it
  if (ext == ".epub") return format::epub;  // likewise
  const std::string file_name = path.filename().string();
  if (const std::string_view bin = detail::binary_extension(file_name); !bin.empty()) {
    return error(name + ": ." + std::string(bin) +
                 " files are not supported (Tome reads PDF, "
                 "EPUB, HTML, Markdown, text and folders)");
  }
  if (const std::string why = detail::binary_evidence(head); !why.empty()) {
    return error(name + ": binary data (" + why + "), not a document Tome can read");
  }
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml" || looks_like_html(head))
    return format::html;
  if (ext == ".md" || ext == ".markdown" || ext == ".mdown" || ext == ".mkd")
    return format::markdown;
  return format::text;
}

result<document> ingest_as(const std::filesystem::path& path, format f, const params& p) {
  try {
    switch (f) {
      case format::pdf: return detail::ingest_pdf(path, p);
      case format::epub: return detail::ingest_epub(path, p);
      case format::html: return detail::ingest_html(path, p);
      case format::repository: return detail::ingest_repo(path, p);
      case format::text:
      case format::markdown: return detail::ingest_text(path, f, p);
    }
    return error(path.string() + ": unknown format");
  } catch (const std::bad_alloc&) {
    return error(path.string() + ": out of memory");
  } catch (const std::exception& e) {
    return error(path.string() + ": " + e.what());
  } catch (...) {
    return error(path.string() + ": unexpected failure");
  }
}

result<document> ingest(const std::filesystem::path& path, const params& p) {
  auto f = detect_format(path);
  if (!f) return f.error_status();
  return ingest_as(path, *f, p);
}

}  // namespace tome::ingest
