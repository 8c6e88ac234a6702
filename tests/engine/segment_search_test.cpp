// Segment search (Engine::search_segments, search_file/search_id with SearchBy::kSegments):
// hits grouped by item, the matched spans, index refresh after catalog writes (flat and a
// persisted HNSW segment index), filters; and on real audio (mn04, default 4 s / 2 s windows) a
// 4 s excerpt found in its source file at the right time.
#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "audio/decoder.h"
#include "engine/engine.h"
#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;

constexpr int kDim = 16;

Matrix random_rows(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    Matrix m(n, kDim);
    for (auto& v : m.data) v = g(rng);
    return m;
}

// Segments of `hop_s` spacing and 2 × hop_s length.
std::vector<SegmentRecord> times_for(std::size_t n, double hop_s) {
    std::vector<SegmentRecord> t;
    for (std::size_t i = 0; i < n; ++i)
        t.push_back({static_cast<double>(i) * hop_s, static_cast<double>(i) * hop_s + 2 * hop_s});
    return t;
}

std::vector<float> mean_row(const Matrix& m) {
    std::vector<float> v(m.n_cols, 0.0f);
    for (std::size_t i = 0; i < m.n_rows; ++i)
        for (std::size_t j = 0; j < m.n_cols; ++j) v[j] += m.at(i, j) / float(m.n_rows);
    return v;
}

struct SyntheticLibrary {
    testing::TempDir dir;
    std::unique_ptr<Engine> engine;
    // Writes the rows as another process would: the engine reads the catalog only.
    std::unique_ptr<Catalog> writer;
    std::vector<std::int64_t> ids;
    std::vector<Matrix> segments;

    void put(std::size_t i, const Matrix& segs, double duration_s) {
        ItemRecord it;
        it.path = fmt_path(i);
        it.name = it.path;
        it.duration_s = duration_s;
        auto id = writer->put_item(it, "syn", mean_row(segs), segs, times_for(segs.n_rows, 2.0));
        ASSERT_TRUE(id) << id.error().to_string();
        if (ids.size() <= i) {
            ids.resize(i + 1);
            segments.resize(i + 1);
        }
        ids[i] = *id;
        segments[i] = segs;
    }
    static std::string fmt_path(std::size_t i) { return "item" + std::to_string(i); }
};

void open_library(SyntheticLibrary& lib) {
    EngineOptions eo;
    eo.db_path = lib.dir / "lib.earshot";
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine) << engine.error().to_string();
    lib.engine = std::move(*engine);
    auto writer = Catalog::open(eo.db_path);
    ASSERT_TRUE(writer) << writer.error().to_string();
    lib.writer = std::move(*writer);
    for (std::size_t i = 0; i < 6; ++i)
        lib.put(i, random_rows(20, 100 + static_cast<std::uint32_t>(i)), 40.0 + double(i));
}

// Query: rows [from, from + n) of a stored item (plus a little noise), with times from 0.
std::pair<Matrix, std::vector<SegmentRecord>> excerpt(const Matrix& src,
                                                      std::size_t from,
                                                      std::size_t n,
                                                      std::uint32_t seed) {
    Matrix q(n, kDim);
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 0.05f);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < kDim; ++j) q.at(i, j) = src.at(from + i, j) + g(rng);
    return {q, times_for(n, 2.0)};
}

class SegmentSearchSynthetic : public ::testing::TestWithParam<const char*> {};

