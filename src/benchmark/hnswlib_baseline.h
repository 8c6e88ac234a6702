// Plain hnswlib 0.6.2 (Debian libhnswlib-dev, header-only) used as-is, for `earshot bench index
// --compare-hnswlib`: the library's own addPoint (one std::thread per core taking the next row,
// like its Python bindings), setEf and searchKnn with its own distance kernels, on the same stored
// vectors as our HNSW index; either a graph it builds itself, or the very graph our index built
// (same links, levels and entry point), so that walk speed can be compared without the
// build-to-build variance of the graph. Compiled with -O3 (src/benchmark/CMakeLists.txt) like the
// reference build in issue 14.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"
#include "index/metric.h"
#include "index/vector_index.h"

namespace earshot::detail {

class PlainHnswlib {
public:
    virtual ~PlainHnswlib() = default;
    // Sets efSearch for the following searches (not concurrently with search()).
    virtual void set_ef(std::size_t ef) = 0;
    // Labels of the k nearest rows (row i has label ids[i]), nearest first. Thread-safe.
    virtual std::vector<std::int64_t> search(const float* query, std::size_t k) const = 0;
    // The number of distances searchKnn computes for this query (its own walk, counted through a
    // wrapper around its distance function: slower, so untimed). Not concurrently with search().
    virtual std::size_t count_distances(const float* query, std::size_t k) = 0;
    // Elements a layer-0 walk from the entry point can never reach (no path along layer-0
    // links; tombstones included): they cap the recall of every efSearch.
    virtual std::size_t unreachable() const = 0;
};

// Builds HierarchicalNSW<float> (M, efConstruction, seed 100 like our index) over `vectors`
// (cosine/correlation rows are normalised/centred as our index stores them, inner-product space;
// euclidean: L2 space) with `threads` threads (<= 0: all cores). kNotSupported for manhattan.
Result<std::unique_ptr<PlainHnswlib>> build_plain_hnswlib(const Matrix& vectors,
                                                          const std::vector<std::int64_t>& ids,
                                                          Metric metric,
                                                          int m,
                                                          int ef_construction,
                                                          int threads);

// Plain hnswlib (its own space and kernels, float32 vectors) over the graph of our HNSW `index`
// (built over `vectors` under `ids`; an `HNSW<M>,SQfp16` graph gets the float rows): the links,
// levels, entry point and tombstones are copied. kInvalidArgument if `index` is not a non-empty
// HNSW index or an id is not among `ids`; kNotSupported for manhattan.
Result<std::unique_ptr<PlainHnswlib>> plain_hnswlib_on_graph(const VectorIndex& index,
                                                             const Matrix& vectors,
                                                             const std::vector<std::int64_t>& ids,
                                                             Metric metric);

}  // namespace earshot::detail
