// The neighbour-graph map layout (engine/map_layout.h): UMAP's curve constants, repeatability for
// a seed on both neighbour paths (exact and HNSW), clusters kept apart where PCA overlaps them,
// valid coordinates for degenerate inputs; and the sampled path for big inputs (placed rows with
// their clusters, the same agreement, repeatable whatever the threads, every metric).
#include "engine/map_layout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include <gtest/gtest.h>

#include "engine/projection.h"

namespace earshot {
namespace {

// n_clusters Gaussian blobs of `per` rows in d dimensions: centres on random directions, noise
// `noise` per coordinate. labels[i] is row i's blob.
Matrix blobs(std::size_t n_clusters,
             std::size_t per,
             std::size_t d,
             double noise,
             std::vector<int>& labels,
             unsigned seed = 7) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> gauss(0.0, 1.0);
    std::vector<std::vector<double>> centres(n_clusters, std::vector<double>(d));
    for (auto& c : centres) {
        double s = 0.0;
        for (double& v : c) {
            v = gauss(rng);
            s += v * v;
        }
        for (double& v : c) v /= std::sqrt(s);
    }
    Matrix m(n_clusters * per, d);
    labels.assign(m.n_rows, 0);
    for (std::size_t i = 0; i < m.n_rows; ++i) {
        std::size_t c = i % n_clusters;  // interleaved, so row order says nothing
        labels[i] = static_cast<int>(c);
        for (std::size_t j = 0; j < d; ++j)
            m.at(i, j) = static_cast<float>(centres[c][j] + noise * gauss(rng));
    }
    return m;
}

// Mean over points of the fraction of their k nearest 2-D neighbours with the same label.
double label_agreement(const std::vector<float>& xy, const std::vector<int>& labels, int k) {
    const std::size_t n = labels.size();
    double total = 0.0;
    std::vector<std::pair<float, std::size_t>> d(n);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            float dx = xy[i * 2] - xy[j * 2];
            float dy = xy[i * 2 + 1] - xy[j * 2 + 1];
            d[j] = {j == i ? INFINITY : dx * dx + dy * dy, j};
        }
        std::partial_sort(d.begin(), d.begin() + k, d.end());
        int same = 0;
        for (int r = 0; r < k; ++r)
            same += labels[d[static_cast<std::size_t>(r)].second] == labels[i];
        total += static_cast<double>(same) / k;
    }
    return total / static_cast<double>(n);
}

void expect_valid(const Projection2D& p, std::size_t n) {
    ASSERT_EQ(p.xy.size(), n * 2);
    float max_abs = 0.0f;
    for (float v : p.xy) {
        ASSERT_TRUE(std::isfinite(v));
        ASSERT_LE(std::abs(v), 1.0f);
        max_abs = std::max(max_abs, std::abs(v));
    }
    if (n >= 3) {
        EXPECT_FLOAT_EQ(max_abs, 1.0f);  // the wider axis spans [-1, 1]
    }
}

TEST(MapLayout, CurveMatchesUmapConstants) {
    // umap-learn's find_ab_params(1.0, 0.1) = (1.5769, 0.8951) and (1.0, 0.5) = (0.5830, 1.3341).
    auto c = fit_layout_curve(0.1, 1.0);
    EXPECT_NEAR(c.a, 1.5769, 0.01);
    EXPECT_NEAR(c.b, 0.8951, 0.005);
    auto wide = fit_layout_curve(0.5, 1.0);
    EXPECT_NEAR(wide.a, 0.5830, 0.01);
    EXPECT_NEAR(wide.b, 1.3341, 0.01);
}

TEST(MapLayout, SameSeedSameLayoutOnBothNeighbourPaths) {
    std::vector<int> labels;
    Matrix m = blobs(5, 80, 32, 0.1, labels);
    for (std::size_t exact_below : {std::size_t{100000}, std::size_t{0}}) {  // flat, then HNSW
        KnnLayoutOptions opts;
        opts.exact_below = exact_below;
        opts.n_epochs = 100;
        auto a = layout_knn_2d(m, Metric::kCosine, opts);
        opts.threads = 1;  // neighbour queries on a different thread count
        auto b = layout_knn_2d(m, Metric::kCosine, opts);
        ASSERT_TRUE(a.has_value()) << a.error().to_string();
        ASSERT_TRUE(b.has_value()) << b.error().to_string();
        expect_valid(*a, m.n_rows);
        EXPECT_EQ(a->xy, b->xy) << "exact_below " << exact_below;
        opts.seed = 43;
        auto c = layout_knn_2d(m, Metric::kCosine, opts);
        ASSERT_TRUE(c.has_value());
        EXPECT_NE(a->xy, c->xy);
    }
}

