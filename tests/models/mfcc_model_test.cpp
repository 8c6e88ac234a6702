// The weight-free "mfcc" baseline: shapes, segmenting, determinism, and that its scaled feature
// space separates obviously different sounds more than similar ones.
#include <cmath>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "models/model_factories.h"
#include "models/pooling.h"
#include "test_support.h"

namespace earshot {
namespace {

constexpr int kRate = 16000;

std::unique_ptr<EmbeddingModel> make() {
    auto m = make_mfcc_model({}, {});
    EXPECT_TRUE(m) << m.error().to_string();
    return m ? std::move(*m) : nullptr;
}

double distance(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * double(a[i] - b[i]);
    return std::sqrt(s);
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        ab += a[i] * double(b[i]);
        aa += a[i] * double(a[i]);
        bb += b[i] * double(b[i]);
    }
    return ab / std::sqrt(aa * bb);
}

std::vector<float> file_vector(const EmbeddingModel& m, const std::vector<float>& audio) {
    auto e = m.embed(audio);
    EXPECT_TRUE(e) << e.error().to_string();
    return pool_segments(*e, audio, kRate);
}

TEST(MfccModelTest, InfoDescribesAWeightFreeModel) {
    auto m = make();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->info().name, "mfcc");
    EXPECT_EQ(m->info().dim, 90);
    EXPECT_EQ(m->info().sample_rate_hz, 16000);
    EXPECT_TRUE(m->info().labels.empty());
    EXPECT_TRUE(m->info().weights_path.empty());
    // weights_dir is ignored.
    EXPECT_TRUE(make_mfcc_model("/nonexistent", {}));
}

TEST(MfccModelTest, SegmentsAreOneSecondWithHalfSecondHop) {
    auto m = make();
    ASSERT_TRUE(m);
    auto audio = testing::make_noise(3.0, kRate);
    auto e = m->embed(audio);
    ASSERT_TRUE(e) << e.error().to_string();
    ASSERT_EQ(e->segments.n_rows, 5u);
    EXPECT_EQ(e->segments.n_cols, 90u);
    EXPECT_TRUE(e->scores.empty());
    EXPECT_EQ(e->start_s, (std::vector<double>{0.0, 0.5, 1.0, 1.5, 2.0}));
    EXPECT_EQ(e->end_s, (std::vector<double>{1.0, 1.5, 2.0, 2.5, 3.0}));
    for (float v : e->segments.data) ASSERT_TRUE(std::isfinite(v));

    // A remainder is covered by one more window aligned to the end.
    auto longer = testing::make_noise(3.2, kRate);
    auto e2 = m->embed(longer);
    ASSERT_TRUE(e2);
    ASSERT_EQ(e2->segments.n_rows, 6u);
    EXPECT_DOUBLE_EQ(e2->start_s.back(), 2.2);
    EXPECT_DOUBLE_EQ(e2->end_s.back(), 3.2);
}

TEST(MfccModelTest, ShortAndEmptyInputsGiveOneSegment) {
    auto m = make();
    ASSERT_TRUE(m);
    for (double seconds : {0.0, 0.01, 0.3, 1.0}) {
        auto audio = testing::make_sine(440.0, seconds, kRate);
        auto e = m->embed(audio);
        ASSERT_TRUE(e) << seconds << ": " << e.error().to_string();
        ASSERT_EQ(e->segments.n_rows, 1u) << seconds;
        EXPECT_DOUBLE_EQ(e->end_s[0], static_cast<double>(audio.size()) / kRate);
        for (float v : e->segments.data) ASSERT_TRUE(std::isfinite(v)) << seconds;
    }
}

TEST(MfccModelTest, EmbedIsDeterministic) {
    auto m = make();
    ASSERT_TRUE(m);
    auto audio = testing::make_noise(2.5, kRate, 0.2f, 99);
    auto a = m->embed(audio);
    auto b = m->embed(audio);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->segments.data, b->segments.data);
}

TEST(MfccModelTest, ScaledFeaturesHaveComparableMagnitudes) {
    // No dimension should dwarf the others on ordinary signals (the point of the fixed scaling).
    auto m = make();
    ASSERT_TRUE(m);
    auto audio = testing::make_noise(2.0, kRate, 0.1f, 5);
    auto sine = testing::make_sine(440.0, 2.0, kRate);
    audio.insert(audio.end(), sine.begin(), sine.end());
    auto e = m->embed(audio);
    ASSERT_TRUE(e);
    for (float v : e->segments.data) EXPECT_LT(std::abs(v), 25.0f);
}

TEST(MfccModelTest, SineAndNoiseAreFarApartCloseSinesAreClose) {
    auto m = make();
    ASSERT_TRUE(m);
    auto sine_a = file_vector(*m, testing::make_sine(440.0, 3.0, kRate));
    auto sine_b = file_vector(*m, testing::make_sine(466.16, 3.0, kRate));  // a semitone up
    auto noise = file_vector(*m, testing::make_noise(3.0, kRate, 0.2f, 11));
    const double d_sines = distance(sine_a, sine_b);
    const double d_sine_noise = distance(sine_a, noise);
    EXPECT_LT(d_sines * 3.0, d_sine_noise) << d_sines << " vs " << d_sine_noise;
    EXPECT_GT(cosine(sine_a, sine_b), cosine(sine_a, noise));
    EXPECT_GT(cosine(sine_a, sine_b), 0.8);
}

}  // namespace
}  // namespace earshot
