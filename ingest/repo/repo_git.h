// libgit2 for the repository walk: .gitignore rules (git_ignore_path_is_ignored, which also
// reads .git/info/exclude and core.excludesFile), tracked paths (the index), what HEAD holds,
// and how long ago each file last changed (first-parent history). A folder that is not inside a
// git repository still gets its .gitignore files honoured, through an in-memory repository whose
// work tree is the folder. One git_context per ingest, used from one thread (blob hashing alone
// is thread-safe: blob_id is a pure function).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tome/status.h"

struct git_repository;
struct git_index;
struct git_tree;

namespace tome::ingest::detail {

struct git_object_id {
  unsigned char bytes[20] = {};
  bool operator==(const git_object_id& o) const;
};

class git_context {
 public:
  // `root`: the folder being ingested. Errors only when libgit2 itself fails.
  static result<std::unique_ptr<git_context>> open(const std::filesystem::path& root);
  ~git_context();

  bool in_repository() const { return has_repo_dir_; }  // false: in-memory ignore rules only
  bool has_head() const { return head_tree_ != nullptr; }
  // Paths below are relative to the ingested root, '/'-separated.
  bool ignored(const std::string& rel, bool is_dir) const;
  bool tracked(const std::string& rel) const;            // in the index
  bool tracked_under(const std::string& rel_dir) const;  // any index entry below the folder
  std::optional<git_object_id> head_blob(const std::string& rel) const;
  // Last-change depth (0 = changed by HEAD's commit) of each path in `rels`, scanning at most
  // max_commits first-parent commits; paths not changed within them are absent.
  std::unordered_map<std::string, int> last_change(const std::vector<std::string>& rels,
                                                   int max_commits) const;

  static git_object_id blob_id(std::string_view content);

 private:
  git_context() = default;
  std::string full(const std::string& rel) const { return prefix_ + rel; }

  ::git_repository* repo_ = nullptr;
  ::git_index* index_ = nullptr;
  ::git_tree* head_tree_ = nullptr;
  std::string prefix_;  // the root's path inside the work tree, "" or "sub/dir/"
  bool has_repo_dir_ = false;
  std::vector<std::string> index_paths_;  // sorted, for tracked_under
};

}  // namespace tome::ingest::detail
