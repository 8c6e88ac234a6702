// HNSW filtered search through the graph: enough items pass that the filtered layer-0 walk is
// taken rather than the exact scan of the passing items (detail::kExactFilterFloor; the every-kind
// suite's 4,000 items always take the scan), for float and half-precision vectors and the three
// walks (1 - dot, L2, L1). Recall@10 against exact filtered search; never a failing or deleted
// item. Items are inserted in id order (one build thread) and the filter is periodic (id % 10),
// the case where a fixed-stride estimate of the passing fraction saw no passing item and sent
// every query to the exact scan (docs/performance.md, fifth round).
#include "index/hnsw_index.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "index/filter_estimate.h"
#include "index/flat_index.h"
#include "index/vector_index.h"
#include "index/vector_transform.h"
#include "index_test_util.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing_util::clustered;
using testing_util::ids_from;
using testing_util::in_degrees;
using testing_util::links_of;

struct FilterCase {
    std::size_t n;
    std::size_t dim;
    std::int64_t keep_every;  // the filter keeps id % keep_every == 0
    double min_recall;
    std::vector<std::pair<std::string, Metric>> indexes;
};

// Searches `queries` with the filter on `index` and on exact search over the same live items;
// checks every hit passes, is live and that the k hits are there, and that the graph walk (not
// the exact scan) answered every query; returns mean recall@10.
double filtered_recall(const VectorIndex& index,
                       const FlatIndex& exact,
                       const Matrix& queries,
                       std::int64_t keep_every,
                       const std::set<std::int64_t>& deleted) {
    const bool exact_distances = index.spec().text.find("SQfp16") == std::string::npos;
    SearchOptions o;
    o.k = 10;
    o.filter = [keep_every](std::int64_t id) { return id % keep_every == 0; };
    double sum = 0.0;
    const std::size_t walks_before = detail::hnsw_filtered_walks();
    for (std::size_t q = 0; q < queries.n_rows; ++q) {
        auto truth = exact.search(queries.row_span(q), o);
        auto got = index.search(queries.row_span(q), o);
        EXPECT_TRUE(truth && got);
        if (!truth || !got)
            return 0.0;
        EXPECT_EQ(got->size(), o.k);
        std::set<std::int64_t> want;
        for (const auto& h : *truth) want.insert(h.id);
        std::set<std::int64_t> seen;
        for (const auto& h : *got) {
            // Returned distances are the stored vectors' (float32: the exact ones), never the
            // 8-bit steering copy's (errors ~1e-3), which only steers the walk.
            if (exact_distances) {
                for (const auto& t : *truth) {
                    if (t.id == h.id) {
                        EXPECT_NEAR(h.distance, t.distance, 1e-5f) << "id " << h.id;
                    }
                }
            }
            EXPECT_EQ(h.id % keep_every, 0) << "id " << h.id << " fails the filter";
            EXPECT_EQ(deleted.count(h.id), 0u) << "id " << h.id << " was deleted";
            EXPECT_TRUE(seen.insert(h.id).second) << "id " << h.id << " returned twice";
        }
        sum += static_cast<double>(std::count_if(
                   got->begin(), got->end(), [&](const auto& h) { return want.count(h.id) > 0; })) /
               static_cast<double>(truth->size());
    }
    EXPECT_EQ(detail::hnsw_filtered_walks() - walks_before, queries.n_rows)
        << "the exact scan answered some queries";
    return sum / static_cast<double>(queries.n_rows);
}

void check_filtered_walk(const FilterCase& c, bool with_deletions) {
    // Queries: 100 held-out rows of the same clusters (as `bench index` draws them).
    const Matrix all = clustered(c.n + 100, c.dim, 4321);
    Matrix data(c.n, c.dim);
    Matrix queries(100, c.dim);
    std::copy_n(all.data.begin(), c.n * c.dim, data.data.begin());
    std::copy(all.data.begin() + static_cast<std::ptrdiff_t>(c.n * c.dim), all.data.end(),
              queries.data.begin());
    const auto ids = ids_from(1, c.n);
    // Deleted: every 3rd passing item (tombstones that pass the filter and stay in the graph,
    // below the compaction fraction) and every 47th item.
    std::vector<std::int64_t> gone;
    if (with_deletions) {
        for (std::int64_t id = 1; id <= static_cast<std::int64_t>(c.n); ++id) {
            if ((id % c.keep_every == 0 && (id / c.keep_every) % 3 == 0) || id % 47 == 0)
                gone.push_back(id);
        }
    }
    const std::set<std::int64_t> deleted(gone.begin(), gone.end());
    std::size_t live_passing = 0;
    for (std::int64_t id : ids)
        live_passing += id % c.keep_every == 0 && deleted.count(id) == 0 ? 1 : 0;
    // The walk, not the exact scan, must be what is tested (default efSearch 96; the index
    // estimates the passing fraction from a sample, checked in filtered_recall). A 1 % walk
    // computes more distances than the budget a scan of 2,284 items sets: it walks on here.
    ASSERT_GT(live_passing, std::max(detail::kExactFilterFloor, 8 * kHnswDefaultEfSearch));
    detail::set_hnsw_walk_budget(false);
    struct BudgetBack {
        ~BudgetBack() { detail::set_hnsw_walk_budget(true); }
    } budget_back;
    ASSERT_LT(static_cast<double>(gone.size()),
              kTombstoneRebuildFraction * static_cast<double>(c.n));

    for (const auto& [spec, metric] : c.indexes) {
        SCOPED_TRACE(spec + " " + std::string(metric_name(metric)) + " n " + std::to_string(c.n) +
                     " keep 1/" + std::to_string(c.keep_every) +
                     (with_deletions ? " with deletions" : ""));
        auto index = make_index(spec, static_cast<int>(c.dim), metric);
        ASSERT_TRUE(index);
        // One build thread: the same graph (and passing-fraction sample) on every run.
        (*index)->set_threads(1);
        ASSERT_TRUE((*index)->add(ids, data));
        FlatIndex exact(static_cast<int>(c.dim), metric);
        ASSERT_TRUE(exact.add(ids, data));
        if (with_deletions) {
            ASSERT_EQ((*index)->remove(gone), gone.size());
            exact.remove(gone);
        }
        // The steered walk (default) and the walk that reads every node's stored vector.
        const double recall = filtered_recall(**index, exact, queries, c.keep_every, deleted);
        EXPECT_GE(recall, c.min_recall);
        detail::set_hnsw_filter_steering(false);
        const double unsteered = filtered_recall(**index, exact, queries, c.keep_every, deleted);
        detail::set_hnsw_filter_steering(true);
        EXPECT_GE(unsteered, c.min_recall);
    }
}

// Float and half-precision vectors, the three walks (1 - dot, L2, L1).
std::vector<std::pair<std::string, Metric>> every_walk() {
    std::vector<std::pair<std::string, Metric>> out;
    for (const char* spec : {"HNSW16,efC48", "HNSW16,efC48,SQfp16"}) {
        for (Metric metric : {Metric::kCosine, Metric::kEuclidean, Metric::kManhattan})
            out.emplace_back(spec, metric);
    }
    return out;
}

// 10 % kept: 4,000 of 40,000 items pass (2,610 live with the deletions).
// The passing-fraction estimate must not alias with periodic ids: with n = 2560 a fixed stride of
// 10 sees only ids 0, 10, 20, ... and so estimates 1.0 (or 0.0) for a filter keeping id % 10 == 0.
TEST(FilterEstimateTest, PeriodicIdsDoNotAliasWithTheSample) {
    for (std::size_t n : {2560u, 25600u, 100000u}) {
        for (std::size_t keep : {0u, 3u}) {
            const double f =
                detail::estimate_passing_fraction(
                    n, n, 0, [&](std::size_t i) -> std::optional<bool> { return i % 10 == keep; })
                    .fraction;
            EXPECT_GT(f, 0.04) << n << " " << keep;
            EXPECT_LT(f, 0.2) << n << " " << keep;
        }
    }
}

TEST(FilterEstimateTest, LeftOutSlotsAreNotCountedAndNoSlotsGiveZero) {
    // Every other slot left out (deleted); of the rest, all pass.
    const double f = detail::estimate_passing_fraction(10000, 5000, detail::kExactFilterFloor,
                                                       [](std::size_t i) -> std::optional<bool> {
                                                           if (i % 2 == 1)
                                                               return std::nullopt;
                                                           return true;
                                                       })
                         .fraction;
    EXPECT_DOUBLE_EQ(f, 1.0);
    EXPECT_EQ(detail::estimate_passing_fraction(
                  0, 0, 0, [](std::size_t) -> std::optional<bool> { return true; })
                  .fraction,
              0.0);
    EXPECT_EQ(detail::estimate_passing_fraction(
                  50, 0, 0, [](std::size_t) -> std::optional<bool> { return std::nullopt; })
                  .fraction,
              0.0);
}

