// Retrieval evaluation on a labelled manifest (leave-one-out): every manifest item is a query
// against all the others; relevant = same label; items sharing the query's exclude-column value
// (e.g. the same instrument preset) are neither relevant nor counted. Reports P@1/5/10, mAP
// (over the full ranking) and 1-NN accuracy per metric.
// Manifest: CSV with a header; `path` is relative to the manifest's folder (as in
// ../shared/datasets). Thread-safe as the Engine.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/csv.h"
#include "core/status.h"
#include "engine/engine.h"

namespace earshot {

struct EvalOptions {
    std::filesystem::path manifest;
    std::string label_column = "label";
    std::string exclude_column;  // empty = none
    std::string model;           // empty = default
    std::vector<Metric> metrics = {Metric::kCosine, Metric::kEuclidean, Metric::kManhattan,
                                   Metric::kCorrelation};
    std::function<void(const IndexProgress&)> on_progress;  // while embedding missing items
};

struct EvalMetrics {
    Metric metric = Metric::kCosine;
    double p_at_1 = 0, p_at_5 = 0, p_at_10 = 0, map = 0, nn_accuracy = 0;
    std::size_t queries = 0;  // queries with at least one relevant item
};

struct EvalReport {
    std::string model;
    std::size_t items = 0;    // manifest rows found in the catalog with a vector
    std::size_t missing = 0;  // rows that could not be embedded (bad/missing files)
    std::vector<EvalMetrics> results;
};

// Recall of an (approximate) index against exact search on a space's stored vectors
// (`earshot eval --ann`): `queries` stored items drawn with a fixed seed are the queries, each
// excluded from its own answer; recall@k = |ANN top-k ∩ exact top-k| / |exact top-k|, averaged.
struct AnnEvalOptions {
    std::string space;  // empty = default model
    Metric metric = Metric::kCosine;
    std::string index;  // spec under test; empty/"auto" = by library size
    std::size_t k = 10;
    std::size_t queries = 200;
    std::size_t ef_search = 0;  // 0 = index default
    std::size_t nprobe = 0;
    std::uint32_t seed = 1234;
};

struct AnnEvalReport {
    std::string space;
    std::string index;  // canonical spec
    Metric metric = Metric::kCosine;
    std::size_t k = 0;
    std::size_t queries = 0;
    std::size_t items = 0;
    double recall_at_k = 0.0;
    double p50_ms = 0.0;  // latency of the index under test, per query
    double p99_ms = 0.0;
    double exact_p50_ms = 0.0;  // flat, for comparison
};

// kNotFound (no such space), kInvalidArgument (k or queries 0, bad spec).
Result<AnnEvalReport> evaluate_ann(Engine& engine, const AnnEvalOptions& options);

// Embeds (indexes) the manifest's files that are not yet in the catalog, then evaluates.
// kInvalidArgument for a missing column or an empty manifest.
Result<EvalReport> evaluate_manifest(Engine& engine, const EvalOptions& options);

}  // namespace earshot
