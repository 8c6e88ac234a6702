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