// A filter that passes each slot with probability `keep`, differently for each seed (as the
// items of different indexes fall on different slots).
bool random_pass(std::uint64_t seed, std::size_t slot, double keep) {
    std::uint64_t z = seed * 0x9e3779b97f4a7c15ULL + slot + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) < keep * 9007199254740992.0;  // 2^53
}

// Near the exact-scan floor the estimate decides the path the same way for (nearly) every
// index: 3,000 of 30,000 passing (the bench test of stop 30's CI failure) is judged above 2,048,
// and 1,400 below. A fixed sample of 256 slots judged the first below the floor for about one
// index in 20, so among 300 filters some would fail.
TEST(FilterEstimateTest, NearTheFloorTheSampleGrowsUntilItDecides) {
    constexpr std::size_t kN = 30000;
    const double floor = static_cast<double>(detail::kExactFilterFloor);
    int wrong_above = 0;
    int wrong_below = 0;
    int fixed_wrong = 0;
    for (std::uint64_t seed = 1; seed <= 300; ++seed) {
        auto above = [&](std::size_t i) -> std::optional<bool> {
            return random_pass(seed, i, 0.1);
        };
        auto below = [&](std::size_t i) -> std::optional<bool> {
            return random_pass(seed, i, 1400.0 / kN);
        };
        const auto a = detail::estimate_passing_fraction(kN, kN, detail::kExactFilterFloor, above);
        const auto b = detail::estimate_passing_fraction(kN, kN, detail::kExactFilterFloor, below);
        wrong_above += a.below ? 1 : 0;
        wrong_below += b.below ? 0 : 1;
        // A doubling keeps the slots asked so far: at most the largest sample in all (asking
        // afresh each time would cost up to 256 + 512 + ... + 8192).
        EXPECT_LE(a.samples, detail::kMaxSelectivitySamples);
        EXPECT_LE(b.samples, detail::kMaxSelectivitySamples);
        // The fixed first sample alone (decide_at 0: no doubling), for comparison.
        fixed_wrong += detail::estimate_passing_fraction(kN, kN, 0, above).fraction * kN < floor;
    }
    EXPECT_EQ(wrong_above, 0);
    EXPECT_EQ(wrong_below, 0);
    EXPECT_GT(fixed_wrong, 0) << "the 256-slot sample decided every case: the test is too easy";
}

// Far from the decision point the first 256 slots decide (no extra filter calls per query), and
// a sample of every slot is exact.
TEST(FilterEstimateTest, FarFromTheFloorTheFirstSampleDecides) {
    std::size_t calls = 0;
    const auto far = detail::estimate_passing_fraction(100000, 100000, detail::kExactFilterFloor,
                                                       [&](std::size_t i) -> std::optional<bool> {
                                                           ++calls;
                                                           return random_pass(7, i, 0.1);
                                                       });
    EXPECT_EQ(far.samples, detail::kSelectivitySamples);
    EXPECT_EQ(calls, detail::kSelectivitySamples);
    EXPECT_NEAR(far.fraction, 0.1, 0.06);
    // 3,000 slots, 2,100 passing: every slot is asked in the end, and the fraction is exact.
    const auto all = detail::estimate_passing_fraction(
        3000, 3000, detail::kExactFilterFloor,
        [&](std::size_t i) -> std::optional<bool> { return i % 10 < 7; });
    EXPECT_DOUBLE_EQ(all.fraction, 0.7);
    // Fewer slots than the decision point: below it whatever passes, so 256 slots are enough.
    const auto small =
        detail::estimate_passing_fraction(2000, 2000, detail::kExactFilterFloor,
                                          [&](std::size_t) -> std::optional<bool> { return true; });
    EXPECT_EQ(small.samples, detail::kSelectivitySamples);
    EXPECT_TRUE(small.below);
    EXPECT_FALSE(far.below);
    EXPECT_FALSE(all.below);
}

// Near the decision point the sample doubles by splitting each stratum and asking only the
// half without a slot: no slot is asked twice, and the final sample holds exactly one slot in
// each of its equal strata (stratified, as the first one).
TEST(FilterEstimateTest, ADoublingAsksOnlyNewSlotsOnePerStratum) {
    constexpr std::size_t kN = 101000;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        std::vector<std::size_t> asked;
        const auto e = detail::estimate_passing_fraction(
            kN, kN, detail::kExactFilterFloor, [&](std::size_t i) -> std::optional<bool> {
                asked.push_back(i);
                return random_pass(seed, i, 2500.0 / kN);
            });
        ASSERT_EQ(asked.size(), e.samples);
        // 2,500 of 101,000 is within 4 standard errors of 2,048 for a 256-slot sample.
        ASSERT_GT(e.samples, detail::kSelectivitySamples) << "seed " << seed;
        const std::size_t m = e.samples;
        // 256 doubled some times: a power of two times the first sample.
        ASSERT_EQ(m % detail::kSelectivitySamples, 0u);
        const std::size_t doublings = m / detail::kSelectivitySamples;
        EXPECT_EQ(doublings & (doublings - 1), 0u) << m << " slots, seed " << seed;
        std::sort(asked.begin(), asked.end());
        EXPECT_EQ(std::adjacent_find(asked.begin(), asked.end()), asked.end())
            << "a slot was asked twice, seed " << seed;
        for (std::size_t j = 0; j < m; ++j) {
            EXPECT_GE(asked[j], detail::stratum_begin(j, m, kN)) << "stratum " << j;
            EXPECT_LT(asked[j], detail::stratum_begin(j + 1, m, kN)) << "stratum " << j;
        }
    }
}

// With deleted slots the decision counts live items: 40,000 slots, every second one deleted,
// 9 % of the live 20,000 passing is 1,800, below 2,048 (scaled to the 40,000 slots it would be
// 3,600, above).
TEST(FilterEstimateTest, TheDecisionCountsLiveItemsNotSlots) {
    auto passes = [](std::size_t i) -> std::optional<bool> {
        if (i % 2 == 1)
            return std::nullopt;
        return random_pass(11, i, 0.09);
    };
    const auto e =
        detail::estimate_passing_fraction(40000, 20000, detail::kExactFilterFloor, passes);
    EXPECT_NEAR(e.fraction, 0.09, 0.02);
    EXPECT_TRUE(e.below);
    // The same sample with every slot live: 3,600 expected, above.
    EXPECT_FALSE(
        detail::estimate_passing_fraction(40000, 40000, detail::kExactFilterFloor, passes).below);
}

TEST(HnswFilteredWalkTest, TenPercentFilter) {
    check_filtered_walk({40000, 16, 10, 0.95, every_walk()}, false);
}

TEST(HnswFilteredWalkTest, TenPercentFilterWithDeletions) {
    check_filtered_walk({40000, 16, 10, 0.95, every_walk()}, true);
}

// The steering copy is built by the first filtered walk (memory_bytes grows by at least d + 12
// bytes per item), extended by later adds (items added after it are found, with exact
// distances) and dropped by a compaction (which rebuilds the graph).
TEST(HnswFilteredWalkTest, SteeringCopyFollowsAddsAndCompaction) {
    constexpr std::size_t kN = 40000;
    constexpr std::size_t kDim = 16;
    const Matrix all = clustered(kN + 100, kDim, 99);
    Matrix first(kN / 2, kDim);
    Matrix second(kN / 2, kDim);
    Matrix queries(100, kDim);
    std::copy_n(all.data.begin(), kN / 2 * kDim, first.data.begin());
    std::copy_n(all.data.begin() + static_cast<std::ptrdiff_t>(kN / 2 * kDim), kN / 2 * kDim,
                second.data.begin());
    std::copy(all.data.begin() + static_cast<std::ptrdiff_t>(kN * kDim), all.data.end(),
              queries.data.begin());
    auto index = make_index("HNSW16,efC48", kDim, Metric::kCosine);
    ASSERT_TRUE(index);
    (*index)->set_threads(1);
    ASSERT_TRUE((*index)->add(ids_from(1, kN / 2), first));
    FlatIndex exact(kDim, Metric::kCosine);
    ASSERT_TRUE(exact.add(ids_from(1, kN / 2), first));

    const std::size_t before = (*index)->memory_bytes();
    SearchOptions unfiltered;
    unfiltered.k = 10;
    ASSERT_TRUE((*index)->search(queries.row_span(0), unfiltered));
    EXPECT_EQ((*index)->memory_bytes(), before) << "an unfiltered search built the copy";
    // keep 1/5: 4,000 of 20,000 pass, above the exact-scan floor.
    EXPECT_GE(filtered_recall(**index, exact, queries, 5, {}), 0.95);
    const std::size_t with_copy = (*index)->memory_bytes();
    EXPECT_GE(with_copy - before, (kN / 2) * (kDim + 12));
    // Records are padded to a cache line and the block to whole 2 MiB pages.
    EXPECT_LE(with_copy - before, std::max<std::size_t>(std::size_t{2} << 20, (kN / 2) * 64 * 2));

    // Added after the copy exists: found through the steered walk, with exact distances.
    ASSERT_TRUE((*index)->add(ids_from(kN / 2 + 1, kN / 2), second));
    ASSERT_TRUE(exact.add(ids_from(kN / 2 + 1, kN / 2), second));
    EXPECT_GE(filtered_recall(**index, exact, queries, 5, {}), 0.95);

    // A compaction drops the copy; the next filtered walk builds it for the new graph.
    std::vector<std::int64_t> gone;
    for (std::int64_t id = 1; id <= static_cast<std::int64_t>(kN); id += 3) gone.push_back(id);
    ASSERT_EQ((*index)->remove(gone), gone.size());
    exact.remove(gone);
    const std::set<std::int64_t> deleted(gone.begin(), gone.end());
    EXPECT_GE(filtered_recall(**index, exact, queries, 5, deleted), 0.95);
    EXPECT_EQ((*index)->size(), kN - gone.size());
}