TEST_P(SegmentSearchSynthetic, BestPairRanksItemAndGivesTheSpans) {
    SyntheticLibrary lib;
    open_library(lib);
    SearchRequest req;
    req.model = "syn";
    req.by = SearchBy::kSegments;
    req.index = GetParam();
    req.k = 3;
    auto [q, qt] = excerpt(lib.segments[2], 7, 3, 1);
    auto r = lib.engine->search_segments(q, qt, "q", req);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(r->results.size(), 3u);
    EXPECT_EQ(r->by, SearchBy::kSegments);
    EXPECT_EQ(r->results[0].id, lib.ids[2]);
    ASSERT_TRUE(r->results[0].match);
    const auto& m = *r->results[0].match;
    // Query segments 0..2 ([0,4) [2,6) [4,8)) are the item's 7..9 ([14,18) ... [18,22)).
    EXPECT_DOUBLE_EQ(m.query_start_s, 0.0);
    EXPECT_DOUBLE_EQ(m.query_end_s, 8.0);
    EXPECT_DOUBLE_EQ(m.item_start_s, 14.0);
    EXPECT_DOUBLE_EQ(m.item_end_s, 22.0);
    EXPECT_LT(r->results[0].distance, r->results[1].distance);
    EXPECT_LE(r->results[1].distance, r->results[2].distance);
    for (std::size_t i = 0; i < r->results.size(); ++i) EXPECT_EQ(r->results[i].rank, int(i) + 1);

    // Duration filter and exclusion by id apply to the items the segments belong to.
    req.min_duration_s = 43.5;
    auto f = lib.engine->search_segments(q, qt, "q", req, lib.ids[5]);
    ASSERT_TRUE(f) << f.error().to_string();
    ASSERT_EQ(f->results.size(), 1u);
    EXPECT_EQ(f->results[0].id, lib.ids[4]);
}

TEST_P(SegmentSearchSynthetic, SeesReplacedAndRemovedItems) {
    SyntheticLibrary lib;
    open_library(lib);
    SearchRequest req;
    req.model = "syn";
    req.by = SearchBy::kSegments;
    req.index = GetParam();
    req.k = 2;
    auto [q, qt] = excerpt(lib.segments[1], 3, 1, 2);
    auto r = lib.engine->search_segments(q, qt, "q", req);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(r->results[0].id, lib.ids[1]);
    EXPECT_DOUBLE_EQ(r->results[0].match->item_start_s, 6.0);

    // Item 1 re-indexed: the matching segment moved to position 11 (t = 22 s).
    Matrix moved = random_rows(20, 999);
    std::copy_n(lib.segments[1].row(3), kDim, moved.row(11));
    lib.put(1, moved, 41.0);
    // A fresh engine (another process) must bring the saved segment index up to date too.
    for (int round = 0; round < 2; ++round) {
        Engine* e = lib.engine.get();
        std::unique_ptr<Engine> other;
        if (round == 1) {
            EngineOptions eo;
            eo.db_path = lib.dir / "lib.earshot";
            other = std::move(*Engine::open(eo));
            e = other.get();
        }
        auto r2 = e->search_segments(q, qt, "q", req);
        ASSERT_TRUE(r2) << r2.error().to_string();
        ASSERT_EQ(r2->results[0].id, lib.ids[1]);
        EXPECT_DOUBLE_EQ(r2->results[0].match->item_start_s, 22.0) << "round " << round;
    }

    auto removed = lib.writer->remove_items({lib.ids[1]});
    ASSERT_TRUE(removed);
    auto r3 = lib.engine->search_segments(q, qt, "q", req);
    ASSERT_TRUE(r3) << r3.error().to_string();
    for (const auto& h : r3->results) EXPECT_NE(h.id, lib.ids[1]);

    // Search by a stored item's segments leaves the item itself out.
    auto by_id = lib.engine->search_id(lib.ids[3], req);
    ASSERT_TRUE(by_id) << by_id.error().to_string();
    for (const auto& h : by_id->results) EXPECT_NE(h.id, lib.ids[3]);
}

