// #15: a space remembers the weights it was embedded with (catalog meta "model_digest:<space>");
// when the model's weights change, `index` embeds the space's items again, also those outside
// the paths given, and keeps trying until none is left with vectors of the old weights.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "synthetic_items.h"
#include "test_support.h"
#include "tiny_torchscript.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

struct Library {
    TempDir dir;
    fs::path audio = dir / "audio";
    fs::path model_dir = dir / "model";
    fs::path pt;
    std::unique_ptr<Engine> engine;

    Library() {
        fs::create_directories(audio / "a");
        fs::create_directories(audio / "b");
        for (int i = 0; i < 3; ++i) {
            testing::write_wav16(
                audio / (i < 2 ? "a" : "b") / ("tone" + std::to_string(i) + ".wav"),
                testing::make_sine(220.0 * (i + 1), 1.0, 16000), 16000);
        }
        retrain(1234);
    }

    // Writes the model with weights from this seed (the same name: a model trained again) and
    // opens the catalog with a new engine, as the next `earshot` command would.
    void retrain(std::uint64_t seed) {
        engine.reset();
        pt = testing::write_tiny_torchscript(model_dir, seed);
        EngineOptions eo;
        eo.db_path = dir / "lib.earshot";
        eo.create_if_missing = true;
        eo.threads = 1;
        auto e = Engine::open(eo);
        EXPECT_TRUE(e) << e.error().to_string();
        engine = std::move(*e);
    }

    IndexReport index(const fs::path& path) {
        IndexOptions o;
        o.paths = {path};
        o.model = "torchscript:" + pt.string();
        auto r = engine->index(o);
        EXPECT_TRUE(r) << r.error().to_string();
        return r ? *r : IndexReport{};
    }
    std::string digest() {
        auto d = engine->catalog().get_meta("model_digest:tiny-random-1");
        EXPECT_TRUE(d);
        return d ? *d : "?";
    }
    std::vector<float> vector_of(const std::string& name) {
        auto key = engine->find_item((audio / name).string());
        EXPECT_TRUE(key) << name;
        auto v = key ? engine->catalog().get_embedding(*key, "tiny-random-1")
                     : Result<std::vector<float>>(make_error(ErrorCode::kNotFound, name));
        EXPECT_TRUE(v) << name;
        return v ? *v : std::vector<float>();
    }
};

TEST(ModelWeightsTest, ChangedWeightsReEmbedTheWholeSpaceOnce) {
    Library lib;
    auto first = lib.index(lib.audio);
    EXPECT_EQ(first.counts.added, 3u);
    const std::string d1 = lib.digest();
    EXPECT_EQ(d1.size(), 16u);
    const auto v_before = lib.vector_of("b/tone2.wav");
    EXPECT_EQ(lib.index(lib.audio).counts.unchanged, 3u);  // same weights: nothing to do

    // Trained again: same name, other weights. Indexing one folder embeds all three items.
    lib.retrain(99);
    auto again = lib.index(lib.audio / "a");
    EXPECT_EQ(again.counts.added, 3u);
    EXPECT_EQ(again.counts.unchanged, 0u);
    EXPECT_TRUE(again.failures.empty());
    const std::string d2 = lib.digest();
    EXPECT_NE(d2, d1);
    EXPECT_NE(lib.vector_of("b/tone2.wav"), v_before);     // outside the path given, re-embedded
    EXPECT_EQ(lib.index(lib.audio).counts.unchanged, 3u);  // and only once
}

TEST(ModelWeightsTest, AnItemThatCannotBeReEmbeddedKeepsTheOldDigestUntilRemoved) {
    Library lib;
    lib.index(lib.audio);
    const std::string d1 = lib.digest();
    fs::remove(lib.audio / "b" / "tone2.wav");
    lib.retrain(7);

    auto r = lib.index(lib.audio / "a");
    EXPECT_EQ(r.counts.added, 2u);
    ASSERT_EQ(r.failures.size(), 1u);
    EXPECT_NE(r.failures[0].path.find("tone2.wav"), std::string::npos);
    EXPECT_EQ(lib.digest(), d1);  // one item still holds a vector of the old weights
    // The next run takes the whole space again (the digest is still the old one) and reports
    // the missing file again.
    auto retry = lib.index(lib.audio / "a");
    EXPECT_EQ(retry.failures.size(), 1u);
    // Removing the item ends it.
    auto removed = lib.engine->remove_paths({(lib.audio / "b" / "tone2.wav").string()});
    ASSERT_TRUE(removed) << removed.error().to_string();
    EXPECT_EQ(*removed, 1);
    auto last = lib.index(lib.audio / "a");
    EXPECT_TRUE(last.failures.empty());
    EXPECT_NE(lib.digest(), d1);
}

}  // namespace
}  // namespace earshot
