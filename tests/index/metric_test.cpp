#include "index/metric.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace earshot {
namespace {

TEST(MetricTest, ParsesNamesAndAliasesCaseInsensitively) {
    struct Case {
        const char* text;
        Metric metric;
    };
    const Case cases[] = {
        {"cosine", Metric::kCosine},
        {"COSINE", Metric::kCosine},
        {"cosine_similarity", Metric::kCosine},
        {"Cosine_Similarity", Metric::kCosine},
        {"euclidean", Metric::kEuclidean},
        {"euclidean_distance", Metric::kEuclidean},
        {"EuClIdEaN", Metric::kEuclidean},
        {"manhattan", Metric::kManhattan},
        {"manhattan_distance", Metric::kManhattan},
        {"correlation", Metric::kCorrelation},
        {"CORRELATION_DISTANCE", Metric::kCorrelation},
    };
    for (const Case& c : cases) {
        auto m = parse_metric(c.text);
        ASSERT_TRUE(m) << c.text;
        EXPECT_EQ(*m, c.metric) << c.text;
    }
}

TEST(MetricTest, UnknownMetricErrorListsValidNames) {
    for (const char* bad : {"", "cos", "l2", "cosine ", "dot"}) {
        auto m = parse_metric(bad);
        ASSERT_FALSE(m) << bad;
        EXPECT_EQ(m.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(m.error().message().find("cosine, euclidean, manhattan, correlation"),
                  std::string::npos)
            << m.error().message();
        EXPECT_NE(m.error().message().find("'" + std::string(bad) + "'"), std::string::npos);
    }
}

TEST(MetricTest, NamesRoundTrip) {
    EXPECT_EQ(metric_names(), "cosine, euclidean, manhattan, correlation");
    for (Metric m :
         {Metric::kCosine, Metric::kEuclidean, Metric::kManhattan, Metric::kCorrelation}) {
        auto parsed = parse_metric(metric_name(m));
        ASSERT_TRUE(parsed);
        EXPECT_EQ(*parsed, m);
    }
    EXPECT_EQ(metric_name(Metric::kCosine), "cosine");
    EXPECT_EQ(metric_name(Metric::kCorrelation), "correlation");
}

TEST(MetricTest, NaiveDistanceKnownValues) {
    const std::vector<float> x{1.0f, 0.0f};
    const std::vector<float> y{0.0f, 1.0f};
    const std::vector<float> minus_x{-2.0f, 0.0f};
    EXPECT_NEAR(naive_distance(Metric::kCosine, x, x), 0.0, 1e-12);
    EXPECT_NEAR(naive_distance(Metric::kCosine, x, y), 1.0, 1e-12);
    EXPECT_NEAR(naive_distance(Metric::kCosine, x, minus_x), 2.0, 1e-12);

    const std::vector<float> a{0.0f, 0.0f};
    const std::vector<float> b{3.0f, 4.0f};
    EXPECT_DOUBLE_EQ(naive_distance(Metric::kEuclidean, a, b), 5.0);
    EXPECT_DOUBLE_EQ(naive_distance(Metric::kManhattan, a, b), 7.0);
    EXPECT_DOUBLE_EQ(naive_distance(Metric::kEuclidean, b, b), 0.0);

    const std::vector<float> p{1.0f, 2.0f, 3.0f, 4.0f};
    const std::vector<float> q{10.0f, 12.0f, 14.0f, 16.0f};  // q = 2p + 8
    const std::vector<float> r{4.0f, 3.0f, 2.0f, 1.0f};
    EXPECT_NEAR(naive_distance(Metric::kCorrelation, p, q), 0.0, 1e-12);
    EXPECT_NEAR(naive_distance(Metric::kCorrelation, p, r), 2.0, 1e-12);
    // Cosine is not shift-invariant, correlation is.
    EXPECT_GT(naive_distance(Metric::kCosine, p, r), 0.1);
}

TEST(MetricTest, ZeroAndConstantVectorsHaveSimilarityZero) {
    const std::vector<float> zero(5, 0.0f);
    const std::vector<float> constant(5, 0.1f);
    const std::vector<float> v{1.0f, -2.0f, 3.0f, 0.5f, 7.0f};
    EXPECT_EQ(naive_distance(Metric::kCosine, zero, v), 1.0);
    EXPECT_EQ(naive_distance(Metric::kCosine, v, zero), 1.0);
    EXPECT_EQ(naive_distance(Metric::kCosine, zero, zero), 1.0);
    EXPECT_EQ(naive_distance(Metric::kCorrelation, constant, v), 1.0);
    EXPECT_EQ(naive_distance(Metric::kCorrelation, v, constant), 1.0);
    EXPECT_EQ(naive_distance(Metric::kCorrelation, zero, v), 1.0);
    EXPECT_EQ(naive_distance(Metric::kCorrelation, constant, constant), 1.0);
    // A constant vector is still a fine cosine vector.
    EXPECT_LT(naive_distance(Metric::kCosine, constant, constant), 1e-12);
    EXPECT_EQ(score_from_distance(Metric::kCosine, 1.0f), 0.0f);
}

TEST(MetricTest, ScoreFromDistanceFollowsTheTable) {
    EXPECT_FLOAT_EQ(score_from_distance(Metric::kCosine, 0.25f), 0.75f);
    EXPECT_FLOAT_EQ(score_from_distance(Metric::kCorrelation, 1.5f), -0.5f);
    EXPECT_FLOAT_EQ(score_from_distance(Metric::kEuclidean, 0.0f), 1.0f);
    EXPECT_FLOAT_EQ(score_from_distance(Metric::kEuclidean, 3.0f), 0.25f);
    EXPECT_FLOAT_EQ(score_from_distance(Metric::kManhattan, 1.0f), 0.5f);
}

}  // namespace
}  // namespace earshot
