#include "audio/resampler.h"

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "signal_stats.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing::make_sine;
using testing::sine_amplitude;
using testing::tone_frequency_hz;

TEST(ResamplerTest, OneShotKeepsToneFrequencyLengthAndAmplitude) {
    const auto in = make_sine(1000.0, 2.0, 44100, 0.5f);
    auto out = resample(in, 44100, 16000);
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_NEAR(static_cast<double>(out->size()), 32000.0, 1.0);
    EXPECT_NEAR(tone_frequency_hz(*out, 16000), 1000.0, 0.5);
    EXPECT_NEAR(sine_amplitude(*out), 0.5, 0.005);
}

TEST(ResamplerTest, UpsamplesEightKilohertzToFortyEight) {
    const auto in = make_sine(1000.0, 1.0, 8000, 0.5f);
    auto out = resample(in, 8000, 48000);
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_NEAR(static_cast<double>(out->size()), 48000.0, 1.0);
    EXPECT_NEAR(tone_frequency_hz(*out, 48000), 1000.0, 0.5);
    EXPECT_NEAR(sine_amplitude(*out), 0.5, 0.005);
}

TEST(ResamplerTest, RemovesContentAboveTheNewNyquist) {
    // 7 kHz cannot exist at 8 kHz (Nyquist 4 kHz): it must be filtered, not aliased to 1 kHz.
    const auto in = make_sine(7000.0, 1.0, 44100, 0.5f);
    auto out = resample(in, 44100, 8000);
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_LT(testing::rms(*out), 1e-4);
}

TEST(ResamplerTest, EqualRatesCopy) {
    const auto in = make_sine(440.0, 0.1, 16000);
    auto out = resample(in, 16000, 16000);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, in);
}

TEST(ResamplerTest, RejectsNonPositiveRates) {
    const std::vector<float> in(10, 0.0f);
    auto a = resample(in, 0, 16000);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code(), ErrorCode::kInvalidArgument);
    auto b = Resampler::make(16000, -1);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ResamplerTest, EmptyInputGivesEmptyOutput) {
    auto out = resample({}, 44100, 16000);
    ASSERT_TRUE(out);
    EXPECT_TRUE(out->empty());
}

TEST(ResamplerTest, StreamingInRandomBlocksEqualsOneShot) {
    const auto in = make_sine(1000.0, 1.5, 48000, 0.5f);
    auto whole = resample(in, 48000, 22050);
    ASSERT_TRUE(whole);

    const unsigned seed = 1234;
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> block(0, 5000);
    auto r = Resampler::make(48000, 22050);
    ASSERT_TRUE(r);
    std::vector<float> out;
    for (std::size_t pos = 0; pos < in.size();) {
        const std::size_t n = std::min(block(rng), in.size() - pos);
        ASSERT_TRUE((*r)->process(std::span<const float>(in).subspan(pos, n), out));
        pos += n;
    }
    ASSERT_TRUE((*r)->finish(out));
    ASSERT_EQ(out.size(), whole->size()) << "seed " << seed;
    for (std::size_t i = 0; i < out.size(); ++i) {
        ASSERT_NEAR(out[i], (*whole)[i], 1e-6f) << "sample " << i << " seed " << seed;
    }
}

TEST(ResamplerTest, ProcessAfterFinishIsAnError) {
    auto r = Resampler::make(44100, 16000);
    ASSERT_TRUE(r);
    std::vector<float> out;
    ASSERT_TRUE((*r)->finish(out));
    const std::vector<float> in(100, 0.1f);
    EXPECT_FALSE((*r)->process(in, out));
}

}  // namespace
}  // namespace earshot
