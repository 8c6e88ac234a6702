// engine/item_filter.h: the duration table and id set behind search filters give the answers of
// a plain map / set lookup, both in their array form (nearly contiguous ids) and in their
// fallback form (sparse ids), including ids far outside the stored range.
#include "engine/item_filter.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace earshot {
namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// Ids to probe: every stored id, its neighbours, the range's ends and the int64 extremes.
std::vector<std::int64_t> probes(const std::vector<std::int64_t>& ids) {
    std::vector<std::int64_t> out = {kMin, kMin + 1, -1, 0, 1, kMax - 1, kMax};
    for (std::int64_t id : ids) {
        out.push_back(id);
        if (id > kMin)
            out.push_back(id - 1);
        if (id < kMax)
            out.push_back(id + 1);
    }
    return out;
}

void check_durations(const std::vector<std::int64_t>& ids, bool want_dense) {
    std::vector<double> durations;
    std::map<std::int64_t, double> want;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        durations.push_back(0.25 * static_cast<double>(i % 37) + 0.5);
        want[ids[i]] = durations.back();
    }
    const ItemDurations table(ids, durations);
    EXPECT_EQ(table.dense(), want_dense);
    EXPECT_EQ(table.size(), want.size());
    for (std::int64_t id : probes(ids)) {
        const auto it = want.find(id);
        EXPECT_EQ(table.contains(id), it != want.end()) << "id " << id;
        EXPECT_EQ(table.get(id), it == want.end() ? 0.0 : it->second) << "id " << id;
    }
    std::vector<std::int64_t> sorted;
    for (const auto& [id, d] : want) sorted.push_back(id);
    EXPECT_EQ(table.ids(), sorted);
}

TEST(ItemDurationsTest, ContiguousIdsWithGapsAreAnArray) {
    // Catalog rowids after some removals: 1..20,000 with every 7th gone, shuffled.
    std::vector<std::int64_t> ids;
    for (std::int64_t id = 1; id <= 20000; ++id) {
        if (id % 7 != 0)
            ids.push_back(id);
    }
    std::shuffle(ids.begin(), ids.end(), std::mt19937(7));
    check_durations(ids, true);
}

