// SQ8 / SQfp16 (compact scan + exact float32 re-ranking): at the documented re-rank depth
// (sq_default_rerank(k)) the hits — ids, order and distances — are exact search's, for every
// metric, with filters, after removals, and at a higher dimension; the compact copy takes the
// documented bytes per item.
#include <cstdint>
#include <span>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "index/vector_index.h"
#include "index_test_util.h"

namespace earshot {
namespace {

using testing_util::clustered;
using testing_util::ids_from;

class SqIndexTest : public ::testing::TestWithParam<std::tuple<std::string, Metric>> {
protected:
    std::string spec() const { return std::get<0>(GetParam()); }
    Metric metric() const { return std::get<1>(GetParam()); }
};

// Same ids, same order and bit-identical distances as FlatIndex for every query.
void expect_same_as_exact(const VectorIndex& index,
                          const FlatIndex& flat,
                          const Matrix& queries,
                          const SearchOptions& o) {
    for (std::size_t q = 0; q < queries.n_rows; ++q) {
        auto want = flat.search(queries.row_span(q), o);
        auto got = index.search(queries.row_span(q), o);
        ASSERT_TRUE(want && got);
        ASSERT_EQ(got->size(), want->size()) << "query " << q;
        for (std::size_t i = 0; i < want->size(); ++i) {
            EXPECT_EQ((*got)[i].id, (*want)[i].id) << "query " << q << " rank " << i;
            EXPECT_EQ((*got)[i].distance, (*want)[i].distance) << "query " << q << " rank " << i;
        }
    }
}

TEST_P(SqIndexTest, EqualsExactSearchAtDefaultRerankDepth) {
    for (std::size_t dim : {48u, 384u}) {
        const std::size_t n = dim == 48 ? 6000 : 3000;
        const Matrix data = clustered(n, dim, 17);
        const Matrix queries = clustered(40, dim, 5);
        const auto ids = ids_from(1, n);
        auto index = make_index(spec(), static_cast<int>(dim), metric());
        ASSERT_TRUE(index);
        ASSERT_TRUE((*index)->add(ids, data));
        FlatIndex flat(static_cast<int>(dim), metric());
        ASSERT_TRUE(flat.add(ids, data));
        for (std::size_t k : {1u, 10u, 50u}) {
            SearchOptions o;
            o.k = k;
            SCOPED_TRACE("dim " + std::to_string(dim) + " k " + std::to_string(k));
            expect_same_as_exact(**index, flat, queries, o);
            o.filter = [](std::int64_t id) { return id % 7 == 3; };
            expect_same_as_exact(**index, flat, queries, o);
            // The same filter's block form: the compact scan's hits are exact search's still.
            o.filter_block = [](std::span<const std::int64_t> block, std::uint8_t* pass) {
                for (std::size_t i = 0; i < block.size(); ++i) pass[i] = block[i] % 7 == 3;
            };
            expect_same_as_exact(**index, flat, queries, o);
        }
    }
}

TEST_P(SqIndexTest, EqualsExactSearchAfterRemovalsAndReinserts) {
    const std::size_t n = 5000;
    const std::size_t dim = 64;
    const Matrix data = clustered(n, dim, 23);
    const Matrix queries = clustered(30, dim, 8);
    const auto ids = ids_from(1, n);
    auto index = make_index(spec(), static_cast<int>(dim), metric());
    ASSERT_TRUE(index);
    ASSERT_TRUE((*index)->add(ids, data));
    FlatIndex flat(static_cast<int>(dim), metric());
    ASSERT_TRUE(flat.add(ids, data));
    // Remove every third id (rows move around in both), then put a few back.
    std::vector<std::int64_t> gone;
    for (std::int64_t id = 1; id <= static_cast<std::int64_t>(n); id += 3) gone.push_back(id);
    EXPECT_EQ((*index)->remove(gone), gone.size());
    EXPECT_EQ(flat.remove(gone), gone.size());
    std::vector<std::int64_t> back(gone.begin(), gone.begin() + 100);
    Matrix rows(back.size(), dim);
    for (std::size_t i = 0; i < back.size(); ++i)
        std::copy_n(data.row(static_cast<std::size_t>(back[i] - 1)), dim, rows.row(i));
    ASSERT_TRUE((*index)->add(back, rows));
    ASSERT_TRUE(flat.add(back, rows));
    EXPECT_EQ((*index)->size(), flat.size());
    SearchOptions o;
    o.k = 10;
    expect_same_as_exact(**index, flat, queries, o);
}

TEST_P(SqIndexTest, CompactCopyTakesTheDocumentedBytes) {
    const std::size_t n = 2000;
    const std::size_t dim = 128;
    const Matrix data = clustered(n, dim, 3);
    auto sq = make_index(spec(), static_cast<int>(dim), metric());
    auto flat = make_index("flat", static_cast<int>(dim), metric());
    ASSERT_TRUE(sq && flat);
    ASSERT_TRUE((*sq)->add(ids_from(1, n), data));
    ASSERT_TRUE((*flat)->add(ids_from(1, n), data));
    const double extra = static_cast<double>((*sq)->memory_bytes() - (*flat)->memory_bytes()) /
                         static_cast<double>(n);
    const double want = spec() == "SQ8" ? dim + 12.0 : 2.0 * dim;
    EXPECT_NEAR(extra, want, 0.1 * want);
}

TEST(SqIndexSmallDepthTest, ReRankDepthIsEfSearch) {
    // With ef_search = k the hits are the compact copy's own top k, re-scored exactly: still
    // sorted, exact distances, and close to exact search (SQfp16 loses almost nothing).
    const std::size_t n = 4000;
    const std::size_t dim = 48;
    const Matrix data = clustered(n, dim, 41);
    const Matrix queries = clustered(20, dim, 42);
    auto index = make_index("SQfp16", static_cast<int>(dim), Metric::kCosine);
    ASSERT_TRUE(index);
    ASSERT_TRUE((*index)->add(ids_from(1, n), data));
    FlatIndex flat(static_cast<int>(dim), Metric::kCosine);
    ASSERT_TRUE(flat.add(ids_from(1, n), data));
    SearchOptions o;
    o.k = 10;
    o.ef_search = 10;
    EXPECT_GE(testing_util::recall_at_k(**index, flat, queries, o), 0.9);
}

INSTANTIATE_TEST_SUITE_P(Kinds,
                         SqIndexTest,
                         ::testing::Combine(::testing::Values("SQ8", "SQfp16"),
                                            ::testing::Values(Metric::kCosine,
                                                              Metric::kEuclidean,
                                                              Metric::kManhattan,
                                                              Metric::kCorrelation)),
                         [](const auto& param_info) {
                             return std::get<0>(param_info.param) + "_" +
                                    std::string(metric_name(std::get<1>(param_info.param)));
                         });

}  // namespace
}  // namespace earshot