TEST(MapLayout, KeepsClustersApartWherePcaOverlapsThem) {
    // 20 blobs on random directions of a 64-d space: two principal components cannot show 20
    // independent directions, so PCA piles most blobs on each other near the centre.
    std::vector<int> labels;
    Matrix m = blobs(20, 40, 64, 0.1, labels);
    auto pca = project_pca_2d(m);
    ASSERT_TRUE(pca.has_value());
    auto umap = layout_knn_2d(m, Metric::kCosine);
    ASSERT_TRUE(umap.has_value()) << umap.error().to_string();
    expect_valid(*umap, m.n_rows);
    double pca_agreement = label_agreement(pca->xy, labels, 10);
    double umap_agreement = label_agreement(umap->xy, labels, 10);
    std::printf("10-NN label agreement: PCA %.3f, layout %.3f\n", pca_agreement, umap_agreement);
    EXPECT_LT(pca_agreement, 0.8);
    EXPECT_GT(umap_agreement, 0.95);
    EXPECT_GT(umap_agreement, pca_agreement + 0.15);
}

TEST(MapLayout, HnswNeighboursAndEuclideanKeepClustersApart) {
    std::vector<int> labels;
    Matrix m = blobs(8, 100, 48, 0.1, labels, 11);
    KnnLayoutOptions opts;
    opts.exact_below = 0;  // HNSW
    auto hnsw = layout_knn_2d(m, Metric::kEuclidean, opts);
    ASSERT_TRUE(hnsw.has_value()) << hnsw.error().to_string();
    expect_valid(*hnsw, m.n_rows);
    EXPECT_GT(label_agreement(hnsw->xy, labels, 10), 0.95);
}

TEST(MapLayout, DegenerateInputsGiveValidCoordinates) {
    EXPECT_TRUE(layout_knn_2d(Matrix(0, 8), Metric::kCosine)->xy.empty());
    EXPECT_TRUE(layout_knn_2d(Matrix(0, 0), Metric::kCosine)->xy.empty());
    EXPECT_FALSE(layout_knn_2d(Matrix(3, 0), Metric::kCosine).has_value());
    Matrix bad(4, 2, 1.0f);
    bad.at(2, 1) = NAN;
    EXPECT_FALSE(layout_knn_2d(bad, Metric::kCosine).has_value());
    KnnLayoutOptions silly;
    silly.n_neighbors = 1;
    EXPECT_FALSE(layout_knn_2d(Matrix(5, 2, 1.0f), Metric::kCosine, silly).has_value());

    auto one = layout_knn_2d(Matrix(1, 4, 0.5f), Metric::kCosine);
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one->xy, (std::vector<float>{0.0f, 0.0f}));

    std::vector<int> labels;
    for (std::size_t n : {2u, 3u, 5u, 16u}) {  // n <= k (15) from 2 to 16
        Matrix m = blobs(2, n, 6, 0.2, labels);
        m.n_rows = n;
        m.data.resize(n * 6);
        for (Metric metric :
             {Metric::kCosine, Metric::kEuclidean, Metric::kManhattan, Metric::kCorrelation}) {
            auto p = layout_knn_2d(m, metric);
            ASSERT_TRUE(p.has_value()) << n << ": " << p.error().to_string();
            expect_valid(*p, n);
        }
    }

    // All rows identical, a zero row among them (cosine distance 1 to everything), and half the
    // rows duplicated.
    auto same = layout_knn_2d(Matrix(40, 5, 0.25f), Metric::kCosine);
    ASSERT_TRUE(same.has_value());
    expect_valid(*same, 40);
    Matrix with_zero(30, 5, 0.25f);
    for (std::size_t j = 0; j < 5; ++j) with_zero.at(7, j) = 0.0f;
    auto zero = layout_knn_2d(with_zero, Metric::kCosine);
    ASSERT_TRUE(zero.has_value());
    expect_valid(*zero, 30);
    Matrix half = blobs(3, 40, 16, 0.1, labels);
    for (std::size_t i = 0; i < half.n_rows / 2; ++i)
        std::copy(half.row(i), half.row(i) + 16, half.row(half.n_rows / 2 + i));
    auto dup = layout_knn_2d(half, Metric::kCosine);
    ASSERT_TRUE(dup.has_value());
    expect_valid(*dup, half.n_rows);
    // Each copy lands next to its original (closer than a typical neighbour).
    double worst = 0.0;
    for (std::size_t i = 0; i < half.n_rows / 2; ++i) {
        std::size_t j = half.n_rows / 2 + i;
        worst = std::max(worst,
                         static_cast<double>(std::hypot(dup->xy[i * 2] - dup->xy[j * 2],
                                                        dup->xy[i * 2 + 1] - dup->xy[j * 2 + 1])));
    }
    EXPECT_LT(worst, 0.2);
}

