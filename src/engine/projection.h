// 2-D projections of a space's whole-item vectors, for the library map (server/ GET /api/map).
// Input: vectors n × d row-major (catalog EmbeddingSet). Output: n × 2 row-major coordinates.
// Pure functions, thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"

namespace earshot {

struct Projection2D {
    std::vector<float> xy;  // n × 2, row i = (x, y) of input row i, each axis scaled to [-1, 1]
    std::array<double, 2> explained_variance_ratio{};  // of the two components (0 when n < 2)
    std::size_t fit_rows = 0;                          // rows the components were fitted on
};

struct PcaOptions {
    // The components are fitted on at most this many rows (0 = all), a deterministic uniform
    // sample without replacement; every row is then projected. 20,000 keeps the fit under a
    // second at any catalog size while the sampled plane stays within a fraction of a degree of
    // the full one on the catalogs measured (docs/performance.md, "Library map").
    std::size_t max_fit_rows = 20000;
    std::uint64_t seed = 0x6d6170;  // of the sample
};

// Principal component analysis to 2-D: rows are L2-normalised first (so the map matches the
// cosine metric, the default), centred on the fitted rows' mean, and projected on the two leading
// eigenvectors of the fitted rows' covariance. The covariance (d × d) is accumulated in float
// blocks with the SIMD dot kernel and summed in double; its top eigenvectors come from a
// deterministic block power iteration with Rayleigh-Ritz (no LAPACK needed). Signs are fixed so
// that the largest-magnitude loading is positive, which keeps the map stable between runs.
// n = 0 gives an empty result, n = 1 the origin; an axis along which the data does not vary is 0.
// kInvalidArgument if vectors has 0 columns while having rows.
Result<Projection2D> project_pca_2d(const Matrix& vectors, const PcaOptions& options = {});

// The rows a fit on at most max_rows of n rows uses (all rows, in order, when max_rows is 0 or
// >= n; else max_rows distinct rows drawn uniformly with `seed`, ascending). Deterministic.
std::vector<std::size_t> pca_fit_rows(std::size_t n, std::size_t max_rows, std::uint64_t seed);

}  // namespace earshot
