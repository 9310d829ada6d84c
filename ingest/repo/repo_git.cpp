// libgit2 behind repo_git.h.
#include "repo/repo_git.h"

#include <git2.h>
#include <git2/sys/repository.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace tome::ingest::detail {

namespace fs = std::filesystem;

bool git_object_id::operator==(const git_object_id& o) const {
  return std::memcmp(bytes, o.bytes, sizeof bytes) == 0;
}

static std::string last_git_error(const char* what) {
  const git_error* e = git_error_last();
  return std::string(what) + ": " + (e && e->message ? e->message : "libgit2 error");
}

git_context::~git_context() {
  if (head_tree_) git_tree_free(head_tree_);
  if (index_) git_index_free(index_);
  if (repo_) git_repository_free(repo_);
  git_libgit2_shutdown();
}

result<std::unique_ptr<git_context>> git_context::open(const fs::path& root) {
  git_libgit2_init();
  std::unique_ptr<git_context> g(new git_context());
  std::error_code ec;
  const fs::path canon = fs::canonical(root, ec);
  if (ec) return error(root.string() + ": " + ec.message());
  git_repository* repo = nullptr;
  if (git_repository_open_ext(&repo, canon.c_str(), 0, nullptr) == 0 &&
      !git_repository_is_bare(repo) && git_repository_workdir(repo)) {
    const fs::path workdir = fs::canonical(git_repository_workdir(repo), ec);
    const fs::path rel = ec ? fs::path() : canon.lexically_relative(workdir);
    if (!ec && !rel.empty() && rel.native().rfind("..", 0) != 0) {
      g->repo_ = repo;
      g->has_repo_dir_ = true;
      g->prefix_ = rel == "." ? "" : rel.generic_string() + "/";
    } else {
      git_repository_free(repo);
    }
  } else if (repo) {
    git_repository_free(repo);
  }
  if (!g->repo_) {
    // Not in a repository: an in-memory one with the folder as work tree, for its .gitignore.
    if (git_repository_new(&g->repo_) != 0) return error(last_git_error("libgit2"));
    if (git_repository_set_workdir(g->repo_, canon.c_str(), 0) != 0) {
      return error(last_git_error("libgit2"));
    }
    return g;
  }
  if (git_repository_index(&g->index_, g->repo_) == 0) {
    const size_t n = git_index_entrycount(g->index_);
    g->index_paths_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (const git_index_entry* e = git_index_get_byindex(g->index_, i)) {
        g->index_paths_.emplace_back(e->path);
      }
    }
    std::sort(g->index_paths_.begin(), g->index_paths_.end());
  }
  git_object* head = nullptr;
  if (git_revparse_single(&head, g->repo_, "HEAD^{tree}") == 0) {
    g->head_tree_ = reinterpret_cast<git_tree*>(head);
  }
  return g;
}

bool git_context::ignored(const std::string& rel, bool is_dir) const {
  int ignored = 0;
  const std::string path = full(rel) + (is_dir ? "/" : "");
  if (git_ignore_path_is_ignored(&ignored, repo_, path.c_str()) != 0) return false;
  return ignored != 0;
}

bool git_context::tracked(const std::string& rel) const {
  return std::binary_search(index_paths_.begin(), index_paths_.end(), full(rel));
}

bool git_context::tracked_under(const std::string& rel_dir) const {
  const std::string p = full(rel_dir) + "/";
  const auto it = std::lower_bound(index_paths_.begin(), index_paths_.end(), p);
  return it != index_paths_.end() && it->compare(0, p.size(), p) == 0;
}

std::optional<git_object_id> git_context::head_blob(const std::string& rel) const {
  if (!head_tree_) return std::nullopt;
  git_tree_entry* e = nullptr;
  if (git_tree_entry_bypath(&e, head_tree_, full(rel).c_str()) != 0) return std::nullopt;
  std::optional<git_object_id> out;
  if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
    out.emplace();
    std::memcpy(out->bytes, git_tree_entry_id(e)->id, sizeof out->bytes);
  }
  git_tree_entry_free(e);
  return out;
}

git_object_id git_context::blob_id(std::string_view content) {
  git_oid oid;
  git_object_id out;
  if (git_odb_hash(&oid, content.data(), content.size(), GIT_OBJECT_BLOB) == 0) {
    std::memcpy(out.bytes, oid.id, sizeof out.bytes);
  }
  return out;
}

std::unordered_map<std::string, int> git_context::last_change(const std::vector<std::string>& rels,
                                                              int max_commits) const {
  std::unordered_map<std::string, int> depth;
  if (!head_tree_ || max_commits <= 0 || rels.empty()) return depth;
  std::unordered_map<std::string, const std::string*> wanted;  // full path -> rel
  for (const std::string& r : rels) wanted.emplace(full(r), &r);
  git_revwalk* walk = nullptr;
  if (git_revwalk_new(&walk, repo_) != 0) return depth;
  git_revwalk_simplify_first_parent(walk);
  if (git_revwalk_push_head(walk) != 0) {
    git_revwalk_free(walk);
    return depth;
  }
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.flags |= GIT_DIFF_SKIP_BINARY_CHECK;
  std::string prefix = prefix_.empty() ? "" : prefix_.substr(0, prefix_.size() - 1);
  char* spec = prefix.data();
  if (!prefix.empty()) {
    opts.pathspec.strings = &spec;
    opts.pathspec.count = 1;
  }
  git_oid oid;
  for (int i = 0;
       i < max_commits && depth.size() < wanted.size() && git_revwalk_next(&oid, walk) == 0; ++i) {
    git_commit* c = nullptr;
    if (git_commit_lookup(&c, repo_, &oid) != 0) break;
    git_tree* tree = nullptr;
    git_tree* parent_tree = nullptr;
    git_commit* parent = nullptr;
    if (git_commit_tree(&tree, c) == 0) {
      if (git_commit_parentcount(c) > 0 && git_commit_parent(&parent, c, 0) == 0) {
        git_commit_tree(&parent_tree, parent);
      }
      git_diff* diff = nullptr;
      if (git_diff_tree_to_tree(&diff, repo_, parent_tree, tree, &opts) == 0) {
        const size_t n = git_diff_num_deltas(diff);
        for (size_t k = 0; k < n; ++k) {
          const git_diff_delta* d = git_diff_get_delta(diff, k);
          for (const char* p : {d->new_file.path, d->old_file.path}) {
            if (!p) continue;
            const auto it = wanted.find(p);
            if (it != wanted.end()) depth.emplace(*it->second, i);
          }
        }
        git_diff_free(diff);
      }
    }
    if (parent_tree) git_tree_free(parent_tree);
    if (parent) git_commit_free(parent);
    if (tree) git_tree_free(tree);
    git_commit_free(c);
  }
  git_revwalk_free(walk);
  return depth;
}

}  // namespace tome::ingest::detail
