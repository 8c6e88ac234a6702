// PCA map projection (src/engine/projection.cpp) and waveform thumbnails (waveform.cpp); kept with
// the server tests, their only user.
#include "engine/projection.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "engine/waveform.h"
#include "test_support.h"

namespace earshot {
namespace {

TEST(ProjectionTest, EmptyAndSingleRow) {
    auto empty = project_pca_2d(Matrix());
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->xy.empty());
    auto one = project_pca_2d(Matrix(1, 8, 1.0f));
    ASSERT_TRUE(one);
    ASSERT_EQ(one->xy.size(), 2u);
    EXPECT_EQ(one->xy[0], 0.0f);
}

// Points on two directions in 16-D (after normalisation): the first component separates the two
// clusters, the coordinates stay in [-1, 1], and the result is deterministic.
TEST(ProjectionTest, SeparatesClustersDeterministically) {
    std::mt19937 rng(1234);
    std::normal_distribution<float> noise(0.0f, 0.02f);
    const std::size_t n = 60;
    const std::size_t d = 16;
    Matrix m(n, d);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < d; ++j) m.at(i, j) = noise(rng);
        m.at(i, i < n / 2 ? 0 : 1) += 1.0f;
    }
    auto p = project_pca_2d(m);
    ASSERT_TRUE(p);
    ASSERT_EQ(p->xy.size(), n * 2);
    for (float v : p->xy) {
        EXPECT_GE(v, -1.0f);
        EXPECT_LE(v, 1.0f);
    }
    double mean_a = 0.0, mean_b = 0.0;
    for (std::size_t i = 0; i < n; ++i) (i < n / 2 ? mean_a : mean_b) += p->xy[i * 2];
    EXPECT_GT(std::abs(mean_a - mean_b) / (n / 2), 1.0);
    EXPECT_GT(p->explained_variance_ratio[0], 0.8);
    EXPECT_GE(p->explained_variance_ratio[0], p->explained_variance_ratio[1]);
    auto again = project_pca_2d(m);
    ASSERT_TRUE(again);
    EXPECT_EQ(p->xy, again->xy);
}

// Pearson correlation of column `c` of two n × 2 coordinate arrays.
double correlation(const std::vector<float>& a, const std::vector<float>& b, std::size_t c) {
    const std::size_t n = a.size() / 2;
    double ma = 0.0, mb = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        ma += a[i * 2 + c];
        mb += b[i * 2 + c];
    }
    ma /= static_cast<double>(n);
    mb /= static_cast<double>(n);
    double sab = 0.0, saa = 0.0, sbb = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double x = a[i * 2 + c] - ma;
        const double y = b[i * 2 + c] - mb;
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    return sab / std::sqrt(saa * sbb);
}

// A reference PCA written the plain way: double covariance of the normalised, centred rows and
// its eigenvectors by power iteration with deflation, run to convergence; coordinates unscaled.
std::vector<double> reference_pca(const Matrix& m) {
    const std::size_t n = m.n_rows, d = m.n_cols;
    std::vector<double> x(n * d), mean(d, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (std::size_t j = 0; j < d; ++j) s += double(m.at(i, j)) * m.at(i, j);
        for (std::size_t j = 0; j < d; ++j) {
            x[i * d + j] = m.at(i, j) / std::sqrt(s);
            mean[j] += x[i * d + j] / double(n);
        }
    }
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) x[i * d + j] -= mean[j];
    std::vector<double> cov(d * d, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < d; ++a)
            for (std::size_t b = 0; b < d; ++b) cov[a * d + b] += x[i * d + a] * x[i * d + b];
    std::vector<std::vector<double>> comps;
    for (int c = 0; c < 2; ++c) {
        std::vector<double> v(d, 1.0), w(d);
        v[static_cast<std::size_t>(c)] = 2.0;
        for (int it = 0; it < 20000; ++it) {
            for (std::size_t a = 0; a < d; ++a) {
                w[a] = 0.0;
                for (std::size_t b = 0; b < d; ++b) w[a] += cov[a * d + b] * v[b];
            }
            for (const auto& p : comps) {
                double dot = 0.0;
                for (std::size_t a = 0; a < d; ++a) dot += w[a] * p[a];
                for (std::size_t a = 0; a < d; ++a) w[a] -= dot * p[a];
            }
            double nw = 0.0;
            for (double y : w) nw += y * y;
            nw = std::sqrt(nw);
            for (std::size_t a = 0; a < d; ++a) v[a] = w[a] / nw;
        }
        comps.push_back(v);
    }
    std::vector<double> out(n * 2);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < 2; ++c) {
            double s = 0.0;
            for (std::size_t j = 0; j < d; ++j) s += x[i * d + j] * comps[c][j];
            out[i * 2 + c] = s;
        }
    return out;
}