// The total each progress stage reported when it finished (0 if it never did).
struct StageTotals {
    bool ok = false;
    std::size_t neighbours = 0;
    std::size_t epochs = 0;
    std::size_t placed = 0;
};

StageTotals layout_counting_stages(const Matrix& m, const KnnLayoutOptions& opts) {
    StageTotals t;
    auto p = layout_knn_2d(m, Metric::kCosine, opts,
                           [&](std::string_view stage, std::size_t done, std::size_t total) {
                               if (done != total)
                                   return;
                               if (stage == "neighbours")
                                   t.neighbours = total;
                               else if (stage == "layout")
                                   t.epochs = total;
                               else if (stage == "place")
                                   t.placed = total;
                           });
    t.ok = p.has_value();
    return t;
}

TEST(MapLayout, ReportsProgressToTheEnd) {
    std::vector<int> labels;
    Matrix m = blobs(3, 30, 8, 0.1, labels);
    KnnLayoutOptions opts;
    opts.n_epochs = 50;
    const StageTotals t = layout_counting_stages(m, opts);
    ASSERT_TRUE(t.ok);
    EXPECT_EQ(t.neighbours, m.n_rows);
    EXPECT_EQ(t.epochs, 50u);
    EXPECT_EQ(t.placed, 0u);  // no sample below sample_size: nothing to place
}

// The sampled path (n > sample_size): a sample laid out in full, the other rows placed from
// their nearest sample rows.
TEST(MapLayout, SampledPathPlacesRowsWithTheirClusterAndKeepsAgreement) {
    std::vector<int> labels;
    Matrix m = blobs(20, 60, 64, 0.1, labels);  // 1,200 rows
    KnnLayoutOptions opts;
    opts.n_epochs = 200;
    opts.sample_size = 0;
    auto full = layout_knn_2d(m, Metric::kCosine, opts);
    opts.sample_size = 400;
    auto sampled = layout_knn_2d(m, Metric::kCosine, opts);
    ASSERT_TRUE(full.has_value()) << full.error().to_string();
    ASSERT_TRUE(sampled.has_value()) << sampled.error().to_string();
    expect_valid(*sampled, m.n_rows);
    const double full_agreement = label_agreement(full->xy, labels, 10);
    const double sampled_agreement = label_agreement(sampled->xy, labels, 10);
    std::printf("10-NN label agreement: all rows %.3f, sample of 400 %.3f\n", full_agreement,
                sampled_agreement);
    EXPECT_GT(sampled_agreement, 0.95);
    EXPECT_GT(sampled_agreement, full_agreement - 0.03);

    // Each placed row lies among its own cluster's sample rows: its nearest sample row on the map
    // has its label, and it is closer to its cluster's centre on the map than to any other's.
    const auto fit = pca_fit_rows(m.n_rows, 400, opts.seed);
    std::vector<char> in_sample(m.n_rows, 0);
    for (std::size_t r : fit) in_sample[r] = 1;
    std::vector<double> cx(20, 0.0), cy(20, 0.0), count(20, 0.0);
    for (std::size_t r : fit) {
        cx[labels[r]] += sampled->xy[r * 2];
        cy[labels[r]] += sampled->xy[r * 2 + 1];
        count[labels[r]] += 1.0;
    }
    std::size_t placed = 0, nearest_same = 0, centre_same = 0;
    for (std::size_t i = 0; i < m.n_rows; ++i) {
        if (in_sample[i])
            continue;
        ++placed;
        double best = INFINITY;
        int best_label = -1;
        for (std::size_t r : fit) {
            double d = std::hypot(sampled->xy[i * 2] - sampled->xy[r * 2],
                                  sampled->xy[i * 2 + 1] - sampled->xy[r * 2 + 1]);
            if (d < best) {
                best = d;
                best_label = labels[r];
            }
        }
        nearest_same += best_label == labels[i];
        int centre_label = -1;
        best = INFINITY;
        for (int c = 0; c < 20; ++c) {
            if (count[c] == 0.0)
                continue;
            double d = std::hypot(sampled->xy[i * 2] - cx[c] / count[c],
                                  sampled->xy[i * 2 + 1] - cy[c] / count[c]);
            if (d < best) {
                best = d;
                centre_label = c;
            }
        }
        centre_same += centre_label == labels[i];
    }
    EXPECT_EQ(placed, m.n_rows - 400);
    EXPECT_GT(static_cast<double>(nearest_same) / static_cast<double>(placed), 0.97);
    EXPECT_GT(static_cast<double>(centre_same) / static_cast<double>(placed), 0.97);
}

