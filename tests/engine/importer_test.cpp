// Import of CSV, JSON lines (earshot export records and AudioSet-style 8-bit data) and .npy.
#include "engine/importer.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace earshot {
namespace {

using testing::TempDir;

void write_text(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

std::unique_ptr<Catalog> open_catalog(const TempDir& dir) {
    auto c = Catalog::open(dir / "lib.earshot");
    EXPECT_TRUE(c);
    return std::move(*c);
}

std::vector<float> vector_of(Catalog& c, const std::string& path, const std::string& space) {
    auto item = c.find_by_path(path);
    EXPECT_TRUE(item && item->has_value()) << path;
    auto v = c.get_embedding((*item)->id, space);
    EXPECT_TRUE(v);
    return *v;
}

TEST(ImporterTest, CsvWithHeaderAndIdColumn) {
    TempDir dir;
    write_text(dir / "feats.csv",
               "filename,f0,f1,f2\n"
               "a.wav,0.5,-1.25,3\n"
               "\"b,c.wav\",1e-3,2,0\n");
    auto cat = open_catalog(dir);
    ImportOptions o;
    o.file = dir / "feats.csv";
    o.space = "vggish";
    auto r = import_embeddings(*cat, o);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->format, "csv");
    EXPECT_EQ(r->rows, 2u);
    EXPECT_EQ(r->added, 2u);
    EXPECT_EQ(r->dim, 3);
    EXPECT_EQ(vector_of(*cat, "a.wav", "vggish"), (std::vector<float>{0.5f, -1.25f, 3.0f}));
    EXPECT_EQ(vector_of(*cat, "b,c.wav", "vggish"), (std::vector<float>{1e-3f, 2.0f, 0.0f}));
    // Re-import updates in place.
    auto again = import_embeddings(*cat, o);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->updated, 2u);
    EXPECT_EQ(cat->count_items().value(), 2);
}

TEST(ImporterTest, MalformedRowsNameTheLine) {
    TempDir dir;
    write_text(dir / "bad.csv", "a,1,2\nb,1,x\n");
    auto cat = open_catalog(dir);
    ImportOptions o;
    o.file = dir / "bad.csv";
    o.space = "s";
    auto r = import_embeddings(*cat, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("line 2"), std::string::npos) << r.error().message();
    write_text(dir / "ragged.csv", "a,1,2\nb,1,2,3\n");
    o.file = dir / "ragged.csv";
    EXPECT_FALSE(import_embeddings(*cat, o));
    o.file = dir / "missing.csv";
    EXPECT_EQ(import_embeddings(*cat, o).error().code(), ErrorCode::kNotFound);
    o.file = dir / "bad.csv";
    o.space = "";
    EXPECT_EQ(import_embeddings(*cat, o).error().code(), ErrorCode::kInvalidArgument);
}

TEST(ImporterTest, AudioSetQuantisedJsonLines) {
    TempDir dir;
    nlohmann::json rec = {{"id", "--PJHxphWEs"},
                          {"labels", {"/m/09x0r", "/t/dd00088"}},
                          {"start_time", 30.0},
                          {"end_time", 32.0},
                          {"data", {{0, 255, 128}, {255, 255, 0}}}};
    write_text(dir / "as.jsonl", rec.dump() + "\n");
    auto cat = open_catalog(dir);
    ImportOptions o;
    o.file = dir / "as.jsonl";
    o.space = "audioset";
    auto r = import_embeddings(*cat, o);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_TRUE(r->dequantized);
    EXPECT_EQ(r->segments, 2u);
    auto item = cat->find_by_path("--PJHxphWEs");
    ASSERT_TRUE(item && item->has_value());
    EXPECT_DOUBLE_EQ((*item)->duration_s, 2.0);
    EXPECT_EQ((*item)->labels, "/m/09x0r,/t/dd00088");
    auto v = vector_of(*cat, "--PJHxphWEs", "audioset");
    ASSERT_EQ(v.size(), 3u);
    // mean of dequantised (q * 4/255 - 2) per-second rows
    EXPECT_NEAR(v[0], 0.0f, 1e-6);
    EXPECT_NEAR(v[1], 2.0f, 1e-6);
    EXPECT_NEAR(v[2], ((128.0f * 4.0f / 255.0f - 2.0f) + -2.0f) / 2.0f, 1e-6);
    auto seg = cat->get_segments((*item)->id, "audioset");
    ASSERT_TRUE(seg);
    EXPECT_EQ(seg->first.n_rows, 2u);
    EXPECT_NEAR(seg->first.at(0, 0), -2.0f, 1e-6);
    EXPECT_DOUBLE_EQ(seg->second[1].end_s, 2.0);
    // --quantized no keeps raw values.
    o.quantized = "no";
    o.space = "raw";
    ASSERT_TRUE(import_embeddings(*cat, o));
    EXPECT_EQ(vector_of(*cat, "--PJHxphWEs", "raw")[1], 255.0f);
}

TEST(ImporterTest, ExportRecordsRoundTripBitExact) {
    TempDir dir;
    std::mt19937 rng(1234);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::string text;
    std::vector<std::vector<float>> vecs;
    for (int i = 0; i < 20; ++i) {
        std::vector<float> v(16);
        for (auto& x : v) x = g(rng) * 1e-3f;
        vecs.push_back(v);
        nlohmann::json j = {{"id", i + 1},     {"path", "/lib/" + std::to_string(i) + ".wav"},
                            {"name", "n"},     {"duration_s", 1.5},
                            {"labels", "a,b"}, {"model", "mn04"},
                            {"embedding", v}};
        text += j.dump() + "\n";
    }
    write_text(dir / "x.jsonl", text);
    auto cat = open_catalog(dir);
    ImportOptions o;
    o.file = dir / "x.jsonl";
    o.space = "mn04";
    ASSERT_TRUE(import_embeddings(*cat, o));
    for (int i = 0; i < 20; ++i) {
        auto v = vector_of(*cat, "/lib/" + std::to_string(i) + ".wav", "mn04");
        ASSERT_EQ(v.size(), 16u);
        EXPECT_EQ(std::memcmp(v.data(), vecs[static_cast<std::size_t>(i)].data(), 16 * 4), 0);
    }
}