// The first filtered searches of an index build its steering copy; several threads searching
// at once (search() is const and concurrent) must wait for one build and get the same hits as
// the same searches run one after another on a copy that already exists.
TEST(HnswFilteredWalkTest, ConcurrentFirstFilteredSearchesShareOneSteeringCopy) {
    constexpr std::size_t kN = 30000;
    constexpr std::size_t kDim = 24;
    constexpr std::size_t kQueries = 64;
    const Matrix all = clustered(kN + kQueries, kDim, 5);
    Matrix data(kN, kDim);
    std::copy_n(all.data.begin(), kN * kDim, data.data.begin());
    auto index = make_index("HNSW16,efC48", kDim, Metric::kCosine);
    ASSERT_TRUE(index);
    ASSERT_TRUE((*index)->add(ids_from(1, kN), data));
    SearchOptions o;
    o.k = 10;
    o.filter = [](std::int64_t id) { return id % 5 == 0; };
    auto query = [&](std::size_t q) {
        return std::span<const float>(all.data.data() + (kN + q) * kDim, kDim);
    };
    const std::size_t before = (*index)->memory_bytes();
    std::vector<std::vector<std::int64_t>> concurrent(kQueries);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t q = t; q < kQueries; q += 4) {
                auto hits = (*index)->search(query(q), o);
                if (hits) {
                    for (const auto& h : *hits) concurrent[q].push_back(h.id);
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_GT((*index)->memory_bytes(), before);
    const std::size_t walks = detail::hnsw_filtered_walks();
    for (std::size_t q = 0; q < kQueries; ++q) {
        auto hits = (*index)->search(query(q), o);
        ASSERT_TRUE(hits);
        std::vector<std::int64_t> ids;
        for (const auto& h : *hits) ids.push_back(h.id);
        EXPECT_EQ(concurrent[q], ids) << "query " << q;
        EXPECT_EQ(ids.size(), 10u);
    }
    EXPECT_EQ(detail::hnsw_filtered_walks() - walks, kQueries) << "not answered by the walk";
}

// 40,000 points in 20 Gaussian clusters of 16 dimensions (item i, id i + 1, lies in cluster
// i % 20), and more points drawn from the clusters as queries.
struct Clusters {
    static constexpr std::size_t kN = 40000;
    static constexpr std::size_t kDim = 16;
    static constexpr std::size_t kCount = 20;
    explicit Clusters(unsigned seed) : rng(seed), centres(kCount, kDim), data(kN, kDim) {
        for (auto& x : centres.data) x = 4.0f * g(rng);
        for (std::size_t i = 0; i < kN; ++i) point(i % kCount, data.row(i));
    }
    void point(std::size_t c, float* out) {
        for (std::size_t j = 0; j < kDim; ++j) out[j] = centres.at(c, j) + g(rng);
    }
    // A cosine HNSW16 index of the points, built on one thread (the same graph every run).
    std::unique_ptr<VectorIndex> hnsw16() const {
        auto index = make_index("HNSW16", static_cast<int>(kDim), Metric::kCosine);
        EXPECT_TRUE(index);
        if (!index)
            return nullptr;
        (*index)->set_threads(1);
        EXPECT_TRUE((*index)->add(ids_from(1, kN), data));
        return std::move(*index);
    }
    std::mt19937 rng;
    std::normal_distribution<float> g{0.0f, 1.0f};
    Matrix centres;
    Matrix data;
};

// A filter that keeps items away from the query (a folder of other sounds): the walk would have
// to expand the whole neighbourhood in between, so past its budget (kWalkBudgetShare of the
// passing items' distances) it gives up for a scan of the passing items (8-bit estimates, the
// best re-ranked exactly), which returns the exact filtered top 10. A query among the passing
// items is still answered by the walk; with the budget off, no walk gives up.
TEST(HnswFilteredWalkTest, WalkGivesUpForAScanWhenThePassingItemsLieAway) {
    Clusters clusters(99);
    // Clusters 0 and 1 pass (4,000 items: the walk, not the exact scan, is tried first).
    auto passes = [](std::int64_t id) { return (id - 1) % 20 < 2; };
    const auto index = clusters.hnsw16();
    ASSERT_TRUE(index);
    FlatIndex exact(static_cast<int>(Clusters::kDim), Metric::kCosine);
    ASSERT_TRUE(exact.add(ids_from(1, Clusters::kN), clusters.data));
    SearchOptions o;
    o.k = 10;
    o.filter = passes;
    std::vector<float> q(Clusters::kDim);
    auto search_from = [&](std::size_t cluster, std::size_t queries) {
        std::size_t found = 0;
        for (std::size_t i = 0; i < queries; ++i) {
            clusters.point(cluster, q.data());
            auto truth = exact.search(q, o);
            auto got = index->search(q, o);
            EXPECT_TRUE(truth && got);
            if (!truth || !got)
                return 0.0;
            EXPECT_EQ(got->size(), 10u);
            for (const auto& h : *got) {
                EXPECT_TRUE(passes(h.id)) << "id " << h.id;
                for (const auto& t : *truth) found += t.id == h.id ? 1 : 0;
            }
        }
        return static_cast<double>(found) / static_cast<double>(10 * queries);
    };
    // Queries from clusters 2-19: the walk gives up, and the scan finds the exact top 10.
    std::size_t given_up = detail::hnsw_walks_given_up();
    double recall = 0.0;
    for (std::size_t c = 2; c < Clusters::kCount; ++c)
        recall += search_from(c, 5) / (Clusters::kCount - 2);
    EXPECT_GE(detail::hnsw_walks_given_up() - given_up, 80u) << "of 90 queries";
    EXPECT_GE(recall, 0.99);
    // Queries among the passing items: the walk answers them.
    given_up = detail::hnsw_walks_given_up();
    const std::size_t walks = detail::hnsw_filtered_walks();
    EXPECT_GE(search_from(0, 20), 0.9);
    EXPECT_EQ(detail::hnsw_walks_given_up() - given_up, 0u);
    EXPECT_EQ(detail::hnsw_filtered_walks() - walks, 20u);
    // Without the budget the far queries walk (and never give up).
    detail::set_hnsw_walk_budget(false);
    given_up = detail::hnsw_walks_given_up();
    search_from(5, 10);
    detail::set_hnsw_walk_budget(true);
    EXPECT_EQ(detail::hnsw_walks_given_up() - given_up, 0u);
}

// The exact scan of the passing items asks SearchOptions::filter_block for every item, a block
// at a time, and the per-id filter only for the passing-fraction sample: the same answers as the
// per-id filter alone, both when the filter is selective enough to scan at once (1 %, all in
// cluster 0, among the removed items) and when a walk gives up for the scan (clusters 0 and 1
// pass, queries from the others). Removed items are never returned.
TEST(HnswFilteredWalkTest, TheScanAsksTheBlockFilterOncePerBlock) {
    Clusters clusters(11);
    const auto index = clusters.hnsw16();
    ASSERT_TRUE(index);
    // 50 items of cluster 0 removed: the filters pass their ids, the scan must drop them.
    std::vector<std::int64_t> removed;
    for (std::int64_t id = 1; id <= 2000; id += 40) removed.push_back(id);
    ASSERT_TRUE(index->remove(removed));
    auto is_removed = [&](std::int64_t id) {
        return std::binary_search(removed.begin(), removed.end(), id);
    };
    std::vector<float> q(Clusters::kDim);
    struct Case {
        std::function<bool(std::int64_t)> passes;
        bool walks_give_up;
    };
    for (const Case& c : std::vector<Case>{
             {[](std::int64_t id) { return id % 100 == 1; }, false},        // 1 %: scanned at once
             {[](std::int64_t id) { return (id - 1) % 20 < 2; }, true}}) {  // 10 %, far away
        const auto& passes = c.passes;
        std::size_t per_id_calls = 0;
        std::size_t block_ids = 0;
        SearchOptions per_id;
        per_id.k = 10;
        per_id.filter = passes;
        SearchOptions block = per_id;
        block.filter = [&](std::int64_t id) {
            ++per_id_calls;
            return passes(id);
        };
        block.filter_block = [&](std::span<const std::int64_t> ids, std::uint8_t* pass) {
            EXPECT_LE(ids.size(), detail::kFilterBlock);
            block_ids += ids.size();
            for (std::size_t i = 0; i < ids.size(); ++i) pass[i] = passes(ids[i]) ? 1 : 0;
        };
        const std::size_t given_up = detail::hnsw_walks_given_up();
        std::size_t scans = 0;
        for (std::size_t cluster = 0; cluster < Clusters::kCount; ++cluster) {
            clusters.point(cluster, q.data());
            per_id_calls = 0;
            block_ids = 0;
            const auto want = index->search(q, per_id);
            const std::size_t gave_up = detail::hnsw_walks_given_up();
            const auto got = index->search(q, block);
            // Scanned: the 1 % filter always; the 10 % one when the walk gave up (queries from
            // the passing clusters 0 and 1 are answered by the walk, which asks per id).
            const bool scanned = !c.walks_give_up || detail::hnsw_walks_given_up() > gave_up;
            ASSERT_TRUE(want && got);
            ASSERT_EQ(got->size(), 10u);
            for (std::size_t i = 0; i < got->size(); ++i) {
                EXPECT_EQ((*got)[i].id, (*want)[i].id) << "cluster " << cluster << " hit " << i;
                EXPECT_TRUE(passes((*got)[i].id));
                EXPECT_FALSE(is_removed((*got)[i].id));
            }
            // Every element (the removed ones are still in the graph as tombstones) in blocks.
            EXPECT_EQ(block_ids, scanned ? Clusters::kN : 0u) << "cluster " << cluster;
            // The sample's per-id calls, and the walk's before it gave up: far fewer than n.
            EXPECT_LT(per_id_calls, Clusters::kN / 2);
            scans += scanned ? 1 : 0;
        }
        EXPECT_EQ(detail::hnsw_walks_given_up() > given_up, c.walks_give_up);
        EXPECT_GE(scans, Clusters::kCount - 2);
    }
}

// The passing-share check: a walk among items the filter rejects gives up once it has reached
// kPassingShareCheckAt layer-0 nodes of which too few passed, long before its budget; a filter
// that passes items spread over the graph (every 10th id) never fails the check, near or far.
TEST(HnswFilteredWalkTest, PassingShareCheckGivesUpEarlyOnlyAwayFromThePassingItems) {
    Clusters clusters(7);
    const auto index = clusters.hnsw16();
    ASSERT_TRUE(index);
    std::vector<float> q(Clusters::kDim);
    struct Walks {
        std::size_t given_up = 0;
        double distances = 0.0;  // per query
    };
    // `queries` searches from each cluster in [first, last) with `filter`.
    auto walk = [&](const std::function<bool(std::int64_t)>& filter, std::size_t first,
                    std::size_t last, std::size_t queries) {
        SearchOptions o;
        o.k = 10;
        o.filter = filter;
        const std::size_t g0 = detail::hnsw_walks_given_up();
        const std::size_t d0 = detail::hnsw_walk_distances();
        for (std::size_t c = first; c < last; ++c) {
            for (std::size_t i = 0; i < queries; ++i) {
                clusters.point(c, q.data());
                auto got = index->search(q, o);
                EXPECT_TRUE(got && got->size() == 10u);
            }
        }
        const double n = static_cast<double>((last - first) * queries);
        return Walks{detail::hnsw_walks_given_up() - g0,
                     static_cast<double>(detail::hnsw_walk_distances() - d0) / n};
    };
    // Clusters 0 and 1 pass (4,000 items, a budget of 2,000 distances); queries from 2-19.
    auto folder = [](std::int64_t id) { return (id - 1) % 20 < 2; };
    const Walks checked = walk(folder, 2, Clusters::kCount, 5);
    detail::set_hnsw_passing_share_check(false);
    const Walks budget_only = walk(folder, 2, Clusters::kCount, 5);
    detail::set_hnsw_passing_share_check(true);
    EXPECT_GE(checked.given_up, 80u) << "of 90 queries";
    EXPECT_LT(checked.distances, static_cast<double>(kPassingShareCheckAt) + 300.0);
    EXPECT_GT(budget_only.distances, 2.0 * checked.distances);
    // Every 10th item of each cluster passes (4,000 items spread over the graph): no walk gives
    // up. (Item i lies in cluster i % 20, so every 10th id would keep clusters 9 and 19 only.)
    auto spread = [](std::int64_t id) { return (id - 1) / 20 % 10 == 0; };
    EXPECT_EQ(walk(spread, 0, Clusters::kCount, 5).given_up, 0u);
}

// A filter that rejects few items (here one excluded id, as a search by a catalog item has) is
// walked without the 8-bit steering copy, which is then not built; a filter keeping a tenth builds
// it on its first search.
TEST(HnswFilteredWalkTest, AFilterThatRejectsFewItemsBuildsNoSteeringCopy) {
    Clusters clusters(5);
    const auto index = clusters.hnsw16();
    ASSERT_TRUE(index);
    const std::size_t before = index->memory_bytes();
    // The query is item 4's own vector: its nearest item unless the filter excludes it.
    const std::span<const float> q = clusters.data.row_span(3);
    SearchOptions o;
    o.k = 10;
    auto unfiltered = index->search(q, o);
    ASSERT_TRUE(unfiltered && !unfiltered->empty());
    ASSERT_EQ(unfiltered->front().id, 4);
    o.filter = [](std::int64_t id) { return id != 4; };
    const std::size_t walks = detail::hnsw_filtered_walks();
    const auto got = index->search(q, o);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->size(), 10u);
    for (const auto& h : *got) EXPECT_NE(h.id, 4);
    EXPECT_EQ(detail::hnsw_filtered_walks() - walks, 1u);
    EXPECT_EQ(index->memory_bytes(), before);
    o.filter = [](std::int64_t id) { return (id - 1) / 20 % 10 == 0; };
    ASSERT_TRUE(index->search(q, o));
    EXPECT_GE(index->memory_bytes(), before + Clusters::kN * Clusters::kDim);
}