// The candidates are resolved a chunk at a time (k + 8 per catalog read): when the best
// candidates are all copies of the query (same content hash, skipped), the results come from a
// later chunk and are the items (and distances) the search gives without the copies.
TEST_P(SegmentSearchSynthetic, CopiesOfTheQueryFillingTheFirstChunksAreSkipped) {
    SyntheticLibrary lib;
    open_library(lib);
    const std::string hash = "00000000c0ffee02";
    auto with_hash = [&](std::size_t i, const Matrix& segs) {
        ItemRecord it;
        it.path = SyntheticLibrary::fmt_path(i);
        it.name = it.path;
        it.duration_s = 40.0;
        it.content_hash = hash;
        auto id =
            lib.writer->put_item(it, "syn", mean_row(segs), segs, times_for(segs.n_rows, 2.0));
        EXPECT_TRUE(id) << id.error().to_string();
        return id ? *id : 0;
    };
    with_hash(2, lib.segments[2]);
    SearchRequest req;
    req.model = "syn";
    req.by = SearchBy::kSegments;
    req.index = GetParam();
    req.k = 2;
    auto before = lib.engine->search_id(lib.ids[2], req);
    ASSERT_TRUE(before) << before.error().to_string();
    ASSERT_EQ(before->results.size(), 2u);
    // 14 near-copies of item 2: the 14 best candidates, more than a chunk holds.
    std::vector<std::int64_t> copies;
    for (std::size_t c = 0; c < 14; ++c) {
        Matrix segs = lib.segments[2];
        const Matrix noise = random_rows(segs.n_rows, 500 + static_cast<std::uint32_t>(c));
        for (std::size_t j = 0; j < segs.data.size(); ++j) segs.data[j] += 0.001f * noise.data[j];
        copies.push_back(with_hash(100 + c, segs));
    }
    auto after = lib.engine->search_id(lib.ids[2], req);
    ASSERT_TRUE(after) << after.error().to_string();
    ASSERT_EQ(after->results.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& a = after->results[i];
        const auto& b = before->results[i];
        EXPECT_EQ(std::count(copies.begin(), copies.end(), a.id), 0) << "a copy was returned";
        EXPECT_EQ(a.id, b.id) << "rank " << i + 1;
        EXPECT_FLOAT_EQ(a.distance, b.distance);
        // (The spans may differ: the copies take index hits that gave more pairs before.)
        ASSERT_TRUE(a.match);
        EXPECT_LT(a.match->item_start_s, a.match->item_end_s);
    }
    // Without the hash check the copies are what it finds.
    auto direct = lib.engine->search_segments(lib.segments[2], times_for(20, 2.0), "q", req);
    ASSERT_TRUE(direct) << direct.error().to_string();
    ASSERT_FALSE(direct->results.empty());
    EXPECT_TRUE(std::count(copies.begin(), copies.end(), direct->results[0].id) == 1 ||
                direct->results[0].id == lib.ids[2]);
}

TEST(SegmentSearchTest, SearchByASpanOfAnItemUsesOnlyItsSegmentsThere) {
    SyntheticLibrary lib;
    open_library(lib);
    // Item 4 holds copies of item 2's segments 12..13 at its positions 5..6 ([10,14) [12,16)).
    Matrix segs = lib.segments[4];
    std::copy_n(lib.segments[2].row(12), kDim, segs.row(5));
    std::copy_n(lib.segments[2].row(13), kDim, segs.row(6));
    lib.put(4, segs, 44.0);
    SearchRequest req;
    req.model = "syn";
    req.by = SearchBy::kSegments;
    req.k = 2;
    req.query_start_s = 24.5;  // overlaps item 2's segments 11 ([22,26)) and 12 ([24,28))
    req.query_end_s = 25.5;
    auto r = lib.engine->search_id(lib.ids[2], req);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_FALSE(r->results.empty());
    EXPECT_EQ(r->results[0].id, lib.ids[4]);
    EXPECT_NEAR(r->results[0].distance, 0.0, 1e-5);
    // Best pair: the query's [24,28) is the item's [10,14) (the span may widen along that offset).
    const auto& m = *r->results[0].match;
    EXPECT_LE(m.query_start_s, 24.0);
    EXPECT_GE(m.query_end_s, 28.0);
    EXPECT_NEAR(m.item_start_s - m.query_start_s, 10.0 - 24.0, 1e-9);
    for (const auto& h : r->results) {
        EXPECT_GE(h.match->query_start_s, 22.0);
        EXPECT_LE(h.match->query_end_s, 28.0);
    }
    req.query_start_s = 500.0;
    req.query_end_s = 501.0;
    auto none = lib.engine->search_id(lib.ids[2], req);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code(), ErrorCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Indexes, SegmentSearchSynthetic, ::testing::Values("flat", "HNSW16"));

