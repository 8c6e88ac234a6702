#include "features/patcher.h"

#include <vector>

#include <gtest/gtest.h>

namespace earshot {
namespace {

Matrix ramp(std::size_t t, std::size_t m) {
    Matrix x(t, m);
    for (std::size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<float>(i);
    return x;
}

TEST(PatcherTest, YamnetPaddedLengthFollowsTheRule) {
    EXPECT_EQ(yamnet_padded_length(0), 15600u);
    EXPECT_EQ(yamnet_padded_length(100), 15600u);
    EXPECT_EQ(yamnet_padded_length(15600), 15600u);
    EXPECT_EQ(yamnet_padded_length(15601), 15600u + 7680u);
    EXPECT_EQ(yamnet_padded_length(15600 + 7680), 15600u + 7680u);
    EXPECT_EQ(yamnet_padded_length(32000), 38640u);    // silence: k = 3 -> P = 4, T = 240
    EXPECT_EQ(yamnet_padded_length(48000), 54000u);    // 3 s: k = 5 -> P = 6, T = 336
    EXPECT_EQ(yamnet_padded_length(160000), 161520u);  // 10 s: k = 19 -> P = 20, T = 1008
    std::vector<float> x(20000, 1.0f);
    auto padded = yamnet_pad_waveform(x);
    ASSERT_EQ(padded.size(), 23280u);
    EXPECT_EQ(padded[19999], 1.0f);
    EXPECT_EQ(padded[20000], 0.0f);
}

TEST(PatcherTest, YamnetPatchesOverlapByHalf) {
    Matrix frames = ramp(240, 64);
    Patches p = make_yamnet_patches(frames);
    ASSERT_EQ(p.n_patches, 4u);
    EXPECT_EQ(p.patch_frames, 96u);
    EXPECT_EQ(p.n_mels, 64u);
    ASSERT_EQ(p.data.size(), 4u * 96u * 64u);
    // patch 1, frame 0, band 3 = frames(48, 3)
    EXPECT_EQ(p.data[(1 * 96 + 0) * 64 + 3], frames.at(48, 3));
    EXPECT_EQ(p.patch(3)[95 * 64 + 63], frames.at(239, 63));
    Matrix m = p.patch_matrix(2);
    EXPECT_EQ(m.at(10, 5), frames.at(96 + 10, 5));
}

TEST(PatcherTest, GenericPatchesDropTrailingPartial) {
    Matrix frames = ramp(10, 2);
    Patches p = make_patches(frames, 4, 3);  // starts 0, 3, 6 (9 would be partial)
    EXPECT_EQ(p.n_patches, 3u);
    EXPECT_EQ(p.patch(2)[0], frames.at(6, 0));
    EXPECT_EQ(make_patches(frames, 11, 1).n_patches, 0u);
}

TEST(PatcherTest, MusicnnPatchesAreNonOverlappingAndPadShortInput) {
    Matrix frames = ramp(626, 96);  // music clip: P = 3, 65 frames dropped
    Patches p = make_musicnn_patches(frames);
    ASSERT_EQ(p.n_patches, 3u);
    EXPECT_EQ(p.patch(1)[0], frames.at(187, 0));
    EXPECT_EQ(p.patch(2)[186 * 96 + 95], frames.at(560, 95));

    Matrix short_frames = ramp(126, 96);  // silence clip (2 s): padded with log-mel zeros
    p = make_musicnn_patches(short_frames);
    ASSERT_EQ(p.n_patches, 1u);
    EXPECT_EQ(p.patch(0)[125 * 96 + 7], short_frames.at(125, 7));
    EXPECT_EQ(p.patch(0)[126 * 96 + 7], 0.0f);
    EXPECT_EQ(p.patch(0)[186 * 96 + 95], 0.0f);

    EXPECT_EQ(make_musicnn_patches(ramp(188, 96)).n_patches, 1u);
    EXPECT_EQ(make_musicnn_patches(ramp(374, 96)).n_patches, 2u);
}

TEST(PatcherTest, PaddedPatchesUsePadValue) {
    Matrix frames = ramp(2, 3);
    Patches p = make_patches_padded(frames, 4, 4, -7.0f);
    ASSERT_EQ(p.n_patches, 1u);
    EXPECT_EQ(p.data, (std::vector<float>{0, 1, 2, 3, 4, 5, -7, -7, -7, -7, -7, -7}));
}

}  // namespace
}  // namespace earshot