// 1 % kept: 3,500 of 350,000 items pass (2,284 live), low-dimensional and one graph to keep the
// build short.
TEST(HnswFilteredWalkTest, OnePercentFilterWithDeletions) {
    check_filtered_walk({350000, 8, 100, 0.9, {{"HNSW8,efC32", Metric::kCosine}}}, true);
}

// Element i's label in a graph view.
// A cosine HNSW index of `rows` (ids 1..n) built on one thread, with a process-wide build
// switch (detail::set_hnsw_reorder, set_hnsw_own_insertion, ...; none if null) set to `on`; the
// switch is on again afterwards.
std::unique_ptr<VectorIndex> one_thread_build(const char* spec,
                                              const Matrix& rows,
                                              void (*set_switch)(bool) = nullptr,
                                              bool on = true) {
    auto index = make_index(spec, static_cast<int>(rows.n_cols), Metric::kCosine);
    EXPECT_TRUE(index);
    if (!index)
        return nullptr;
    (*index)->set_threads(1);
    if (set_switch)
        set_switch(on);
    EXPECT_TRUE((*index)->add(testing_util::ids_from(1, rows.n_rows), rows));
    if (set_switch)
        set_switch(true);
    return std::move(*index);
}

std::uint64_t label_of(const detail::HnswGraphView& g, std::size_t i) {
    std::uint64_t label = 0;
    std::memcpy(&label, g.level0 + i * g.level0_stride + g.label_offset, sizeof label);
    return label;
}
// Rewrites element i's list on `level` to `links`, in place (the index owns the block; for tests
// that cut links).
void write_links(const detail::HnswGraphView& g,
                 std::size_t i,
                 int level,
                 const std::vector<std::uint32_t>& links) {
    char* list = level == 0 ? const_cast<char*>(g.level0) + i * g.level0_stride
                            : const_cast<char*>(g.upper[i]) +
                                  static_cast<std::size_t>(level - 1) * g.upper_stride;
    std::uint32_t header = 0;
    std::memcpy(&header, list, sizeof header);
    header = (header & ~0xffffu) | static_cast<std::uint32_t>(links.size());
    std::memcpy(list, &header, sizeof header);
    if (!links.empty())  // (an empty vector's data() may be null)
        std::memcpy(list + 4, links.data(), links.size() * sizeof(std::uint32_t));
}
// The order in which a breadth-first walk of layer 0 from the entry point meets the elements
// (then, when `all`, any it does not reach, by id).
std::vector<std::uint32_t> breadth_first(const detail::HnswGraphView& g, bool all = true) {
    std::vector<std::uint32_t> order;
    std::vector<char> seen(g.count, 0);
    auto from = [&](std::uint32_t seed) {
        if (seen[seed])
            return;
        seen[seed] = 1;
        std::size_t head = order.size();
        order.push_back(seed);
        for (; head < order.size(); ++head) {
            for (std::uint32_t l : links_of(g, order[head], 0)) {
                if (!seen[l]) {
                    seen[l] = 1;
                    order.push_back(l);
                }
            }
        }
    };
    from(g.entry_point);
    for (std::size_t i = 0; all && i < g.count; ++i) from(static_cast<std::uint32_t>(i));
    return order;
}

