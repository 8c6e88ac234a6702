// Searching an engine's catalog: by vector, by segments, by an audio file or bytes, by a library
// item. Each search takes its index from the engine's IndexCache (engine/index_cache.h), resolves
// the hits in the catalog (dropping items removed meanwhile), re-ranks approximate distances
// exactly and marks results that are the same recording as the query (docs/dedup.md).
// The functions here take a request whose `model` names the space (the Engine methods of the
// same names fill in the default space first).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"
#include "engine/embedding.h"
#include "engine/index_cache.h"
#include "index/metric.h"
#include "index/vector_index.h"
#include "models/embedding_model.h"

namespace earshot {

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

// What a search runs against. The catalog and the cache outlive the search.
struct SearchContext {
    CatalogReader& catalog;
    IndexCache& indexes;
    int threads = 0;  // index search threads (0 = all cores)
};

// The k items nearest to `vector` in the space req.model (the item exclude_id and items whose
// content hash is exclude_hash are left out). Engine::search_vector.
Result<SearchResponse> search_by_vector(const SearchContext& ctx,
                                        std::span<const float> vector,
                                        const std::string& query_name,
                                        const SearchRequest& req,
                                        std::optional<std::int64_t> exclude_id = std::nullopt,
                                        const std::string& exclude_hash = "");
// Segment search with given query segments (n x dim, times in seconds). Engine::search_segments.
Result<SearchResponse> search_by_segments(const SearchContext& ctx,
                                          const Matrix& segments,
                                          const std::vector<SegmentRecord>& times,
                                          const std::string& query_name,
                                          const SearchRequest& req,
                                          std::optional<std::int64_t> exclude_id = std::nullopt,
                                          const std::string& exclude_hash = "");
// Embeds a file with `model` and searches its space. Engine::search_file.
Result<SearchResponse> search_by_file(const SearchContext& ctx,
                                      const EmbeddingModel& model,
                                      const std::filesystem::path& query,
                                      const SearchRequest& req);
// Same for audio bytes in memory. Engine::search_bytes.
Result<SearchResponse> search_by_bytes(const SearchContext& ctx,
                                       const EmbeddingModel& model,
                                       std::span<const std::uint8_t> bytes,
                                       const std::string& name,
                                       const SearchRequest& req,
                                       const std::function<Status(double)>& decode_check = {});
// A stored item's vector (or segments) as the query. Engine::search_id.
Result<SearchResponse> search_by_item(const SearchContext& ctx,
                                      std::int64_t id,
                                      const SearchRequest& req);
// Raw index query of req.model's space with exact distances. Engine::nearest.
Result<std::vector<SearchHit>> nearest_hits(const SearchContext& ctx,
                                            std::span<const float> vector,
                                            const SearchRequest& req,
                                            const SearchOptions& options);

// How a query is cut for a segment search of req's space: like the stored segments (their
// median length and hop); the model's own segments when those match them.
Result<Segmenting> query_segmenting(const SearchContext& ctx,
                                    const EmbeddingModel& model,
                                    const SearchRequest& req);

}  // namespace earshot
