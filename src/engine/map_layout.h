// A neighbour-graph 2-D layout for the library map (server/ GET /api/map?layout=umap), in the
// manner of UMAP (McInnes, Healy & Melville 2018): the k nearest neighbours of every row, a fuzzy
// graph of them, and a 2-D embedding of that graph by stochastic gradient descent with negative
// sampling. Our own code; no Python, no umap-learn.
// Input: vectors n × d row-major (catalog EmbeddingSet). Output: n × 2 row-major coordinates in
// [-1, 1] (Projection2D, as project_pca_2d). Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/matrix.h"
#include "core/status.h"
#include "engine/projection.h"
#include "index/metric.h"

namespace earshot {

struct KnnLayoutOptions {
    int n_neighbors = 15;   // k of the neighbour graph (UMAP's default); lowered to n - 1
    double min_dist = 0.1;  // how tightly points of one neighbourhood may pack (UMAP's)
    double spread = 1.0;    // scale of the embedded points (UMAP's)
    int n_epochs = 0;       // 0 = 500 up to 10,000 rows, 200 above (as UMAP)
    int negative_sample_rate = 5;
    double repulsion_strength = 1.0;
    double learning_rate = 1.0;
    std::uint64_t seed = 42;  // the same seed and input give the same layout, bit for bit
    // Worker threads for the neighbour queries and the placed rows of the sampled path (0 = all
    // cores). The HNSW graph is built on one thread and the descent runs on one thread, so the
    // result does not depend on this.
    int threads = 2;
    // Exact neighbours (flat scan) below this many indexed rows (all rows, or the sample on the
    // sampled path), HNSW from it on.
    std::size_t exact_below = 5000;
    std::string hnsw_spec = "HNSW16,efC64";
    std::size_t ef_search = 64;
    // Above this many rows (0 = never), only a sample of this many rows is laid out as above
    // and every other row is placed from its nearest sample rows (see layout_knn_2d). 20,000:
    // 100,000 × 384 in about a third of the time of all rows, with the same 10-NN label
    // agreement (docs/performance.md "Library map layout").
    std::size_t sample_size = 20000;
    // Refinement epochs of each placed row (0 = 30, as UMAP's transform above 10,000 rows).
    int place_epochs = 0;
};

// The curve 1 / (1 + a·x^(2b)) that UMAP fits to the membership strength of two embedded points
// at distance x: 1 up to min_dist, exp(-(x - min_dist) / spread) beyond (least squares over
// x in [0, 3·spread], Levenberg-Marquardt). min_dist 0.1, spread 1 give a ≈ 1.577, b ≈ 0.895.
struct LayoutCurve {
    double a = 0.0;
    double b = 0.0;
};
LayoutCurve fit_layout_curve(double min_dist, double spread);

// Progress of layout_knn_2d: stage "index" (rows added to the HNSW index, when one is built),
// "neighbours" (rows queried), "layout" (epochs done), then "place" (sampled path only).
using LayoutProgress =
    std::function<void(std::string_view stage, std::size_t done, std::size_t total)>;

// The layout of `vectors` under `metric`:
//  1. the n_neighbors nearest other rows of each row (flat below exact_below rows, else an HNSW
//     index built for the call; both through index/, so every metric works);
//  2. per row i, rho_i = the distance to its nearest row at a positive distance and sigma_i such
//     that sum_j exp(-(d_ij - rho_i) / sigma_i) = log2(k); directed weights
//     w_ij = exp(-max(0, d_ij - rho_i) / sigma_i), symmetrised as w_ij + w_ji - w_ij·w_ji;
//  3. start from the PCA map (project_pca_2d) scaled to ±10 with a little seeded jitter, then
//     n_epochs of SGD: each edge is sampled in proportion to its weight and pulls its two ends
//     together (gradient of log(1/(1 + a·x^2b))), each sample also pushes the head away from
//     negative_sample_rate random rows, the step shrinking linearly to 0;
//  4. centre the result and scale it by one factor (the aspect ratio kept) so that the wider
//     axis spans [-1, 1].
// Above sample_size rows (the sampled path, UMAP's fit on a sample plus its transform of the rest):
//  a. sample_size rows drawn uniformly with the seed (pca_fit_rows) get steps 1-3 among
//     themselves (the PCA start is their rows of the whole PCA map; n_epochs by the sample's
//     size);
//  b. every other row gets its n_neighbors nearest sample rows from the sample's index, their
//     weights as in step 2 (its own rho and sigma), starts at the weighted mean of their
//     positions and is refined for place_epochs epochs of the same SGD in which only it moves
//     (pulled to its sample neighbours, pushed from random sample rows; learning rate / 4, as
//     UMAP's transform). The rows are independent, each with its own generator drawn from
//     (seed, row), and run on `threads` threads: the result does not depend on their number;
//  c. step 4 over all rows.
// n <= sample_size gives exactly the layout of sample_size = 0.
// Progress "neighbours" counts all n rows on both paths (the sample's first).
// n = 0 gives an empty result, n = 1 the origin, n = 2 the PCA map; duplicate rows land on (or
// next to) each other. explained_variance_ratio is left 0. kInvalidArgument if vectors has 0
// columns while having rows, or non-finite values; or for bad options.
Result<Projection2D> layout_knn_2d(const Matrix& vectors,
                                   Metric metric,
                                   const KnnLayoutOptions& options = {},
                                   const LayoutProgress& progress = {});

}  // namespace earshot
