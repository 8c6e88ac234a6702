// The index cache of an engine: one in-memory index per (space, metric, index spec, items or
// segments), built from the catalog or loaded from its file next to the catalog, and brought up
// to date with the catalog before use (details at IndexCache::Impl in index_cache.cpp).
// Thread-safe: searches share an index under a shared lock; a build runs with no cache lock held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "core/status.h"
#include "engine/item_filter.h"
#include "index/metric.h"
#include "index/vector_index.h"

namespace earshot {

struct ReindexReport {
    std::string space;
    std::string index;  // canonical spec
    Metric metric = Metric::kCosine;
    std::string action;  // "built", "rebuilt", "updated", "current", "in-memory" (flat)
    std::size_t items = 0;
    std::size_t memory_bytes = 0;
    double seconds = 0.0;
    std::filesystem::path file;  // empty for flat (not persisted)
};

// Folder of a catalog's ANN index files: "<db>.idx" for an SQLite file; for a PostgreSQL URI a
// local cache folder, "$XDG_CACHE_HOME/earshot/pg-<16 hex digits of a hash of the URI without
// password>" (XDG_CACHE_HOME defaults to ~/.cache).
std::filesystem::path default_index_dir(const std::string& db);

// `in` as a file-name part: letters, digits, '-' and '_' kept, anything else '_' and then a hash of
// the original appended ("-" and 8 hex digits), so distinct names stay distinct.
std::string file_name_part(const std::string& in);

// Where the ANN index of (space, metric, spec) lives: "<db>.idx/<space>.<metric>.<spec>.esix"
// (the folder is default_index_dir(db_path)).
std::filesystem::path index_file_path(const std::filesystem::path& db_path,
                                      const std::string& space,
                                      Metric metric,
                                      const std::string& canonical_spec);

// A segment index's ids: the item id in the high bits, the segment's position in the item (its
// `seq` in the catalog) in the low kSegmentIdBits.
inline constexpr int kSegmentIdBits = 20;
inline constexpr std::int64_t kMaxSegmentsPerItem = std::int64_t{1} << kSegmentIdBits;
inline std::int64_t segment_id(std::int64_t item, std::size_t seq) {
    return (item << kSegmentIdBits) | static_cast<std::int64_t>(seq);
}
inline std::int64_t segment_item(std::int64_t id) {
    return id >> kSegmentIdBits;
}
inline std::size_t segment_seq(std::int64_t id) {
    return static_cast<std::size_t>(id & (kMaxSegmentsPerItem - 1));
}

// One cached index: what IndexCache::get hands out. Immutable once installed (searches of the
// index are const), so a search keeps using the entry it got while a newer one replaces it.
struct CachedIndex {
    std::unique_ptr<VectorIndex> index;
    ItemDurations durations;  // of the space's items (segment indexes too): search filters
    // The space's catalog generation this entry reflects: every write up to it is in the index
    // (some later ones may be too; applying them again is harmless).
    std::int64_t generation = 0;
    ReindexReport report;  // how the index was obtained
    // Segment indexes (ids: segment_id()): the typical stored segment length and hop (medians
    // over a sample of items), which the query's segments are cut to.
    bool segments = false;
    double segment_s = 0.0;
    double segment_hop_s = 0.0;
};

struct IndexCacheOptions {
    std::filesystem::path db_path;    // the catalog: named in messages, places the index files
    std::filesystem::path index_dir;  // index files; empty = default_index_dir(db_path)
    int threads = 0;                  // index build/search threads (0 = all cores)
    // Called with the space's name on the building thread when a persisted index (HNSW, IVF-PQ)
    // starts to build from the catalog's rows, after its log line, with no lock of the cache
    // held: it may block (the concurrency tests hold a build there). Empty: nothing.
    std::function<void(const std::string& space)> on_build;
};

class IndexCache {
public:
    using EntryResult = Result<std::shared_ptr<const CachedIndex>>;

    // The catalog must outlive the cache.
    IndexCache(CatalogReader& catalog, IndexCacheOptions options);
    ~IndexCache();
    IndexCache(const IndexCache&) = delete;
    IndexCache& operator=(const IndexCache&) = delete;

    // The index of (space, metric, requested spec: "", "auto", an alias or a spec; segments: over
    // the space's stored segments), current with the catalog as read on entry (or the previous
    // one while another request refreshes it). force: rebuilt from scratch. kNotFound (no such
    // space or no items in it), kInvalidArgument / kNotSupported (spec).
    EntryResult get(const std::string& space,
                    Metric metric,
                    const std::string& requested,
                    bool force = false,
                    bool segments = false);

    // Drops the installed entries (e.g. to free memory); a build in flight still installs its.
    void invalidate();

    // Brings every persisted index (HNSW, IVF-PQ) that is cached up to the catalog now (flat ones
    // are left to the next get). Returns how many were checked; the first error otherwise (the
    // others are still refreshed).
    Result<std::size_t> refresh();

    // The file of the index of (space or "<space>#segments", metric, canonical spec).
    std::filesystem::path index_file(const std::string& space,
                                     Metric metric,
                                     const std::string& spec) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace earshot
