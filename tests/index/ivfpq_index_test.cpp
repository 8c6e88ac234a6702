// IVF-PQ specifics beyond the every-kind tests in index_registry_test.cpp: exact until there is
// enough to train on, training on the add that crosses the threshold (also in small batches),
// the nprobe knob, an untrained index's save/load, and the memory it saves over flat.
#include <filesystem>

#include <gtest/gtest.h>

#include "index/index_file.h"
#include "index/vector_index.h"
#include "index_test_util.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing_util::clustered;
using testing_util::ids_from;
using testing_util::recall_at_k;

constexpr std::size_t kDim = 64;

TEST(IvfPqIndexTest, ExactUntilEnoughItemsToTrain) {
    // IVF256 trains at 16 x 256 = 4096 items.
    auto index = make_index("IVF256,PQ16", kDim, Metric::kCosine);
    ASSERT_TRUE(index);
    auto data = clustered(3000, kDim, 11);
    ASSERT_TRUE((*index)->add(ids_from(1, 3000), data));
    EXPECT_TRUE((*index)->exact_distances());
    FlatIndex flat(kDim, Metric::kCosine);
    ASSERT_TRUE(flat.add(ids_from(1, 3000), data));
    auto queries = clustered(20, kDim, 12);
    SearchOptions o;
    o.k = 10;
    EXPECT_DOUBLE_EQ(recall_at_k(**index, flat, queries, o), 1.0);

    // An untrained index saves and loads as such.
    earshot::testing::TempDir dir;
    const auto path = dir.path() / "pending.esix";
    auto loaded = testing_util::save_and_load(**index, path);
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    EXPECT_EQ(loaded->index->size(), 3000u);
    EXPECT_TRUE(loaded->index->exact_distances());
    EXPECT_DOUBLE_EQ(recall_at_k(*loaded->index, flat, queries, o), 1.0);

    // Crossing the threshold trains; results stay close to exact.
    auto more = clustered(3000, kDim, 13);
    ASSERT_TRUE(loaded->index->add(ids_from(10001, 3000), more));
    ASSERT_TRUE(flat.add(ids_from(10001, 3000), more));
    EXPECT_FALSE(loaded->index->exact_distances());
    EXPECT_EQ(loaded->index->size(), 6000u);
    EXPECT_GE(recall_at_k(*loaded->index, flat, queries, o), 0.95);
}

TEST(IvfPqIndexTest, SmallBatchesAndNprobe) {
    auto index = make_index("IVF64,PQ16", kDim, Metric::kEuclidean);
    ASSERT_TRUE(index);
    FlatIndex flat(kDim, Metric::kEuclidean);
    auto data = clustered(8000, kDim, 21, 200);
    // Batches of 500, as `earshot index` adds them: trains at the 5th (2048 items).
    for (std::size_t b = 0; b < 16; ++b) {
        Matrix part(500, kDim);
        std::copy(data.row(b * 500), data.row(b * 500) + 500 * kDim, part.data.begin());
        auto ids = ids_from(static_cast<std::int64_t>(1 + b * 500), 500);
        ASSERT_TRUE((*index)->add(ids, part));
        ASSERT_TRUE(flat.add(ids, part));
    }
    EXPECT_FALSE((*index)->exact_distances());
    auto queries = clustered(50, kDim, 22, 200);
    SearchOptions o;
    o.k = 10;
    const double at_default = recall_at_k(**index, flat, queries, o);

    EXPECT_GE(at_default, 0.95);
    o.nprobe = 1;
    const double at_one = recall_at_k(**index, flat, queries, o);
    o.nprobe = 64;
    const double at_all = recall_at_k(**index, flat, queries, o);
    EXPECT_LT(at_one, at_default);
    EXPECT_GE(at_all, at_default);

    // A filter passing half the items (4000 >= the exact-scan floor of 2048) is applied inside
    // the list scan, with proportionally more lists probed.
    SearchOptions f;
    f.k = 10;
    f.filter = [](std::int64_t id) { return id % 2 == 0; };
    for (std::size_t q = 0; q < 5; ++q) {
        auto hits = (*index)->search(queries.row_span(q), f);
        ASSERT_TRUE(hits);
        EXPECT_EQ(hits->size(), 10u);
        for (const auto& h : *hits) EXPECT_EQ(h.id % 2, 0);
    }
    EXPECT_GE(recall_at_k(**index, flat, queries, f), 0.95);
}

TEST(IvfPqIndexTest, UsesLessMemoryThanFlat) {
    constexpr std::size_t kN = 8000;
    constexpr int kWide = 256;
    auto data = clustered(kN, kWide, 31);
    auto ivf = make_index("IVF16,PQ16", kWide, Metric::kCosine);
    auto flat = make_index("flat", kWide, Metric::kCosine);
    ASSERT_TRUE(ivf && flat);
    ASSERT_TRUE((*ivf)->add(ids_from(1, kN), data));
    ASSERT_TRUE((*flat)->add(ids_from(1, kN), data));
    const double ivf_per_item = static_cast<double>((*ivf)->memory_bytes()) / kN;
    const double flat_per_item = static_cast<double>((*flat)->memory_bytes()) / kN;
    // 16 B code + 8 B id in the lists, 512 B half copy, id map, 256 KB of tables (33 B/item
    // here, amortised at scale); flat keeps 1 KB of floats.
    EXPECT_LT(ivf_per_item, 0.7 * flat_per_item) << ivf_per_item << " vs " << flat_per_item;
}

}  // namespace
}  // namespace earshot
