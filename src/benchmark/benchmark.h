// End-to-end benchmarks behind `earshot bench` (numbers go to docs/performance.md):
//  - ingest: decode (+ resample) and model embedding of real files, as x realtime;
//  - search: exact top-k latency over synthetic clustered vectors, per metric;
//  - index: ANN specs on synthetic or stored vectors;
//  - windows: a large corpus of real per-segment embeddings for `index` (written as .npy).
// Not thread-safe with respect to other heavy work (it measures wall time).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "index/hnsw_index.h"
#include "index/metric.h"

namespace earshot {

struct IngestBenchOptions {
    std::filesystem::path folder;     // audio files (walked recursively)
    std::size_t max_files = 200;      // first N files in sorted order
    std::vector<std::string> models;  // empty = all models whose weights are found
    std::filesystem::path models_dir;
    int threads = 0;
};

struct IngestBenchRow {
    std::string model;
    std::size_t files = 0;
    double audio_s = 0;
    double decode_s = 0;  // wall time decoding + resampling to the model's rate
    double embed_s = 0;   // wall time front end + network + pooling
    int threads = 0;
    double decode_x_realtime() const { return decode_s > 0 ? audio_s / decode_s : 0; }
    double embed_x_realtime() const { return embed_s > 0 ? audio_s / embed_s : 0; }
    double total_x_realtime() const {
        return decode_s + embed_s > 0 ? audio_s / (decode_s + embed_s) : 0;
    }
};

Result<std::vector<IngestBenchRow>> bench_ingest(const IngestBenchOptions& options);

struct SearchBenchOptions {
    std::size_t n = 100000;
    int dim = 1024;
    std::size_t queries = 50;
    std::size_t k = 10;
    int threads = 0;
    std::vector<Metric> metrics = {Metric::kCosine, Metric::kEuclidean, Metric::kManhattan,
                                   Metric::kCorrelation};
};

struct SearchBenchRow {
    Metric metric = Metric::kCosine;
    std::size_t n = 0;
    int dim = 0;
    int threads = 0;
    double build_s = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    double qps = 0;
};

Result<std::vector<SearchBenchRow>> bench_search(const SearchBenchOptions& options);

// Index benchmark (`earshot bench index`): for each spec, build time (all threads), memory per
// item, and for each efSearch value (HNSW) or nprobe value (IVF) and query-thread count p50/p99
// latency, QPS and recall@k against exact search. Data: synthetic clustered vectors (n + queries
// held-out points), or the stored vectors of a catalog space (queries held out of the index).
struct IndexBenchOptions {
    std::size_t n = 100000;
    int dim = 1024;
    std::size_t queries = 200;
    std::size_t k = 10;
    Metric metric = Metric::kCosine;
    std::vector<std::string> specs = {"flat", "HNSW32"};
    std::vector<std::size_t> ef_search = {32, 64, 96, 192};
    std::vector<std::size_t> nprobe = {0};  // IVF specs: lists probed (0 = the index default)
    std::vector<std::size_t> rerank = {0};  // IVF specs: PQ candidates re-ranked (0 = 100 x k)
    std::vector<int> query_threads = {1, 2};
    std::filesystem::path db;  // non-empty: real embeddings of `space` from this catalog
    std::string space;
    // Also time plain hnswlib 0.6.2's searchKnn (its own kernels) at the same efSearch values for
    // each HNSW spec, for ours/hnswlib ratios side by side in one run: on a graph it builds itself
    // (same stored vectors, M, efConstruction, build threads; rows with engine "hnswlib") and on
    // the graph our index built (float32 vectors; engine "hnswlib-same-graph"), which compares
    // the walks without the build-to-build variance of the graph.
    bool compare_hnswlib = false;
    // > 0: every knob is also run with a filter keeping this fraction of the items (id % round(1 /
    // fraction) == 0, as a duration filter through the engine's item predicate), recall against
    // the exact filtered top-k. Plain hnswlib 0.6.2 has no filter.
    double filter_keep = 0.0;
    // Non-empty (with db, not with filter_keep): the filter keeps the items under this folder
    // instead, as `search --folder` does (the catalog's filter_ids), so that which items pass
    // follows the content, as a real filter's does; the rows' filter_keep is the fraction kept.
    // Run through the engine's item predicate with those ids as its IdSet, as a search runs it.
    std::string filter_folder;
    // filter_keep > 0 or filter_folder, HNSW specs: also time each filtered setting with the 8-bit
    // steering copy switched off (rows with engine "earshot-unsteered"), alternating rounds with
    // the default walk, so that the two filtered walks are compared side by side in one run.
    bool compare_steering = false;
    // Likewise, HNSW specs: each filtered setting also timed with the walk budget off
    // (detail::set_hnsw_walk_budget; rows with engine "earshot-no-walk-budget"): walks that
    // would give up for the scan of the passing items walk on. Not with compare_steering.
    bool compare_walk_budget = false;
    // Likewise, HNSW specs: each filtered setting also timed with the passing-share check off
    // (detail::set_hnsw_passing_share_check; rows with engine "earshot-no-share-check"): walks
    // give up only past their budget. Not with compare_steering or compare_walk_budget.
    bool compare_share_check = false;
    // Likewise: each filtered setting also timed with the filter asked one id at a time, without
    // its block form (SearchOptions::filter_block; rows with engine "earshot-per-id-filter").
    // Not with the three comparisons above.
    bool compare_filter_block = false;
    // HNSW specs: build with the breadth-first renumbering off (detail::set_hnsw_reorder), keep a
    // copy of that graph in insertion order (an index file, saved and loaded), then renumber our
    // index as a build does, and time every setting on both layouts of the one graph (rows with
    // engine "earshot-insertion-order"), alternating rounds. The build time of our rows includes
    // the renumbering.
    bool compare_layout = false;
    // HNSW specs: build with the self-search repair off (detail::set_hnsw_self_search_repair),
    // keep a copy of that graph (an index file), then run the repair on our index, and time every
    // setting on both graphs (rows with engine "earshot-no-self-search"), alternating rounds. The
    // build time of our rows includes the repair; our index is renumbered again after it
    // (untimed) so that both graphs are in breadth-first order. Not with compare_layout.
    bool compare_self_search = false;
    // HNSW specs: likewise with the in-degree repair (detail::set_hnsw_in_degree_repair; rows
    // with engine "earshot-no-in-degree-repair"), also renumbered again after it. Not with
    // compare_layout or compare_self_search.
    bool compare_in_degree = false;
    // HNSW specs: a second build of the same rows with hnswlib's own addPoint instead of our
    // insertion (detail::set_hnsw_own_insertion; rows with engine "earshot-hnswlib-insertion",
    // built after ours, the same repairs and renumbering), every setting timed on both graphs,
    // alternating rounds. Not with the three comparisons above.
    bool compare_insertion = false;
    // HNSW specs: each of our single-thread rows is also compared with the other curve at its
    // recall@10 (ties) by timing that curve at efSearch values found for it: plain hnswlib on its
    // own graph (compare_hnswlib) for unfiltered rows, our unfiltered walk for filtered rows. The
    // smallest efSearch in [k, kMaxMatchedEf] that reaches the row's recall and the one below it
    // are found by bisection (recall passes, untimed as far as the result goes), then timed in
    // rounds alternating with the row's own setting (best of `rounds` each), and the other
    // curve's CPU QPS is interpolated between those two adjacent efSearch values. So the ratio at
    // equal recall comes from settings timed side by side, not from rows timed minutes apart.
    bool matched_recall = false;
    int build_threads = 0;  // 0 = all cores (both our index and plain hnswlib)
    // compare_hnswlib: each unfiltered HNSW setting is timed this many times alternating with
    // both plain hnswlib searches; the row with the higher CPU QPS of each is kept.
    int rounds = 3;
};

struct IndexBenchRow {
    std::string spec;
    // or "hnswlib" / "hnswlib-same-graph" (plain hnswlib on its own / on our graph,
    // compare_hnswlib), or "earshot-unsteered" (filtered walk without the steering copy,
    // compare_steering), or "earshot-per-id-filter" (compare_filter_block), or
    // "earshot-insertion-order" (the same graph, not renumbered,
    // compare_layout), or "earshot-no-self-search" (the same graph before the self-search
    // repair, compare_self_search), or "earshot-no-in-degree-repair" (before the in-degree
    // repair, compare_in_degree), or "earshot-hnswlib-insertion" (another build, through
    // hnswlib's addPoint, compare_insertion)
    std::string engine = "earshot";
    double filter_keep = 1.0;  // fraction of items the query filter keeps (1 = no filter)
    std::string data;          // "synthetic" or "<space>@<db file name>"
    std::size_t n = 0;
    int dim = 0;
    Metric metric = Metric::kCosine;
    double build_s = 0;
    double build_cpu_s = 0;  // CPU time of the build, all threads
    double bytes_per_item = 0;
    // Our HNSW rows: where the build's wall time went (detail::hnsw_last_build_phases; the
    // build_s above also counts making the index and the copy of the vectors it stores).
    detail::HnswBuildPhases build_phases;
    std::size_t ef_search = 0;  // HNSW efSearch; IVF: PQ candidates re-ranked; 0 for flat
    std::size_t nprobe = 0;     // IVF: lists probed (0 = default; the row then reports it)
    int threads = 0;            // concurrent query streams (one search thread each)
    double p50_ms = 0;
    double p99_ms = 0;
    double qps = 0;
    // Queries per second of CPU time (sum of the query threads' CPU time): robust to other load
    // on the machine, unlike qps (wall time).
    double cpu_qps = 0;
    double recall_at_k = 0;  // |hits ∩ exact top-k| / k, averaged over the queries
    // Same, but a hit also counts when its exact distance is within 1e-6 of the exact k-th
    // neighbour's (ties: real data has exact duplicates, e.g. silent segments, and then the exact
    // top-k is one arbitrary choice among equals). >= recall_at_k.
    double recall_at_k_ties = 0;
    // HNSW rows: distances the graph walk computed per query (upper layers and layer 0; counted
    // in an untimed pass; 0 when not counted, e.g. filtered queries answered by the exact scan).
    double distances_per_query = 0;
    // HNSW rows (ours): layer-0 nodes expanded per query (link lists read; same pass), and the
    // efSearch the walk used (filtered walks scale the one asked for; 0 when not counted).
    double expansions_per_query = 0;
    std::size_t walk_ef = 0;
    // HNSW rows (ours, filtered): the share of queries whose walk gave up for the scan of the
    // passing items (detail::hnsw_walks_given_up; same pass).
    double walks_given_up = 0;
    // compare_hnswlib rows: elements that a layer-0 walk from the entry point cannot reach in
    // that graph ("hnswlib-same-graph": ours), which caps recall at every efSearch.
    std::size_t unreachable = 0;
};

// matched_recall: one of our rows against the other curve at the same recall@10 (ties).
inline constexpr std::size_t kMaxMatchedEf = 1024;
struct MatchedRecallRow {
    std::string spec;
    std::string other;          // "hnswlib" (its own graph) or "earshot unfiltered"
    double filter_keep = 1.0;   // our row's filter
    std::size_t ef_search = 0;  // our row's efSearch
    double recall = 0;          // our row's recall@10 (ties)
    double cpu_qps = 0;         // our row's, timed beside the other curve's two settings
    // false: the other curve stays below `recall` up to efSearch kMaxMatchedEf (no ratio).
    bool other_reaches = true;
    // The largest efSearch below the recall (0 when even efSearch = k reaches it) and the
    // smallest that reaches it (ef_below + 1, unless ef_below is 0), with their recalls and CPU
    // QPS.
    std::size_t other_ef_below = 0;
    std::size_t other_ef_at = 0;
    double other_recall_below = 0;
    double other_recall_at = 0;
    double other_qps_below = 0;
    double other_qps_at = 0;
    // The other curve's CPU QPS at `recall`: log(QPS) linear in recall between the two settings;
    // other_qps_at when other_ef_below is 0 (then a lower bound: a smaller efSearch would be
    // faster still).
    double other_cpu_qps = 0;
    // Ours / hnswlib CPU QPS, or filtered / unfiltered time (other_cpu_qps / cpu_qps).
    double ratio = 0;
    // "<=" or ">=" when other_cpu_qps is a lower bound, else empty.
    std::string bound;
};

// matched (optional): receives the matched_recall comparisons.
Result<std::vector<IndexBenchRow>> bench_index(const IndexBenchOptions& options,
                                               std::vector<MatchedRecallRow>* matched = nullptr);

// CPU QPS of one engine's curve (its rows of one spec, filter and thread count, in efSearch
// order) at recall@10 (ties) `recall`, interpolated linearly in log(QPS) between the two rows
// around it (`bench index` prints ratios at equal recall with it). Below the curve's lowest
// recall: its lowest-ef row, flagged as a lower bound (a smaller efSearch would be faster
// still). nullopt above the curve's best recall or for an empty curve.
struct QpsAtRecall {
    double qps = 0.0;
    bool lower_bound = false;
};
std::optional<QpsAtRecall> qps_at_recall(const std::vector<const IndexBenchRow*>& curve,
                                         double recall);

// Real-embedding corpus (`earshot bench windows`): the per-segment vectors of every audio file
// under a folder (walked recursively, sorted), each file embedded `offsets` times with the start
// of its audio shifted by j * segment_hop_s / offsets, j = 0 .. offsets-1. The audio is decoded
// at the model's rate and its leading silence trimmed first (as `earshot index` does), so offset
// 0 gives exactly the segments `earshot embed` reports. A shift j > 0 is used only when at least
// min_shifted_audio_s of audio remains after it (so short clips do not turn into a string of
// near-silent tails). Written to `out` (float32 (rows, dim) C-order .npy, NumPy format 1.0) and
// `out` with ".jsonl" (one line per row: path "<file>#<model>.o<j>.s<i>", name, duration_s,
// file, offset_s, start_s, end_s), which `earshot import` reads as is. Both files are written
// under "<name>.part" and renamed when complete. Files that cannot be decoded or embedded are
// reported in failures (and logged) and skipped.
struct WindowsProgress {
    std::size_t done = 0;   // files finished (any outcome)
    std::size_t total = 0;  // files found
    std::size_t failed = 0;
    std::size_t rows = 0;  // vectors written so far
    std::string current;   // path of the last finished file
};

struct WindowsOptions {
    std::filesystem::path folder;
    std::string model;  // empty = default model
    std::filesystem::path models_dir;
    int offsets = 1;  // >= 1
    double min_shifted_audio_s = 1.0;
    std::filesystem::path out;  // .npy
    int threads = 0;            // files embedded at once; 0 = all cores
    std::function<void(const WindowsProgress&)> on_progress;  // called from the calling thread
};

struct WindowsReport {
    std::string model;
    int dim = 0;
    double segment_hop_s = 0.0;
    int offsets = 0;
    std::size_t files = 0;  // embedded
    std::size_t rows = 0;
    double audio_s = 0.0;  // decoded audio (after trimming), counted once per file
    std::vector<IndexFailure> failures;
    std::filesystem::path npy_path;
    std::filesystem::path metadata_path;
    double elapsed_s = 0.0;
};

// kInvalidArgument (no such folder, no audio files, offsets < 1, unknown model, none of the
// files decoded), kNotFound (weights), kIoError (writing).
Result<WindowsReport> make_windows_corpus(const WindowsOptions& options);

}  // namespace earshot
