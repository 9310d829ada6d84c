// The desktop's pre-ingest step: path -> document (ingest/) -> tokens with the model's document
// template and a token map -> the plan (tokens, memory, disk, expected time, fits or why not).
// Runs on the ingest pool (any thread but the GUI's): the model is shared and only its tokenizer
// is used. An adapter over service::plan_ingest (app/service/include/tome/service/ingest.h), the
// same steps and document record as `tome ingest`, so a session started by either tool resumes in
// the other.
#pragma once

#include <QString>
#include <atomic>
#include <functional>
#include <vector>

#include "core/types.h"
#include "tome/store/library.h"

namespace tome::desktop {

struct PreparedDocument {
  std::vector<int32_t> tokens;   // the whole document with the template's special tokens
  store::document_record record; // title, absolute path, kind, content hash, source map JSON
};

struct IngestRequest {
  QString path;
  QString session;      // proposed name; the controller makes it unique
  QString password;     // encrypted PDFs
  QString libraryPath;  // for the free disk space
  QString kvStorage = QStringLiteral("f32");  // "f32", "bf16", "fp8": the session's KV at rest
};

struct PipelineProgress {
  QString stage;  // "pages", "files", "tokenize" …
  qint64 done = 0, total = 0;
};

// Never throws; an unreadable path, an unsupported file, an empty document or a cancel give a plan
// with fits == false and whyNot set (and no prepared document).
IngestPlan prepareIngest(const IngestRequest& req, const ModelInfo& model,
                         const std::atomic<bool>* cancel,
                         const std::function<void(const PipelineProgress&)>& onProgress = {});

}  // namespace tome::desktop
