// pool_segments / segment_weights (models/pooling.h): loudness-weighted mean of segment
// embeddings, silent segments ignored, all-silent input falls back to a plain mean.
#include "models/pooling.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"

namespace earshot {
namespace {

constexpr int kRate = 1000;

// n segments of 1 s each, back to back; segment i has embedding rows[i].
Embeddings make_embeddings(const std::vector<std::vector<float>>& rows) {
    Embeddings e;
    e.segments = Matrix(rows.size(), rows.empty() ? 0 : rows[0].size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        std::copy(rows[i].begin(), rows[i].end(), e.segments.row(i));
        e.start_s.push_back(static_cast<double>(i));
        e.end_s.push_back(static_cast<double>(i + 1));
    }
    return e;
}

// Constant-amplitude (square-ish) signal: RMS of a segment = its amplitude.
std::vector<float> make_audio(const std::vector<float>& amplitude_per_second) {
    std::vector<float> x;
    for (float a : amplitude_per_second) {
        for (int j = 0; j < kRate; ++j) x.push_back(j % 2 == 0 ? a : -a);
    }
    return x;
}

TEST(PoolingTest, WeightsAreTheSegmentRms) {
    auto e = make_embeddings({{1.0f, 0.0f}, {0.0f, 1.0f}});
    auto audio = make_audio({0.5f, 0.1f});
    auto w = segment_weights(e, audio, kRate);
    ASSERT_EQ(w.size(), 2u);
    EXPECT_NEAR(w[0], 0.5, 1e-6);
    EXPECT_NEAR(w[1], 0.1, 1e-6);
}

TEST(PoolingTest, LouderSegmentsWeighMore) {
    auto e = make_embeddings({{1.0f, 0.0f}, {0.0f, 1.0f}});
    auto audio = make_audio({0.3f, 0.1f});
    auto v = pool_segments(e, audio, kRate);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_NEAR(v[0], 0.75f, 1e-5);  // 0.3 / (0.3 + 0.1)
    EXPECT_NEAR(v[1], 0.25f, 1e-5);
}

TEST(PoolingTest, SilentSegmentsAreIgnored) {
    // -60 dBFS is RMS 0.001: a segment at 1e-4 counts as silence, exact zeros too.
    auto e = make_embeddings({{5.0f, 5.0f}, {1.0f, 2.0f}, {-7.0f, 9.0f}});
    auto audio = make_audio({0.0f, 0.2f, 1e-4f});
    auto w = segment_weights(e, audio, kRate);
    EXPECT_EQ(w[0], 0.0);
    EXPECT_GT(w[1], 0.0);
    EXPECT_EQ(w[2], 0.0);
    auto v = pool_segments(e, audio, kRate);
    EXPECT_FLOAT_EQ(v[0], 1.0f);
    EXPECT_FLOAT_EQ(v[1], 2.0f);
}

TEST(PoolingTest, PaddingBeyondTheAudioCountsAsSilence) {
    // Segment 1 claims [1, 2) s but the audio ends at 1.01 s: its RMS uses the nominal length.
    auto e = make_embeddings({{1.0f}, {3.0f}});
    auto audio = make_audio({0.5f});
    audio.resize(audio.size() + 10, 0.5f);
    auto w = segment_weights(e, audio, kRate);
    EXPECT_NEAR(w[0], 0.5, 1e-6);
    EXPECT_NEAR(w[1], 0.5 * std::sqrt(10.0 / kRate), 1e-6);
}

TEST(PoolingTest, AllSilentGivesThePlainMean) {
    auto e = make_embeddings({{1.0f, -1.0f}, {3.0f, 5.0f}});
    auto audio = make_audio({0.0f, 0.0f});
    auto w = segment_weights(e, audio, kRate);
    EXPECT_EQ(w, (std::vector<double>{1.0, 1.0}));
    auto v = pool_segments(e, audio, kRate);
    EXPECT_FLOAT_EQ(v[0], 2.0f);
    EXPECT_FLOAT_EQ(v[1], 2.0f);
    // Also with no audio at all.
    auto v2 = pool_segments(e, {}, kRate);
    EXPECT_EQ(v2, v);
}

TEST(PoolingTest, NoSegmentsGivesAnEmptyVector) {
    Embeddings e;
    e.segments = Matrix(0, 4);
    auto v = pool_segments(e, {}, kRate);
    EXPECT_EQ(v, std::vector<float>(4, 0.0f));
}

TEST(PoolingTest, SingleSegmentIsReturnedUnchanged) {
    auto e = make_embeddings({{0.25f, -2.5f, 7.0f}});
    auto audio = make_audio({0.4f});
    auto v = pool_segments(e, audio, kRate);
    EXPECT_EQ(v, (std::vector<float>{0.25f, -2.5f, 7.0f}));
}

TEST(PoolingTest, IsDeterministic) {
    std::vector<std::vector<float>> rows;
    for (int i = 0; i < 20; ++i) {
        std::vector<float> r(16);
        for (int j = 0; j < 16; ++j) r[j] = std::sin(0.37f * static_cast<float>(i * 16 + j));
        rows.push_back(r);
    }
    auto e = make_embeddings(rows);
    auto audio = testing::make_noise(20.0, kRate, 0.1f, 42);
    auto a = pool_segments(e, audio, kRate);
    auto b = pool_segments(e, audio, kRate);
    EXPECT_EQ(a, b);  // bit-identical
}

}  // namespace
}  // namespace earshot
