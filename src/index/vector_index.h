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

// A parsed index spec: the registry row's name and the canonical spec text. The kind's own
// parameters (HNSW's M, IVF's nlist, ...) are parsed from `text` by the kind's source file.
struct IndexSpec {
    std::string kind;  // IndexKind::name ("flat", "hnsw")
    std::string text;  // canonical spec ("HNSW16,efC64")
};

// `auto` picks flat below this many items and auto_index_spec()'s ANN kind from it on
// (docs/performance.md).
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

// One registry row: everything the registry, the CLI help and the tests know about an index
// kind, defined once in the kind's source file (docs/adding-an-index.md).
struct IndexKind {
    const char* name = "";    // IndexSpec::kind: "flat", "hnsw"
    const char* prefix = "";  // lower-case start of this kind's specs: "hnsw", "ivf", "sq"
    const char* syntax = "";  // "HNSW<M>[,efC<N>][,SQfp16]"
    const char* description = "";
    // Valid specs, '|'-separated; the first is the usual one. The every-kind test builds,
    // searches and round-trips each (with every metric).
    const char* examples = "";
    // Parses a spec that starts with `prefix` (case-insensitive) into its canonical form;
    // kInvalidArgument (the registry adds the valid forms) or kNotSupported for bad ones.
    Result<IndexSpec> (*parse)(std::string_view text) = nullptr;
    Result<std::unique_ptr<VectorIndex>> (*make)(const IndexSpec& spec,
                                                 int dim,
                                                 Metric metric) = nullptr;
    Result<std::unique_ptr<VectorIndex>> (*load)(const IndexSpec& spec,
                                                 int dim,
                                                 Metric metric,
                                                 detail::IndexReader& in) = nullptr;
    // One phrase each for `--index`, `--ef-search` and `--nprobe` help (defaults included);
    // nullptr when the kind has nothing to say (e.g. flat ignores efSearch).
    std::string (*index_help)() = nullptr;
    std::string (*ef_search_help)() = nullptr;
    std::string (*nprobe_help)() = nullptr;
};

// IndexKind::make and ::load for an index built as Index(spec, dim, metric) that then reads its own
// payload (flat, SQ, the test's toy kind): `.make = &make_index_of<T>, .load = &load_index_of<T>`.
template <typename Index>
Result<std::unique_ptr<VectorIndex>> make_index_of(const IndexSpec& spec, int dim, Metric metric) {
    return std::make_unique<Index>(spec, dim, metric);
}
template <typename Index>
Result<std::unique_ptr<VectorIndex>> load_index_of(const IndexSpec& spec,
                                                   int dim,
                                                   Metric metric,
                                                   detail::IndexReader& in) {
    auto index = std::make_unique<Index>(spec, dim, metric);
    EARSHOT_RETURN_IF_ERROR(index->load_payload(in));
    return std::unique_ptr<VectorIndex>(std::move(index));
}

// Every row: built-in kinds (index_registry.cpp lists them), then registered ones.
const std::vector<IndexKind>& index_kinds();
// Adds a row (a kind defined outside src/index, e.g. in a test) before other threads use the
// registry. kAlreadyExists for a taken name or prefix, kInvalidArgument for a row without
// name, prefix, parse, make or load.
Status register_index_kind(const IndexKind& kind);
// The row named `name`, or nullptr.
const IndexKind* find_index_kind(std::string_view name);

// Parses a spec (case-insensitive kind). kInvalidArgument listing the valid forms; kNotSupported
// for faiss-style specs this build does not provide (IVF…,Flat, OPQ…, …).
Result<IndexSpec> parse_index_spec(std::string_view text);
// "flat" below kAutoAnnThreshold items, else the default ANN spec (kAutoAnnSpec in
// index_registry.cpp).
std::string auto_index_spec(std::size_t n_items);

// REQUIRES: dim > 0. kInvalidArgument for a bad spec.
Result<std::unique_ptr<VectorIndex>> make_index(std::string_view spec, int dim, Metric metric);

// Help text generated from the rows: `--index` (every syntax and auto), `--ef-search`,
// `--nprobe` (what each kind that uses the knob does with it, with its defaults).
std::string index_spec_help();
std::string index_ef_search_help();
std::string index_nprobe_help();

}  // namespace earshot
