// End-to-end benchmarks behind `earshot bench` (numbers go to docs/performance.md):
//  - ingest: decode (+ resample) and model embedding of real files, as x realtime;
//  - search: exact top-k latency over synthetic clustered vectors, per metric.
// Not thread-safe with respect to other heavy work (it measures wall time).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"
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
// item, and for each efSearch value and query-thread count p50/p99 latency, QPS and recall@k
// against exact search. Data: synthetic clustered vectors (n + queries held-out points), or the
// stored vectors of a catalog space (queries held out of the index).
struct IndexBenchOptions {
    std::size_t n = 100000;
    int dim = 1024;
    std::size_t queries = 200;
    std::size_t k = 10;
    Metric metric = Metric::kCosine;
    std::vector<std::string> specs = {"flat", "HNSW32"};
    std::vector<std::size_t> ef_search = {32, 64, 96, 192};
    std::vector<int> query_threads = {1, 2};
    std::filesystem::path db;  // non-empty: real embeddings of `space` from this catalog
    std::string space;
};

struct IndexBenchRow {
    std::string spec;
    std::string data;  // "synthetic" or "<space>@<db file name>"
    std::size_t n = 0;
    int dim = 0;
    Metric metric = Metric::kCosine;
    double build_s = 0;
    double bytes_per_item = 0;
    std::size_t ef_search = 0;  // 0 for flat
    int threads = 0;            // concurrent query streams (one search thread each)
    double p50_ms = 0;
    double p99_ms = 0;
    double qps = 0;
    double recall_at_k = 0;
};

Result<std::vector<IndexBenchRow>> bench_index(const IndexBenchOptions& options);

}  // namespace earshot
