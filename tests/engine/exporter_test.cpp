#include "engine/exporter.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/importer.h"
#include "synthetic_items.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing::TempDir;

constexpr int kDim = 7;

// A catalog whose rows exercise the format: a non-UTF-8 path, labels, a vector with values that
// only a float32-exact writer keeps (denormal, max, negative zero), more rows than one read batch.
std::unique_ptr<Catalog> source_catalog(const std::filesystem::path& db) {
    auto cat = testing::catalog_writer(db);
    auto rows = testing::random_put_requests(0, 1500, kDim, [](int i, Catalog::PutRequest& r) {
        r.item.duration_s = 0.5 + i % 7;
        r.item.labels = i % 3 == 0 ? "Dog;Bark" : "";
    });
    rows[10].item.path = std::string("caf\xe9/\xff.wav");  // Latin-1, not UTF-8
    rows[11].vector = {std::numeric_limits<float>::denorm_min(),
                       std::numeric_limits<float>::max(),
                       -0.0f,
                       1e-30f,
                       -3.25f,
                       0.1f,
                       7.0f};
    EXPECT_TRUE(cat->put_items("syn", rows));
    // A removed item leaves a gap in the ids.
    auto gone = cat->find_by_path("item5");
    EXPECT_TRUE(gone && gone->has_value());
    EXPECT_TRUE(cat->remove_items({(*gone)->id}));
    return cat;
}

void expect_same_rows(CatalogReader& a, CatalogReader& b) {
    auto sa = a.load_embeddings("syn");
    auto sb = b.load_embeddings("syn");
    ASSERT_TRUE(sa && sb);
    ASSERT_EQ(sa->ids.size(), sb->ids.size());
    ASSERT_EQ(sb->vectors.n_cols, static_cast<std::size_t>(kDim));
    for (std::size_t r = 0; r < sa->ids.size(); ++r) {
        auto ia = a.get_item(sa->ids[r]);
        ASSERT_TRUE(ia);
        auto ib = b.find_by_path(ia->path);
        ASSERT_TRUE(ib && ib->has_value()) << ia->path;
        EXPECT_EQ((*ib)->name, ia->name);
        EXPECT_EQ((*ib)->duration_s, ia->duration_s);
        EXPECT_EQ((*ib)->labels, ia->labels);
        auto vb = b.get_embedding((*ib)->id, "syn");
        ASSERT_TRUE(vb);
        ASSERT_EQ(vb->size(), static_cast<std::size_t>(kDim));
        for (int j = 0; j < kDim; ++j) {
            const float x = sa->vectors.at(r, static_cast<std::size_t>(j));
            const float y = (*vb)[static_cast<std::size_t>(j)];
            EXPECT_EQ(std::signbit(x), std::signbit(y));
            EXPECT_EQ(x, y) << ia->path << " [" << j << "]";
        }
    }
}

TEST(ExporterTest, JsonlAndNpyImportBackBitForBit) {
    TempDir dir;
    auto src = source_catalog(dir / "src.earshot");
    ASSERT_TRUE(src);
    for (auto format : {ExportFormat::kJsonl, ExportFormat::kNpy}) {
        const bool npy = format == ExportFormat::kNpy;
        SCOPED_TRACE(npy ? "npy" : "jsonl");
        ExportOptions eo;
        eo.space = "syn";
        eo.format = format;
        eo.out = dir / (npy ? "out.npy" : "out.jsonl");
        auto r = export_embeddings(*src, eo);
        ASSERT_TRUE(r) << r.error().to_string();
        EXPECT_EQ(r->items, 1499u);
        EXPECT_EQ(r->dim, static_cast<std::size_t>(kDim));
        if (npy) {
            EXPECT_EQ(r->metadata_path, dir / "out.jsonl");
        }
        // Rows in ascending id order.
        std::ifstream lines(npy ? r->metadata_path : r->path);
        std::string line;
        std::int64_t last = 0;
        std::size_t n = 0;
        while (std::getline(lines, line)) {
            auto j = nlohmann::json::parse(line);
            EXPECT_GT(j["id"].get<std::int64_t>(), last);
            last = j["id"].get<std::int64_t>();
            EXPECT_EQ(j.contains("embedding"), !npy);
            ++n;
        }
        EXPECT_EQ(n, 1499u);

        auto dst = testing::catalog_writer(dir / (npy ? "npy.earshot" : "jsonl.earshot"));
        ImportOptions io;
        io.file = r->path;
        io.space = "syn";
        auto imported = import_embeddings(*dst, io);
        ASSERT_TRUE(imported) << imported.error().to_string();
        EXPECT_EQ(imported->added, 1499u);
        expect_same_rows(*src, *dst);
    }
}

TEST(ExporterTest, JsonlToAStreamAndErrorsNameTheReason) {
    TempDir dir;
    auto src = source_catalog(dir / "src.earshot");
    ASSERT_TRUE(src);
    ExportOptions eo;
    eo.space = "syn";
    std::ostringstream out;
    auto r = export_embeddings(*src, eo, &out);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_TRUE(r->path.empty());
    const std::string text = out.str();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1499);

    eo.space = "nosuch";
    auto missing = export_embeddings(*src, eo, &out);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

    eo.space = "syn";
    eo.format = ExportFormat::kNpy;
    eo.out = dir / "no" / "such" / "folder" / "x.npy";
    auto unwritable = export_embeddings(*src, eo);
    ASSERT_FALSE(unwritable);
    EXPECT_EQ(unwritable.error().code(), ErrorCode::kIoError);
    EXPECT_NE(unwritable.error().message().find("x.npy"), std::string::npos);

    auto bad = parse_export_format("csv");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.error().message().find("npy, jsonl"), std::string::npos);
}

}  // namespace
}  // namespace earshot