// Level-0 records on cache lines (hnsw_index.cpp, align_level0): the block starts on a page and
// the record stride and the vector's offset are multiples of 64, also after the block grows
// (resizeIndex reallocates it); every record still holds its links, label and stored vector, and
// an index file (hnswlib's unpadded records) loads back into the same graph.
TEST(HnswLayoutTest, Level0RecordsAreCacheLineAlignedAndSurviveGrowthAndFiles) {
    constexpr std::size_t kDim = 128;
    const Matrix all = clustered(2100 + 20, kDim, 5);
    auto index = make_index("HNSW16", kDim, Metric::kCosine);
    ASSERT_TRUE(index);
    (*index)->set_threads(2);
    Matrix first(600, kDim);
    Matrix second(1500, kDim);
    std::copy_n(all.data.begin(), 600 * kDim, first.data.begin());
    std::copy_n(all.data.begin() + 600 * kDim, 1500 * kDim, second.data.begin());
    ASSERT_TRUE((*index)->add(ids_from(1, 600), first));      // fits the first 1,024 slots
    ASSERT_TRUE((*index)->add(ids_from(601, 1500), second));  // grows the block
    const auto g = detail::hnsw_graph_view(**index);
    ASSERT_TRUE(g);
    ASSERT_EQ(g->count, 2100u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(g->level0) % 4096, 0u);
    EXPECT_EQ(g->level0_stride % 64, 0u);
    EXPECT_EQ(g->data_offset % 64, 0u);
    EXPECT_EQ(g->level0_links_bytes, 4 + 32 * 4u);
    EXPECT_GE(g->data_offset, g->label_offset + sizeof(std::uint64_t));
    EXPECT_GE(g->level0_stride, g->data_offset + kDim * sizeof(float));
    std::vector<float> unit(kDim);
    for (std::size_t i = 0; i < g->count; ++i) {
        const char* record = g->level0 + i * g->level0_stride;
        const std::uint64_t label = label_of(*g, i);
        ASSERT_GE(label, 1u);
        ASSERT_LE(label, 2100u);
        detail::transform_for_metric(Metric::kCosine, all.row(label - 1), kDim, unit.data());
        ASSERT_EQ(std::memcmp(record + g->data_offset, unit.data(), kDim * sizeof(float)), 0)
            << "element " << i;
    }

    testing::TempDir dir;
    const auto path = dir.path() / "aligned.esix";
    auto loaded = testing_util::save_and_load(**index, path);
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    const auto lg = detail::hnsw_graph_view(*loaded->index);
    ASSERT_TRUE(lg);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(lg->level0) % 4096, 0u);
    EXPECT_EQ(lg->level0_stride, g->level0_stride);
    // The file holds hnswlib's unpadded records (links, vector, label: 652 bytes here against
    // 704 in memory), so the whole file is smaller than the aligned records alone.
    EXPECT_LT(std::filesystem::file_size(path), g->count * g->level0_stride);
    EXPECT_GT(std::filesystem::file_size(path), g->count * (4 + 32 * 4 + kDim * 4 + 8));
    SearchOptions so;
    so.k = 10;
    so.ef_search = 64;
    for (std::size_t q = 2100; q < 2120; ++q) {
        auto a = (*index)->search(all.row_span(q), so);
        auto b = loaded->index->search(all.row_span(q), so);
        ASSERT_TRUE(a && b);
        ASSERT_EQ(a->size(), b->size());
        for (std::size_t j = 0; j < a->size(); ++j) {
            EXPECT_EQ((*a)[j].id, (*b)[j].id);
            EXPECT_FLOAT_EQ((*a)[j].distance, (*b)[j].distance);
        }
    }
}

// A build renumbers the elements in breadth-first order of layer 0 (hnsw_index.cpp,
// reorder_breadth_first): element 0 is the entry point and a breadth-first walk meets the
// elements as 0, 1, 2, ... It is the same graph as the one built without renumbering (one build
// thread: the same insertions), with every link list, level and vector under the same labels, so
// searches return the same hits and distances, also after an index file round trip.
TEST(HnswLayoutTest, BuildsAreRenumberedBreadthFirstKeepingTheGraph) {
    constexpr std::size_t kN = 3000;
    constexpr std::size_t kDim = 32;
    const Matrix all = clustered(kN + 40, kDim, 17);
    Matrix rows(kN, kDim);
    std::copy_n(all.data.begin(), kN * kDim, rows.data.begin());
    const auto plain = one_thread_build("HNSW16", rows, &detail::set_hnsw_reorder, false);
    const auto renumbered = one_thread_build("HNSW16", rows, &detail::set_hnsw_reorder, true);
    const auto p = detail::hnsw_graph_view(*plain);
    const auto g = detail::hnsw_graph_view(*renumbered);
    ASSERT_TRUE(p && g);
    ASSERT_EQ(g->count, kN);
    ASSERT_EQ(p->count, kN);

    const std::vector<std::uint32_t> order = breadth_first(*g);
    EXPECT_EQ(g->entry_point, 0u);
    for (std::size_t i = 0; i < kN; ++i) ASSERT_EQ(order[i], i) << "position " << i;
    // Insertion order is not breadth-first (else the check above would prove nothing).
    const std::vector<std::uint32_t> plain_order = breadth_first(*p);
    std::size_t in_place = 0;
    for (std::size_t i = 0; i < kN; ++i) in_place += plain_order[i] == i ? 1 : 0;
    EXPECT_LT(in_place, kN / 10);

    // The same graph under the labels.
    std::vector<std::size_t> plain_of_label(kN + 1, kN);
    for (std::size_t i = 0; i < kN; ++i) plain_of_label[label_of(*p, i)] = i;
    EXPECT_EQ(label_of(*g, g->entry_point), label_of(*p, p->entry_point));
    EXPECT_EQ(g->max_level, p->max_level);
    auto labels = [](const detail::HnswGraphView& v, const std::vector<std::uint32_t>& ids) {
        std::vector<std::uint64_t> out;
        for (std::uint32_t id : ids) out.push_back(label_of(v, id));
        return out;
    };
    const std::size_t vector_bytes = kDim * sizeof(float);
    for (std::size_t i = 0; i < kN; ++i) {
        const std::uint64_t label = label_of(*g, i);
        ASSERT_GE(label, 1u);
        ASSERT_LE(label, kN);
        const std::size_t j = plain_of_label[label];
        ASSERT_LT(j, kN) << "label " << label << " twice";
        plain_of_label[label] = kN;
        ASSERT_EQ(g->levels[i], p->levels[j]) << "label " << label;
        for (int level = 0; level <= g->levels[i]; ++level) {
            ASSERT_EQ(labels(*g, links_of(*g, i, level)), labels(*p, links_of(*p, j, level)))
                << "label " << label << " level " << level;
        }
        ASSERT_EQ(std::memcmp(g->level0 + i * g->level0_stride + g->data_offset,
                              p->level0 + j * p->level0_stride + p->data_offset, vector_bytes),
                  0)
            << "label " << label;
    }

    testing::TempDir dir;
    auto loaded = testing_util::save_and_load(*renumbered, dir.path() / "bfs.esix");
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    SearchOptions so;
    so.k = 10;
    so.ef_search = 48;
    for (std::size_t q = kN; q < kN + 40; ++q) {
        auto a = plain->search(all.row_span(q), so);
        auto b = renumbered->search(all.row_span(q), so);
        auto c = loaded->index->search(all.row_span(q), so);
        ASSERT_TRUE(a && b && c);
        ASSERT_EQ(a->size(), 10u);
        ASSERT_EQ(b->size(), a->size());
        ASSERT_EQ(c->size(), a->size());
        for (std::size_t j = 0; j < a->size(); ++j) {
            EXPECT_EQ((*b)[j].id, (*a)[j].id) << "query " << q;
            EXPECT_EQ((*b)[j].distance, (*a)[j].distance) << "query " << q;
            EXPECT_EQ((*c)[j].id, (*a)[j].id) << "query " << q;
        }
    }
}

