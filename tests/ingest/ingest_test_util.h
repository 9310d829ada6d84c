// Helpers for the ingest tests: the committed documents (tests/data/ingest, see its README.md for
// sources and licences), a scratch folder removed at the end of each test, file writers, a tiny
// PDF writer for synthetic pages (blank pages, running headers, hyphenation), and a raw zip
// writer whose size fields may lie (zip bombs that libzip's own writer would not produce).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace tome::test {

namespace fs = std::filesystem;

inline fs::path ingest_data(const std::string& name) {
  return fs::path(TOME_SOURCE_DIR) / "tests" / "data" / "ingest" / name;
}

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const fs::path& p, std::string_view bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A fresh folder under the build tree (or TMPDIR), removed when the test ends.
class scratch_dir {
 public:
  scratch_dir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "tome-ingest-";
    if (info) name += std::string(info->test_suite_name()) + "-" + info->name();
    name += "-" + std::to_string(::getpid());
    path_ = fs::temp_directory_path() / name;
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    // Make everything writable again (tests chmod files), then remove.
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_symlink(ec))
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

// A minimal PDF: one page per entry, each page a list of lines drawn top-down in Helvetica
// 11pt, an empty string an empty line (an empty list is a page with no text at all, as a scan
// without OCR would be).
inline std::string make_pdf(const std::vector<std::vector<std::string>>& pages) {
  std::string out = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<size_t> offsets;
  const auto object = [&](const std::string& body) {
    offsets.push_back(out.size());
    out += std::to_string(offsets.size()) + " 0 obj\n" + body + "\nendobj\n";
  };
  const size_t n = pages.size();
  // 1 catalog, 2 pages, 3 font, then (page, content) pairs.
  object("<< /Type /Catalog /Pages 2 0 R >>");
  std::string kids;
  for (size_t i = 0; i < n; ++i) kids += std::to_string(4 + 2 * i) + " 0 R ";
  object("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(n) + " >>");
  object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
  for (size_t i = 0; i < n; ++i) {
    object(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R "
        ">> >> /Contents " +
        std::to_string(5 + 2 * i) + " 0 R >>");
    std::string stream;
    int y = 760;
    for (const std::string& line : pages[i]) {
      std::string esc;
      for (const char c : line) {
        if (c == '(' || c == ')' || c == '\\') esc.push_back('\\');
        esc.push_back(c);
      }
      if (!esc.empty())
        stream += "BT /F1 11 Tf 72 " + std::to_string(y) + " Td (" + esc + ") Tj ET\n";
      y -= 14;
    }
    object("<< /Length " + std::to_string(stream.size()) + " >>\nstream\n" + stream + "endstream");
  }
  const size_t xref = out.size();
  char buf[32];
  out += "xref\n0 " + std::to_string(offsets.size() + 1) + "\n0000000000 65535 f \n";
  for (const size_t o : offsets) {
    std::snprintf(buf, sizeof buf, "%010zu 00000 n \n", o);
    out += buf;
  }
  out += "trailer\n<< /Size " + std::to_string(offsets.size() + 1) +
         " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return out;
}

// A zip written by hand. Each entry: its name, its bytes, deflated or stored, and optionally a
// lying "uncompressed size" in the headers (0 = the truth).
struct zip_entry {
  std::string name;
  std::string data;
  bool deflate = true;
  uint32_t claimed_size = 0;
};

inline std::string make_zip(const std::vector<zip_entry>& entries) {
  std::string out, central;
  const auto u16 = [](std::string& s, uint32_t v) {
    s.push_back(static_cast<char>(v & 0xFF));
    s.push_back(static_cast<char>((v >> 8) & 0xFF));
  };
  const auto u32 = [&](std::string& s, uint32_t v) {
    u16(s, v & 0xFFFF);
    u16(s, v >> 16);
  };
  for (const zip_entry& e : entries) {
    std::string packed = e.data;
    if (e.deflate) {
      z_stream z{};
      deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
      packed.resize(deflateBound(&z, e.data.size()));
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(e.data.data()));
      z.avail_in = static_cast<uInt>(e.data.size());
      z.next_out = reinterpret_cast<Bytef*>(packed.data());
      z.avail_out = static_cast<uInt>(packed.size());
      deflate(&z, Z_FINISH);
      packed.resize(z.total_out);
      deflateEnd(&z);
    }
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(e.data.data()), static_cast<uInt>(e.data.size())));
    const uint32_t size = e.claimed_size ? e.claimed_size : static_cast<uint32_t>(e.data.size());
    const uint32_t offset = static_cast<uint32_t>(out.size());
    const uint16_t method = e.deflate ? 8 : 0;
    u32(out, 0x04034b50);
    u16(out, 20);
    u16(out, 0);
    u16(out, method);
    u16(out, 0);
    u16(out, 0x21);
    u32(out, crc);
    u32(out, static_cast<uint32_t>(packed.size()));
    u32(out, size);
    u16(out, static_cast<uint32_t>(e.name.size()));
    u16(out, 0);
    out += e.name;
    out += packed;
    u32(central, 0x02014b50);
    u16(central, 20);
    u16(central, 20);
    u16(central, 0);
    u16(central, method);
    u16(central, 0);
    u16(central, 0x21);
    u32(central, crc);
    u32(central, static_cast<uint32_t>(packed.size()));
    u32(central, size);
    u16(central, static_cast<uint32_t>(e.name.size()));
    u16(central, 0);
    u16(central, 0);
    u16(central, 0);
    u16(central, 0);
    u32(central, 0);
    u32(central, offset);
    central += e.name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  u32(out, 0x06054b50);
  u16(out, 0);
  u16(out, 0);
  u16(out, static_cast<uint32_t>(entries.size()));
  u16(out, static_cast<uint32_t>(entries.size()));
  u32(out, static_cast<uint32_t>(central.size()));
  u32(out, cd_offset);
  u16(out, 0);
  return out;
}

