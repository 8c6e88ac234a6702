// The engine's index cache (engine/index_cache.h): a cached index is handed out again while the
// catalog is unchanged, refreshed after a catalog write (its generation moves), dropped by
// invalidate(), and persisted ANN indexes are reloaded from their file and updated in place.
#include "engine/index_cache.h"

#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "synthetic_items.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing::TempDir;

constexpr int kDim = 8;

void put_items(Catalog& catalog, int first, int n) {
    auto batch = testing::random_put_requests(
        first, n, kDim, [](int i, Catalog::PutRequest& r) { r.item.duration_s = 1.0 + i; });
    ASSERT_TRUE(catalog.put_items("syn", batch));
}

struct Fixture {
    TempDir dir;
    std::unique_ptr<Catalog> catalog;
    std::unique_ptr<IndexCache> cache;

    Fixture() {
        CatalogOptions co;
        co.create_if_missing = true;
        auto c = open_catalog((dir / "lib.earshot").string(), co);
        EXPECT_TRUE(c);
        catalog = std::move(*c);
        cache = std::make_unique<IndexCache>(*catalog,
                                             IndexCacheOptions{dir / "lib.earshot", {}, 1, {}});
    }
};

TEST(IndexCacheTest, ReusesAnEntryUntilTheCatalogChanges) {
    Fixture f;
    put_items(*f.catalog, 0, 20);
    auto a = f.cache->get("syn", Metric::kCosine, "flat");
    ASSERT_TRUE(a) << a.error().to_string();
    EXPECT_EQ((*a)->index->size(), 20u);
    EXPECT_EQ((*a)->report.action, "in-memory");
    EXPECT_DOUBLE_EQ((*a)->durations.get(1), 1.0);
    auto b = f.cache->get("syn", Metric::kCosine, "flat");
    ASSERT_TRUE(b);
    EXPECT_EQ(a->get(), b->get()) << "an unchanged catalog must reuse the cached index";
    // "auto" resolves to flat at this size: the same entry.
    auto c = f.cache->get("syn", Metric::kCosine, "auto");
    ASSERT_TRUE(c);
    EXPECT_EQ(a->get(), c->get());

    // A catalog write moves the space's generation: the next get refreshes.
    put_items(*f.catalog, 20, 5);
    auto d = f.cache->get("syn", Metric::kCosine, "flat");
    ASSERT_TRUE(d);
    EXPECT_NE(a->get(), d->get());
    EXPECT_EQ((*d)->index->size(), 25u);
    EXPECT_GT((*d)->generation, (*a)->generation);
    // The old entry is still usable by whoever holds it.
    EXPECT_EQ((*a)->index->size(), 20u);

    // invalidate() drops the entry even though the catalog did not move.
    f.cache->invalidate();
    auto e = f.cache->get("syn", Metric::kCosine, "flat");
    ASSERT_TRUE(e);
    EXPECT_NE(d->get(), e->get());
    EXPECT_EQ((*e)->index->size(), 25u);

    // Another metric is another entry.
    auto l2 = f.cache->get("syn", Metric::kEuclidean, "flat");
    ASSERT_TRUE(l2);
    EXPECT_NE(e->get(), l2->get());
}

TEST(IndexCacheTest, PersistedIndexIsReloadedThenUpdatedFromTheCatalog) {
    Fixture f;
    put_items(*f.catalog, 0, 50);
    auto built = f.cache->get("syn", Metric::kCosine, "HNSW8");
    ASSERT_TRUE(built) << built.error().to_string();
    EXPECT_EQ((*built)->report.action, "built");
    const auto file = f.cache->index_file("syn", Metric::kCosine, "HNSW8");
    EXPECT_EQ((*built)->report.file, file);
    EXPECT_TRUE(std::filesystem::exists(file));

    // A second cache (another process) finds the file current.
    IndexCache other(*f.catalog, IndexCacheOptions{f.dir / "lib.earshot", {}, 1, {}});
    auto loaded = other.get("syn", Metric::kCosine, "HNSW8");
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    EXPECT_EQ((*loaded)->report.action, "current");
    EXPECT_EQ((*loaded)->index->size(), 50u);

    // After a write, refresh() brings the cached index up to date in place.
    put_items(*f.catalog, 50, 3);
    auto refreshed = other.refresh();
    ASSERT_TRUE(refreshed) << refreshed.error().to_string();
    EXPECT_EQ(*refreshed, 1u);
    auto now = other.get("syn", Metric::kCosine, "HNSW8");
    ASSERT_TRUE(now);
    EXPECT_EQ((*now)->report.action, "updated");
    EXPECT_EQ((*now)->index->size(), 53u);

    // force rebuilds from scratch.
    auto forced = other.get("syn", Metric::kCosine, "HNSW8", true);
    ASSERT_TRUE(forced);
    EXPECT_EQ((*forced)->report.action, "built");
    EXPECT_NE(now->get(), forced->get());
}

TEST(IndexCacheTest, UnknownOrEmptySpaceIsNotFound) {
    Fixture f;
    auto r = f.cache->get("nothing", Metric::kCosine, "flat");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(r.error().message().find("earshot index --model nothing"), std::string::npos)
        << r.error().message();
}

TEST(IndexCacheTest, SegmentIdsRoundTrip) {
    const std::int64_t id = segment_id(123456, 789);
    EXPECT_EQ(segment_item(id), 123456);
    EXPECT_EQ(segment_seq(id), 789u);
    EXPECT_EQ(segment_seq(segment_id(1, kMaxSegmentsPerItem - 1)),
              static_cast<std::size_t>(kMaxSegmentsPerItem - 1));
}

}  // namespace
}  // namespace earshot
