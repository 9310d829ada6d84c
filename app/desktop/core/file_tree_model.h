// FileTreeModel: a repository session's files as a folder tree (from the session's token map, in
// the order they were read), for the code view. GUI thread only.
#pragma once

#include <QAbstractItemModel>
#include <QStringList>
#include <memory>
#include <vector>

namespace tome::desktop {

class FileTreeModel : public QAbstractItemModel {
  Q_OBJECT
 public:
  enum Roles { PathRole = Qt::UserRole + 1, IsFileRole };
  explicit FileTreeModel(QObject* parent = nullptr);
  ~FileTreeModel() override;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;

  void setFiles(const QStringList& paths);  // "src/a.cpp", "README.md" …
  QModelIndex indexOfPath(const QString& path) const;
  int fileCount() const { return m_fileCount; }

 private:
  struct Node {
    QString name, path;
    bool file = false;
    Node* parent = nullptr;
    std::vector<std::unique_ptr<Node>> children;
    int row() const;
  };
  std::unique_ptr<Node> m_root;
  int m_fileCount = 0;
  Node* node(const QModelIndex& i) const { return i.isValid() ? static_cast<Node*>(i.internalPointer()) : m_root.get(); }
};

}  // namespace tome::desktop
