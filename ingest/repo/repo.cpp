// Folders to a document, read as a code repository (ingest/README.md): a walk that never
// follows a symbolic link and honours .gitignore through libgit2 (repo_git.h); binaries,
// vendored and generated folders and files, and files over the size limit skipped and reported;
// files read by a few threads (each opened beneath the root with openat2, links refused), decoded
// (text_decode.h), hashed; then put in the stable order and introduced by a header line each.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <optional>
#include <thread>

#include "core/common.h"
#include "repo/languages.h"
#include "repo/repo_git.h"
#include "text/text_decode.h"

namespace tome::ingest::detail {

namespace {

constexpr int k_max_depth = 128;
constexpr size_t k_max_decode_notes = 50;

struct fd_guard {
  int fd = -1;
  explicit fd_guard(int f) : fd(f) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens `rel` (a regular file) beneath root_fd without following any symbolic link: openat2
// with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or component by component with O_NOFOLLOW where
// the kernel lacks openat2.
int open_beneath(int root_fd, const std::string& rel) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
  int dir = ::dup(root_fd);
  size_t pos = 0;
  for (size_t slash; dir >= 0 && (slash = rel.find('/', pos)) != std::string::npos;
       pos = slash + 1) {
    const std::string part = rel.substr(pos, slash - pos);
    const int next = ::openat(dir, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(dir);
    dir = next;
  }
  if (dir < 0) return -1;
  const int f = ::openat(dir, rel.c_str() + pos, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  const int e = errno;
  ::close(dir);
  errno = e;
  return f;
}

struct candidate {
  std::string rel;
  uint64_t size = 0;
};

struct file_result {
  bool ok = false;
  std::string text;
  std::string language;
  uint64_t size = 0;
  uint64_t hash = 0;
  git_object_id blob;
  skipped_item skip;
  decoded_text decode_info;  // text moved out; encoding / replaced kept for notes
};

class walker {
 public:
  walker(const params& p, git_context& git, const fs::path& root, document& doc)
      : p_(p), git_(git), root_(root), doc_(doc) {
    std::error_code ec;
    canonical_root_ = fs::canonical(root, ec);
  }

  // Pass 1: the candidate files, in path order. Errors only for the root itself.
  status walk(int root_fd) {
    TOME_TRY(walk_dir(::dup(root_fd), "", 0));
    return status();
  }
  std::vector<candidate>& candidates() { return candidates_; }

 private:
  void skip(std::string rel, skip_reason r, std::string detail) {
    doc_.report.skipped.push_back({std::move(rel), r, std::move(detail)});
  }

  std::string describe_symlink(const std::string& rel) const {
    const fs::path full = root_ / rel;
    char buf[PATH_MAX];
    if (!::realpath(full.c_str(), buf)) {
      if (errno == ELOOP) return "not followed: a symbolic link loop";
      if (errno == ENOENT) return "not followed: its target does not exist";
      return "not followed: " + errno_message(errno);
    }
    const fs::path target(buf);
    const fs::path inside = target.lexically_relative(canonical_root_);
    if (!canonical_root_.empty() && !inside.empty() && inside.native().rfind("..", 0) != 0) {
      return "not followed: points inside the folder, to " + inside.generic_string();
    }
    return "not followed: points outside the folder, to " + target.string();
  }

  bool has_build_marker(int dir_fd, const char* name) const {
    const int sub = ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) return false;
    fd_guard g(sub);
    struct stat st {};
    for (const char* m : k_build_markers) {
      if (::fstatat(sub, m, &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
    }
    return false;
  }

  // A folder: ignored, vendored, generated, too deep, or walked.
  status visit_dir(int dir_fd, const std::string& name, const std::string& rel, int depth) {
    if (p_.repo.use_gitignore && git_.ignored(rel, true) && !git_.tracked_under(rel)) {
      ++doc_.report.ignored;
      return status();
    }
    const auto& extra_dirs = p_.repo.skip_dirs;
    const bool extra = std::find(extra_dirs.begin(), extra_dirs.end(), name) != extra_dirs.end();
    if (extra || (p_.repo.skip_vendored && vendored_dir(name))) {
      skip(rel + "/", skip_reason::vendored,
           extra ? "skipped by name (parameters)" : "third-party code");
      return status();
    }
    if (p_.repo.skip_generated &&
        (generated_dir(name) ||
         ((build_dir_candidate(name) || depth == 0) && has_build_marker(dir_fd, name.c_str())))) {
      skip(rel + "/", skip_reason::generated, "build output or cache");
      return status();
    }
    if (depth + 1 > k_max_depth) {
      skip(rel + "/", skip_reason::limit,
           "nested deeper than " + std::to_string(k_max_depth) + " folders");
      return status();
    }
    const int sub = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return walk_dir(sub, rel, depth + 1);
  }

  // A regular file: ignored, skipped by name or size, or a candidate for pass 2.
  void visit_file(const std::string& name, const std::string& rel, uint64_t size) {
    if (p_.repo.use_gitignore && git_.ignored(rel, false) && !git_.tracked(rel)) {
      ++doc_.report.ignored;
      return;
    }
    if (const std::string_view ext = binary_extension(name); !ext.empty()) {
      skip(rel, skip_reason::binary, "." + std::string(ext) + " file");
      return;
    }
    if (p_.repo.skip_generated) {
      if (const std::string_view why = generated_file(name); !why.empty()) {
        skip(rel, skip_reason::generated, std::string(why));
        return;
      }
    }
    if (size > p_.repo.max_file_bytes) {
      skip(rel, skip_reason::too_large,
           human_bytes(size) + ", over the " + human_bytes(p_.repo.max_file_bytes) + " limit");
      return;
    }
    if (candidates_.size() >= p_.repo.max_files || total_ + size > p_.repo.max_total_bytes) {
      ++over_limit_;
      return;
    }
    total_ += size;
    candidates_.push_back({rel, size});
  }

  status walk_dir(int dir_fd, const std::string& rel_dir, int depth) {
    fd_guard guard(dir_fd);
    if (dir_fd < 0) {
      const std::string what = rel_dir.empty() ? root_.string() : rel_dir;
      if (rel_dir.empty()) return error(root_.string() + ": " + errno_message(errno));
      skip(what, skip_reason::unreadable, errno_message(errno));
      return status();
    }
    const int list_fd = ::dup(dir_fd);
    DIR* d = list_fd >= 0 ? ::fdopendir(list_fd) : nullptr;
    if (!d) {
      if (list_fd >= 0) ::close(list_fd);
      if (rel_dir.empty()) return error(root_.string() + ": " + errno_message(errno));
      skip(rel_dir, skip_reason::unreadable, errno_message(errno));
      return status();
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        names.emplace_back(e->d_name);
      }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      if (is_cancelled(p_)) return cancelled_error(root_);
      const std::string rel = rel_dir.empty() ? name : rel_dir + "/" + name;
      if (++seen_ % 512 == 0) report_progress(p_, "walk", candidates_.size(), 0, rel);
      struct stat st {};
      if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        skip(rel, skip_reason::unreadable, errno_message(errno));
        continue;
      }
      if (S_ISLNK(st.st_mode)) {
        if (!(p_.repo.use_gitignore && git_.ignored(rel, false))) {
          skip(rel, skip_reason::symlink, describe_symlink(rel));
        } else {
          ++doc_.report.ignored;
        }
        continue;
      }
      if (vcs_dir(name)) continue;  // .git folders, and the .git file of a submodule or worktree
      if (S_ISDIR(st.st_mode)) {
        TOME_TRY(visit_dir(dir_fd, name, rel, depth));
      } else if (S_ISREG(st.st_mode)) {
        visit_file(name, rel, static_cast<uint64_t>(st.st_size));
      } else {
        skip(rel, skip_reason::unreadable, "not a regular file");
      }
    }
    if (depth == 0 && over_limit_ > 0) {
      skip(std::to_string(over_limit_) + " more files", skip_reason::limit,
           "over the limit of " + std::to_string(p_.repo.max_files) + " files or " +
               human_bytes(p_.repo.max_total_bytes));
    }
    return status();
  }

  const params& p_;
  git_context& git_;
  fs::path root_;
  fs::path canonical_root_;
  document& doc_;
  std::vector<candidate> candidates_;
  uint64_t total_ = 0;
  size_t over_limit_ = 0;
  size_t seen_ = 0;
};

// Pass 2 for one file: read beneath the root, classify, decode, hash.
file_result read_one(int root_fd, const candidate& c, const params& p, bool want_blob) {
  file_result r;
  r.skip.path = c.rel;
  const int fd = open_beneath(root_fd, c.rel);
  if (fd < 0) {
    r.skip.reason = errno == ELOOP ? skip_reason::symlink : skip_reason::unreadable;
    r.skip.detail = errno_message(errno);
    return r;
  }
  fd_guard g(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    r.skip = {c.rel, skip_reason::unreadable, "not a regular file"};
    return r;
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > p.repo.max_file_bytes) {
    r.skip = {c.rel, skip_reason::too_large, human_bytes(size) + ", over the limit"};
    return r;
  }
  std::string bytes(size, '\0');
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.skip = {c.rel, skip_reason::unreadable, errno_message(errno)};
      return r;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  r.size = done;
  if (const std::string why = binary_evidence(bytes); !why.empty()) {
    r.skip = {c.rel, skip_reason::binary, why};
    return r;
  }
  if (p.repo.skip_generated) {
    if (const std::string_view m = generated_marker(bytes); !m.empty()) {
      r.skip = {c.rel, skip_reason::generated, "marked \"" + std::string(m) + "\""};
      return r;
    }
  }
  auto decoded = decode_text(bytes);
  if (!decoded) {
    r.skip = {c.rel, skip_reason::binary, decoded.message()};
    return r;
  }
  const size_t slash = c.rel.rfind('/');
  const std::string_view name =
      std::string_view(c.rel).substr(slash == std::string::npos ? 0 : slash + 1);
  r.language = language_of(name, std::string_view(bytes).substr(0, 256));
  r.hash = hash_bytes(bytes);
  if (want_blob) r.blob = git_context::blob_id(bytes);
  r.text = std::move(decoded->text);
  r.decode_info = std::move(*decoded);
  if (r.text.empty()) {
    r.skip = {c.rel, skip_reason::empty, "empty file"};
    return r;
  }
  r.ok = true;
  return r;
}

std::string header_line(const std::string& fmt, const std::string& path, std::string_view lang) {
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt.compare(i, 6, "{path}") == 0) {
      out += path;
      i += 5;
    } else if (fmt.compare(i, 10, "{language}") == 0) {
      out += lang.empty() ? "text" : lang;
      i += 9;
    } else {
      out.push_back(fmt[i]);
    }
  }
  return out;
}

// Pass 2: every candidate read by `threads` workers; the calling thread reports progress.
std::vector<file_result> read_all(int root_fd, const std::vector<candidate>& cands, const params& p,
                                  bool want_blob) {
  std::vector<file_result> results(cands.size());
  std::atomic<size_t> next{0}, done{0};
  int threads = p.repo.threads > 0
                    ? p.repo.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::clamp(std::min<int>(threads, static_cast<int>(cands.size() / 64) + 1), 1, 8);
  const auto work = [&](bool main_thread) {
    for (size_t i; (i = next.fetch_add(1)) < cands.size();) {
      if (is_cancelled(p)) break;
      results[i] = read_one(root_fd, cands[i], p, want_blob);
      const size_t d = done.fetch_add(1) + 1;
      if (main_thread && (d % 64 == 0 || d == cands.size())) {
        report_progress(p, "files", d, cands.size(), cands[i].rel);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, false);
  work(true);
  for (std::thread& t : pool) t.join();
  return results;
}

// Pass 3: the stable order (ingest/README.md) of the files read, as indices into `results`.
// Tier 0: unchanged since HEAD, least recently changed first; tier 1: changed since HEAD;
// tier 2: untracked (or no repository). Ties: path order. Skipped files and decoding notes go
// to the report on the way.
std::vector<size_t> stable_order(std::vector<file_result>& results,
                                 const std::vector<candidate>& cands, const git_context& git,
                                 const params& p, ingest_report& report) {
  struct order_key {
    int tier;
    int age;  // larger = changed longer ago; INT_MAX = not within the history scanned
    size_t index;
  };
  std::vector<order_key> order;
  std::vector<std::string> unchanged;
  size_t decode_notes = 0, quiet_notes = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    file_result& r = results[i];
    if (!r.ok) {
      report.skipped.push_back(std::move(r.skip));
      continue;
    }
    if (r.decode_info.detected || r.decode_info.replaced > 0) {
      if (decode_notes++ < k_max_decode_notes) {
        note_decoding(report, cands[i].rel, r.decode_info);
      } else {
        ++quiet_notes;
      }
    }
    int tier = 2;
    if (git.has_head()) {
      if (const auto hb = git.head_blob(cands[i].rel)) tier = *hb == r.blob ? 0 : 1;
    }
    if (tier == 0) unchanged.push_back(cands[i].rel);
    order.push_back({tier, INT_MAX, i});
  }
  if (quiet_notes > 0) {
    report.notes.push_back(std::to_string(quiet_notes) +
                           " more files were decoded from another encoding or repaired");
  }
  if (!unchanged.empty() && p.repo.history_commits > 0) {
    const auto ages = git.last_change(unchanged, p.repo.history_commits);
    for (order_key& k : order) {
      if (k.tier != 0) continue;
      const auto it = ages.find(cands[k.index].rel);
      if (it != ages.end()) k.age = it->second;
    }
  }
  std::sort(order.begin(), order.end(), [&](const order_key& a, const order_key& b) {
    if (a.tier != b.tier) return a.tier < b.tier;
    if (a.age != b.age) return a.age > b.age;
    return cands[a.index].rel < cands[b.index].rel;
  });
  std::vector<size_t> out;
  out.reserve(order.size());
  for (const order_key& k : order) out.push_back(k.index);
  return out;
}

}  // namespace

result<document> ingest_repo(const fs::path& path, const params& p) {
  const auto start = clock::now();
  const std::string name = path.string();
  const int root_fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return error(name + ": " + errno_message(errno));
  fd_guard root_guard(root_fd);
  auto opened = git_context::open(path);
  if (!opened) return opened.error_status().with_context(name);
  const git_context& git = **opened;

  document doc;
  doc.path = name;
  const fs::path abs = fs::absolute(path).lexically_normal();
  doc.title = abs.has_filename() ? abs.filename().string() : abs.parent_path().filename().string();
  doc.report.path = name;
  doc.report.fmt = format::repository;

  walker w(p, **opened, path, doc);
  TOME_TRY(w.walk(root_fd));
  const std::vector<candidate>& cands = w.candidates();
  std::vector<file_result> results = read_all(root_fd, cands, p, git.has_head());
  if (is_cancelled(p)) return cancelled_error(path);

  for (const size_t i : stable_order(results, cands, git, p, doc.report)) {
    file_result& r = results[i];
    const std::string& rel = cands[i].rel;
    const size_t first = doc.segments.size();
    add_segment(doc, segment_kind::file_header, header_line(p.repo.header_format, rel, r.language),
                source_ref{rel, 0, 0, 0, "", r.language});
    add_segment(doc, segment_kind::content, std::move(r.text),
                source_ref{rel, 0, 1, 0, "", r.language});
    doc.files.push_back(
        file_record{rel, r.language, r.size, r.hash, first, doc.segments.size() - first});
  }
  doc.report.files = doc.files.size();
  report_progress(p, "files", cands.size(), cands.size());
  finish_report(doc, p, start);
  return doc;
}

}  // namespace tome::ingest::detail
