// Tags (#16): stored at index time from the model's classifier head, filters applied inside the
// search (not after top-k), reindex --tags, and the silent-query refusal.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "synthetic_items.h"
#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;

bool same_tags(const std::vector<TagScore>& a, const std::vector<TagScore>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.tag == y.tag && x.score == y.score;
    });
}

std::vector<float> scaled(std::vector<float> x, float gain) {
    for (float& v : x) v *= gain;
    return x;
}

class EngineTagsTest : public ::testing::Test {
protected:
    void SetUp() override {
        EARSHOT_REQUIRE_SHARED();
        fs::create_directories(dir_.path() / "tones");
        fs::create_directories(dir_.path() / "noises");
        // Six sines (near each other) and three noises (far from a sine).
        for (int i = 0; i < 6; ++i) {
            testing::write_wav16(dir_.path() / "tones" / ("sine_" + std::to_string(i) + ".wav"),
                                 testing::make_sine(440.0 + 10.0 * i, 1.0 + 0.1 * i, 16000), 16000);
        }
        for (int i = 0; i < 3; ++i) {
            testing::write_wav16(dir_.path() / "noises" / ("noise_" + std::to_string(i) + ".wav"),
                                 testing::make_noise(1.0 + 0.2 * i, 16000, 0.2f, 10 + i), 16000);
        }
        EngineOptions eo;
        eo.db_path = dir_.path() / "lib.earshot";
        eo.create_if_missing = true;
        auto engine = Engine::open(eo);
        ASSERT_TRUE(engine) << engine.error().to_string();
        engine_ = std::move(*engine);
        IndexOptions io;
        io.paths = {dir_.path() / "tones", dir_.path() / "noises"};
        auto report = engine_->index(io);
        ASSERT_TRUE(report) << report.error().to_string();
        ASSERT_EQ(report->counts.added, 9u);
        testing::write_wav16(dir_.path() / "query.wav", testing::make_sine(445, 1.0, 16000), 16000);
    }

    std::int64_t id_of(const std::string& name) {
        auto id = engine_->find_item((dir_.path() / name).string());
        EXPECT_TRUE(id) << id.error().to_string();
        return id ? *id : 0;
    }

    testing::TempDir dir_;
    std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTagsTest, IndexStoresTopClassifierLabelsAsTags) {
    auto& cat = engine_->catalog();
    auto ids = cat.filter_ids({});
    ASSERT_TRUE(ids);
    auto tags = cat.get_tags(*ids);
    ASSERT_TRUE(tags) << tags.error().to_string();
    EXPECT_GE(tags->size(), 6u) << "most items get a tag from the default model's head";
    for (const auto& t : *tags) {
        ASSERT_FALSE(t.tags.empty());
        EXPECT_LE(t.tags.size(), kMaxItemTags);
        for (std::size_t i = 0; i < t.tags.size(); ++i) {
            EXPECT_GE(t.tags[i].score, kMinTagScore);
            if (i > 0) {
                EXPECT_LE(t.tags[i].score, t.tags[i - 1].score);
            }
        }
    }
    // Results carry their tags.
    SearchRequest req;
    req.k = 3;
    auto r = engine_->search_file(dir_.path() / "query.wav", req);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_FALSE(r->results.empty());
    EXPECT_TRUE(same_tags(r->results[0].tags, *cat.tags_of(r->results[0].id)));
}

TEST_F(EngineTagsTest, TagAndFolderFiltersApplyInsideTheSearch) {
    const std::int64_t n0 = id_of("noises/noise_0.wav");
    const std::int64_t n2 = id_of("noises/noise_2.wav");
    ASSERT_TRUE(testing::catalog_writer(dir_.path() / "lib.earshot")
                    ->set_tags({{n0, {{"Rare tag", 0.9f}}}, {n2, {{"rare TAG", 0.5f}}}}));
    for (const std::string index : {"flat", "HNSW32"}) {
        SCOPED_TRACE(index);
        SearchRequest req;
        req.k = 2;
        req.index = index;
        auto plain = engine_->search_file(dir_.path() / "query.wav", req);
        ASSERT_TRUE(plain) << plain.error().to_string();
        ASSERT_EQ(plain->results.size(), 2u);
        for (const auto& h : plain->results)
            EXPECT_EQ(h.name.substr(0, 4), "sine") << "unfiltered top-2 are sines";
        // Filtered after top-k would give nothing; inside the search it gives the k tagged items.
        req.filter.tags = {"rare tag"};
        auto tagged = engine_->search_file(dir_.path() / "query.wav", req);
        ASSERT_TRUE(tagged) << tagged.error().to_string();
        ASSERT_EQ(tagged->results.size(), 2u);
        std::vector<std::int64_t> got = {tagged->results[0].id, tagged->results[1].id};
        std::sort(got.begin(), got.end());
        EXPECT_EQ(got, (std::vector<std::int64_t>{n0, n2}));
        EXPECT_EQ(tagged->results[0].rank, 1);
        ASSERT_FALSE(tagged->results[0].tags.empty());
        // Folder filter, also by id.
        req.filter = {};
        req.filter.folder = (dir_.path() / "noises").string() + "/";
        req.k = 5;
        auto in_folder = engine_->search_file(dir_.path() / "query.wav", req);
        ASSERT_TRUE(in_folder) << in_folder.error().to_string();
        ASSERT_EQ(in_folder->results.size(), 3u);
        for (const auto& h : in_folder->results) EXPECT_EQ(h.name.substr(0, 5), "noise");
        auto by_id = engine_->search_id(n0, req);
        ASSERT_TRUE(by_id) << by_id.error().to_string();
        ASSERT_EQ(by_id->results.size(), 2u);
        // A filter nothing passes: no results, not an error.
        req.filter.tags = {"no such tag"};
        auto none = engine_->search_file(dir_.path() / "query.wav", req);
        ASSERT_TRUE(none) << none.error().to_string();
        EXPECT_TRUE(none->results.empty());
    }
}