// Clusters whose centres lie mostly in a plane (the spread along e0 twice that along e1), plus
// isotropic noise: the two leading components are well separated from the rest, as in real
// embeddings (gm_fluidr3 mn04: 16% and 12% of the variance, then less).
Matrix planar_clusters(std::size_t n, std::size_t d, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    constexpr std::size_t kClusters = 12;
    std::vector<std::vector<float>> centres(kClusters, std::vector<float>(d));
    for (std::size_t k = 0; k < kClusters; ++k) {
        for (auto& v : centres[k]) v = 0.3f * g(rng);
        centres[k][0] += 4.0f * std::cos(0.5f * float(k));
        centres[k][1] += 2.0f * std::sin(0.5f * float(k));
        centres[k][2] += 6.0f;  // away from the origin: normalisation keeps the structure
    }
    Matrix m(n, d);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) m.at(i, j) = centres[i % kClusters][j] + 0.4f * g(rng);
    return m;
}

TEST(ProjectionTest, FitRowsAreADeterministicSample) {
    auto all = pca_fit_rows(10, 20, 1);
    ASSERT_EQ(all.size(), 10u);
    for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(all[i], i);
    EXPECT_EQ(pca_fit_rows(10, 0, 1).size(), 10u);
    auto some = pca_fit_rows(1000, 100, 7);
    ASSERT_EQ(some.size(), 100u);
    EXPECT_TRUE(std::is_sorted(some.begin(), some.end()));
    EXPECT_EQ(std::adjacent_find(some.begin(), some.end()), some.end());
    EXPECT_LT(some.back(), 1000u);
    EXPECT_GT(some.back() - some.front(), 500u) << "spread over the rows, not the first ones";
    EXPECT_EQ(some, pca_fit_rows(1000, 100, 7));
    EXPECT_NE(some, pca_fit_rows(1000, 100, 8));
}

// The same data fitted on every row and on at most `sample_rows` rows.
struct FullAndSampled {
    Result<Projection2D> full, sampled;
};
FullAndSampled fit_full_and_sampled(const Matrix& m, std::size_t sample_rows) {
    PcaOptions full;
    full.max_fit_rows = 0;
    PcaOptions sampled;
    sampled.max_fit_rows = sample_rows;
    return {project_pca_2d(m, full), project_pca_2d(m, sampled)};
}

// n <= the sample size: the sample is every row, so the answer is the full PCA's, which matches
// a plain double-precision reference.
TEST(ProjectionTest, SampledEqualsFullUpToTheSampleSize) {
    const Matrix m = planar_clusters(600, 12, 5);
    auto [a, b] = fit_full_and_sampled(m, 600);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->xy, b->xy);
    EXPECT_EQ(a->fit_rows, 600u);
    EXPECT_EQ(b->fit_rows, 600u);
    const auto ref = reference_pca(m);
    std::vector<float> ref_xy(ref.begin(), ref.end());
    for (std::size_t c = 0; c < 2; ++c)
        EXPECT_GT(std::abs(correlation(a->xy, ref_xy, c)), 0.99999) << "axis " << c;
}

// n > the sample size: fitted on 2,000 of 20,000 rows, every row projected; the coordinates
// correlate > 0.99 with the full PCA's on each axis (same signs: the sign rule holds).
TEST(ProjectionTest, SampledFitTracksTheFullOneOnClusteredData) {
    const Matrix m = planar_clusters(20000, 48, 11);
    auto [a, b] = fit_full_and_sampled(m, 2000);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(b->fit_rows, 2000u);
    ASSERT_EQ(b->xy.size(), 40000u);
    for (std::size_t c = 0; c < 2; ++c) {
        EXPECT_GT(correlation(a->xy, b->xy, c), 0.99) << "axis " << c;
        EXPECT_NEAR(a->explained_variance_ratio[c], b->explained_variance_ratio[c], 0.02);
    }
    for (float v : b->xy) EXPECT_LE(std::abs(v), 1.0f);
    PcaOptions sampled;
    sampled.max_fit_rows = 2000;
    auto again = project_pca_2d(m, sampled);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->xy, b->xy);
}

// Rows all on one line through the origin after normalisation: no spread, every point at 0.
TEST(ProjectionTest, NoSpreadGivesTheOrigin) {
    Matrix m(5, 4, 0.0f);
    for (std::size_t i = 0; i < 5; ++i) m.at(i, 1) = 1.0f + float(i);
    auto p = project_pca_2d(m);
    ASSERT_TRUE(p);
    for (float v : p->xy) EXPECT_EQ(v, 0.0f);
}

TEST(WaveformTest, PeaksFollowTheSignal) {
    testing::TempDir dir;
    // 1 s: silence for the first half, a 0.5-amplitude tone in the second.
    auto tone = testing::make_sine(440.0, 1.0, 16000, 0.5f);
    for (std::size_t i = 0; i < tone.size() / 2; ++i) tone[i] = 0.0f;
    testing::write_wav16(dir / "half.wav", tone, 16000);
    auto w = compute_waveform(dir / "half.wav", 10);
    ASSERT_TRUE(w) << w.error().to_string();
    ASSERT_EQ(w->peaks.size(), 10u);
    EXPECT_NEAR(w->duration_s, 1.0, 0.01);
    EXPECT_LT(w->peaks[1], 0.02f);
    EXPECT_NEAR(w->peaks[8], 0.5f, 0.05f);
    EXPECT_FALSE(compute_waveform(dir / "half.wav", 0));
    EXPECT_FALSE(compute_waveform(dir / "missing.wav", 10));
}

}  // namespace
}  // namespace earshot
