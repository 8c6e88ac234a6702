// The HNSW index kind's parameters and defaults ("HNSW<M>[,efC<N>][,SQfp16]", hnsw_index.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "index/vector_index.h"

namespace earshot {

inline constexpr int kHnswDefaultM = 32;
inline constexpr int kHnswDefaultEfConstruction = 128;
inline constexpr std::size_t kHnswDefaultEfSearch = 96;
// From this many items on the default efSearch is kHnswLargeEfSearch: at 1M x 1024 ef 96 gave
// recall@10 0.875 and ef 192 gave 0.953 at p50 2.96 ms (docs/performance.md).
inline constexpr std::size_t kHnswLargeIndexItems = 300000;
inline constexpr std::size_t kHnswLargeEfSearch = 192;
// A filtered query expecting fewer than max(detail::kExactFilterFloor, 8 * efSearch) passing
// items (index/filter_estimate.h) scans the passing items exactly instead of walking the graph,
// and so does one whose walk computes more distances than kWalkBudgetShare of the passing items
// expected (at least kWalkBudgetFloor): the passing items lie away from the query, and walking
// to them would cost more than scanning them (hnsw_index.cpp, search).
inline constexpr double kWalkBudgetShare = 0.5;
inline constexpr std::size_t kWalkBudgetFloor = 1024;
// The passing-share check: a filtered walk also gives up once it has reached
// kPassingShareCheckAt layer-0 nodes of which fewer than kPassingShareFactor times the passing
// share the filter's sample estimated passed (it is among items the filter rejects, away from
// the passing ones; docs/performance.md).
inline constexpr std::size_t kPassingShareCheckAt = 512;
inline constexpr double kPassingShareFactor = 0.125;
// A filtered walk reads the nodes its filter rejects from an 8-bit steering copy of the vectors,
// built on the first filtered search that needs it, unless the filter's sample estimates at
// least this share passing (few rejected nodes to read; no copy built for them).
inline constexpr double kSteeringMaxShare = 0.9;

struct HnswParams {
    int m = kHnswDefaultM;                             // graph degree (layer 0 has 2M links)
    int ef_construction = kHnswDefaultEfConstruction;  // ",efC<N>"
    bool half = false;                                 // ",SQfp16": binary16 vectors
};

// The parameters of an "hnsw" spec (kInvalidArgument for another kind or a bad spec).
Result<HnswParams> hnsw_params(const IndexSpec& spec);

namespace detail {
// Filtered searches this thread has answered by walking the graph (not by the exact scan of the
// passing items): lets tests check which path they exercise.
std::size_t hnsw_filtered_walks();
// Filtered walks this thread has given up for the exact scan because they computed more
// distances than the budget a scan of the passing items sets (hnsw_index.cpp, kWalkBudgetShare)
// or failed the passing-share check (kPassingShareCheckAt).
std::size_t hnsw_walks_given_up();
// Whether filtered walks give up for the scan past that budget (default true; process-wide).
// For tests and `bench index --compare-walk-budget`.
void set_hnsw_walk_budget(bool on);
// Whether filtered walks under a budget also make the passing-share check (default true;
// process-wide). For tests and `bench index --compare-share-check`.
void set_hnsw_passing_share_check(bool on);
// Distances this thread's graph walks have computed (upper layers and layer 0, all HNSW indexes;
// not the exact scan of a filtered search): `bench index` reports them per query.
std::size_t hnsw_walk_distances();
// Layer-0 nodes whose link lists this thread's graph walks have read (expanded).
std::size_t hnsw_walk_expansions();
// The efSearch this thread's last graph walk used: a filtered walk scales the one asked for
// (max(k, ef * sqrt(passing fraction))).
std::size_t hnsw_last_walk_ef();
// Whether filtered walks take rejected nodes' distances from the 8-bit steering copy (default
// true; process-wide). Off: every node's stored vector, as before the copy existed. For tests
// and `bench index --compare-steering` to compare the two walks in one process.
void set_hnsw_filter_steering(bool on);
// Whether a build (an add of at least 1,024 rows and a quarter of the index, or a compaction)
// renumbers the elements in breadth-first order of layer 0 (default true; process-wide). Off:
// insertion order, as hnswlib keeps it. For tests and `bench index --compare-layout`.
void set_hnsw_reorder(bool on);
// Whether a build (an add of at least 1,024 rows, or a compaction) ends by searching every new
// element for its own vector and linking the ones not found from the nearest element found
// (hnsw_index.cpp, repair_self_search; default true; process-wide). For tests and `bench index
// --compare-self-search`.
void set_hnsw_self_search_repair(bool on);
// Whether a build (an add of at least 1,024 rows, or a compaction) first appends every live
// element with fewer than 4 layer-0 in-links to the lists (with room) of the nearest elements a
// search for its own vector finds (hnsw_index.cpp, repair_in_degree; default true; process-wide).
// For tests and `bench index --compare-in-degree`.
void set_hnsw_in_degree_repair(bool on);
// Whether builds insert through our own insertion (hnsw_index.cpp, insert: hnswlib's addPoint
// with a layer-0 candidate search that waits on memory as our query walk does; default true;
// process-wide). Off: hnswlib's addPoint itself. For tests and `bench index
// --compare-insertion`.
void set_hnsw_own_insertion(bool on);
// Elements inserted through that insertion in this process (all threads, every index).
std::size_t hnsw_own_insertions();
// The layer-0 candidates (distance, internal id; nearest first) an insertion of `query` (in
// stored form: unit length for cosine, float vectors only) would connect from, found from where
// the greedy upper-layer descent lands: by our construction walk (own) or by hnswlib's
// searchBaseLayer. Empty unless `index` is a non-empty float HNSW index of query's dim. For
// tests: both must find the same elements.
std::vector<std::pair<float, std::uint32_t>> hnsw_layer0_candidates(VectorIndex& index,
                                                                    std::span<const float> query,
                                                                    bool own);
// Runs that in-degree repair now, over every element. Returns the links added; nullopt unless
// `index` is HNSW. For `bench index --compare-in-degree` and tests.
std::optional<std::size_t> hnsw_repair_in_degree(VectorIndex& index);
// Where this thread's last HNSW add (a build, an incremental add or a compaction) spent its wall
// time, in seconds: hnswlib's insertions, then (an add of at least 1,024 rows) the in-degree,
// reachability and self-search repairs and the breadth-first renumbering, each 0 when skipped.
// `bench index` prints them beside plain hnswlib's build, which is insertions only.
struct HnswBuildPhases {
    double insert_s = 0;
    double in_degree_s = 0;
    double reachability_s = 0;
    double self_search_s = 0;
    double renumber_s = 0;
};
HnswBuildPhases hnsw_last_build_phases();
// Elements the self-search repair has taken up in this process (all threads, every index): one
// walk each unless deleted, a second pass's elements counted again.
std::size_t hnsw_self_searches();

// Read-only view of an HNSW index's graph as hnswlib 0.6.2 lays it out, for `bench index
// --compare-hnswlib` to walk the same graph with plain hnswlib. Valid while the index is
// unchanged.
struct HnswGraphView {
    std::size_t count = 0;  // elements, tombstones included (internal ids 0 .. count-1)
    std::size_t m = 0;      // links per upper-layer list (layer 0: 2m)
    std::size_t ef_construction = 0;
    int max_level = 0;
    std::uint32_t entry_point = 0;
    // Element i's level-0 record at level0 + i * level0_stride: u32 link count (hnswlib keeps the
    // tombstone flag in its third byte), 2m u32 links, the u64 label at label_offset, the stored
    // vector at data_offset (a multiple of 64, as the stride and level0 are: hnsw_index.cpp,
    // align_level0; plain hnswlib puts the vector right after the links and the label last).
    const char* level0 = nullptr;
    std::size_t level0_stride = 0;
    std::size_t level0_links_bytes = 0;  // 4 + 2m * 4
    std::size_t label_offset = 0;
    std::size_t data_offset = 0;
    // Element i has levels[i] upper layers; its list at level l (1 .. levels[i]) is
    // upper[i] + (l - 1) * upper_stride: u32 count, m u32 links (upper_list_bytes in all).
    const int* levels = nullptr;
    const char* const* upper = nullptr;
    std::size_t upper_stride = 0;
    std::size_t upper_list_bytes = 0;
};
// nullopt unless `index` is a non-empty HNSW index.
std::optional<HnswGraphView> hnsw_graph_view(const VectorIndex& index);
// Renumbers an HNSW index's elements in breadth-first order of layer 0 now, as a build does
// (set_hnsw_reorder): for `bench index --compare-layout`, which builds with reordering off, keeps
// a copy in insertion order and times both layouts of one graph. False unless `index` is HNSW.
bool hnsw_reorder(VectorIndex& index);
// Breadth-first renumberings of a graph of two or more elements in this process (all threads,
// every index: builds, hnsw_reorder). For tests.
std::size_t hnsw_renumberings();
// Runs the reachability repair a build ends with (hnsw_index.cpp, repair_reachability) now: each
// live element that no layer-0 path from the entry point reaches gets an in-link from a reached
// element with room near it, if one is found. Returns the in-links added; nullopt unless `index`
// is HNSW. For tests, which cut links to make islands.
std::optional<std::size_t> hnsw_repair_reachability(VectorIndex& index);
// Runs the self-search repair a build ends with (set_hnsw_self_search_repair) now, over every
// element. Returns the in-links added; nullopt unless `index` is HNSW. For `bench index
// --compare-self-search`, which builds with it off and keeps a copy without it, and for tests.
std::optional<std::size_t> hnsw_repair_self_search(VectorIndex& index);
}  // namespace detail

}  // namespace earshot
