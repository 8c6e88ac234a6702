#include "features/mfcc.h"

#include <cmath>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"

namespace earshot {
namespace {

std::unique_ptr<MfccExtractor> make_extractor(const MfccConfig& c = {}) {
    auto e = MfccExtractor::make(c);
    EXPECT_TRUE(e) << e.error().to_string();
    return e ? std::move(*e) : nullptr;
}

// Mean over frames of column j.
double column_mean(const Matrix& m, std::size_t j) {
    double s = 0.0;
    for (std::size_t t = 0; t < m.n_rows; ++t) s += m.at(t, j);
    return s / static_cast<double>(m.n_rows);
}

TEST(MfccTest, DctMatrixIsOrthonormal) {
    Matrix d = make_dct_matrix(40, 40);
    for (std::size_t i = 0; i < 40; ++i) {
        for (std::size_t j = 0; j < 40; ++j) {
            double dot = 0.0;
            for (std::size_t k = 0; k < 40; ++k) dot += double{d.at(i, k)} * d.at(j, k);
            EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-6) << i << "," << j;
        }
    }
    EXPECT_NEAR(d.at(0, 0), 1.0 / std::sqrt(40.0), 1e-7);
}

TEST(MfccTest, DeltasOfARampAreItsSlope) {
    Matrix x(10, 2);
    for (std::size_t t = 0; t < 10; ++t) {
        x.at(t, 0) = 3.0f * static_cast<float>(t);
        x.at(t, 1) = 5.0f;
    }
    Matrix d = compute_deltas(x, 2);
    for (std::size_t t = 2; t < 8; ++t) EXPECT_NEAR(d.at(t, 0), 3.0f, 1e-5);  // interior
    for (std::size_t t = 0; t < 10; ++t) EXPECT_EQ(d.at(t, 1), 0.0f);
    // Edge replication: at t = 0, (x1 - x0) + 2 (x2 - x0) = 3 + 12 over 10.
    EXPECT_NEAR(d.at(0, 0), 1.5f, 1e-5);
}

TEST(MfccTest, SilenceGivesFloorValues) {
    auto e = make_extractor();
    ASSERT_NE(e, nullptr);
    std::vector<float> zeros(16000, 0.0f);
    auto f = e->frame_features(zeros);
    ASSERT_TRUE(f) << f.error().to_string();
    ASSERT_EQ(f->n_rows, e->n_frames(zeros.size()));
    ASSERT_EQ(f->n_rows, 98u);  // 1 + (16000 - 400) / 160
    ASSERT_EQ(f->n_cols, 45u);
    const float c0 = static_cast<float>(std::sqrt(40.0) * std::log(1e-6));
    for (std::size_t t = 0; t < f->n_rows; ++t) {
        EXPECT_NEAR(f->at(t, 0), c0, 1e-4);
        for (std::size_t j = 1; j < 40; ++j) EXPECT_NEAR(f->at(t, j), 0.0f, 1e-4) << j;
        EXPECT_EQ(f->at(t, 40), 0.0f);          // centroid
        EXPECT_EQ(f->at(t, 41), 0.0f);          // bandwidth
        EXPECT_NEAR(f->at(t, 42), 1.0f, 1e-6);  // flatness of a constant (floored) spectrum
        EXPECT_EQ(f->at(t, 43), 0.0f);          // rolloff
        EXPECT_EQ(f->at(t, 44), 0.0f);          // zcr
    }
}

TEST(MfccTest, ToneGivesCentroidRolloffAndZcrAtItsFrequency) {
    auto e = make_extractor();
    ASSERT_NE(e, nullptr);
    auto x = testing::make_sine(1000.0, 1.0, 16000);
    auto f = e->frame_features(x);
    ASSERT_TRUE(f);
    EXPECT_NEAR(column_mean(*f, 40), 1000.0, 40.0);            // centroid, Hz
    EXPECT_LT(column_mean(*f, 41), 150.0);                     // narrow bandwidth
    EXPECT_LT(column_mean(*f, 42), 0.01);                      // very tonal
    EXPECT_NEAR(column_mean(*f, 43), 1000.0, 40.0);            // rolloff, Hz
    EXPECT_NEAR(column_mean(*f, 44), 2000.0 / 16000.0, 0.01);  // 2 crossings per period
    for (std::size_t j = 20; j < 40; ++j) EXPECT_NEAR(column_mean(*f, j), 0.0, 1e-3);  // deltas
}

TEST(MfccTest, NoiseIsFlatterAndBrighterThanATone) {
    auto e = make_extractor();
    ASSERT_NE(e, nullptr);
    auto noise = e->summary(testing::make_noise(1.0, 16000, 0.1f, 1234));
    auto tone = e->summary(testing::make_sine(500.0, 1.0, 16000));
    ASSERT_TRUE(noise && tone);
    EXPECT_GT((*noise)[42], 0.3f);  // white noise: exp(-γ) ≈ 0.56 in expectation
    EXPECT_GT((*noise)[42], 10.0f * (*tone)[42]);
    EXPECT_NEAR((*noise)[40], 4000.0f, 300.0f);  // white noise centroid ≈ Nyquist / 2
    EXPECT_GT((*noise)[44], 0.4f);               // zcr of white noise ≈ 0.5
}

TEST(MfccTest, SummaryIsMeanThenStd) {
    auto e = make_extractor();
    ASSERT_NE(e, nullptr);
    auto x = testing::make_noise(0.5, 16000, 0.1f, 99);
    auto f = e->frame_features(x);
    auto s = e->summary(x);
    ASSERT_TRUE(f && s);
    ASSERT_EQ(s->size(), e->n_summary_features());
    ASSERT_EQ(s->size(), 90u);
    ASSERT_EQ(e->summary_names().size(), 90u);
    EXPECT_EQ(e->summary_names()[0], "mean_mfcc_0");
    EXPECT_EQ(e->summary_names()[45 + 44], "std_zcr");
    EXPECT_EQ(e->feature_names()[40], "centroid_hz");
    for (std::size_t j = 0; j < 45; ++j) {
        const double mean = column_mean(*f, j);
        double var = 0.0;
        for (std::size_t t = 0; t < f->n_rows; ++t) {
            var += (f->at(t, j) - mean) * (f->at(t, j) - mean);
        }
        const double sd = std::sqrt(var / static_cast<double>(f->n_rows));
        EXPECT_NEAR((*s)[j], mean, 1e-3 * (1.0 + std::fabs(mean))) << j;
        EXPECT_NEAR((*s)[45 + j], sd, 1e-3 * (1.0 + sd)) << j;
    }
}

TEST(MfccTest, ShortInputIsPaddedToOneFrame) {
    auto e = make_extractor();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->n_frames(0), 1u);
    EXPECT_EQ(e->n_frames(399), 1u);
    EXPECT_EQ(e->n_frames(560), 2u);
    std::vector<float> x(100, 0.25f);
    auto s = e->summary(x);
    ASSERT_TRUE(s);
    for (float v : *s) EXPECT_TRUE(std::isfinite(v));
    auto empty = e->summary(std::span<const float>{});
    ASSERT_TRUE(empty);
}

TEST(MfccTest, InvalidConfigIsRejected) {
    MfccConfig c;
    c.n_mfcc = 50;  // > n_mels
    EXPECT_EQ(MfccExtractor::make(c).error().code(), ErrorCode::kInvalidArgument);
    c = MfccConfig{};
    c.fmax_hz = 12000.0;  // > Nyquist
    EXPECT_EQ(MfccExtractor::make(c).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace earshot