TEST_F(EngineTagsTest, FillTagsRestoresIndexTimeTags) {
    auto& cat = engine_->catalog();
    const std::int64_t s0 = id_of("tones/sine_0.wav");
    auto before = cat.tags_of(s0);
    ASSERT_TRUE(before);
    ASSERT_FALSE(before->empty());
    ASSERT_TRUE(testing::catalog_writer(dir_.path() / "lib.earshot")->set_tags({{s0, {}}}));
    auto missing = cat.items_without_tags();
    ASSERT_TRUE(missing);
    EXPECT_NE(std::find(missing->begin(), missing->end(), s0), missing->end());
    std::size_t last_done = 0;
    auto rep =
        engine_->fill_tags("", false, {}, [&](std::size_t done, std::size_t) { last_done = done; });
    ASSERT_TRUE(rep) << rep.error().to_string();
    EXPECT_EQ(rep->total, missing->size());
    EXPECT_EQ(last_done, missing->size());
    EXPECT_EQ(rep->failed, 0u);
    auto after = cat.tags_of(s0);
    ASSERT_TRUE(after);
    ASSERT_EQ(after->size(), before->size());
    for (std::size_t i = 0; i < after->size(); ++i) {
        EXPECT_EQ((*after)[i].tag, (*before)[i].tag);
        EXPECT_NEAR((*after)[i].score, (*before)[i].score, 1e-4);
    }
}

TEST_F(EngineTagsTest, SilentQueryIsRefusedUnlessAllowed) {
    const auto sine = testing::make_sine(445, 1.0, 16000);
    // -60 dBFS peak (a 0.5-amplitude sine scaled by 0.002) and digital silence are refused.
    testing::write_wav16(dir_.path() / "quiet.wav", scaled(sine, 0.002f), 16000);
    testing::write_wav16(dir_.path() / "silent.wav", std::vector<float>(16000, 0.0f), 16000);
    // -40 dBFS is quiet but not silent.
    testing::write_wav16(dir_.path() / "soft.wav", scaled(sine, 0.02f), 16000);
    SearchRequest req;
    for (const char* name : {"quiet.wav", "silent.wav"}) {
        SCOPED_TRACE(name);
        auto r = engine_->search_file(dir_.path() / name, req);
        ASSERT_FALSE(r);
        EXPECT_TRUE(is_silent_query(r.error())) << r.error().to_string();
        EXPECT_NE(r.error().message().find("dBFS"), std::string::npos);
        EXPECT_NE(r.error().message().find("allow"), std::string::npos);
    }
    auto soft = engine_->search_file(dir_.path() / "soft.wav", req);
    EXPECT_TRUE(soft) << soft.error().to_string();
    req.allow_silent = true;
    auto allowed = engine_->search_file(dir_.path() / "silent.wav", req);
    ASSERT_TRUE(allowed) << allowed.error().to_string();
    EXPECT_FALSE(allowed->results.empty());
    // Uploads too.
    std::string bytes;
    {
        std::ifstream in(dir_.path() / "silent.wav", std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::span<const std::uint8_t> span(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                       bytes.size());
    req.allow_silent = false;
    auto up = engine_->search_bytes(span, "silent.wav", req);
    ASSERT_FALSE(up);
    EXPECT_TRUE(is_silent_query(up.error()));
    // Errors that are not about silence are not mistaken for it.
    EXPECT_FALSE(is_silent_query(Error(ErrorCode::kInvalidArgument, "k must be >= 1")));
}

}  // namespace
}  // namespace earshot
