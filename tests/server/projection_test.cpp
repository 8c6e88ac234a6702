// PCA map projection (src/engine/projection.cpp) and waveform thumbnails (waveform.cpp); kept with
// the server tests, their only user.
#include "engine/projection.h"

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