TEST(ItemDurationsTest, SparseIdsFallBackToAHashMap) {
    std::vector<std::int64_t> ids = {kMin, -5, 3, 1'000'000'000'000, kMax};
    check_durations(ids, false);
    // A wide range with few ids: 10,000 ids spread over 10^9.
    ids.clear();
    for (std::int64_t i = 0; i < 10000; ++i) ids.push_back(i * 100'000 - 7);
    check_durations(ids, false);
}

TEST(ItemDurationsTest, NegativeAndExtremeButContiguousIds) {
    std::vector<std::int64_t> low, high;
    for (std::int64_t i = 0; i < 500; ++i) {
        low.push_back(kMin + 3 * i);
        high.push_back(kMax - 2 * i);
    }
    check_durations(low, true);
    check_durations(high, true);
    check_durations({}, true);
}

void check_set(std::vector<std::int64_t> ids, bool want_bitmap) {
    const std::set<std::int64_t> want(ids.begin(), ids.end());
    const IdSet set(ids);
    EXPECT_EQ(set.bitmap(), want_bitmap);
    for (std::int64_t id : probes(ids)) EXPECT_EQ(set.contains(id), want.count(id) > 0) << id;
}

TEST(IdSetTest, BitmapAndSortedFormsAnswerLikeASet) {
    std::mt19937 rng(11);
    std::vector<std::int64_t> dense;  // 10 % of 1..100,000, with repeats
    for (std::int64_t id = 1; id <= 100000; ++id) {
        if (rng() % 10 == 0) {
            dense.push_back(id);
            if (rng() % 4 == 0)
                dense.push_back(id);
        }
    }
    std::shuffle(dense.begin(), dense.end(), rng);
    check_set(dense, true);
    check_set({kMax, kMax - 64, kMax - 65}, true);
    check_set({kMin, 0, kMax}, false);
    std::vector<std::int64_t> sparse;  // 1,000 ids over 10^12
    for (std::int64_t i = 0; i < 1000; ++i) sparse.push_back(i * 1'000'000'000 + 13);
    check_set(sparse, false);
    check_set({}, false);
}

TEST(ItemPredicateTest, CombinesBoundsAllowedIdsAndTheExcludedItem) {
    const std::vector<std::int64_t> ids = {1, 2, 3, 4, 5, 6};
    const std::vector<double> seconds = {0.5, 1.0, 2.0, 3.0, 4.0, 5.0};
    const ItemDurations durations(ids, seconds);
    ItemConditions c;
    c.min_duration_s = 1.0;  // bounds are inclusive
    c.max_duration_s = 4.0;
    c.allowed = std::make_shared<const IdSet>(std::vector<std::int64_t>{1, 2, 3, 5, 6, 7});
    c.exclude_id = 3;
    const auto pass = item_predicate(&durations, c);
    std::vector<std::int64_t> passed;
    for (std::int64_t id = 0; id <= 8; ++id) {
        if (pass(id))
            passed.push_back(id);
    }
    // 1: too short; 3: excluded; 4: not allowed; 6: too long; 7: allowed but unknown (0 s).
    EXPECT_EQ(passed, (std::vector<std::int64_t>{2, 5}));
    // No condition: no predicate at all (the index then searches unfiltered).
    EXPECT_FALSE(static_cast<bool>(item_predicate(nullptr, ItemConditions{})));
}

// The block form gives, for every id of a block, the per-id predicate's answer: each condition
// alone and all together, over dense and sparse duration tables and id sets, with ids inside,
// next to and far outside the stored ranges.
TEST(ItemPredicateTest, TheBlockFormAgreesWithThePerIdForm) {
    std::mt19937_64 rng(3);
    for (const bool dense : {true, false}) {
        std::vector<std::int64_t> ids;
        std::vector<double> seconds;
        for (std::int64_t i = 0; i < 3000; ++i) {
            ids.push_back(dense ? 100 + i : i * 1'000'003);
            seconds.push_back(static_cast<double>(rng() % 100) / 10.0);
        }
        const ItemDurations durations(ids, seconds);
        ASSERT_EQ(durations.dense(), dense);
        std::vector<std::int64_t> allowed_ids;
        for (std::int64_t id : ids) {
            if (rng() % 3 == 0)
                allowed_ids.push_back(id);
        }
        auto allowed = std::make_shared<const IdSet>(allowed_ids);
        ASSERT_EQ(allowed->bitmap(), dense);
        // Queried ids: the stored ones, their neighbours, and extremes.
        std::vector<std::int64_t> asked;
        for (std::int64_t id : ids) {
            asked.push_back(id);
            asked.push_back(id + 1);
        }
        asked.insert(asked.end(), {kMin, kMax, 0, -1, 99});
        std::shuffle(asked.begin(), asked.end(), rng);
        for (int mask = 1; mask < 16; ++mask) {
            ItemConditions c;
            if (mask & 1)
                c.min_duration_s = 2.5;
            if (mask & 2)
                c.max_duration_s = 7.0;
            if (mask & 4)
                c.allowed = allowed;
            if (mask & 8)
                c.exclude_id = ids[17];
            const auto one = item_predicate(&durations, c);
            const auto block = item_block_predicate(&durations, c);
            ASSERT_TRUE(one && block);
            std::vector<std::uint8_t> pass(asked.size(), 7);
            // Blocks of uneven sizes, the last one short.
            std::size_t passed = 0;
            for (std::size_t at = 0; at < asked.size(); at += 777) {
                const std::size_t m = std::min<std::size_t>(777, asked.size() - at);
                block({asked.data() + at, m}, pass.data() + at);
            }
            for (std::size_t i = 0; i < asked.size(); ++i) {
                ASSERT_EQ(pass[i], one(asked[i]) ? 1 : 0)
                    << "id " << asked[i] << " conditions " << mask << " dense " << dense;
                passed += pass[i];
            }
            EXPECT_GT(passed, 0u);
            EXPECT_LT(passed, asked.size());
        }
    }
    EXPECT_FALSE(static_cast<bool>(item_block_predicate(nullptr, ItemConditions{})));
}

}  // namespace
}  // namespace earshot