TEST(MapLayout, SampledPathIsRepeatableWhateverTheThreads) {
    std::vector<int> labels;
    Matrix m = blobs(6, 100, 24, 0.1, labels);
    for (std::size_t exact_below : {std::size_t{100000}, std::size_t{0}}) {  // flat, then HNSW
        KnnLayoutOptions opts;
        opts.sample_size = 200;
        opts.exact_below = exact_below;
        opts.n_epochs = 60;
        opts.threads = 2;
        auto a = layout_knn_2d(m, Metric::kCosine, opts);
        opts.threads = 1;
        auto b = layout_knn_2d(m, Metric::kCosine, opts);
        opts.threads = 3;
        auto c = layout_knn_2d(m, Metric::kCosine, opts);
        ASSERT_TRUE(a.has_value() && b.has_value() && c.has_value());
        expect_valid(*a, m.n_rows);
        EXPECT_EQ(a->xy, b->xy) << "exact_below " << exact_below;
        EXPECT_EQ(a->xy, c->xy) << "exact_below " << exact_below;
        EXPECT_GT(label_agreement(a->xy, labels, 10), 0.95) << "exact_below " << exact_below;
        opts.seed = 43;
        auto d = layout_knn_2d(m, Metric::kCosine, opts);
        ASSERT_TRUE(d.has_value());
        EXPECT_NE(a->xy, d->xy);
    }
}

TEST(MapLayout, AtMostSampleSizeRowsGiveTheLayoutOfAllRows) {
    std::vector<int> labels;
    Matrix m = blobs(4, 75, 16, 0.1, labels);  // 300 rows
    KnnLayoutOptions opts;
    opts.n_epochs = 50;
    opts.sample_size = 0;
    auto all = layout_knn_2d(m, Metric::kCosine, opts);
    opts.sample_size = 300;
    auto at = layout_knn_2d(m, Metric::kCosine, opts);
    opts.sample_size = 100000;
    auto above = layout_knn_2d(m, Metric::kCosine, opts);
    opts.sample_size = 299;  // one row placed: the sampled path
    auto below = layout_knn_2d(m, Metric::kCosine, opts);
    ASSERT_TRUE(all.has_value() && at.has_value() && above.has_value() && below.has_value());
    EXPECT_EQ(all->xy, at->xy);
    EXPECT_EQ(all->xy, above->xy);
    EXPECT_NE(all->xy, below->xy);
    // sample_size must leave the sample a neighbour graph.
    opts.sample_size = 15;
    EXPECT_FALSE(layout_knn_2d(m, Metric::kCosine, opts).has_value());
    opts.sample_size = 16;
    EXPECT_TRUE(layout_knn_2d(m, Metric::kCosine, opts).has_value());
}

TEST(MapLayout, SampledPathWorksForEveryMetricAndDegenerateRows) {
    std::vector<int> labels;
    Matrix m = blobs(8, 60, 40, 0.05, labels, 11);
    KnnLayoutOptions opts;
    opts.sample_size = 160;
    opts.n_epochs = 150;
    for (Metric metric :
         {Metric::kCosine, Metric::kEuclidean, Metric::kManhattan, Metric::kCorrelation}) {
        for (std::size_t exact_below : {std::size_t{100000}, std::size_t{0}}) {
            opts.exact_below = exact_below;
            auto p = layout_knn_2d(m, metric, opts);
            ASSERT_TRUE(p.has_value()) << p.error().to_string();
            expect_valid(*p, m.n_rows);
            EXPECT_GT(label_agreement(p->xy, labels, 10), 0.9)
                << metric_name(metric) << " exact_below " << exact_below;
        }
    }
    // A zero row, identical rows and copies of rows, some of them in the sample.
    Matrix odd = blobs(3, 60, 16, 0.1, labels);
    for (std::size_t j = 0; j < 16; ++j) odd.at(5, j) = 0.0f;
    for (std::size_t i = 60; i < 120; ++i) std::copy(odd.row(i - 60), odd.row(i - 59), odd.row(i));
    opts.sample_size = 50;
    auto p = layout_knn_2d(odd, Metric::kCosine, opts);
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    expect_valid(*p, odd.n_rows);
    auto same = layout_knn_2d(Matrix(100, 5, 0.25f), Metric::kCosine, opts);
    ASSERT_TRUE(same.has_value());
    expect_valid(*same, 100);
}

TEST(MapLayout, SampledPathReportsEveryStage) {
    std::vector<int> labels;
    Matrix m = blobs(3, 50, 8, 0.1, labels);
    KnnLayoutOptions opts;
    opts.n_epochs = 20;
    opts.sample_size = 60;
    const StageTotals t = layout_counting_stages(m, opts);
    ASSERT_TRUE(t.ok);
    EXPECT_EQ(t.neighbours, m.n_rows);
    EXPECT_EQ(t.epochs, 20u);
    EXPECT_EQ(t.placed, m.n_rows - 60);
}

}  // namespace
}  // namespace earshot
