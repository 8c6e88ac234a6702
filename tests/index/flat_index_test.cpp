#include "index/flat_index.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <thread>

#include <gtest/gtest.h>

namespace earshot {
namespace {

constexpr Metric kAllMetrics[] = {Metric::kCosine, Metric::kEuclidean, Metric::kManhattan,
                                  Metric::kCorrelation};

Matrix random_matrix(std::mt19937& rng, std::size_t rows, std::size_t cols) {
    Matrix m(rows, cols);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& x : m.data) x = dist(rng);
    return m;
}

std::vector<float> random_vector(std::mt19937& rng, std::size_t dim) {
    return random_matrix(rng, 1, dim).data;
}

std::vector<std::int64_t> make_ids(std::size_t n, std::int64_t first = 1000) {
    std::vector<std::int64_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = first + static_cast<std::int64_t>(i) * 3;
    return ids;
}

SearchOptions top(std::size_t k, int threads = 0) {
    SearchOptions options;
    options.k = k;
    options.threads = threads;
    return options;
}

double tolerance(double expected) {
    return 1e-4 * std::max(1.0, std::abs(expected));
}

struct Expected {
    std::int64_t id;
    double distance;
};

// Reference top-k: naive double-precision distance for every row, full sort, ties by id.
std::vector<Expected> naive_top_k(Metric metric,
                                  const Matrix& data,
                                  const std::vector<std::int64_t>& ids,
                                  std::span<const float> query,
                                  std::size_t k,
                                  const std::function<bool(std::int64_t)>& filter = {}) {
    std::vector<Expected> all;
    for (std::size_t i = 0; i < data.n_rows; ++i) {
        if (filter && !filter(ids[i]))
            continue;
        all.push_back({ids[i], naive_distance(metric, query, data.row_span(i))});
    }
    std::sort(all.begin(), all.end(), [](const Expected& a, const Expected& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    });
    all.resize(std::min(k, all.size()));
    return all;
}

// Hits must equal the reference: same length, distances within tolerance, and the same ids
// except where two candidates are tied within tolerance (float vs double rounding).
void expect_matches_naive(const std::vector<SearchHit>& hits,
                          const std::vector<Expected>& expected,
                          Metric metric,
                          const Matrix& data,
                          const std::vector<std::int64_t>& ids,
                          std::span<const float> query) {
    ASSERT_EQ(hits.size(), expected.size()) << metric_name(metric);
    for (std::size_t i = 0; i < hits.size(); ++i) {
        EXPECT_NEAR(hits[i].distance, expected[i].distance, tolerance(expected[i].distance))
            << metric_name(metric) << " rank " << i;
        EXPECT_FLOAT_EQ(hits[i].score, score_from_distance(metric, hits[i].distance));
        if (hits[i].id != expected[i].id) {
            auto row = std::find(ids.begin(), ids.end(), hits[i].id) - ids.begin();
            const double actual = naive_distance(metric, query, data.row_span(row));
            EXPECT_NEAR(actual, expected[i].distance, tolerance(expected[i].distance))
                << metric_name(metric) << " rank " << i << ": id " << hits[i].id << " instead of "
                << expected[i].id;
        }
        if (i > 0) {
            EXPECT_TRUE(hits[i - 1].distance < hits[i].distance ||
                        (hits[i - 1].distance == hits[i].distance && hits[i - 1].id < hits[i].id))
                << "not sorted at rank " << i;
        }
    }
}

FlatIndex make_index(Metric metric, const Matrix& data, const std::vector<std::int64_t>& ids) {
    FlatIndex index(static_cast<int>(data.n_cols), metric);
    auto st = index.add(ids, data);
    EXPECT_TRUE(st) << st.error().to_string();
    return index;
}

TEST(FlatIndexTest, DistancesMatchNaiveDistanceForEveryMetricAndDim) {
    std::mt19937 rng(1234);
    for (std::size_t dim :
         {1u, 2u, 7u, 8u, 15u, 16u, 17u, 33u, 63u, 64u, 65u, 128u, 1000u, 1024u}) {
        const std::size_t n = 40;
        Matrix data = random_matrix(rng, n, dim);
        auto ids = make_ids(n);
        auto query = random_vector(rng, dim);
        for (Metric metric : kAllMetrics) {
            FlatIndex index = make_index(metric, data, ids);
            SearchOptions options;
            options.k = n;  // every row, so every distance is checked
            auto hits = index.search(query, options);
            ASSERT_TRUE(hits) << hits.error().to_string();
            SCOPED_TRACE("dim " + std::to_string(dim));
            expect_matches_naive(*hits, naive_top_k(metric, data, ids, query, n), metric, data, ids,
                                 query);
        }
    }
}

TEST(FlatIndexTest, TopKEqualsNaiveFullSort) {
    std::mt19937 rng(1234);
    const std::size_t n = 3000;
    const std::size_t dim = 96;
    Matrix data = random_matrix(rng, n, dim);
    // Shift some rows so that correlation and cosine rank differently.
    for (std::size_t i = 0; i < n; i += 3) {
        for (std::size_t j = 0; j < dim; ++j) data.at(i, j) += 2.0f;
    }
    auto ids = make_ids(n);
    for (Metric metric : kAllMetrics) {
        FlatIndex index = make_index(metric, data, ids);
        EXPECT_EQ(index.size(), n);
        EXPECT_EQ(index.dim(), 96);
        EXPECT_EQ(index.metric(), metric);
        for (int trial = 0; trial < 5; ++trial) {
            auto query = random_vector(rng, dim);
            for (std::size_t k : {1u, 10u, 100u}) {
                SearchOptions options;
                options.k = k;
                auto hits = index.search(query, options);
                ASSERT_TRUE(hits);
                expect_matches_naive(*hits, naive_top_k(metric, data, ids, query, k), metric, data,
                                     ids, query);
            }
        }
    }
}

TEST(FlatIndexTest, QueryEqualToARowFindsItFirst) {
    std::mt19937 rng(1234);
    Matrix data = random_matrix(rng, 500, 64);
    auto ids = make_ids(500);
    for (Metric metric : kAllMetrics) {
        FlatIndex index = make_index(metric, data, ids);
        auto hits = index.search(data.row_span(123), top(3));
        ASSERT_TRUE(hits);
        ASSERT_EQ(hits->size(), 3u);
        EXPECT_EQ((*hits)[0].id, ids[123]) << metric_name(metric);
        EXPECT_NEAR((*hits)[0].distance, 0.0, 1e-5) << metric_name(metric);
    }
}

TEST(FlatIndexTest, FilterIsHonoured) {
    std::mt19937 rng(1234);
    const std::size_t n = 2000;
    Matrix data = random_matrix(rng, n, 32);
    auto ids = make_ids(n);
    auto query = random_vector(rng, 32);
    auto even = [](std::int64_t id) { return id % 2 == 0; };
    for (Metric metric : kAllMetrics) {
        FlatIndex index = make_index(metric, data, ids);
        SearchOptions options;
        options.k = 20;
        options.filter = even;
        auto hits = index.search(query, options);
        ASSERT_TRUE(hits);
        for (const auto& h : *hits) EXPECT_TRUE(even(h.id)) << h.id;
        expect_matches_naive(*hits, naive_top_k(metric, data, ids, query, 20, even), metric, data,
                             ids, query);

        options.filter = [](std::int64_t) { return false; };
        auto none = index.search(query, options);
        ASSERT_TRUE(none);
        EXPECT_TRUE(none->empty());

        // Only three candidates pass: fewer than k hits.
        options.filter = [&](std::int64_t id) {
            return id == ids[5] || id == ids[500] || id == ids[1999];
        };
        auto three = index.search(query, options);
        ASSERT_TRUE(three);
        EXPECT_EQ(three->size(), 3u);
    }
}

// With a block form (SearchOptions::filter_block) the scan asks it about every row, in blocks,
// and never the per-id filter; the hits are the per-id filter's, on one thread and on two.
TEST(FlatIndexTest, FilterBlockGivesThePerIdFiltersHits) {
    std::mt19937 rng(77);
    const std::size_t n = 5000;  // several blocks of 1,024, the last one short
    Matrix data = random_matrix(rng, n, 32);
    auto ids = make_ids(n);
    auto query = random_vector(rng, 32);
    auto passes = [](std::int64_t id) { return id % 13 == 4 || id % 7 == 0; };
    for (Metric metric : kAllMetrics) {
        FlatIndex index = make_index(metric, data, ids);
        for (int threads : {1, 2}) {
            std::atomic<std::size_t> per_id_calls{0};
            std::atomic<std::size_t> block_ids{0};
            SearchOptions options;
            options.k = 20;
            options.threads = threads;
            options.filter = [&](std::int64_t id) {
                ++per_id_calls;
                return passes(id);
            };
            options.filter_block = [&](std::span<const std::int64_t> block, std::uint8_t* pass) {
                EXPECT_LE(block.size(), detail::kFilterBlock);
                block_ids += block.size();
                for (std::size_t i = 0; i < block.size(); ++i) pass[i] = passes(block[i]) ? 1 : 0;
            };
            auto hits = index.search(query, options);
            ASSERT_TRUE(hits);
            expect_matches_naive(*hits, naive_top_k(metric, data, ids, query, 20, passes), metric,
                                 data, ids, query);
            EXPECT_EQ(per_id_calls.load(), 0u);
            EXPECT_EQ(block_ids.load(), n);
        }
    }
}

TEST(FlatIndexTest, KLargerThanSizeReturnsEverythingSorted) {
    std::mt19937 rng(1234);
    Matrix data = random_matrix(rng, 7, 5);
    auto ids = make_ids(7);
    auto query = random_vector(rng, 5);
    for (Metric metric : kAllMetrics) {
        FlatIndex index = make_index(metric, data, ids);
        auto hits = index.search(query, top(100));
        ASSERT_TRUE(hits);
        expect_matches_naive(*hits, naive_top_k(metric, data, ids, query, 100), metric, data, ids,
                             query);
        auto zero = index.search(query, top(0));
        ASSERT_TRUE(zero);
        EXPECT_TRUE(zero->empty());
    }
    FlatIndex empty(5, Metric::kCosine);
    auto hits = empty.search(query, top(10));
    ASSERT_TRUE(hits);
    EXPECT_TRUE(hits->empty());
}

TEST(FlatIndexTest, RemoveDropsIdsAndKeepsTheRestSearchable) {
    std::mt19937 rng(1234);
    const std::size_t n = 300;
    Matrix data = random_matrix(rng, n, 24);
    auto ids = make_ids(n);
    auto query = random_vector(rng, 24);
    for (Metric metric : kAllMetrics) {
        FlatIndex index = make_index(metric, data, ids);
        std::vector<std::int64_t> to_remove{ids[0], ids[10], ids[299], ids[10], 424242};
        EXPECT_EQ(index.remove(to_remove), 3u);
        EXPECT_EQ(index.size(), n - 3);
        auto removed = [&](std::int64_t id) {
            return id == ids[0] || id == ids[10] || id == ids[299];
        };
        auto hits = index.search(query, top(n));
        ASSERT_TRUE(hits);
        ASSERT_EQ(hits->size(), n - 3);
        for (const auto& h : *hits) EXPECT_FALSE(removed(h.id));
        expect_matches_naive(
            *hits,
            naive_top_k(metric, data, ids, query, n, [&](std::int64_t id) { return !removed(id); }),
            metric, data, ids, query);

        // A removed id can be added again.
        Matrix row(1, 24);
        std::copy(data.row(10), data.row(10) + 24, row.row(0));
        std::vector<std::int64_t> again{ids[10]};
        EXPECT_TRUE(index.add(again, row));
        EXPECT_EQ(index.size(), n - 2);
        EXPECT_EQ(index.remove(again), 1u);
    }
}

TEST(FlatIndexTest, DuplicateIdsAreRejectedAndNothingIsAdded) {
    std::mt19937 rng(1234);
    FlatIndex index(4, Metric::kEuclidean);
    Matrix two = random_matrix(rng, 2, 4);
    std::vector<std::int64_t> dup{7, 7};
    auto st = index.add(dup, two);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.error().message().find("duplicate id 7"), std::string::npos);
    EXPECT_EQ(index.size(), 0u);