// The files of a small valid EPUB 3 around the given chapters (name -> XHTML body), with a nav
// document listing them. Extra manifest/spine items can be appended by the caller.
inline std::vector<zip_entry> epub_entries(
    const std::vector<std::pair<std::string, std::string>>& chapters,
    const std::string& extra_manifest = "", const std::string& extra_spine = "") {
  std::vector<zip_entry> e;
  e.push_back({"mimetype", "application/epub+zip", false});
  e.push_back({"META-INF/container.xml",
               "<?xml version=\"1.0\"?><container version=\"1.0\" "
               "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles><rootfile "
               "full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/>"
               "</rootfiles></container>"});
  std::string manifest =
      "<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" "
      "properties=\"nav\"/>";
  std::string spine, nav;
  for (size_t i = 0; i < chapters.size(); ++i) {
    const std::string id = "c" + std::to_string(i);
    manifest += "<item id=\"" + id + "\" href=\"" + chapters[i].first +
                "\" media-type=\"application/xhtml+xml\"/>";
    spine += "<itemref idref=\"" + id + "\"/>";
    nav +=
        "<li><a href=\"" + chapters[i].first + "\">Chapter " + std::to_string(i + 1) + "</a></li>";
  }
  e.push_back(
      {"OEBPS/content.opf",
       "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">"
       "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Test book</dc:title>"
       "</metadata><manifest>" +
           manifest + extra_manifest + "</manifest><spine>" + spine + extra_spine +
           "</spine></package>"});
  e.push_back({"OEBPS/nav.xhtml",
               "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\" "
               "xmlns:epub=\"http://www.idpf.org/2007/ops\"><body><nav epub:type=\"toc\"><ol>" +
                   nav + "</ol></nav></body></html>"});
  for (const auto& [name, body] : chapters) {
    e.push_back(
        {"OEBPS/" + name,
         "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>t"
         "</title></head><body>" +
             body + "</body></html>"});
  }
  return e;
}

}  // namespace tome::test
