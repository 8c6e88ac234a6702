// 2-D projections of a space's whole-item vectors, for the library map (server/ GET /api/map).
// Input: vectors n × d row-major (catalog EmbeddingSet). Output: n × 2 row-major coordinates.
// Pure functions, thread-safe.
#pragma once

#include <array>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"

namespace earshot {

struct Projection2D {
    std::vector<float> xy;  // n × 2, row i = (x, y) of input row i, each axis scaled to [-1, 1]
    std::array<double, 2> explained_variance_ratio{};  // of the two components (0 when n < 2)
};

// Principal component analysis to 2-D: rows are L2-normalised first (so the map matches the
// cosine metric, the default), centred, and projected on the two leading eigenvectors of the
// covariance, found by deterministic power iteration with deflation (no LAPACK needed; O(n·d)
// per iteration). Signs are fixed so that the largest-magnitude loading is positive, which keeps
// the map stable between runs. n = 0 gives an empty result, n = 1 the origin.
// kInvalidArgument if vectors has 0 columns while having rows.
Result<Projection2D> project_pca_2d(const Matrix& vectors);

}  // namespace earshot
