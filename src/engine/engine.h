// The engine: the one façade the CLI and the HTTP server use. It ties decoding, embedding models,
// the catalog and search together: ingest folders of audio, search by file / uploaded bytes /
// library item, embed a file, list/remove/export items.
// Thread-safety: an Engine may be shared by threads. Searches find their index in a cache under
// a shared lock; building, loading or updating an index runs with no engine lock held (one build
// per index at a time, requests for it wait or use its previous version), so searches of other
// indexes never wait for it. A search sees the catalog writes (of any process) committed before
// it started, except while another request is already refreshing that index; removed items never
// appear. Details at Engine::State in engine.cpp.
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
};

struct IndexProgress {
    std::size_t done = 0;       // files finished (any outcome)
    std::size_t total = 0;      // files found
    std::size_t added = 0;      // new or changed files embedded
    std::size_t unchanged = 0;  // skipped: same size + mtime and already embedded
    std::size_t failed = 0;
    double audio_s = 0.0;  // seconds of audio embedded so far
    std::string current;   // path of the last finished file
};

struct IndexFailure {
    std::string path;
    std::string reason;
};

struct IndexReport {
    IndexProgress counts;
    std::vector<IndexFailure> failures;
    double elapsed_s = 0.0;
    bool cancelled = false;  // should_stop said stop: the files finished before it are stored
};

struct IndexOptions {
    std::vector<std::filesystem::path> paths;               // files and/or folders (recursive)
    std::string model;                                      // empty = default model
    bool force = false;                                     // re-embed even unchanged files
    std::size_t batch_size = 32;                            // items per catalog transaction
    std::function<void(const IndexProgress&)> on_progress;  // called from the calling thread
    // Stored segments (for `search --by segments`): windows of segment_s seconds every
    // segment_hop_s, each embedded on its own and pooled as a whole file is. Unset: the model's
    // default (default_segmenting); segment_s == 0: the model's own segments.
    std::optional<double> segment_s;
    std::optional<double> segment_hop_s;
    // Polled from the calling thread about every 100 ms while files are embedded; true stops the
    // run (Ctrl-C in the Python module): files in flight are dropped, finished ones committed.
    std::function<bool()> should_stop;
    // Item keys relative to this folder (machines mounting a library at different paths share
    // items); empty = absolute paths. Files outside root are reported as failures.
    std::filesystem::path root;
    // PostgreSQL catalogs (distributed ingest, docs/scaling.md): files become jobs that every
    // `index`/`worker` process on the catalog claims in turn; a claim is leased for lease_s and
    // renewed while the process lives; a job whose worker was lost max_attempts times fails.
    double lease_s = 60.0;
    int max_attempts = 3;
};

// How stored segments are cut. window_s == 0: the model's own segments.
struct Segmenting {
    double window_s = 0.0;
    double hop_s = 0.0;
};
// The default for a model: models whose own segments are longer than kMaxNativeSegmentS (mn04:
// 10 s windows) get 4 s windows every 2 s, others keep their own (docs/cli.md).
inline constexpr double kMaxNativeSegmentS = 4.0;
Segmenting default_segmenting(const ModelInfo& info);

// What to compare in a search: whole-item vectors, or the query's segments against every stored
// segment (an item scores by its best-matching segment pair; the result says where).
enum class SearchBy { kItems, kSegments };
Result<SearchBy> parse_search_by(std::string_view text);

struct SearchRequest {
    std::string model;  // embedding space; empty = default model
    Metric metric = Metric::kCosine;
    std::size_t k = 10;
    std::optional<double> min_duration_s;
    std::optional<double> max_duration_s;
    // Index spec ("flat", "HNSW32", ...; index/vector_index.h). Empty or "auto": flat below
    // kAutoAnnThreshold items in the space, HNSW32 above. ANN indexes are kept in files next to
    // the catalog (index_file_path) and brought up to date with the catalog before use.
    std::string index;
    std::size_t ef_search = 0;  // per-query HNSW efSearch (0 = index default)
    std::size_t nprobe = 0;     // per-query IVF lists probed (0 = index default)
    SearchBy by = SearchBy::kItems;
    // By segments with a library item as the query (search_id): only its stored segments that
    // overlap [query_start_s, query_end_s] ("more like this segment"). Unset: all of them.
    std::optional<double> query_start_s;
    std::optional<double> query_end_s;
    // Only items passing this filter (tags, folder, text) can be results. Applied inside the
    // index search (its filter callback), so k results that pass come back whenever k exist.
    ItemFilter filter;
    // Search even when the query audio is silent (peak below kSilentQueryDbfs); otherwise such a
    // query fails (is_silent_query).
    bool allow_silent = false;
};

// A query whose peak is below this (dBFS) is refused as silent unless allow_silent.
inline constexpr double kSilentQueryDbfs = -50.0;
// The error of a silent query is kInvalidArgument with a message starting with this; the server
// answers it with 422 and code "SilentQuery", the CLI with exit code 8 (is_silent_query).
inline constexpr std::string_view kSilentQueryMessage = "silent query: ";
bool is_silent_query(const Error& error);
// The silent-query error naming the query and its peak if samples peak below kSilentQueryDbfs.
Status check_query_not_silent(std::span<const float> samples, const std::string& query_name);

