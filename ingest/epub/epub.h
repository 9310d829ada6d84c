// EPUB ingest from an opened archive (epub.cpp): the file entry point opens the zip with the
// limits from params; the fuzz target opens one from memory and calls the same code.
#pragma once

#include <string>

#include "epub/zip_archive.h"
#include "tome/ingest/ingest.h"

namespace tome::ingest::detail {

zip_limits epub_limits(const params& p);
// `name` is the file's name for messages and the document's path.
result<document> ingest_epub_zip(zip_archive& zip, const std::string& name, const params& p);

}  // namespace tome::ingest::detail
