#include "audio/trim.h"

#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"

namespace earshot {
namespace {

TEST(TrimTest, FindsContentBetweenSilences) {
    auto tone = testing::make_sine(440.0, 0.5, 16000);
    std::vector<float> padded(24000, 0.0f);
    padded.insert(padded.end(), tone.begin(), tone.end());
    padded.resize(padded.size() + 8000, 0.0f);
    auto r = non_silent_range(padded);
    auto t = non_silent_range(tone);
    // The same content is found, shifted by exactly the padding.
    EXPECT_EQ(r.begin, t.begin + 24000);
    EXPECT_EQ(r.end - r.begin, t.end - t.begin);
}

TEST(TrimTest, QuietNoiseBelowThresholdIsSilence) {
    auto noise = testing::make_noise(1.0, 16000, 0.0001f);  // about -80 dBFS
    auto tone = testing::make_sine(440.0, 0.5, 16000);
    std::vector<float> x = noise;
    x.insert(x.end(), tone.begin(), tone.end());
    auto r = non_silent_range(x);
    EXPECT_GE(r.begin, 16000u);
    EXPECT_LE(r.begin, 16000u + 16u);  // the sine starts at 0 and rises within a few samples
}

TEST(TrimTest, AllSilentOrEmptyKeepsEverything) {
    std::vector<float> zeros(1000, 0.0f);
    auto r = non_silent_range(zeros);
    EXPECT_EQ(r.begin, 0u);
    EXPECT_EQ(r.end, 1000u);
    auto e = non_silent_range({});
    EXPECT_EQ(e.begin, 0u);
    EXPECT_EQ(e.end, 0u);
}

}  // namespace
}  // namespace earshot
