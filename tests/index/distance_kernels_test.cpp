#include "index/distance_kernels.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace earshot::detail {
namespace {

struct Reference {
    double dot = 0.0;
    double l2 = 0.0;
    double l1 = 0.0;
    double scale = 0.0;  // sum of |terms|, bounds the float rounding error
};

Reference reference(const std::vector<float>& a, const std::vector<float>& b) {
    Reference r;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double x = a[i];
        const double y = b[i];
        r.dot += x * y;
        r.l2 += (x - y) * (x - y);
        r.l1 += std::abs(x - y);
        r.scale += std::abs(x * y) + (x - y) * (x - y) + std::abs(x - y);
    }
    return r;
}

TEST(DistanceKernelsTest, MatchDoublePrecisionForEveryTailLength) {
    std::mt19937 rng(1234);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<std::size_t> dims;
    for (std::size_t d = 0; d <= 130; ++d) dims.push_back(d);
    for (std::size_t d : {255u, 256u, 257u, 1000u, 1023u, 1024u, 1031u, 4096u}) dims.push_back(d);
    for (std::size_t d : dims) {
        // Offset the start so that loads are unaligned.
        std::vector<float> a(d + 1);
        std::vector<float> b(d + 3);
        for (float& x : a) x = dist(rng);
        for (float& x : b) x = dist(rng);
        std::vector<float> av(a.begin() + 1, a.end());
        std::vector<float> bv(b.begin() + 3, b.end());
        const Reference r = reference(av, bv);
        const double tol = 1e-6 * (r.scale + 1.0);
        EXPECT_NEAR(dot_f32(a.data() + 1, b.data() + 3, d), r.dot, tol) << "d=" << d;
        EXPECT_NEAR(l2_squared_f32(a.data() + 1, b.data() + 3, d), r.l2, tol) << "d=" << d;
        EXPECT_NEAR(l1_f32(a.data() + 1, b.data() + 3, d), r.l1, tol) << "d=" << d;
    }
}

TEST(DistanceKernelsTest, ReportsSimdLevel) {
    const std::string level = simd_level();
    EXPECT_TRUE(level == "avx512" || level == "avx2" || level == "scalar") << level;
}

}  // namespace
}  // namespace earshot::detail

namespace earshot::detail {
namespace {

TEST(HalfPrecisionTest, KnownBitPatternsInSimdBlocksAndTails) {
    const std::vector<std::pair<float, std::uint16_t>> known = {
        {0.0f, 0x0000},        {-0.0f, 0x8000},      {1.0f, 0x3c00},
        {-2.0f, 0xc000},       {65504.0f, 0x7bff},   {70000.0f, 0x7c00},
        {0.1f, 0x2e66},        {1e-7f, 0x0002},      {6.1035156e-5f, 0x0400},
        {-3.1415927f, 0xc248}, {1.0009766f, 0x3c01}, {1.00048828125f, 0x3c00}};
    // Each value at every position of a 37-element array: SIMD blocks of 16/8 and scalar tails.
    for (const auto& [value, bits] : known) {
        for (std::size_t pos = 0; pos < 37; ++pos) {
            std::vector<float> in(37, 0.5f);
            in[pos] = value;
            std::vector<std::uint16_t> half(37);
            f32_to_f16(in.data(), half.data(), in.size());
            EXPECT_EQ(half[pos], bits) << value << " at " << pos;
            std::vector<float> back(37);
            f16_to_f32(half.data(), back.data(), half.size());
            if (bits != 0x7c00) {
                EXPECT_NEAR(back[pos], value, std::abs(value) * 1e-3 + 1e-7) << value;
            }
            EXPECT_EQ(back[pos == 0 ? 1 : 0], 0.5f);
        }
    }
}

TEST(HalfPrecisionTest, RoundTripWithinHalfAnUlp) {
    std::vector<float> in(1000);
    for (std::size_t i = 0; i < in.size(); ++i)
        in[i] = std::sin(static_cast<float>(i) * 0.37f) *
                std::pow(10.0f, static_cast<float>(i % 7) - 3.0f);
    std::vector<std::uint16_t> half(in.size());
    std::vector<float> back(in.size());
    f32_to_f16(in.data(), half.data(), in.size());
    f16_to_f32(half.data(), back.data(), half.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (std::abs(in[i]) > 6.2e-5f) {  // normal halves: relative error <= 2^-11
            EXPECT_LE(std::abs(back[i] - in[i]), std::abs(in[i]) * 4.9e-4f) << in[i];
        }
    }
}

}  // namespace
}  // namespace earshot::detail
