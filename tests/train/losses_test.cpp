// Loss functions of the trainers.
#include "train/losses.h"

#include <cmath>

#include <gtest/gtest.h>

namespace earshot {
namespace {

TEST(SupConLossTest, SeparatedClassesScoreLowerThanMixed) {
    // Two classes on two orthogonal axes vs. the same labels swapped across the axes.
    auto z = torch::tensor({{1.0f, 0.0f}, {0.9f, 0.1f}, {0.0f, 1.0f}, {0.1f, 0.9f}});
    auto good = torch::tensor({0, 0, 1, 1}, torch::kInt64);
    auto bad = torch::tensor({0, 1, 0, 1}, torch::kInt64);
    const double lg = detail::supervised_contrastive_loss(z, good, 0.1).item<double>();
    const double lb = detail::supervised_contrastive_loss(z, bad, 0.1).item<double>();
    EXPECT_TRUE(std::isfinite(lg));
    EXPECT_LT(lg, 0.05);
    EXPECT_GT(lb, lg + 1.0);
    // No positives at all: 0, not NaN.
    auto alone = torch::tensor({0, 1, 2, 3}, torch::kInt64);
    EXPECT_EQ(detail::supervised_contrastive_loss(z, alone, 0.1).item<double>(), 0.0);
}

TEST(SupConLossTest, MatchesHandComputedValue) {
    // Three points, labels {0, 0, 1}, tau = 1. Anchor 0: positive 1.
    auto z = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}, {-1.0f, 0.0f}});
    auto y = torch::tensor({0, 0, 1}, torch::kInt64);
    // anchor 0: sims to (1, 2) = (0, -1): -log(e^0 / (e^0 + e^-1))
    // anchor 1: sims to (0, 2) = (0, 0):  -log(1/2)
    const double l0 = -std::log(1.0 / (1.0 + std::exp(-1.0)));
    const double l1 = std::log(2.0);
    EXPECT_NEAR(detail::supervised_contrastive_loss(z, y, 1.0).item<double>(), (l0 + l1) / 2, 1e-6);
}

}  // namespace
}  // namespace earshot
