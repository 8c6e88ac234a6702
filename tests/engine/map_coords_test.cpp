// The library map's coordinates (engine/map_coords.h): computed once per catalog generation, kept
// in a file beside the index files and reloaded from it by a new cache (a restarted server),
// recomputed after a write that keeps the item count (one removed, one added), and a damaged,
// truncated or stale file is ignored and replaced.
#include "engine/map_coords.h"

#include <fstream>

#include <gtest/gtest.h>

#include "core/file_util.h"
#include "synthetic_items.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

constexpr int kDim = 8;

std::vector<std::int64_t> put_items(Catalog& catalog, int first, int n) {
    auto batch = testing::random_put_requests(first, n, kDim, [](int i, Catalog::PutRequest& r) {
        r.vector[static_cast<std::size_t>(i % 2)] += 4.0f;  // two clusters
    });
    auto ids = catalog.put_items("syn", batch);
    EXPECT_TRUE(ids);
    return ids ? *ids : std::vector<std::int64_t>{};
}

struct Fixture {
    TempDir dir;
    std::unique_ptr<Catalog> catalog;
    fs::path index_dir;

    Fixture() : index_dir(dir / "lib.earshot.idx") {
        CatalogOptions co;
        co.create_if_missing = true;
        auto c = open_catalog((dir / "lib.earshot").string(), co);
        EXPECT_TRUE(c);
        catalog = std::move(*c);
    }
    fs::path file() const { return map_file_path(index_dir, "syn", "pca"); }
};

