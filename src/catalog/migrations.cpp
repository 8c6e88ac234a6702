#include "catalog/migrations.h"

#include <chrono>
#include <cmath>
#include <iterator>
#include <string>

#include "catalog/catalog.h"

namespace earshot::detail {
namespace {

// Version 1: the initial schema. Keep in sync with docs/formats.md ("Catalog").
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE items (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    path           TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL DEFAULT '',
    duration_s     REAL NOT NULL DEFAULT 0,
    sample_rate_hz INTEGER NOT NULL DEFAULT 0,
    channels       INTEGER NOT NULL DEFAULT 0,
    codec          TEXT NOT NULL DEFAULT '',
    size_bytes     INTEGER NOT NULL DEFAULT 0,
    mtime_ns       INTEGER NOT NULL DEFAULT 0,
    content_hash   TEXT NOT NULL DEFAULT '',
    title          TEXT NOT NULL DEFAULT '',
    artist         TEXT NOT NULL DEFAULT '',
    labels         TEXT NOT NULL DEFAULT '',
    added_at       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX items_content_hash ON items(content_hash);
CREATE TABLE spaces (
    name TEXT PRIMARY KEY NOT NULL,
    dim  INTEGER NOT NULL CHECK (dim > 0)
);
CREATE TABLE embeddings (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    space   TEXT NOT NULL REFERENCES spaces(name),
    vector  BLOB NOT NULL,
    PRIMARY KEY (item_id, space)
);
CREATE INDEX embeddings_space ON embeddings(space, item_id);
CREATE TABLE segments (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    space   TEXT NOT NULL REFERENCES spaces(name),
    seq     INTEGER NOT NULL,
    start_s REAL NOT NULL,
    end_s   REAL NOT NULL,
    vector  BLOB NOT NULL,
    PRIMARY KEY (item_id, space, seq)
);
CREATE INDEX segments_space ON segments(space);
)sql";

// Version 2 (#4): a per-space generation counter, bumped by triggers on every insert, update and
// delete of a whole-item vector (including deletes cascaded from items), and the generation at
// which each vector was last written. ANN index files record the generation they were built at,
// so a stale index is detected (and brought up to date from the changed rows) without
// comparing vectors. Keep in sync with docs/formats.md ("Catalog").
constexpr std::string_view kSchemaV2 = R"sql(
ALTER TABLE spaces ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE embeddings ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
CREATE INDEX embeddings_generation ON embeddings(space, generation);
CREATE TRIGGER embeddings_after_insert AFTER INSERT ON embeddings BEGIN
    UPDATE spaces SET generation = generation + 1 WHERE name = NEW.space;
    UPDATE embeddings SET generation = (SELECT generation FROM spaces WHERE name = NEW.space)
        WHERE item_id = NEW.item_id AND space = NEW.space;
END;
CREATE TRIGGER embeddings_after_update AFTER UPDATE OF vector ON embeddings BEGIN
    UPDATE spaces SET generation = generation + 1 WHERE name = NEW.space;
    UPDATE embeddings SET generation = (SELECT generation FROM spaces WHERE name = NEW.space)
        WHERE item_id = NEW.item_id AND space = NEW.space;
END;
CREATE TRIGGER embeddings_after_delete AFTER DELETE ON embeddings BEGIN
    UPDATE spaces SET generation = generation + 1 WHERE name = OLD.space;
END;
)sql";

// Version 3 (#13): one audio fingerprint per item for "same recording" (docs/dedup.md): the
// bytes of fingerprint/fingerprint.h encode_fingerprint and the version of the method.
// Keep in sync with pg_catalog.cpp and docs/formats.md ("Catalog").
constexpr std::string_view kSchemaV3 = R"sql(
CREATE TABLE fingerprints (
    item_id INTEGER PRIMARY KEY NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    data    BLOB NOT NULL
);
)sql";

// Version 4 (#16): tags: an item's top classifier labels with their scores (docs/http-api.md).
// Keep in sync with pg_catalog.cpp and docs/formats.md ("Catalog").
constexpr std::string_view kSchemaV4 = R"sql(
CREATE TABLE item_tags (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    score   REAL NOT NULL,
    PRIMARY KEY (item_id, tag)
);
CREATE INDEX item_tags_tag ON item_tags(tag COLLATE NOCASE, item_id);
)sql";

constexpr Migration kMigrations[] = {
    {1, kSchemaV1},
    {2, kSchemaV2},
    {3, kSchemaV3},
    {4, kSchemaV4},
};
static_assert(std::size(kMigrations) > 0 &&
                  kMigrations[std::size(kMigrations) - 1].version == kCatalogSchemaVersion,
              "the last migration must produce kCatalogSchemaVersion");

// "%<query with % _ \ escaped>%" for LIKE ... ESCAPE '\'.
std::string like_pattern(std::string_view query) {
    std::string p = "%";
    for (char c : query) {
        if (c == '%' || c == '_' || c == '\\')
            p += '\\';
        p += c;
    }
    p += '%';
    return p;
}

}  // namespace

