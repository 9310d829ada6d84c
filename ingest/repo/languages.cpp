// Tables behind languages.h: extension -> language, binary extensions, vendored/generated names.
#include "repo/languages.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace tome::ingest::detail {

namespace {

using pair = std::pair<std::string_view, std::string_view>;

// Sorted by extension (lowercase) for binary search.
constexpr std::array k_extensions = std::to_array<pair>({
    {"ada", "Ada"},
    {"adb", "Ada"},
    {"ads", "Ada"},
    {"asm", "Assembly"},
    {"awk", "Awk"},
    {"bash", "Shell"},
    {"bat", "Batch"},
    {"bzl", "Starlark"},
    {"c", "C"},
    {"c++", "C++"},
    {"cc", "C++"},
    {"cfg", "INI"},
    {"cjs", "JavaScript"},
    {"cl", "Lisp"},
    {"clj", "Clojure"},
    {"cljs", "Clojure"},
    {"cmake", "CMake"},
    {"cmd", "Batch"},
    {"conf", "Config"},
    {"cpp", "C++"},
    {"cs", "C#"},
    {"css", "CSS"},
    {"csv", "CSV"},
    {"cts", "TypeScript"},
    {"cu", "CUDA"},
    {"cuh", "CUDA"},
    {"cxx", "C++"},
    {"d", "D"},
    {"dart", "Dart"},
    {"diff", "Diff"},
    {"el", "Emacs Lisp"},
    {"erl", "Erlang"},
    {"ex", "Elixir"},
    {"exs", "Elixir"},
    {"f", "Fortran"},
    {"f03", "Fortran"},
    {"f90", "Fortran"},
    {"f95", "Fortran"},
    {"fish", "Fish"},
    {"for", "Fortran"},
    {"frag", "GLSL"},
    {"fs", "F#"},
    {"fsx", "F#"},
    {"gd", "GDScript"},
    {"glsl", "GLSL"},
    {"go", "Go"},
    {"gradle", "Gradle"},
    {"graphql", "GraphQL"},
    {"groovy", "Groovy"},
    {"h", "C"},
    {"h++", "C++"},
    {"hh", "C++"},
    {"hlsl", "HLSL"},
    {"hpp", "C++"},
    {"hrl", "Erlang"},
    {"hs", "Haskell"},
    {"htm", "HTML"},
    {"html", "HTML"},
    {"hxx", "C++"},
    {"inc", "C"},
    {"ini", "INI"},
    {"inl", "C++"},
    {"ipp", "C++"},
    {"java", "Java"},
    {"jl", "Julia"},
    {"js", "JavaScript"},
    {"json", "JSON"},
    {"jsonc", "JSON"},
    {"jsx", "JavaScript"},
    {"kt", "Kotlin"},
    {"kts", "Kotlin"},
    {"l", "Lex"},
    {"less", "Less"},
    {"lisp", "Lisp"},
    {"ll", "LLVM IR"},
    {"lua", "Lua"},
    {"m", "Objective-C"},
    {"m4", "M4"},
    {"mak", "Makefile"},
    {"markdown", "Markdown"},
    {"md", "Markdown"},
    {"mjs", "JavaScript"},
    {"mk", "Makefile"},
    {"ml", "OCaml"},
    {"mli", "OCaml"},
    {"mm", "Objective-C++"},
    {"mts", "TypeScript"},
    {"nim", "Nim"},
    {"nix", "Nix"},
    {"pas", "Pascal"},
    {"patch", "Diff"},
    {"php", "PHP"},
    {"pl", "Perl"},
    {"pm", "Perl"},
    {"pod", "Perl POD"},
    {"proto", "Protocol Buffers"},
    {"ps1", "PowerShell"},
    {"pxd", "Cython"},
    {"py", "Python"},
    {"pyi", "Python"},
    {"pyw", "Python"},
    {"pyx", "Cython"},
    {"r", "R"},
    {"rb", "Ruby"},
    {"rkt", "Racket"},
    {"rs", "Rust"},
    {"rst", "reStructuredText"},
    {"s", "Assembly"},
    {"sass", "Sass"},
    {"scala", "Scala"},
    {"scm", "Scheme"},
    {"scss", "SCSS"},
    {"sed", "sed"},
    {"sh", "Shell"},
    {"sql", "SQL"},
    {"ss", "Scheme"},
    {"sty", "TeX"},
    {"sv", "SystemVerilog"},
    {"svelte", "Svelte"},
    {"swift", "Swift"},
    {"t", "Perl"},
    {"tcc", "C++"},
    {"tcl", "Tcl"},
    {"tex", "TeX"},
    {"tf", "Terraform"},
    {"toml", "TOML"},
    {"ts", "TypeScript"},
    {"tsv", "TSV"},
    {"tsx", "TypeScript"},
    {"txt", "Text"},
    {"v", "Verilog"},
    {"vb", "Visual Basic"},
    {"vert", "GLSL"},
    {"vhd", "VHDL"},
    {"vhdl", "VHDL"},
    {"vim", "Vim script"},
    {"vue", "Vue"},
    {"wgsl", "WGSL"},
    {"xml", "XML"},
    {"xsd", "XML"},
    {"xsl", "XSLT"},
    {"xslt", "XSLT"},
    {"y", "Yacc"},
    {"yaml", "YAML"},
    {"yml", "YAML"},
    {"yy", "Yacc"},
    {"zig", "Zig"},
    {"zsh", "Shell"},
});

constexpr std::array k_names = std::to_array<pair>({
    {"AUTHORS", "Text"},          {"BUILD", "Starlark"},
    {"BUILD.bazel", "Starlark"},  {"CMakeLists.txt", "CMake"},
    {"COPYING", "Text"},          {"ChangeLog", "Text"},
    {"Dockerfile", "Dockerfile"}, {"GNUmakefile", "Makefile"},
    {"Gemfile", "Ruby"},          {"Jenkinsfile", "Groovy"},
    {"Kconfig", "Kconfig"},       {"LICENSE", "Text"},
    {"Makefile", "Makefile"},     {"Makefile.am", "Automake"},
    {"Makefile.in", "Makefile"},  {"NEWS", "Text"},
    {"README", "Text"},           {"Rakefile", "Ruby"},
    {"SConscript", "Python"},     {"SConstruct", "Python"},
    {"Vagrantfile", "Ruby"},      {"WORKSPACE", "Starlark"},
    {"configure", "Shell"},       {"configure.ac", "Autoconf"},
    {"makefile", "Makefile"},     {"meson.build", "Meson"},
});

constexpr std::string_view k_binary[] = {
    "7z",   "a",    "apk",   "avi",  "avif", "bin",  "bmp",         "bz2",  "class",  "cur",
    "db",   "deb",  "dll",   "dmg",  "doc",  "docx", "dylib",       "ear",  "eot",    "exe",
    "flac", "gguf", "gif",   "gz",   "h5",   "icns", "ico",         "img",  "iso",    "jar",
    "jpeg", "jpg",  "lib",   "lz",   "lz4",  "lzma", "m4a",         "mkv",  "mo",     "mov",
    "mp3",  "mp4",  "npy",   "npz",  "o",    "obj",  "odp",         "ods",  "odt",    "ogg",
    "onnx", "otf",  "pdb",   "pdf",  "pkl",  "png",  "ppt",         "pptx", "psd",    "pt",
    "pth",  "pyc",  "pyd",   "pyo",  "rar",  "rpm",  "safetensors", "so",   "sqlite", "swf",
    "tar",  "tgz",  "tif",   "tiff", "ttf",  "war",  "wasm",        "wav",  "webm",   "webp",
    "whl",  "woff", "woff2", "xcf",  "xls",  "xlsx", "xz",          "zip",
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view extension(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return {};
  return name.substr(dot + 1);
}

constexpr bool sorted_by_key(const auto& table) {
  return std::is_sorted(table.begin(), table.end(),
                        [](const pair& a, const pair& b) { return a.first < b.first; });
}
static_assert(sorted_by_key(k_extensions) && sorted_by_key(k_names));

std::string_view lookup(std::string_view key, const auto& table) {
  const auto it = std::lower_bound(table.begin(), table.end(), key,
                                   [](const pair& p, std::string_view k) { return p.first < k; });
  return it != table.end() && it->first == key ? it->second : std::string_view{};
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string_view language_of(std::string_view file_name, std::string_view head) {
  if (auto l = lookup(file_name, k_names); !l.empty()) return l;
  std::string_view name = file_name;
  // "config.h.in", "foo.cmake.in": the language of the stem.
  if (ends_with(name, ".in") && name.size() > 3) name.remove_suffix(3);
  if (const std::string_view ext = extension(name); !ext.empty()) {
    if (ext == "S") return "Assembly";
    if (auto l = lookup(lower(ext), k_extensions); !l.empty()) return l;
  }
  if (head.substr(0, 2) == "#!") {
    const std::string_view line = head.substr(0, head.find('\n'));
    static constexpr pair k_shebang[] = {
        {"python", "Python"}, {"bash", "Shell"}, {"/sh", "Shell"},       {"zsh", "Shell"},
        {"perl", "Perl"},     {"ruby", "Ruby"},  {"node", "JavaScript"}, {"lua", "Lua"},
        {"tclsh", "Tcl"},     {"php", "PHP"},    {"awk", "Awk"},         {"Rscript", "R"}};
    for (const auto& [key, lang] : k_shebang) {
      if (line.find(key) != std::string_view::npos) return lang;
    }
  }
  return {};
}

std::string_view binary_extension(std::string_view file_name) {
  const std::string_view ext = extension(file_name);
  if (ext.empty()) return {};
  const std::string e = lower(ext);
  if (std::find(std::begin(k_binary), std::end(k_binary), e) != std::end(k_binary)) return ext;
  return {};
}

bool vendored_dir(std::string_view n) {
  static constexpr std::string_view k[] = {
      "node_modules", "bower_components", "jspm_packages", "vendor",   "vendors",
      "third_party",  "third-party",      "thirdparty",    "3rdparty", "3rd_party",
      "Pods",         "Carthage",         "site-packages"};
  return std::find(std::begin(k), std::end(k), n) != std::end(k);
}

bool generated_dir(std::string_view n) {
  static constexpr std::string_view k[] = {"__pycache__",   ".pytest_cache",
                                           ".mypy_cache",   ".ruff_cache",
                                           ".tox",          ".nox",
                                           ".venv",         ".eggs",
                                           ".gradle",       ".idea",
                                           ".vs",           ".next",
                                           ".nuxt",         ".cache",
                                           ".parcel-cache", ".terraform",
                                           ".stack-work",   ".ccache",
                                           "CMakeFiles",    ".sass-cache",
                                           "htmlcov",       ".ipynb_checkpoints",
                                           ".svelte-kit"};
  if (std::find(std::begin(k), std::end(k), n) != std::end(k)) return true;
  return ends_with(n, ".egg-info") || n.substr(0, 12) == "cmake-build-";
}

bool build_dir_candidate(std::string_view n) {
  static constexpr std::string_view k[] = {"build",  "builds", "dist", "out",  "_build",
                                           "target", "bin",    "obj",  "venv", "env"};
  return std::find(std::begin(k), std::end(k), n) != std::end(k) || n.substr(0, 6) == "build-" ||
         n.substr(0, 6) == "build_";
}

std::string_view generated_file(std::string_view n) {
  static constexpr std::string_view k_locks[] = {
      "package-lock.json", "yarn.lock",     "pnpm-lock.yaml", "Cargo.lock", "poetry.lock",
      "Pipfile.lock",      "composer.lock", "Gemfile.lock",   "go.sum",     "npm-shrinkwrap.json"};
  if (std::find(std::begin(k_locks), std::end(k_locks), n) != std::end(k_locks)) return "lock file";
  if (ends_with(n, ".min.js") || ends_with(n, ".min.css") || ends_with(n, ".js.map") ||
      ends_with(n, ".css.map")) {
    return "minified or source map";
  }
  if (ends_with(n, ".pb.go") || ends_with(n, "_pb2.py") || ends_with(n, "_pb2_grpc.py") ||
      ends_with(n, ".pb.cc") || ends_with(n, ".pb.h")) {
    return "protobuf output";
  }
  return {};
}

std::string_view generated_marker(std::string_view head) {
  head = head.substr(0, 1024);
  static constexpr std::string_view k[] = {"@generated",
                                           "DO NOT EDIT",
                                           "Code generated by",
                                           "This file was automatically generated",
                                           "This file is automatically generated",
                                           "Automatically generated by",
                                           "Generated by the protocol buffer compiler"};
  for (const std::string_view m : k) {
    if (head.find(m) != std::string_view::npos) return m;
  }
  return {};
}

bool vcs_dir(std::string_view n) {
  return n == ".git" || n == ".hg" || n == ".svn" || n == ".bzr" || n == "_darcs" || n == ".jj";
}

}  // namespace tome::ingest::detail