// Where a segment search matched: the query span and the item span (seconds from each file's
// start). Spans are those of the best segment pair, widened to the other hits of the item at the
// same time offset (within half a hop).
struct SegmentMatch {
    double query_start_s = 0.0;
    double query_end_s = 0.0;
    double item_start_s = 0.0;
    double item_end_s = 0.0;
};

struct SearchResultItem {
    int rank = 0;  // 1-based
    std::int64_t id = 0;
    std::string path;
    std::string name;
    double duration_s = 0.0;
    float distance = 0.0f;
    float score = 0.0f;
    std::optional<SegmentMatch> match;  // by segments only
    // The result is the same recording as the query (another encode, gain, trim; docs/dedup.md),
    // judged from the stored fingerprints; false when either has no fingerprint.
    bool same_recording = false;
    double same_recording_offset_s = 0.0;  // the query starts this far into the result
    std::vector<TagScore> tags;            // the item's tags, best first
};

struct SearchResponse {
    std::string query;
    std::string model;
    Metric metric = Metric::kCosine;
    std::string index;  // canonical spec of the index that answered
    SearchBy by = SearchBy::kItems;
    std::vector<SearchResultItem> results;  // best first
};

struct LabelScore {
    std::string name;
    float score = 0.0f;
};

// Tags stored at index time: the model's classifier labels (mean score over the segments), at
// most kMaxItemTags of them with a score >= kMinTagScore, best first (docs/cli.md "Tags").
inline constexpr std::size_t kMaxItemTags = 5;
inline constexpr float kMinTagScore = 0.2f;
std::vector<TagScore> tags_from_labels(const std::vector<LabelScore>& labels);

struct EmbedResult {
    std::string model;
    int dim = 0;
    AudioInfo info;
    std::vector<float> embedding;    // whole-file vector (models/pooling.h)
    Embeddings segments;             // per segment, in time order
    std::vector<LabelScore> labels;  // mean score over segments, best first; empty if no head
};

struct ReindexOptions {
    std::string space;  // empty = default model
    Metric metric = Metric::kCosine;
    std::string index;      // spec; empty/"auto" = by library size
    bool force = false;     // rebuild from scratch even if the file is current
    bool segments = false;  // the index over the space's stored segments
};

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

// Where the ANN index of (space, metric, spec) lives: "<db>.idx/<space>.<metric>.<spec>.esix"
// (the folder is default_index_dir(db_path)).
std::filesystem::path index_file_path(const std::filesystem::path& db_path,
                                      const std::string& space,
                                      Metric metric,
                                      const std::string& canonical_spec);

class Engine {
public:
    static Result<std::unique_ptr<Engine>> open(const EngineOptions& options);
    ~Engine();

    Catalog& catalog();

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
    struct TagFillReport {
        std::size_t total = 0;   // items considered
        std::size_t tagged = 0;  // items that got at least one tag
        std::size_t failed = 0;
        std::vector<IndexFailure> failures;
        double elapsed_s = 0.0;
    };
    // root: the folder that item keys indexed with --root are relative to (empty: keys are paths).
    Result<TagFillReport> fill_tags(
        const std::string& model,
        bool force,
        const std::filesystem::path& root = {},
        const std::function<void(std::size_t, std::size_t)>& on_progress = {});

    // Drops cached indexes (e.g. to free memory). Not needed for correctness: a search notices
    // catalog writes (the space's generation) and refreshes its index.
    void invalidate_cache();
    // Brings every persisted index (HNSW, IVF-PQ: an incremental update) that a search has used
    // and that is still cached up to the catalog now, instead of on the next search: `serve`
    // calls it when another process announces a write (change_listener.h). Flat indexes, which
    // are rebuilt whole, are left to the next search. Returns how many indexes were checked; the
    // first error otherwise (the others are still refreshed).
    Result<std::size_t> refresh_cached_indexes();

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

// Embeds one file with a model (no catalog needed). top_labels limits `labels` (0 = all).
struct EmbedOptions {
    std::string model;
    std::filesystem::path models_dir;
    int threads = 0;
    std::size_t top_labels = 10;
    // Drop leading silence (below -60 dBFS) before embedding, as `index` and `search` do, so
    // padding does not change the vectors. false: embed from sample 0 like the models' reference
    // implementations (segment vectors then match ../shared/models/*/reference; a few ms of quiet
    // lead would otherwise shift every patch).
    bool trim_leading_silence = true;
};
Result<EmbedResult> embed_file(const std::filesystem::path& path, const EmbedOptions& options);
// Same with an already-made model.
// With segmenting.window_s > 0 the segments are windows cut as Segmenting says (each embedded
// and pooled like a whole file); the whole-file vector and labels are the model's own.
Result<EmbedResult> embed_audio_file(const std::filesystem::path& path,
                                     const EmbeddingModel& model,
                                     std::size_t top_labels,
                                     const Segmenting& segmenting = {},
                                     bool trim_leading_silence = true);
// Same for mono samples in memory at any rate (resampled to the model's rate as decoding does;
// info: duration, the given rate, 1 channel, codec "pcm_f32"). kInvalidArgument for a rate
// outside 1000..384000 Hz, no samples or a non-finite sample.
Result<EmbedResult> embed_samples(std::span<const float> samples,
                                  int sample_rate_hz,
                                  const EmbeddingModel& model,
                                  std::size_t top_labels);

}  // namespace earshot
