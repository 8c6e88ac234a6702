// The engine: the one façade the CLI and the HTTP server use. It ties decoding, embedding models,
// the catalog and search together: ingest folders of audio, search by file / uploaded bytes /
// library item, embed a file, list/remove/export items.
// Thread-safety: an Engine may be shared by threads. Searches find their index in a cache under
// a shared lock; building, loading or updating an index runs with no engine lock held (one build
// per index at a time, requests for it wait or use its previous version), so searches of other
// indexes never wait for it. A search sees the catalog writes (of any process) committed before
// it started, except while another request is already refreshing that index; removed items never
// appear. Details at IndexCache::Impl in index_cache.cpp.
// The work is done by the units below, which this header includes (their types are part of the
// engine's API): embedding.h (embedding audio), ingest.h (index, index_shared, fill_tags,
// fill_fingerprints), importer.h (import), search.h (the searches) and index_cache.h (the indexes
// searches use, reindex).
// The catalog is the engine's: callers read it through catalog() (a CatalogReader) and write
// through the engine's methods, so every write is one the engine knows how to follow (indexes,
// the library map and the caches key on the catalog's generations).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_buffer.h"
#include "catalog/catalog.h"
#include "core/status.h"
#include "engine/embedding.h"
#include "engine/importer.h"
#include "engine/index_cache.h"
#include "engine/ingest.h"
#include "engine/map_coords.h"
#include "engine/search.h"
#include "index/flat_index.h"
#include "index/metric.h"
#include "models/embedding_model.h"

namespace earshot {

// File extensions (lowercase, with dot) that `index` picks up when walking folders.
const std::vector<std::string>& audio_extensions();

struct EngineOptions {
    std::filesystem::path db_path;     // catalog file, or a PostgreSQL URI (open_catalog)
    std::filesystem::path index_dir;   // ANN index files; empty = default_index_dir(db_path)
    std::filesystem::path models_dir;  // --models-dir (empty: default search path)
    int threads = 0;                   // 0 = all cores
    bool create_if_missing = false;    // index creates; search/list require an existing DB
    // IndexCacheOptions::on_build: told when an index build starts (progress display, tests).
    std::function<void(const std::string& space)> on_index_build;
};

struct ReindexOptions {
    std::string space;  // empty = default model
    Metric metric = Metric::kCosine;
    std::string index;      // spec; empty/"auto" = by library size
    bool force = false;     // rebuild from scratch even if the file is current
    bool segments = false;  // the index over the space's stored segments
};

class Engine {
public:
    static Result<std::unique_ptr<Engine>> open(const EngineOptions& options);
    ~Engine();

    // Read access to the catalog (writes: index, import_embeddings, import_vectors,
    // remove_paths, fill_tags, fill_fingerprints).
    CatalogReader& catalog();
    // The shared job queue of a PostgreSQL catalog (`earshot jobs`, `index --status`); nullptr for
    // SQLite catalogs, which have none.
    IngestQueue* ingest_queue();

    // `earshot import`: stores the records of an embeddings file (importer.h).
    Result<ImportReport> import_embeddings(const ImportOptions& options);
    // The Python package's add_vectors (importer.h).
    Result<ImportReport> import_vectors(const std::string& space,
                                        std::vector<VectorRecord> records,
                                        const std::string& source = "add_vectors");

    // Walks paths, embeds new/changed audio with the model and stores it. A bad file is reported
    // in the report's failures and skipped. Each batch is committed, so an interrupted run
    // resumes where it stopped. Errors: kInvalidArgument (unknown model, no such path),
    // kNotFound (weights missing), kIoError (catalog writes).
    Result<IndexReport> index(const IndexOptions& options);
    // PostgreSQL catalogs: with options.paths, queues the files as jobs, then (with or without
    // paths) embeds claimed jobs of the space until none is queued or running anywhere. index()
    // does this by itself for such catalogs; `earshot worker` calls it with no paths.
    // kNotSupported for SQLite catalogs.
    Result<IndexReport> index_shared(const IndexOptions& options);

    // Embeds an audio file (indexed or not) and returns the k most similar catalog items; the
    // query file itself (same path, or same content hash) is left out.
    Result<SearchResponse> search_file(const std::filesystem::path& query,
                                       const SearchRequest& req);
    // Same for audio bytes in memory (uploads); name is used in messages and the response.
    // decode_check (optional) is DecodeOptions::check for the upload's decoding: the server
    // bounds an upload's decoded duration and time with it.
    Result<SearchResponse> search_bytes(std::span<const std::uint8_t> bytes,
                                        const std::string& name,
                                        const SearchRequest& req,
                                        const std::function<Status(double)>& decode_check = {});
    // Uses a stored item's vector as the query (the item itself is left out). kNotFound.
    // By segments: the item's stored segments are the query segments.
    Result<SearchResponse> search_id(std::int64_t id, const SearchRequest& req);
    // Segment search with given query segments (n × dim, times in seconds); as search_vector.
    Result<SearchResponse> search_segments(const Matrix& segments,
                                           const std::vector<SegmentRecord>& times,
                                           const std::string& query_name,
                                           const SearchRequest& req,
                                           std::optional<std::int64_t> exclude_id = std::nullopt,
                                           const std::string& exclude_hash = "");
    // Raw vector query in a space.
    Result<SearchResponse> search_vector(std::span<const float> vector,
                                         const std::string& query_name,
                                         const SearchRequest& req,
                                         std::optional<std::int64_t> exclude_id = std::nullopt,
                                         const std::string& exclude_hash = "");