TEST(ImporterTest, NpyWithAndWithoutMetadata) {
    TempDir dir;
    const std::size_t n = 3;
    const std::size_t d = 4;
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
    dict += '\n';
    std::string bytes = "\x93NUMPY";
    bytes += '\x01';
    bytes += '\x00';
    bytes += static_cast<char>(dict.size() & 0xff);
    bytes += static_cast<char>(dict.size() >> 8);
    bytes += dict;
    std::vector<float> data(n * d);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) * 0.25f;
    bytes.append(reinterpret_cast<const char*>(data.data()), data.size() * 4);
    write_text(dir / "v.npy", bytes);
    auto cat = open_catalog(dir);
    ImportOptions o;
    o.file = dir / "v.npy";
    o.space = "s";
    ASSERT_TRUE(import_embeddings(*cat, o));
    EXPECT_EQ(vector_of(*cat, "v#2", "s"), (std::vector<float>{2.0f, 2.25f, 2.5f, 2.75f}));
    write_text(dir / "v.jsonl",
               "{\"path\":\"p0\"}\n{\"path\":\"p1\",\"duration_s\":2}\n{\"path\":\"p2\"}\n");
    o.space = "t";
    ASSERT_TRUE(import_embeddings(*cat, o));
    EXPECT_EQ(vector_of(*cat, "p1", "t"), (std::vector<float>{1.0f, 1.25f, 1.5f, 1.75f}));
    // Truncated data.
    write_text(dir / "short.npy", bytes.substr(0, bytes.size() - 4));
    o.file = dir / "short.npy";
    EXPECT_EQ(import_embeddings(*cat, o).error().code(), ErrorCode::kInvalidArgument);
}

// Before the reader moved to core/npy.cpp, rows * cols * 4 wrapped around for a shape such as
// (2^62, 4): the size check passed, nothing was read and the import walked rows of an empty
// buffer (`earshot import` of this 128-byte file crashed with SIGSEGV).
TEST(ImporterTest, NpyShapeWhoseSizeOverflowsIsRejected) {
    TempDir dir;
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(std::size_t{1} << 62) + ", 4), }";
    while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
    dict += '\n';
    std::string bytes = "\x93NUMPY";
    bytes += '\x01';
    bytes += '\x00';
    bytes += static_cast<char>(dict.size() & 0xff);
    bytes += static_cast<char>(dict.size() >> 8);
    write_text(dir / "big.npy", bytes + dict + std::string(16, '\0'));
    auto cat = open_catalog(dir);
    ImportOptions o;
    o.file = dir / "big.npy";
    o.space = "s";
    auto r = import_embeddings(*cat, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("truncated data"), std::string::npos) << r.error().message();
    EXPECT_EQ(cat->count_items().value(), 0);
}

TEST(ImporterTest, DimMismatchWithExistingSpaceIsRejected) {
    TempDir dir;
    write_text(dir / "a.csv", "a,1,2\n");
    write_text(dir / "b.csv", "b,1,2,3\n");
    auto cat = open_catalog(dir);
    ImportOptions o;
    o.file = dir / "a.csv";
    o.space = "s";
    ASSERT_TRUE(import_embeddings(*cat, o));
    o.file = dir / "b.csv";
    EXPECT_EQ(import_embeddings(*cat, o).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace earshot

namespace earshot {
namespace {

TEST(ImporterTest, VectorsFromMemoryKeyedLikeAFileImport) {
    TempDir dir;
    auto c = open_catalog(dir);
    std::vector<VectorRecord> recs(3);
    for (int i = 0; i < 3; ++i) {
        recs[i].item.path = "key" + std::to_string(i);
        recs[i].vector = {static_cast<float>(i), -0.0f, 1e-40f, 3.5f};
    }
    recs[1].item.name = "second";
    auto r = import_vectors(*c, "ext", recs);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->added, 3u);
    auto v = vector_of(*c, "key2", "ext");
    EXPECT_EQ(0, std::memcmp(v.data(), recs[2].vector.data(), 4 * sizeof(float)));  // bit exact
    auto item = c->find_by_path("key1");
    ASSERT_TRUE(item && item->has_value());
    EXPECT_EQ((*item)->name, "second");
    EXPECT_EQ((*item)->codec, "import");
    // Same keys again: updated, metadata kept.
    recs[1].item.name = "";
    auto again = import_vectors(*c, "ext", recs);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->updated, 3u);
    EXPECT_EQ((*c->find_by_path("key1"))->name, "second");
    // Bad records are rejected before anything is written.
    auto bad = recs;
    bad.push_back({});
    bad.back().item.path = "key3";
    bad.back().vector = {1.0f, std::nanf(""), 0.0f, 0.0f};
    auto e = import_vectors(*c, "ext", bad);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(e.error().message().find("'key3'"), std::string::npos) << e.error().message();
    EXPECT_FALSE(*c->find_by_path("key3"));
    bad.back().vector = {1.0f, 2.0f};
    EXPECT_FALSE(import_vectors(*c, "ext", bad));
    EXPECT_FALSE(import_vectors(*c, "", recs));
    EXPECT_FALSE(import_vectors(*c, "ext", {}));
}

}  // namespace
}  // namespace earshot
