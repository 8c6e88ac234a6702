// Vector indexes behind one interface: exact `flat` (the reference), approximate `HNSW<M>`
// (hnswlib graph, our build flags), `SQ8` / `SQfp16` (exact search that scans an 8-bit /
// half-precision copy and re-ranks the best candidates with the float32 rows) and
// `IVF<nlist>,PQ<m>` (faiss inverted lists of PQ codes with
// half-precision re-ranking, for memory at scale), chosen by a spec string ("flat", "HNSW32",
// "HNSW16,efC100", "IVF4096,PQ32").
// Items are our 64-bit item ids; vectors are n × d float32, row-major. All four metrics:
// cosine/correlation as inner product of normalised (centred) rows, euclidean natively, manhattan
// by exact re-ranking of L2 candidates (HNSW) or exactly (flat). Filters apply during search.
// Thread-safety: search() is const and may run concurrently; add/remove/set_threads need
// exclusive access (the engine holds a shared_mutex).
#pragma once

#include <algorithm>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"
#include "index/flat_index.h"
#include "index/metric.h"

namespace earshot {

namespace detail {
class IndexWriter;
class IndexReader;
}  // namespace detail

// A parsed index spec. kind is the registry name ("flat", "hnsw"); text is the canonical spec.
struct IndexSpec {
    std::string kind;
    std::string text;
    int hnsw_m = 0;                // HNSW<M>: graph degree (layer 0 has 2M links)
    int hnsw_ef_construction = 0;  // ",efC<N>" (default kHnswDefaultEfConstruction)
    int ivf_nlist = 0;             // IVF<nlist>: coarse k-means lists
    int pq_m = 0;                  // PQ<m>: bytes per PQ code (8-bit sub-quantisers)
    int sq_bits = 0;  // SQ8 / SQfp16 (and HNSW<M>,SQfp16): bits per stored value of the copy
};

inline constexpr int kHnswDefaultM = 32;
inline constexpr int kHnswDefaultEfConstruction = 128;
inline constexpr std::size_t kHnswDefaultEfSearch = 96;
// From this many items on the default efSearch is kHnswLargeEfSearch: at 1M x 1024 ef 96 gave
// recall@10 0.875 and ef 192 gave 0.953 at p50 2.96 ms (docs/performance.md).
inline constexpr std::size_t kHnswLargeIndexItems = 300000;
inline constexpr std::size_t kHnswLargeEfSearch = 192;
// IVF default nprobe: nlist / 16, at least this many (docs/performance.md).
inline constexpr std::size_t kIvfMinDefaultNprobe = 32;
inline std::size_t ivf_default_nprobe(int nlist) {
    const auto n = static_cast<std::size_t>(nlist);
    return n < kIvfMinDefaultNprobe ? n : std::max(kIvfMinDefaultNprobe, n / 16);
}
// SQ8 / SQfp16: candidates re-ranked exactly per query when SearchOptions::ef_search is 0:
// kSqRerankFactor x k, at least kSqMinRerank (docs/performance.md).
inline constexpr std::size_t kSqRerankFactor = 10;
inline constexpr std::size_t kSqMinRerank = 64;
inline std::size_t sq_default_rerank(std::size_t k) {
    return std::max(kSqMinRerank, kSqRerankFactor * k);
}
// `auto` picks flat below this many items and HNSW32 from it on (docs/performance.md).
inline constexpr std::size_t kAutoAnnThreshold = 50000;

class VectorIndex {
public:
    virtual ~VectorIndex() = default;

    virtual const IndexSpec& spec() const = 0;
    virtual int dim() const = 0;
    virtual Metric metric() const = 0;
    // Live items (tombstones excluded).
    virtual std::size_t size() const = 0;
    virtual bool contains(std::int64_t id) const = 0;
    // Live ids, in no particular order.
    virtual std::vector<std::int64_t> ids() const = 0;