FilterSql item_filter_sql(const ItemFilter& filter, SqlDialect dialect, int first_param) {
    const bool pg = dialect == SqlDialect::kPostgres;
    FilterSql out;
    std::vector<std::string> conds;
    auto param = [&](std::string value) {
        out.params.push_back(std::move(value));
        return std::string(pg ? "$" : "?") +
               std::to_string(first_param + static_cast<int>(out.params.size()) - 1);
    };
    if (!filter.query.empty()) {
        const std::string like = pg ? " ILIKE " : " LIKE ";
        const std::string q = param(like_pattern(filter.query));
        const std::string esc = " ESCAPE '\\'";
        conds.push_back("(items.path" + like + q + esc + " OR items.name" + like + q + esc +
                        " OR EXISTS (SELECT 1 FROM item_tags tq WHERE tq.item_id = items.id AND "
                        "tq.tag" +
                        like + q + esc + "))");
    }
    for (const std::string& tag : filter.tags) {
        // The tag's items from the item_tags_tag index, then each item by its id: a few ms for a
        // tag of 1,000 items in 100,000, where EXISTS per item probed every item (0.11 s).
        const std::string t = param(tag);
        conds.push_back(
            "items.id IN (SELECT tf.item_id FROM item_tags tf WHERE " +
            (pg ? "lower(tf.tag) = lower(" + t + "))" : "tf.tag = " + t + " COLLATE NOCASE)"));
    }
    if (!filter.folder.empty()) {
        std::string folder = filter.folder;
        while (!folder.empty() && folder.back() == '/') folder.pop_back();
        const std::string f = param(folder + "/");
        conds.push_back(pg ? "left(items.path, length(" + f + ")) = " + f
                           : "substr(items.path, 1, length(" + f + ")) = " + f);
    }
    for (std::size_t i = 0; i < conds.size(); ++i)
        out.where += (i == 0 ? " WHERE " : " AND ") + conds[i];
    return out;
}

Status validate_meta_key(const std::string& key) {
    if (key.empty() || key.size() > 200 || key.find('\0') != std::string::npos)
        return make_error(ErrorCode::kInvalidArgument, "meta key: empty, over 200 bytes or a NUL");
    if (key == "magic" || key == "schema_version" || key == "created_at") {
        return make_error(ErrorCode::kInvalidArgument,
                          "meta key '" + key + "' is the catalog's own");
    }
    return {};
}

Status validate_tags(const ItemTags& tags) {
    for (const auto& t : tags.tags) {
        if (t.tag.empty() || t.tag.size() > 200 || t.tag.find('\0') != std::string::npos) {
            return make_error(ErrorCode::kInvalidArgument,
                              "item " + std::to_string(tags.item_id) +
                                  ": a tag must be 1..200 bytes without NUL, got '" +
                                  t.tag.substr(0, 64) + "'");
        }
        if (!std::isfinite(t.score)) {
            return make_error(ErrorCode::kInvalidArgument, "item " + std::to_string(tags.item_id) +
                                                               ": tag '" + t.tag +
                                                               "' has a non-finite score");
        }
    }
    return ok_status();
}

std::vector<std::string> path_folders(std::string_view path) {
    std::vector<std::string> out;
    for (std::size_t i = 1; i < path.size(); ++i) {
        if (path[i] == '/' && path[i - 1] != '/')
            out.emplace_back(path.substr(0, i));
    }
    return out;
}

std::span<const Migration> catalog_migrations() {
    return kMigrations;
}

Status migrate_catalog(Database& db) {
    Transaction tx(db);
    EARSHOT_RETURN_IF_ERROR(tx.begin());
    EARSHOT_ASSIGN_OR_RETURN(std::int64_t version, db.query_int64("PRAGMA user_version"));
    EARSHOT_ASSIGN_OR_RETURN(std::int64_t app_id, db.query_int64("PRAGMA application_id"));
    if (version > kCatalogSchemaVersion) {
        return make_error(ErrorCode::kNotSupported,
                          "catalog schema version " + std::to_string(version) +
                              " is newer than this build supports (" +
                              std::to_string(kCatalogSchemaVersion) + "); upgrade earshot");
    }
    if (version == kCatalogSchemaVersion && app_id == kCatalogApplicationId) {
        return tx.commit();  // someone else migrated while we waited for the lock
    }
    if (version == 0) {
        EARSHOT_ASSIGN_OR_RETURN(std::int64_t n_objects,
                                 db.query_int64("SELECT count(*) FROM sqlite_schema"));
        if (n_objects != 0) {
            return make_error(ErrorCode::kCorruption,
                              "not an earshot catalog: the SQLite database already has tables");
        }
    } else if (app_id != kCatalogApplicationId) {
        return make_error(ErrorCode::kCorruption, "not an earshot catalog (application_id)");
    }
    for (const Migration& m : kMigrations) {
        if (m.version <= version)
            continue;
        auto applied = db.exec(std::string(m.sql));
        if (!applied) {
            return tl::unexpected(
                applied.error().with_context("migration to version " + std::to_string(m.version)));
        }
    }
    EARSHOT_RETURN_IF_ERROR(
        db.exec("PRAGMA application_id = " + std::to_string(kCatalogApplicationId)));
    EARSHOT_RETURN_IF_ERROR(
        db.exec("PRAGMA user_version = " + std::to_string(kCatalogSchemaVersion)));
    EARSHOT_ASSIGN_OR_RETURN(auto upsert,
                             db.prepare("INSERT INTO meta(key, value) VALUES (?1, ?2) "
                                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
    auto put_meta = [&](std::string_view key, const std::string& value) -> Status {
        upsert->reset();
        EARSHOT_RETURN_IF_ERROR(upsert->bind_text(1, key));
        EARSHOT_RETURN_IF_ERROR(upsert->bind_text(2, value));
        return upsert->run();
    };
    EARSHOT_RETURN_IF_ERROR(put_meta("magic", std::string(kCatalogMagic)));
    EARSHOT_RETURN_IF_ERROR(put_meta("schema_version", std::to_string(kCatalogSchemaVersion)));
    if (version == 0) {
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        EARSHOT_RETURN_IF_ERROR(put_meta("created_at", std::to_string(now)));
    }
    upsert.reset();  // finalize before COMMIT
    return tx.commit();
}

}  // namespace earshot::detail