    std::vector<std::int64_t> ok{1, 2};
    ASSERT_TRUE(index.add(ok, two));
    std::vector<std::int64_t> clash{3, 2};
    auto st2 = index.add(clash, random_matrix(rng, 2, 4));
    ASSERT_FALSE(st2);
    EXPECT_EQ(st2.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(index.size(), 2u);
    auto hits = index.search(two.row_span(0), top(10));
    ASSERT_TRUE(hits);
    EXPECT_EQ(hits->size(), 2u);
}

TEST(FlatIndexTest, ShapeMismatchesAndBadValuesAreInvalidArgument) {
    std::mt19937 rng(1234);
    FlatIndex index(8, Metric::kCosine);
    std::vector<std::int64_t> three{1, 2, 3};
    EXPECT_EQ(index.add(three, random_matrix(rng, 2, 8)).error().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(index.add(three, random_matrix(rng, 3, 7)).error().code(),
              ErrorCode::kInvalidArgument);
    Matrix nan = random_matrix(rng, 3, 8);
    nan.at(1, 4) = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(index.add(three, nan).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(index.size(), 0u);
    ASSERT_TRUE(index.add(three, random_matrix(rng, 3, 8)));

    auto wrong_dim = index.search(random_vector(rng, 7), {});
    ASSERT_FALSE(wrong_dim);
    EXPECT_EQ(wrong_dim.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(wrong_dim.error().message().find("dim 7"), std::string::npos);
    auto inf_query = random_vector(rng, 8);
    inf_query[3] = std::numeric_limits<float>::infinity();
    EXPECT_EQ(index.search(inf_query, {}).error().code(), ErrorCode::kInvalidArgument);
}

TEST(FlatIndexTest, ZeroAndConstantVectorsHaveSimilarityZero) {
    const std::vector<float> zero(6, 0.0f);
    const std::vector<float> constant(6, 0.3f);
    const std::vector<float> v{1.0f, 2.0f, -1.0f, 0.5f, 3.0f, -2.0f};
    Matrix data(3, 6);
    std::copy(zero.begin(), zero.end(), data.row(0));
    std::copy(constant.begin(), constant.end(), data.row(1));
    std::copy(v.begin(), v.end(), data.row(2));
    std::vector<std::int64_t> ids{10, 20, 30};
    for (Metric metric : {Metric::kCosine, Metric::kCorrelation}) {
        FlatIndex index = make_index(metric, data, ids);
        auto hits = index.search(v, top(3));
        ASSERT_TRUE(hits);
        ASSERT_EQ(hits->size(), 3u);
        for (const auto& h : *hits) {
            const auto row = static_cast<std::size_t>(h.id / 10 - 1);
            EXPECT_NEAR(h.distance, naive_distance(metric, v, data.row_span(row)), 1e-5)
                << metric_name(metric) << " id " << h.id;
        }
        // A degenerate query is equally far (distance 1, score 0) from everything; ties by id.
        for (const auto& q : {zero, constant}) {
            if (metric == Metric::kCosine && q == constant)
                continue;
            auto flat = index.search(q, top(3));
            ASSERT_TRUE(flat);
            ASSERT_EQ(flat->size(), 3u);
            for (std::size_t i = 0; i < 3; ++i) {
                EXPECT_EQ((*flat)[i].id, ids[i]);
                EXPECT_EQ((*flat)[i].distance, 1.0f);
                EXPECT_EQ((*flat)[i].score, 0.0f);
            }
        }
    }
}

TEST(FlatIndexTest, TiesAreBrokenByAscendingId) {
    std::mt19937 rng(1234);
    auto v = random_vector(rng, 16);
    auto w = random_vector(rng, 16);
    Matrix data(5, 16);
    for (std::size_t i : {0u, 2u, 4u}) std::copy(v.begin(), v.end(), data.row(i));
    for (std::size_t i : {1u, 3u}) std::copy(w.begin(), w.end(), data.row(i));
    std::vector<std::int64_t> ids{9, 8, 3, 1, 5};
    for (Metric metric : kAllMetrics) {
        FlatIndex index = make_index(metric, data, ids);
        auto hits = index.search(v, top(4));
        ASSERT_TRUE(hits);
        ASSERT_EQ(hits->size(), 4u);
        EXPECT_EQ((*hits)[0].id, 3);
        EXPECT_EQ((*hits)[1].id, 5);
        EXPECT_EQ((*hits)[2].id, 9);
        EXPECT_EQ((*hits)[3].id, 1);
        EXPECT_EQ((*hits)[0].distance, (*hits)[2].distance);
    }
}

TEST(FlatIndexTest, ResultsAreIdenticalAcrossThreadCounts) {
    std::mt19937 rng(1234);
    // Large enough that the scan really splits into 4 chunks.
    const std::size_t n = 20000;
    const std::size_t dim = 64;
    Matrix data = random_matrix(rng, n, dim);
    auto ids = make_ids(n);
    auto query = random_vector(rng, dim);
    for (Metric metric : kAllMetrics) {
        FlatIndex index = make_index(metric, data, ids);
        std::vector<SearchHit> reference;
        for (int threads : {1, 2, 4, 0}) {
            SearchOptions options;
            options.k = 50;
            options.threads = threads;
            options.filter = [](std::int64_t id) { return id % 7 != 0; };
            auto hits = index.search(query, options);
            ASSERT_TRUE(hits);
            ASSERT_EQ(hits->size(), 50u);
            if (reference.empty()) {
                reference = *hits;
                expect_matches_naive(*hits,
                                     naive_top_k(metric, data, ids, query, 50, options.filter),
                                     metric, data, ids, query);
                continue;
            }
            for (std::size_t i = 0; i < reference.size(); ++i) {
                EXPECT_EQ((*hits)[i].id, reference[i].id) << "threads " << threads;
                EXPECT_EQ(std::memcmp(&(*hits)[i].distance, &reference[i].distance, sizeof(float)),
                          0)
                    << "threads " << threads;
            }
        }
    }
}

TEST(FlatIndexTest, ConcurrentSearchesAgree) {
    std::mt19937 rng(1234);
    Matrix data = random_matrix(rng, 5000, 32);
    auto ids = make_ids(5000);
    FlatIndex index = make_index(Metric::kCosine, data, ids);
    auto query = random_vector(rng, 32);
    auto expected = *index.search(query, top(10));
    std::vector<std::thread> threads;
    std::atomic<int> mismatches{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20; ++i) {
                auto hits = index.search(query, top(10, 2));
                if (!hits || hits->size() != expected.size() ||
                    !std::equal(hits->begin(), hits->end(), expected.begin(),
                                [](const SearchHit& a, const SearchHit& b) {
                                    return a.id == b.id && a.distance == b.distance;
                                })) {
                    ++mismatches;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace earshot