// Renumbering after an add that grows the index by a quarter or more, with tombstones and the
// filtered walk's steering copy in place: deleted ids stay deleted (never returned, not
// contained), every live id is still there, and filtered walks (steered) match exact search.
// An add of fewer rows than a quarter of the index leaves the existing elements where they are.
TEST(HnswLayoutTest, RenumberingKeepsTombstonesAndTheSteeringCopy) {
    constexpr std::size_t kFirst = 12000;
    constexpr std::size_t kSecond = 4000;  // a third of the first: renumbers
    constexpr std::size_t kDim = 16;
    const Matrix all = clustered(kFirst + kSecond + 1100 + 50, kDim, 23);
    auto slice = [&](std::size_t from, std::size_t n) {
        Matrix m(n, kDim);
        std::copy_n(all.data.begin() + static_cast<std::ptrdiff_t>(from * kDim), n * kDim,
                    m.data.begin());
        return m;
    };
    auto index = make_index("HNSW16,efC48", kDim, Metric::kCosine);
    ASSERT_TRUE(index);
    (*index)->set_threads(2);
    FlatIndex exact(kDim, Metric::kCosine);
    ASSERT_TRUE((*index)->add(ids_from(1, kFirst), slice(0, kFirst)));
    ASSERT_TRUE(exact.add(ids_from(1, kFirst), slice(0, kFirst)));
    const Matrix queries = slice(kFirst + kSecond + 1100, 50);
    // Builds the steering copy (keep 1/4: 3,000 pass, above the exact-scan floor).
    EXPECT_GE(filtered_recall(**index, exact, queries, 4, {}), 0.95);
    std::vector<std::int64_t> gone;
    for (std::int64_t id = 2; id <= static_cast<std::int64_t>(kFirst); id += 7) gone.push_back(id);
    ASSERT_EQ((*index)->remove(gone), gone.size());  // 14 %: tombstones, no compaction
    ASSERT_EQ(exact.remove(gone), gone.size());
    ASSERT_TRUE((*index)->add(ids_from(kFirst + 1, kSecond), slice(kFirst, kSecond)));
    ASSERT_TRUE(exact.add(ids_from(kFirst + 1, kSecond), slice(kFirst, kSecond)));
    auto g = detail::hnsw_graph_view(**index);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->entry_point, 0u) << "not renumbered";
    const std::set<std::int64_t> deleted(gone.begin(), gone.end());
    EXPECT_EQ((*index)->size(), kFirst + kSecond - gone.size());
    for (std::int64_t id : gone) ASSERT_FALSE((*index)->contains(id)) << id;
    for (std::int64_t id = 1; id <= static_cast<std::int64_t>(kFirst + kSecond); ++id) {
        if (!deleted.count(id)) {
            ASSERT_TRUE((*index)->contains(id)) << id;
        }
    }
    EXPECT_GE(filtered_recall(**index, exact, queries, 4, deleted), 0.95);
    SearchOptions o;
    o.k = 10;
    o.ef_search = 64;
    EXPECT_GE(testing_util::recall_at_k(**index, exact, queries, o), 0.95);

    // 1,100 rows (>= 1,024, repaired) are under a quarter of 16,000: not renumbered, the
    // existing elements keep their ids and the new ones follow in insertion order.
    const std::vector<std::uint64_t> before = [&] {
        std::vector<std::uint64_t> l;
        for (std::size_t i = 0; i < g->count; ++i) l.push_back(label_of(*g, i));
        return l;
    }();
    ASSERT_TRUE((*index)->add(ids_from(kFirst + kSecond + 1, 1100), slice(kFirst + kSecond, 1100)));
    ASSERT_TRUE(exact.add(ids_from(kFirst + kSecond + 1, 1100), slice(kFirst + kSecond, 1100)));
    g = detail::hnsw_graph_view(**index);
    ASSERT_TRUE(g);
    for (std::size_t i = 0; i < before.size(); ++i) ASSERT_EQ(label_of(*g, i), before[i]) << i;
    EXPECT_GE(filtered_recall(**index, exact, queries, 4, deleted), 0.95);
}

// 3,000 clustered rows (ids 1..kRest) and an island of 300 rows around (12, ..., 12) (the ids
// after), 16-d, euclidean: an HNSW16 graph of them built on one thread (the same graph every
// run), exact search over the same rows, and 20 queries inside the island.
struct IslandCase {
    static constexpr std::size_t kRest = 3000;
    static constexpr std::size_t kIsland = 300;
    static constexpr std::size_t kDim = 16;
    Matrix all{kRest + kIsland, kDim};
    Matrix island_queries{20, kDim};
    std::unique_ptr<VectorIndex> index;
    FlatIndex exact{kDim, Metric::kEuclidean};
    void build() {
        const Matrix rest = clustered(kRest + 20, kDim, 31, 30);
        std::mt19937 rng(7);
        std::normal_distribution<float> noise(0.0f, 0.2f);
        for (std::size_t i = 0; i < kRest; ++i)
            for (std::size_t j = 0; j < kDim; ++j) all.at(i, j) = rest.at(i, j);
        auto island_row = [&](float* out) {
            for (std::size_t j = 0; j < kDim; ++j) out[j] = 12.0f + noise(rng);
        };
        for (std::size_t i = kRest; i < kRest + kIsland; ++i) island_row(&all.at(i, 0));
        for (std::size_t q = 0; q < island_queries.n_rows; ++q)
            island_row(&island_queries.at(q, 0));
        auto made = make_index("HNSW16,efC48", kDim, Metric::kEuclidean);
        ASSERT_TRUE(made);
        index = std::move(*made);
        index->set_threads(1);
        ASSERT_TRUE(index->add(ids_from(1, kRest + kIsland), all));
        ASSERT_TRUE(exact.add(ids_from(1, kRest + kIsland), all));
    }
};

// An island that only layer 0 cuts off: a far cluster of 300 rows whose layer-0 links to and from
// the rest are removed, while the upper layers still lead into it (as a build on near-duplicate
// audio windows left 266 elements once, docs/performance.md, tenth round). The repair's first two
// stages find no reached element within two hops, and a search from the entry point descends the
// upper layers into the island and returns only its own elements; the repair must walk the reached
// graph instead, so that afterwards every element is reachable and searches near the island find
// its rows.
TEST(HnswRepairTest, LinksAnIslandThatTheUpperLayersStillLeadInto) {
    IslandCase c;
    ASSERT_NO_FATAL_FAILURE(c.build());
    constexpr std::size_t kRest = IslandCase::kRest;
    auto& index = c.index;
    auto& exact = c.exact;
    auto& island_queries = c.island_queries;
    // The entry point (the highest element) must be outside the island, and some island
    // elements must have upper layers.
    auto g = detail::hnsw_graph_view(*index);
    ASSERT_TRUE(g);
    auto in_island = [&](std::size_t i) { return label_of(*g, i) > kRest; };
    ASSERT_FALSE(in_island(g->entry_point));
    std::size_t island_upper = 0;
    for (std::size_t i = 0; i < g->count; ++i) island_upper += in_island(i) && g->levels[i] > 0;
    ASSERT_GE(island_upper, 1u) << "no upper-layer element leads into the island";
    // Cut layer 0 between the island and the rest (the index owns the block; rewritten in place).
    for (std::size_t i = 0; i < g->count; ++i) {
        std::vector<std::uint32_t> kept;
        for (std::uint32_t l : links_of(*g, i, 0)) {
            if (in_island(l) == in_island(i))
                kept.push_back(l);
        }
        write_links(*g, i, 0, kept);
    }
    const std::vector<std::uint32_t> reached = breadth_first(*g, /*all=*/false);
    ASSERT_EQ(reached.size(), kRest) << "the cut left a way into the island or cut off the rest";
    for (std::uint32_t i : reached) ASSERT_FALSE(in_island(i)) << i;

    auto linked = detail::hnsw_repair_reachability(*index);
    ASSERT_TRUE(linked);
    EXPECT_GE(*linked, 1u);
    EXPECT_EQ(breadth_first(*g, /*all=*/false).size(), g->count);
    SearchOptions o;
    o.k = 10;
    o.ef_search = 64;
    EXPECT_GE(testing_util::recall_at_k(*index, exact, island_queries, o), 0.9);
    EXPECT_EQ(detail::hnsw_repair_reachability(*index), 0u) << "nothing left to link";
}