TEST(SegmentSearchTest, SpaceWithoutSegmentsIsNotFound) {
    testing::TempDir dir;
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine);
    auto writer = Catalog::open(eo.db_path);
    ASSERT_TRUE(writer);
    ItemRecord it;
    it.path = "x";
    ASSERT_TRUE((*writer)->put_item(it, "plain", std::vector<float>(4, 1.0f), Matrix(), {}));
    SearchRequest req;
    req.model = "plain";
    req.by = SearchBy::kSegments;
    Matrix q(1, 4);
    auto r = (*engine)->search_segments(q, {{0.0, 1.0}}, "q", req);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

TEST(SegmentSearchTest, ParseSearchBy) {
    EXPECT_EQ(*parse_search_by("segments"), SearchBy::kSegments);
    EXPECT_EQ(*parse_search_by("items"), SearchBy::kItems);
    EXPECT_FALSE(parse_search_by("frames"));
}

// Real audio: four 30 s game_music excerpts indexed with mn04 (default 4 s windows, 2 s hop); a
// 4 s cut of one of them at 13.3 s, searched by segments, is found in that file at 13.3 s ± one
// hop, and whole-item search gives no time at all.
TEST(SegmentSearchTest, ExcerptFoundAtItsTimeInTheSourceFile) {
    EARSHOT_REQUIRE_SHARED();
    testing::TempDir dir;
    const auto music = testing::datasets_dir() / "game_music";
    const fs::path files[] = {
        music / "wesnoth" / "battle__e0.ogg", music / "wesnoth" / "battle__e1.ogg",
        music / "hedgewars" / "usr__share__games__hedgewars__Data__Music__City__e0.ogg",
        music / "hedgewars" / "usr__share__games__hedgewars__Data__Music__Rock__e2.ogg"};
    for (const auto& f : files) fs::copy_file(f, dir / f.filename());
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine) << engine.error().to_string();
    IndexOptions io;
    io.paths = {dir.path()};
    io.model = "mn04";
    auto report = (*engine)->index(io);
    ASSERT_TRUE(report) << report.error().to_string();
    ASSERT_EQ(report->counts.added, 4u);

    // Stored segments: 4 s windows every 2 s, the last one ending at the end of the audio.
    auto item = (*engine)->catalog().find_by_path((dir / files[2].filename()).string());
    ASSERT_TRUE(item && item->has_value());
    auto segs = (*engine)->catalog().get_segments((*item)->id, "mn04");
    ASSERT_TRUE(segs);
    ASSERT_GE(segs->second.size(), 13u);
    for (std::size_t i = 0; i + 1 < segs->second.size(); ++i) {
        EXPECT_NEAR(segs->second[i].end_s - segs->second[i].start_s, 4.0, 1e-3);
        EXPECT_NEAR(segs->second[i + 1].start_s - segs->second[i].start_s, 2.0, 1e-3) << i;
    }
    EXPECT_NEAR(segs->second.back().end_s, (*item)->duration_s, 0.05);

    DecodeOptions dopts;
    dopts.target_sample_rate_hz = 32000;
    auto audio = decode_audio(dir / files[2].filename(), dopts);
    ASSERT_TRUE(audio);
    const double at_s = 13.3;
    std::vector<float> cut(
        audio->samples.begin() + static_cast<std::ptrdiff_t>(at_s * 32000),
        audio->samples.begin() + static_cast<std::ptrdiff_t>((at_s + 4) * 32000));
    testing::write_wav16(dir / "q.wav", cut, 32000);  // written after indexing: not in the library

    SearchRequest req;
    req.model = "mn04";
    req.by = SearchBy::kSegments;
    req.k = 3;
    auto r = (*engine)->search_file(dir / "q.wav", req);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_FALSE(r->results.empty());
    EXPECT_EQ(r->results[0].id, (*item)->id);
    ASSERT_TRUE(r->results[0].match);
    EXPECT_NEAR(r->results[0].match->item_start_s, at_s, 2.0);
    EXPECT_NEAR(r->results[0].match->query_start_s, 0.0, 0.05);

    req.by = SearchBy::kItems;
    auto whole = (*engine)->search_file(dir / "q.wav", req);
    ASSERT_TRUE(whole);
    for (const auto& h : whole->results) EXPECT_FALSE(h.match);
}

}  // namespace
}  // namespace earshot
