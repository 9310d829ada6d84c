// ChatModel: the messages of the open thread (questions and answers, an answer growing token by
// token while it streams, its sources). GUI thread only; fed by ChatController.
#pragma once

#include <QAbstractListModel>
#include <QList>

#include "core/types.h"

namespace tome::desktop {

class ChatModel : public QAbstractListModel {
  Q_OBJECT
 public:
  enum Roles { RoleRole = Qt::UserRole + 1, TextRole, SourcesRole, StreamingRole, StoppedRole, ErrorRole };
  explicit ChatModel(QObject* parent = nullptr) : QAbstractListModel(parent) {}

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QHash<int, QByteArray> roleNames() const override;

  void setMessages(const QList<ChatMessage>& messages);
  void clear() { setMessages({}); }
  int appendMessage(const ChatMessage& m);  // returns its row
  void appendText(int row, const QString& piece);
  void finish(int row, const QString& text, const QList<SourceLink>& sources, bool stopped, const QString& error);
  const QList<ChatMessage>& messages() const { return m_messages; }
  const ChatMessage* at(int row) const { return row >= 0 && row < m_messages.size() ? &m_messages[row] : nullptr; }

 private:
  QList<ChatMessage> m_messages;
};

}  // namespace tome::desktop