    // Builds, updates (from the catalog rows changed since the file was written) or checks the
    // index of a space; with force, rebuilds from scratch. A damaged, mismatched or stale file is
    // never used as is. kNotFound (no such space), kInvalidArgument / kNotSupported (spec).
    Result<ReindexReport> reindex(const ReindexOptions& options);

    // Raw index query (no catalog lookups of the hits): for evaluation and benchmarks. The filter
    // in options applies; req.index / ef_search / nprobe / metric / model select the index.
    Result<std::vector<SearchHit>> nearest(std::span<const float> vector,
                                           const SearchRequest& req,
                                           const SearchOptions& options);

    // Fills the tags of items that have none (all items with force) by embedding their files
    // again with `model` (empty: default_space()); the model must have a classifier head
    // (kInvalidArgument otherwise). Items whose file is gone or does not decode are counted as
    // failed and skipped. on_progress(done, total) is called from the calling thread.
    using TagFillReport = earshot::TagFillReport;
    // root: the folder that item keys indexed with --root are relative to (empty: keys are paths).
    Result<TagFillReport> fill_tags(
        const std::string& model,
        bool force,
        const std::filesystem::path& root = {},
        const std::function<void(std::size_t, std::size_t)>& on_progress = {});

    // `reindex --fingerprints`: decodes every item without a fingerprint of the current version
    // and stores one (the implementation is in dedup.cpp).
    Result<FingerprintFillReport> fill_fingerprints(const FingerprintFillOptions& options);

    // Drops cached indexes (e.g. to free memory). Not needed for correctness: a search notices
    // catalog writes (the space's generation) and refreshes its index.
    void invalidate_cache();
    // Brings every persisted index (HNSW, IVF-PQ: an incremental update) that a search has used
    // and that is still cached up to the catalog now, instead of on the next search: `serve`
    // calls it when another process announces a write (change_listener.h). Flat indexes, which
    // are rebuilt whole, are left to the next search. Returns how many indexes were checked; the
    // first error otherwise (the others are still refreshed).
    Result<std::size_t> refresh_cached_indexes();

    // The library map's coordinates of a space (layout: map_layouts()), current with the catalog
    // (MapCache::get: from memory, else the file beside the index files, else computed and
    // kept). allow_stale: while another caller computes them, take the previous ones.
    Result<std::shared_ptr<const MapCoords>> map_coords(
        const std::string& space,
        const std::string& layout = kDefaultMapLayout,
        bool allow_stale = false);

    // The id of the item stored under `key`: an imported record's key (its `id`/`key`/`path`
    // field) or a file path as given or canonicalised. kNotFound naming the key.
    Result<std::int64_t> find_item(const std::string& key);
    // A catalog id written in decimal when such an item exists, else find_item(id_or_key): what
    // `search --id` and the API's `id` accept. kNotFound naming it.
    Result<std::int64_t> resolve_item(const std::string& id_or_key);

    // Removes items by path (as given or canonicalised). Returns how many were removed.
    Result<std::int64_t> remove_paths(const std::vector<std::string>& paths);

    // The space a request without a model searches: the default model (default_model()) if the
    // catalog has items in it, else the catalog's first space with items, else the default model.
    // The one place that decides it, for the CLI, the server and the Python package.
    std::string default_space();

    // The (cached) model for a name (empty: default_space()); kInvalidArgument/kNotFound as
    // make_model.
    Result<const EmbeddingModel*> model(const std::string& name);

private:
    struct State;
    explicit Engine(std::unique_ptr<State> state);
    std::unique_ptr<State> s_;
};

// Name of the default model (docs/models.md says why).
std::string default_model();

// One row of `earshot models`.
struct ModelListing {
    std::string name;
    std::string description;
    std::string license;
    bool weights_found = false;
    std::string location;  // weights folder, or the error saying where we looked
    int dim = 0;           // 0 when the model could not be loaded
    int sample_rate_hz = 0;
    std::size_t n_labels = 0;
};
std::vector<ModelListing> list_models(const std::filesystem::path& models_dir);

}  // namespace earshot