// The self-search repair (hnsw_index.cpp, repair_self_search): an island that every layer-0 walk
// can reach, through one link from the far side of the graph, but that no walk toward it leads
// into (links between it and the rest cut on every layer). The reachability repair has nothing
// to do; queries inside the island miss; the self-search repair links the island from the nearest
// elements that walks for its own elements end at, and the queries then find it.
TEST(HnswRepairTest, SelfSearchLinksAnIslandThatWalksDoNotLeadInto) {
    IslandCase c;
    ASSERT_NO_FATAL_FAILURE(c.build());
    constexpr std::size_t kRest = IslandCase::kRest;
    constexpr std::size_t kDim = IslandCase::kDim;
    auto& index = c.index;
    auto& exact = c.exact;
    auto& island_queries = c.island_queries;
    const Matrix& all = c.all;
    auto g = detail::hnsw_graph_view(*index);
    ASSERT_TRUE(g);
    auto in_island = [&](std::size_t i) { return label_of(*g, i) > kRest; };
    ASSERT_FALSE(in_island(g->entry_point));
    // Cut every layer between the island and the rest.
    for (std::size_t i = 0; i < g->count; ++i) {
        for (int level = 0; level <= g->levels[i]; ++level) {
            std::vector<std::uint32_t> kept;
            for (std::uint32_t l : links_of(*g, i, level)) {
                if (in_island(l) == in_island(i))
                    kept.push_back(l);
            }
            write_links(*g, i, level, kept);
        }
    }
    // One way in: a layer-0 link from the rest element farthest from the island.
    std::size_t far = 0;
    float far_d = -1.0f;
    for (std::size_t i = 0; i < g->count; ++i) {
        if (in_island(i))
            continue;
        const std::size_t row = label_of(*g, i) - 1;
        float d = 0.0f;
        for (std::size_t j = 0; j < kDim; ++j)
            d += (all.at(row, j) - 12.0f) * (all.at(row, j) - 12.0f);
        if (d > far_d) {
            far_d = d;
            far = i;
        }
    }
    std::size_t door = 0;
    while (!in_island(door)) ++door;
    std::vector<std::uint32_t> far_links = links_of(*g, far, 0);
    ASSERT_LT(far_links.size(), 32u) << "no room in the far element's list (2M = 32)";
    far_links.push_back(static_cast<std::uint32_t>(door));
    write_links(*g, far, 0, far_links);
    ASSERT_EQ(breadth_first(*g, /*all=*/false).size(), g->count) << "the island is reachable";
    EXPECT_EQ(detail::hnsw_repair_reachability(*index), 0u);

    SearchOptions o;
    o.k = 10;
    o.ef_search = 64;
    EXPECT_LT(testing_util::recall_at_k(*index, exact, island_queries, o), 0.5)
        << "walks toward the island should end outside it before the repair";
    std::vector<std::vector<std::uint32_t>> lists_before(g->count);
    for (std::size_t i = 0; i < g->count; ++i) lists_before[i] = links_of(*g, i, 0);
    const std::size_t before = detail::hnsw_self_searches();
    auto linked = detail::hnsw_repair_self_search(*index);
    ASSERT_TRUE(linked);
    EXPECT_GE(*linked, 1u);
    // A walk for every element, then a second one for each element the first walks linked.
    const std::size_t walks = detail::hnsw_self_searches() - before;
    EXPECT_GT(walks, g->count);
    EXPECT_LE(walks - g->count, *linked);
    // Every list kept its links and gained only island elements (the ones lost), *linked in all.
    std::size_t appended = 0;
    for (std::size_t i = 0; i < g->count; ++i) {
        const std::vector<std::uint32_t> now = links_of(*g, i, 0);
        const auto& was = lists_before[i];
        ASSERT_GE(now.size(), was.size()) << "element " << i;
        EXPECT_TRUE(std::equal(was.begin(), was.end(), now.begin())) << "element " << i;
        for (std::size_t j = was.size(); j < now.size(); ++j)
            EXPECT_TRUE(in_island(now[j])) << "element " << i << " gained " << now[j];
        appended += now.size() - was.size();
    }
    EXPECT_EQ(appended, *linked);
    EXPECT_GE(testing_util::recall_at_k(*index, exact, island_queries, o), 0.9);
    auto again = detail::hnsw_repair_self_search(*index);
    ASSERT_TRUE(again);
    EXPECT_LT(*again, *linked);
    auto flat = make_index("flat", kDim, Metric::kEuclidean);
    ASSERT_TRUE(flat);
    EXPECT_FALSE(detail::hnsw_repair_self_search(**flat)) << "not an HNSW index";
}

// The in-degree repair (hnsw_index.cpp, repair_in_degree): 60 layer-0-only elements lose every
// layer-0 in-link but one, from the element farthest from them with room (as a build on the real
// corpus left elements whose one in-link came from thousands of ranks away, docs/performance.md,
// seventeenth round). A search for such an element's own vector then misses it; after the repair
// each has at least 4 in-links, from elements near it, and the search finds it. Lists only gain
// links, at their end, and only to such elements.
TEST(HnswRepairTest, InDegreeRepairLinksElementsFromTheirNeighbours) {
    IslandCase c;
    ASSERT_NO_FATAL_FAILURE(c.build());
    constexpr std::size_t kRest = IslandCase::kRest;
    constexpr std::size_t kDim = IslandCase::kDim;
    constexpr std::size_t kWeak = 60;
    auto& index = c.index;
    const Matrix& all = c.all;
    auto g = detail::hnsw_graph_view(*index);
    ASSERT_TRUE(g);
    std::vector<std::size_t> weak;
    for (std::size_t i = 0; i < g->count && weak.size() < kWeak; i += 37) {
        if (g->levels[i] == 0 && i != g->entry_point && label_of(*g, i) <= kRest)
            weak.push_back(i);
    }
    ASSERT_EQ(weak.size(), kWeak);
    const std::set<std::uint32_t> weak_set(weak.begin(), weak.end());
    for (std::size_t i = 0; i < g->count; ++i) {
        std::vector<std::uint32_t> kept;
        for (std::uint32_t l : links_of(*g, i, 0))
            if (!weak_set.count(l))
                kept.push_back(l);
        write_links(*g, i, 0, kept);
    }
    auto row_of = [&](std::size_t i) { return all.data.data() + (label_of(*g, i) - 1) * kDim; };
    auto distance = [&](std::size_t a, std::size_t b) {
        float d = 0.0f;
        for (std::size_t j = 0; j < kDim; ++j)
            d += (row_of(a)[j] - row_of(b)[j]) * (row_of(a)[j] - row_of(b)[j]);
        return d;
    };
    for (std::size_t w : weak) {
        std::size_t far = g->count;
        for (std::size_t i = 0; i < g->count; ++i) {
            if (!weak_set.count(static_cast<std::uint32_t>(i)) && links_of(*g, i, 0).size() < 32 &&
                (far == g->count || distance(i, w) > distance(far, w)))
                far = i;
        }
        ASSERT_LT(far, g->count);
        auto links = links_of(*g, far, 0);
        links.push_back(static_cast<std::uint32_t>(w));
        write_links(*g, far, 0, links);
    }
    ASSERT_EQ(breadth_first(*g, /*all=*/false).size(), g->count) << "all reachable";
    SearchOptions o;
    o.k = 1;
    o.ef_search = 16;
    auto found = [&] {
        std::size_t n = 0;
        for (std::size_t w : weak) {
            auto hits = index->search(std::span<const float>(row_of(w), kDim), o);
            EXPECT_TRUE(hits);
            n += hits && !hits->empty() &&
                 (*hits)[0].id == static_cast<std::int64_t>(label_of(*g, w));
        }
        return n;
    };
    ASSERT_LT(found(), kWeak / 4) << "searches for the weak elements should miss them";

    std::vector<std::vector<std::uint32_t>> lists_before(g->count);
    for (std::size_t i = 0; i < g->count; ++i) lists_before[i] = links_of(*g, i, 0);
    const std::vector<std::size_t> in_before = in_degrees(*g);
    auto linked = detail::hnsw_repair_in_degree(*index);
    ASSERT_TRUE(linked);
    EXPECT_GE(*linked, 3 * kWeak);
    const std::vector<std::size_t> in_after = in_degrees(*g);
    for (std::size_t w : weak) EXPECT_GE(in_after[w], 4u) << "element " << w;
    std::size_t appended = 0;
    for (std::size_t i = 0; i < g->count; ++i) {
        const auto now = links_of(*g, i, 0);
        const auto& was = lists_before[i];
        ASSERT_GE(now.size(), was.size()) << "element " << i;
        EXPECT_TRUE(std::equal(was.begin(), was.end(), now.begin())) << "element " << i;
        for (std::size_t j = was.size(); j < now.size(); ++j)
            EXPECT_LT(in_before[now[j]], 4u) << "element " << i << " gained " << now[j];
        appended += now.size() - was.size();
    }
    EXPECT_EQ(appended, *linked);
    EXPECT_GE(found(), kWeak * 95 / 100);
    EXPECT_EQ(breadth_first(*g, /*all=*/false).size(), g->count);
    auto flat = make_index("flat", kDim, Metric::kEuclidean);
    ASSERT_TRUE(flat);
    EXPECT_FALSE(detail::hnsw_repair_in_degree(**flat)) << "not an HNSW index";
}

