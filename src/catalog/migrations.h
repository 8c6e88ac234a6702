// Catalog schema versions and forward-only migrations (internal to the catalog module).
// Version N's SQL turns a version N-1 database into version N; version 1 creates everything.
// The full current schema is documented in docs/formats.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/sqlite_handle.h"
#include "core/status.h"

namespace earshot::detail {

// PRAGMA application_id of every earshot catalog: the ASCII bytes "EARS".
inline constexpr std::int32_t kCatalogApplicationId = 0x45415253;
// meta('magic') of every earshot catalog.
inline constexpr std::string_view kCatalogMagic = "earshot-catalog";

struct Migration {
    int version;           // schema version after applying sql
    std::string_view sql;  // one or more statements
};

// All migrations in ascending version order; the last one is kCatalogSchemaVersion.
std::span<const Migration> catalog_migrations();

// Brings a database at schema version `from` (0 = empty) up to kCatalogSchemaVersion inside one
// transaction, setting application_id, user_version and the meta rows. Re-reads the version
// under the write lock, so two processes creating the same file at once is safe.
// kNotSupported if the database is newer than this build.
Status migrate_catalog(Database& db);

// SQL of an ItemFilter for both backends: `where` is " WHERE <conditions>" (empty for an empty
// filter) over the table `items` (columns path, name, id) and params are its text parameters,
// numbered ?first.. (SQLite) or $first.. (PostgreSQL) in order.
enum class SqlDialect { kSqlite, kPostgres };
struct FilterSql {
    std::string where;
    std::vector<std::string> params;
};
FilterSql item_filter_sql(const ItemFilter& filter, SqlDialect dialect, int first_param);

// kInvalidArgument for an empty tag name, one with a NUL byte or over 200 bytes, or a score
// that is not finite.
Status validate_tags(const ItemTags& tags);

// Catalog::put_meta's keys: kInvalidArgument for an empty key, one over 200 bytes or with a NUL
// byte, or one the catalog keeps for itself (magic, schema_version, created_at).
Status validate_meta_key(const std::string& key);

// The ancestors of an item path for folder_counts ("/a/b/c.wav" -> "/a", "/a/b").
std::vector<std::string> path_folders(std::string_view path);

}  // namespace earshot::detail