    // Adds vectors.n_rows rows (ids.size() == n_rows, n_cols == dim). kInvalidArgument on a shape
    // mismatch, an id already present (live), a duplicate within the batch or a non-finite
    // value; nothing is added then. kInternal when out of memory.
    virtual Status add(std::span<const std::int64_t> ids, const Matrix& vectors) = 0;
    // Removes the ids that are present (tombstones for HNSW, compacted when they exceed
    // kTombstoneRebuildFraction of the graph); returns how many were removed.
    virtual std::size_t remove(std::span<const std::int64_t> ids) = 0;

    // Top-k hits by ascending distance (ties by ascending id); fewer than k when fewer items pass
    // the filter. Distances and scores are those of metric.h (exact for the returned items).
    // kInvalidArgument if query.size() != dim or a value is non-finite.
    virtual Result<std::vector<SearchHit>> search(std::span<const float> query,
                                                  const SearchOptions& options) const = 0;

    // True when search() distances are exact (flat, HNSW keep full vectors). IVF-PQ ranks with
    // 8-bit copies: its distances are close (docs/performance.md) and the engine recomputes the
    // returned hits' distances from the catalog.
    virtual bool exact_distances() const { return true; }
    // Approximate resident memory of the index structure, bytes.
    virtual std::size_t memory_bytes() const = 0;
    // Worker threads for add() (0 = all cores).
    virtual void set_threads(int threads) = 0;
    // Writes the kind-specific payload (docs/formats.md).
    virtual Status save_payload(detail::IndexWriter& out) const = 0;
};

inline constexpr double kTombstoneRebuildFraction = 0.2;

// Adds or replaces vectors: removes the ids that are present, then adds all.
Status upsert(VectorIndex& index, std::span<const std::int64_t> ids, const Matrix& vectors);

// One registry row: spec syntax, description, factory and payload loader.
struct IndexKind {
    const char* name;    // "flat", "hnsw"
    const char* syntax;  // "flat", "HNSW<M>[,efC<N>][,SQfp16]"
    const char* description;
    Result<std::unique_ptr<VectorIndex>> (*make)(const IndexSpec& spec, int dim, Metric metric);
    Result<std::unique_ptr<VectorIndex>> (*load)(const IndexSpec& spec,
                                                 int dim,
                                                 Metric metric,
                                                 detail::IndexReader& in);
};
const std::vector<IndexKind>& index_kinds();

// Parses a spec (case-insensitive kind). kInvalidArgument listing the valid forms; kNotSupported
// for faiss-style specs this build does not provide (IVF…,Flat, OPQ…, …).
Result<IndexSpec> parse_index_spec(std::string_view text);
// "flat" below kAutoAnnThreshold items, else "HNSW32".
std::string auto_index_spec(std::size_t n_items);

// REQUIRES: dim > 0. kInvalidArgument for a bad spec.
Result<std::unique_ptr<VectorIndex>> make_index(std::string_view spec, int dim, Metric metric);

// Registry entries (index_registry.cpp, hnsw_index.cpp, ivfpq_index.cpp).
Result<std::unique_ptr<VectorIndex>> make_flat_vector_index(const IndexSpec& spec,
                                                            int dim,
                                                            Metric metric);
Result<std::unique_ptr<VectorIndex>> load_flat_vector_index(const IndexSpec& spec,
                                                            int dim,
                                                            Metric metric,
                                                            detail::IndexReader& in);
Result<std::unique_ptr<VectorIndex>> make_hnsw_index(const IndexSpec& spec, int dim, Metric metric);
Result<std::unique_ptr<VectorIndex>> load_hnsw_index(const IndexSpec& spec,
                                                     int dim,
                                                     Metric metric,
                                                     detail::IndexReader& in);

Result<std::unique_ptr<VectorIndex>> make_sq_index(const IndexSpec& spec, int dim, Metric metric);
Result<std::unique_ptr<VectorIndex>> load_sq_index(const IndexSpec& spec,
                                                   int dim,
                                                   Metric metric,
                                                   detail::IndexReader& in);

Result<std::unique_ptr<VectorIndex>> make_ivfpq_index(const IndexSpec& spec,
                                                      int dim,
                                                      Metric metric);
Result<std::unique_ptr<VectorIndex>> load_ivfpq_index(const IndexSpec& spec,
                                                      int dim,
                                                      Metric metric,
                                                      detail::IndexReader& in);

}  // namespace earshot
