// FileTreeModel (file_tree_model.h): folders first, then files, each sorted by name.
#include "core/file_tree_model.h"

#include <algorithm>
#include <functional>

namespace tome::desktop {

FileTreeModel::FileTreeModel(QObject* parent) : QAbstractItemModel(parent), m_root(std::make_unique<Node>()) {}
FileTreeModel::~FileTreeModel() = default;

int FileTreeModel::Node::row() const {
  if (!parent) return 0;
  for (size_t i = 0; i < parent->children.size(); ++i)
    if (parent->children[i].get() == this) return static_cast<int>(i);
  return 0;
}

QModelIndex FileTreeModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  return createIndex(row, column, node(parent)->children[static_cast<size_t>(row)].get());
}

QModelIndex FileTreeModel::parent(const QModelIndex& child) const {
  if (!child.isValid()) return {};
  Node* p = node(child)->parent;
  if (!p || p == m_root.get()) return {};
  return createIndex(p->row(), 0, p);
}

int FileTreeModel::rowCount(const QModelIndex& parent) const {
  if (parent.isValid() && parent.column() != 0) return 0;
  return static_cast<int>(node(parent)->children.size());
}

int FileTreeModel::columnCount(const QModelIndex&) const { return 1; }

QVariant FileTreeModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const Node* n = node(index);
  switch (role) {
    case Qt::DisplayRole: return n->name;
    case Qt::ToolTipRole:
    case PathRole: return n->path;
    case IsFileRole: return n->file;
  }
  return {};
}

void FileTreeModel::setFiles(const QStringList& paths) {
  beginResetModel();
  m_root = std::make_unique<Node>();
  m_fileCount = 0;
  for (const QString& path : paths) {
    Node* cur = m_root.get();
    const QStringList parts = path.split(QLatin1Char('/'), Qt::SkipEmptyParts);
    QString prefix;
    for (int i = 0; i < parts.size(); ++i) {
      prefix = prefix.isEmpty() ? parts[i] : prefix + QLatin1Char('/') + parts[i];
      const bool file = i == parts.size() - 1;
      auto it = std::find_if(cur->children.begin(), cur->children.end(),
                             [&](const auto& c) { return c->name == parts[i] && c->file == file; });
      if (it == cur->children.end()) {
        auto n = std::make_unique<Node>();
        n->name = parts[i];
        n->path = prefix;
        n->file = file;
        n->parent = cur;
        m_fileCount += file ? 1 : 0;
        cur->children.push_back(std::move(n));
        it = cur->children.end() - 1;
      }
      cur = it->get();
    }
  }
  std::function<void(Node*)> sortNode = [&](Node* n) {
    std::stable_sort(n->children.begin(), n->children.end(), [](const auto& a, const auto& b) {
      if (a->file != b->file) return !a->file;
      return a->name.compare(b->name, Qt::CaseInsensitive) < 0;
    });
    for (auto& c : n->children) sortNode(c.get());
  };
  sortNode(m_root.get());
  endResetModel();
}

QModelIndex FileTreeModel::indexOfPath(const QString& path) const {
  const Node* cur = m_root.get();
  QModelIndex idx;
  for (const QString& part : path.split(QLatin1Char('/'), Qt::SkipEmptyParts)) {
    int row = -1;
    for (size_t i = 0; i < cur->children.size(); ++i)
      if (cur->children[i]->name == part) row = static_cast<int>(i);
    if (row < 0) return {};
    idx = index(row, 0, idx);
    cur = cur->children[static_cast<size_t>(row)].get();
  }
  return idx;
}

}  // namespace tome::desktop
