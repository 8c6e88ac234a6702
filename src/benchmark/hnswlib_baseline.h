// Plain hnswlib 0.6.2 (Debian libhnswlib-dev, header-only) used as-is, for `earshot bench index
// --compare-hnswlib`: the library's own addPoint (one std::thread per core taking the next row,
// like its Python bindings), setEf and searchKnn, on the same stored vectors as our HNSW index.
// Compiled with -O3 (src/engine/CMakeLists.txt) like the reference build in issue 14.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"
#include "index/metric.h"

namespace earshot::detail {

class PlainHnswlib {
public:
    virtual ~PlainHnswlib() = default;
    // Sets efSearch for the following searches (not concurrently with search()).
    virtual void set_ef(std::size_t ef) = 0;
    // Labels of the k nearest rows (row i has label ids[i]), nearest first. Thread-safe.
    virtual std::vector<std::int64_t> search(const float* query, std::size_t k) const = 0;
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

}  // namespace earshot::detail