// A build runs the in-degree repair unless it is switched off: the same rows built on one thread
// (the same graph up to the repairs) leave fewer elements with under 4 in-links with it.
TEST(HnswRepairTest, BuildsRunTheInDegreeRepair) {
    auto weak_after_build = [](bool repair) {
        IslandCase c;
        detail::set_hnsw_in_degree_repair(repair);
        c.build();
        detail::set_hnsw_in_degree_repair(true);
        return testing_util::weakly_linked(*c.index, 4);
    };
    const std::size_t without = weak_after_build(false);
    const std::size_t with = weak_after_build(true);
    EXPECT_GT(without, 0u) << "these rows should leave some elements with few in-links";
    EXPECT_LT(with, without);
}

// Our insertion's layer-0 walk (construction_search0) against hnswlib's searchBaseLayer on one
// graph: from the same start, the same efConstruction elements at the same distances, with
// tombstones in the graph too (walked through, never returned).
TEST(HnswInsertionTest, ConstructionWalkFindsWhatHnswlibsSearchBaseLayerFinds) {
    const std::size_t d = 24;
    const auto built = one_thread_build("HNSW12,efC60", testing_util::clustered(4000, d, 11));
    ASSERT_TRUE(built);
    VectorIndex& index = *built;
    const Matrix queries = testing_util::clustered(60, d, 12);
    auto compare = [&](const char* when) {
        std::vector<float> q(d);
        for (std::size_t i = 0; i < queries.n_rows; ++i) {
            detail::transform_for_metric(Metric::kCosine, queries.row(i), d, q.data());
            const auto ours = detail::hnsw_layer0_candidates(index, q, true);
            const auto theirs = detail::hnsw_layer0_candidates(index, q, false);
            ASSERT_EQ(ours.size(), 60u) << when << ", query " << i;
            ASSERT_EQ(ours, theirs) << when << ", query " << i;
        }
    };
    ASSERT_NO_FATAL_FAILURE(compare("no tombstones"));
    std::vector<std::int64_t> gone;
    for (std::int64_t id = 1; id <= 4000; id += 7) gone.push_back(id);  // 14 %: no compaction
    ASSERT_EQ(index.remove(gone), gone.size());
    ASSERT_NO_FATAL_FAILURE(compare("with tombstones"));
}

// One build thread: our insertion (its own layer-0 walk and linking) builds the very graph that
// hnswlib's addPoint builds from the same rows: the same levels, entry point and links.
TEST(HnswInsertionTest, OneThreadBuildsTheSameGraphAsHnswlibsAddPoint) {
    const std::size_t d = 16;
    const Matrix data = testing_util::clustered(5000, d, 31);
    const auto ours = one_thread_build("HNSW8,efC40", data, &detail::set_hnsw_own_insertion, true);
    const auto theirs =
        one_thread_build("HNSW8,efC40", data, &detail::set_hnsw_own_insertion, false);
    const auto a = detail::hnsw_graph_view(*ours);
    const auto b = detail::hnsw_graph_view(*theirs);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->count, b->count);
    EXPECT_EQ(a->entry_point, b->entry_point);
    ASSERT_EQ(a->max_level, b->max_level);
    std::size_t full = 0;  // lists at 2M links: shrunk by the heuristic at some insertion
    for (std::size_t i = 0; i < a->count; ++i) {
        ASSERT_EQ(a->levels[i], b->levels[i]) << "element " << i;
        for (int level = 0; level <= a->levels[i]; ++level) {
            const auto links = testing_util::links_of(*a, i, level);
            ASSERT_EQ(links, testing_util::links_of(*b, i, level))
                << "element " << i << ", level " << level;
            full += level == 0 && links.size() == 2 * a->m;
        }
    }
    EXPECT_GT(full, 100u) << "the shrinking of full lists should be exercised";
}

// A removed id added again with a new vector: hnswlib's addPoint revives its element (our
// insertion hands it over), so one element holds the id, before and after an index file.
TEST(HnswInsertionTest, ARemovedIdAddedAgainIsOneElement) {
    const std::size_t d = 16;
    const auto built = one_thread_build("HNSW8", testing_util::clustered(2000, d, 41));
    ASSERT_TRUE(built);
    VectorIndex& index = *built;
    const std::vector<std::int64_t> again = {5, 17, 1999};
    ASSERT_EQ(index.remove(again), again.size());
    Matrix fresh = testing_util::clustered(3, d, 42);
    for (auto& x : fresh.data) x = -x;  // away from the other rows
    const std::size_t own_before = detail::hnsw_own_insertions();
    ASSERT_TRUE(index.add(again, fresh));
    EXPECT_EQ(detail::hnsw_own_insertions(), own_before) << "revived by addPoint";
    EXPECT_EQ(index.size(), 2000u);
    testing::TempDir dir;
    auto loaded = testing_util::save_and_load(index, dir.path() / "again.esix");
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    SearchOptions so;
    so.k = 1;
    so.ef_search = 64;
    const std::vector<const VectorIndex*> both = {&index, loaded->index.get()};
    for (const VectorIndex* ix : both) {
        EXPECT_EQ(ix->size(), 2000u);
        for (std::size_t i = 0; i < again.size(); ++i) {
            EXPECT_TRUE(ix->contains(again[i]));
            auto hits = ix->search(fresh.row_span(i), so);
            ASSERT_TRUE(hits);
            ASSERT_EQ(hits->size(), 1u);
            EXPECT_EQ((*hits)[0].id, again[i]);
        }
    }
}

// Builds go through our insertion (and the bench's switch turns it off): on two threads, its
// graph answers as well as one built through hnswlib's addPoint from the same rows.
TEST(HnswInsertionTest, TwoThreadBuildsThroughOurInsertionKeepRecall) {
    const std::size_t d = 32;
    const Matrix data = testing_util::clustered(12000, d, 21);
    const Matrix queries = testing_util::clustered(200, d, 22);
    FlatIndex exact(static_cast<int>(d), Metric::kCosine);
    const auto ids = testing_util::ids_from(1, data.n_rows);
    ASSERT_TRUE(exact.add(ids, data));
    auto build = [&](bool own) {
        auto made = make_index("HNSW16", static_cast<int>(d), Metric::kCosine);
        EXPECT_TRUE(made);
        (*made)->set_threads(2);
        detail::set_hnsw_own_insertion(own);
        const std::size_t before = detail::hnsw_own_insertions();
        EXPECT_TRUE((*made)->add(ids, data));
        detail::set_hnsw_own_insertion(true);
        EXPECT_EQ(detail::hnsw_own_insertions() - before, own ? data.n_rows : 0u);
        return std::move(*made);
    };
    const auto ours = build(true);
    const auto theirs = build(false);
    SearchOptions o;
    o.k = 10;
    o.ef_search = 128;
    const double ours_recall = testing_util::recall_at_k(*ours, exact, queries, o);
    const double theirs_recall = testing_util::recall_at_k(*theirs, exact, queries, o);
    // Two-thread builds differ run to run: at efSearch 128 both gave 0.959-0.974 over three runs
    // each (32: 0.78-0.85), with no side ahead.
    EXPECT_GE(ours_recall, 0.94);
    EXPECT_GE(ours_recall, theirs_recall - 0.03);
}
}  // namespace
}  // namespace earshot