TEST(MapCoordsTest, FileRoundTripsAndRejectsDamage) {
    MapCoords c;
    c.space = "syn/ä";
    c.layout = "pca";
    c.generation = 42;
    c.ids = {3, 5, 9};
    c.xy = {0.5f, -1.0f, 1.0f, 0.0f, -0.25f, 0.75f};
    c.explained_variance_ratio = {0.4, 0.2};
    c.fit_rows = 3;
    TempDir dir;
    const fs::path file = map_file_path(dir / "idx", c.space, c.layout);
    EXPECT_EQ(file.extension(), ".esmap");
    ASSERT_TRUE(save_map_coords(file, c));
    auto back = load_map_coords(file);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(back->space, c.space);
    EXPECT_EQ(back->layout, c.layout);
    EXPECT_EQ(back->generation, 42);
    EXPECT_EQ(back->ids, c.ids);
    EXPECT_EQ(back->xy, c.xy);
    EXPECT_EQ(back->explained_variance_ratio, c.explained_variance_ratio);
    EXPECT_EQ(back->fit_rows, 3u);

    auto bytes = read_file_bytes(file);
    ASSERT_TRUE(bytes);
    auto write = [&](const std::vector<std::uint8_t>& b) {
        std::ofstream(file, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    };
    for (std::size_t at : {std::size_t{0}, std::size_t{20}, bytes->size() / 2, bytes->size() - 1}) {
        auto damaged = *bytes;
        damaged[at] ^= 0x40;
        write(damaged);
        auto r = load_map_coords(file);
        ASSERT_FALSE(r) << "byte " << at;
        EXPECT_EQ(r.error().code(), ErrorCode::kCorruption) << "byte " << at;
    }
    auto truncated = *bytes;
    truncated.resize(truncated.size() - 9);
    write(truncated);
    EXPECT_EQ(load_map_coords(file).error().code(), ErrorCode::kCorruption);
    write({});
    EXPECT_EQ(load_map_coords(file).error().code(), ErrorCode::kCorruption);
    fs::remove(file);
    EXPECT_EQ(load_map_coords(file).error().code(), ErrorCode::kNotFound);
}

TEST(MapCoordsTest, CachedKeptOnDiskAndRecomputedAfterAWrite) {
    Fixture f;
    put_items(*f.catalog, 0, 40);
    MapCache cache(*f.catalog, f.index_dir);
    auto a = cache.get("syn", "pca");
    ASSERT_TRUE(a) << a.error().to_string();
    EXPECT_EQ(cache.last_source("syn", "pca"), "computed");
    EXPECT_EQ((*a)->ids.size(), 40u);
    EXPECT_EQ((*a)->xy.size(), 80u);
    EXPECT_TRUE(fs::exists(f.file()));
    auto again = cache.get("syn", "pca");
    ASSERT_TRUE(again);
    EXPECT_EQ(a->get(), again->get()) << "an unchanged catalog reuses the coordinates";

    // A new cache (a restarted server) reads the file instead of computing.
    MapCache restarted(*f.catalog, f.index_dir);
    auto b = restarted.get("syn", "pca");
    ASSERT_TRUE(b);
    EXPECT_EQ(restarted.last_source("syn", "pca"), "file");
    EXPECT_EQ((*b)->ids, (*a)->ids);
    EXPECT_EQ((*b)->xy, (*a)->xy);
    EXPECT_EQ((*b)->generation, (*a)->generation);

    // One item removed and one added: the same count, a new generation, new coordinates.
    const std::int64_t removed = (*a)->ids[7];
    ASSERT_TRUE(f.catalog->remove_items({removed}));
    auto added = put_items(*f.catalog, 100, 1);
    ASSERT_EQ(added.size(), 1u);
    // The first cache computes them and writes the file, which the second then reads.
    for (auto [c, source] : {std::pair{&cache, "computed"}, std::pair{&restarted, "file"}}) {
        auto d = c->get("syn", "pca");
        ASSERT_TRUE(d);
        EXPECT_EQ(c->last_source("syn", "pca"), source);
        EXPECT_EQ((*d)->ids.size(), 40u);
        EXPECT_GT((*d)->generation, (*a)->generation);
        EXPECT_EQ(std::count((*d)->ids.begin(), (*d)->ids.end(), removed), 0);
        EXPECT_EQ((*d)->ids.back(), added[0]);
    }
}

TEST(MapCoordsTest, DamagedOrStaleFileIsRecomputed) {
    Fixture f;
    put_items(*f.catalog, 0, 30);
    {
        MapCache cache(*f.catalog, f.index_dir);
        ASSERT_TRUE(cache.get("syn", "pca"));
    }
    auto good = load_map_coords(f.file());
    ASSERT_TRUE(good);

    // Damaged: ignored, recomputed (the same coordinates) and written again.
    auto bytes = read_file_bytes(f.file());
    ASSERT_TRUE(bytes);
    (*bytes)[bytes->size() - 20] ^= 0xff;
    std::ofstream(f.file(), std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes->data()),
               static_cast<std::streamsize>(bytes->size()));
    ASSERT_FALSE(load_map_coords(f.file()));
    {
        MapCache cache(*f.catalog, f.index_dir);
        auto c = cache.get("syn", "pca");
        ASSERT_TRUE(c);
        EXPECT_EQ(cache.last_source("syn", "pca"), "computed");
        EXPECT_EQ((*c)->xy, good->xy);
    }
    EXPECT_TRUE(load_map_coords(f.file()));

    // Stale: a file of another generation is not used.
    MapCoords stale = *good;
    stale.generation -= 1;
    ASSERT_TRUE(save_map_coords(f.file(), stale));
    {
        MapCache cache(*f.catalog, f.index_dir);
        ASSERT_TRUE(cache.get("syn", "pca"));
        EXPECT_EQ(cache.last_source("syn", "pca"), "computed");
    }
    // Same generation but other ids (a replaced catalog): not used either.
    MapCoords foreign = *good;
    foreign.ids.back() += 1000;
    ASSERT_TRUE(save_map_coords(f.file(), foreign));
    {
        MapCache cache(*f.catalog, f.index_dir);
        auto c = cache.get("syn", "pca");
        ASSERT_TRUE(c);
        EXPECT_EQ(cache.last_source("syn", "pca"), "computed");
        EXPECT_EQ((*c)->ids, good->ids);
    }
}

TEST(MapCoordsTest, BadLayoutAndMissingSpace) {
    Fixture f;
    put_items(*f.catalog, 0, 5);
    MapCache cache(*f.catalog, f.index_dir);
    auto bad = cache.get("syn", "tsne");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.error().message().find("pca"), std::string::npos);
    auto none = cache.get("nope", "pca");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
    // Without a folder nothing is written, and it still works.
    MapCache memory_only(*f.catalog, {});
    ASSERT_TRUE(memory_only.get("syn", "pca"));
    EXPECT_EQ(memory_only.last_source("syn", "pca"), "computed");
}

}  // namespace
}  // namespace earshot
