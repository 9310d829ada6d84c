// The session store's SQL schema and its migrations. A new file is created by applying the
// schema-1 DDL and then every migration in order, so a fresh library and a migrated one have
// exactly the same tables and column order (export/import copy rows between them).
#pragma once

#include "sqlite.h"

namespace tome::store {

inline constexpr int64_t k_application_id = 0x546f6d65;  // "Tome" (PRAGMA application_id)

// Creates the current schema in an empty database (inside one transaction).
status create_schema(db& d);
// Migrates from `from` (>= 1) to k_schema_version (inside one transaction).
status migrate_schema(db& d, int from);

}  // namespace tome::store
