// ChatModel (chat_model.h).
#include "core/chat_model.h"

namespace tome::desktop {

int ChatModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(m_messages.size()); }

QVariant ChatModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
  const ChatMessage& m = m_messages[index.row()];
  switch (role) {
    case Qt::DisplayRole:
    case TextRole: return m.text;
    case RoleRole: return m.role == ChatMessage::Role::User ? QStringLiteral("user") : QStringLiteral("assistant");
    case SourcesRole: return QVariant::fromValue(m.sources);
    case StreamingRole: return m.streaming;
    case StoppedRole: return m.stopped;
    case ErrorRole: return m.error;
  }
  return {};
}

QHash<int, QByteArray> ChatModel::roleNames() const {
  return {{RoleRole, "role"}, {TextRole, "text"}, {SourcesRole, "sources"},
          {StreamingRole, "streaming"}, {StoppedRole, "stopped"}, {ErrorRole, "error"}};
}

void ChatModel::setMessages(const QList<ChatMessage>& messages) {
  beginResetModel();
  m_messages = messages;
  endResetModel();
}

int ChatModel::appendMessage(const ChatMessage& m) {
  const int row = static_cast<int>(m_messages.size());
  beginInsertRows({}, row, row);
  m_messages.push_back(m);
  endInsertRows();
  return row;
}

void ChatModel::appendText(int row, const QString& piece) {
  if (row < 0 || row >= m_messages.size()) return;
  m_messages[row].text += piece;
  emit dataChanged(index(row), index(row), {TextRole, Qt::DisplayRole});
}

void ChatModel::finish(int row, const QString& text, const QList<SourceLink>& sources, bool stopped, const QString& error) {
  if (row < 0 || row >= m_messages.size()) return;
  ChatMessage& m = m_messages[row];
  if (!text.isNull() || error.isEmpty()) m.text = text.isNull() ? m.text : text;
  m.sources = sources;
  m.streaming = false;
  m.stopped = stopped;
  m.error = error;
  emit dataChanged(index(row), index(row));
}

}  // namespace tome::desktop
