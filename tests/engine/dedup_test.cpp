// Same recording across a catalog (engine/dedup.h, fingerprints stored by index): generated
// tunes and notes encoded by real encoders are grouped with the right offsets and distinct items
// are not; search marks same_recording; reindex --fingerprints fills a catalog that has none; and
// on ../shared audio (game_music excerpts, gm_fluidr3 notes) transformed copies are grouped while
// other notes of the same preset are not. The mfcc model keeps it fast (no weights).
#include "engine/dedup.h"

#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "../audio/encode_fixture.h"
#include "../fingerprint/synth.h"
#include "audio/decoder.h"
#include "test_support.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int kRate = 44100;

using testing::fixture_spec;

// Writes x (mono, rate_in) per spec with gain and the first trim_s seconds dropped.
void write_copy(const fs::path& path,
                const std::vector<float>& x,
                int rate_in,
                const testing::FixtureSpec& s,
                double gain_db = 0.0,
                double trim_s = 0.0) {
    auto st = testing::write_transformed_copy(path, x, rate_in, s, gain_db, trim_s);
    ASSERT_TRUE(st) << path << ": " << st.error().to_string();
}

std::unique_ptr<Engine> open_engine(const TempDir& dir) {
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.create_if_missing = true;
    eo.threads = 2;
    auto engine = Engine::open(eo);
    EXPECT_TRUE(engine) << engine.error().to_string();
    return std::move(*engine);
}

void index_folder(Engine& engine, const fs::path& folder) {
    IndexOptions io;
    io.paths = {folder};
    io.model = "mfcc";
    auto r = engine.index(io);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(r->counts.failed, 0u)
        << r->failures.front().path << ": " << r->failures.front().reason;
}

// name -> (group number, offset) from a report; group 0 = not grouped.
std::map<std::string, std::pair<std::size_t, double>> membership(const DedupReport& r) {
    std::map<std::string, std::pair<std::size_t, double>> out;
    for (std::size_t g = 0; g < r.groups.size(); ++g) {
        for (const auto& m : r.groups[g].members) out[m.name] = {g + 1, m.offset_s};
    }
    return out;
}

TEST(DedupTest, GroupsGeneratedCopiesWithOffsetsAndLeavesDistinctItemsAlone) {
    TempDir dir;
    const fs::path lib = dir / "audio";
    fs::create_directories(lib);
    const auto tune = testing::make_tune(11, 20.0, kRate);
    write_copy(lib / "tune.flac", tune, kRate, fixture_spec("flac", "flac", 44100, 1));
    write_copy(lib / "tune_64k_trim2.mp3", tune, kRate,
               fixture_spec("mp3", "libmp3lame", 44100, 2, 64000), 0.0, 2.0);
    write_copy(lib / "tune_quiet.opus", tune, kRate,
               fixture_spec("opus", "libopus", 48000, 2, 48000), -6.0);
    write_copy(lib / "tune_22k.wav", tune, kRate, fixture_spec("wav", "pcm_s16le", 22050, 1), 0.0,
               0.5);
    for (std::uint32_t seed : {12u, 13u}) {
        write_copy(lib / ("other" + std::to_string(seed) + ".flac"),
                   testing::make_tune(seed, 20.0, kRate), kRate,
                   fixture_spec("flac", "flac", 44100, 1));
    }
    const auto note = testing::make_note(261.6, 1.5, kRate);
    write_copy(lib / "note.wav", note, kRate, fixture_spec("wav", "pcm_s16le", 44100, 1));
    write_copy(lib / "note.mp3", note, kRate, fixture_spec("mp3", "libmp3lame", 44100, 1, 128000),
               -6.0);
    write_copy(lib / "note_up.wav", testing::make_note(277.2, 1.5, kRate), kRate,
               fixture_spec("wav", "pcm_s16le", 44100, 1));
    write_copy(lib / "note_fifth.wav", testing::make_note(392.0, 1.5, kRate), kRate,
               fixture_spec("wav", "pcm_s16le", 44100, 1));

    auto engine = open_engine(dir);
    index_folder(*engine, lib);
    DedupOptions options;
    options.space = "mfcc";
    auto r = find_duplicates(*engine, options);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->items, 10u);
    EXPECT_EQ(r->unfingerprinted, 0u);
    auto m = membership(*r);
    ASSERT_EQ(r->groups.size(), 2u);
    const std::size_t g = m["tune.flac"].first;
    ASSERT_NE(g, 0u);
    EXPECT_EQ(m["tune_64k_trim2.mp3"].first, g);
    EXPECT_EQ(m["tune_quiet.opus"].first, g);
    EXPECT_EQ(m["tune_22k.wav"].first, g);
    // Offsets are relative to the group's reference (its longest member; ties: lowest id).
    EXPECT_DOUBLE_EQ(r->groups[0].members.front().offset_s, 0.0);
    EXPECT_NE(r->groups[g - 1].members.front().name, "tune_64k_trim2.mp3");
    const double at = m["tune.flac"].second;
    EXPECT_NEAR(m["tune_64k_trim2.mp3"].second - at, 2.0, 0.15);
    EXPECT_NEAR(m["tune_quiet.opus"].second - at, 0.0, 0.15);
    EXPECT_NEAR(m["tune_22k.wav"].second - at, 0.5, 0.15);
    EXPECT_EQ(m.count("other12.flac"), 0u);
    EXPECT_EQ(m.count("other13.flac"), 0u);
    ASSERT_NE(m["note.wav"].first, 0u);
    EXPECT_NE(m["note.wav"].first, g);
    EXPECT_EQ(m["note.mp3"].first, m["note.wav"].first);
    EXPECT_EQ(m.count("note_up.wav"), 0u);
    EXPECT_EQ(m.count("note_fifth.wav"), 0u);

    // Search marks the copies of the query, and only them.
    SearchRequest req;
    req.model = "mfcc";
    req.k = 9;
    auto resp = engine->search_file(lib / "tune_quiet.opus", req);
    ASSERT_TRUE(resp) << resp.error().to_string();
    std::size_t marked = 0;
    for (const auto& res : resp->results) {
        const bool copy = res.name.rfind("tune", 0) == 0;
        EXPECT_EQ(res.same_recording, copy) << res.name;
        marked += res.same_recording;
        if (res.name == "tune_64k_trim2.mp3") {
            EXPECT_NEAR(res.same_recording_offset_s, -2.0, 0.15);  // the query starts 2 s earlier
        }
    }
    EXPECT_EQ(marked, 3u);
    // With another metric the cosine distance comes from the stored vectors: the same marks.
    SearchRequest euclidean = req;
    euclidean.metric = Metric::kEuclidean;
    auto resp_l2 = engine->search_file(lib / "tune_quiet.opus", euclidean);
    ASSERT_TRUE(resp_l2) << resp_l2.error().to_string();
    std::size_t marked_l2 = 0;
    for (const auto& res : resp_l2->results) {
        EXPECT_EQ(res.same_recording, res.name.rfind("tune", 0) == 0) << res.name;
        marked_l2 += res.same_recording;
    }
    EXPECT_EQ(marked_l2, 3u);
    const auto note_id = engine->find_item((lib / "note.wav").string());
    ASSERT_TRUE(note_id);
    auto by_id = engine->search_id(*note_id, req);
    ASSERT_TRUE(by_id);
    for (const auto& res : by_id->results)
        EXPECT_EQ(res.same_recording, res.name == "note.mp3") << res.name;
}

TEST(DedupTest, ReindexFingerprintsFillsACatalogWithoutThem) {
    TempDir dir;
    const fs::path lib = dir / "audio";
    fs::create_directories(lib);
    const auto tune = testing::make_tune(21, 12.0, kRate);
    write_copy(lib / "a.flac", tune, kRate, fixture_spec("flac", "flac", 44100, 1));
    write_copy(lib / "b.ogg", tune, kRate, fixture_spec("ogg", "libvorbis", 32000, 2), 3.0, 1.0);
    auto engine = open_engine(dir);
    index_folder(*engine, lib);
    // As a catalog indexed before fingerprints existed: none stored.
    auto ids = engine->catalog().items_without_fingerprint(kFingerprintVersion + 1);
    ASSERT_TRUE(ids);
    std::vector<FingerprintRecord> stale;
    for (auto id : *ids) stale.push_back({id, kFingerprintVersion + 1, {1}});
    {
        auto writer = Catalog::open(dir / "lib.earshot");
        ASSERT_TRUE(writer) << writer.error().to_string();
        ASSERT_TRUE((*writer)->put_fingerprints(stale));
    }
    DedupOptions options;
    options.space = "mfcc";
    auto before = find_duplicates(*engine, options);
    ASSERT_TRUE(before);
    EXPECT_EQ(before->unfingerprinted, 2u);
    EXPECT_TRUE(before->groups.empty());

    FingerprintFillOptions fo;
    fo.threads = 2;
    auto filled = engine->fill_fingerprints(fo);
    ASSERT_TRUE(filled) << filled.error().to_string();
    EXPECT_EQ(filled->total, 2u);
    EXPECT_EQ(filled->filled, 2u);
    EXPECT_TRUE(filled->failures.empty());
    auto after = find_duplicates(*engine, options);
    ASSERT_TRUE(after);
    ASSERT_EQ(after->groups.size(), 1u);
    ASSERT_EQ(after->groups[0].members.size(), 2u);
    auto m = membership(*after);
    EXPECT_NEAR(m["b.ogg"].second - m["a.flac"].second, 1.0, 0.15);  // b starts 1 s into a
    // Nothing left to do; a file that is gone is reported, not fatal.
    EXPECT_EQ(engine->fill_fingerprints(fo)->total, 0u);
}

// ../shared: two game_music excerpts and three notes of one gm_fluidr3 preset, each with copies
// (MP3 at 64 kb/s + 2 s trimmed, Opus stereo -6 dB, 22.05 kHz WAV +6 dB).
TEST(DedupTest, SharedAudioCopiesAreGroupedAndOtherNotesOfThePresetAreNot) {
    EARSHOT_REQUIRE_SHARED();
    const fs::path data = testing::shared_dir() / "datasets";
    const std::vector<std::string> music = {"game_music/wesnoth/battle__e0.ogg",
                                            "game_music/wesnoth/battle__e1.ogg"};
    const std::vector<std::string> notes = {
        "gm_fluidr3/00_piano/p000_acoustic_grand_piano_n048_C3_v112.flac",
        "gm_fluidr3/00_piano/p000_acoustic_grand_piano_n055_G3_v112.flac",
        "gm_fluidr3/00_piano/p000_acoustic_grand_piano_n062_D4_v112.flac"};
    TempDir dir;
    const fs::path lib = dir / "audio";
    fs::create_directories(lib);
    std::vector<std::string> sources;
    for (const auto& rel : music) sources.push_back(rel);
    for (const auto& rel : notes) sources.push_back(rel);
    for (std::size_t i = 0; i < sources.size(); ++i) {
        DecodeOptions opts;
        opts.target_sample_rate_hz = kRate;
        auto audio = decode_audio(data / sources[i], opts);
        ASSERT_TRUE(audio) << audio.error().to_string();
        const std::string stem = "s" + std::to_string(i);
        const bool is_music = i < music.size();
        fs::copy_file(data / sources[i], lib / (stem + fs::path(sources[i]).extension().string()));
        write_copy(lib / (stem + "_a.mp3"), audio->samples, kRate,
                   fixture_spec("mp3", "libmp3lame", 44100, 1, 64000), 0.0, is_music ? 2.0 : 0.0);
        write_copy(lib / (stem + "_b.opus"), audio->samples, kRate,
                   fixture_spec("opus", "libopus", 48000, 2, 64000), -6.0);
        write_copy(lib / (stem + "_c.wav"), audio->samples, kRate,
                   fixture_spec("wav", "pcm_s16le", 22050, 1), 6.0);
    }
    auto engine = open_engine(dir);
    index_folder(*engine, lib);
    DedupOptions options;
    options.space = "mfcc";
    auto r = find_duplicates(*engine, options);
    ASSERT_TRUE(r) << r.error().to_string();
    auto m = membership(*r);
    EXPECT_EQ(r->groups.size(), sources.size());
    for (std::size_t i = 0; i < sources.size(); ++i) {
        const std::string stem = "s" + std::to_string(i);
        const std::string orig = stem + fs::path(sources[i]).extension().string();
        const std::size_t g = m[orig].first;
        EXPECT_NE(g, 0u) << sources[i];
        for (const char* suffix : {"_a.mp3", "_b.opus", "_c.wav"}) {
            EXPECT_EQ(m[stem + suffix].first, g) << stem + suffix;
        }
        if (i < music.size()) {
            EXPECT_NEAR(m[stem + "_a.mp3"].second - m[orig].second, 2.0, 0.15) << orig;
        }
    }
    for (std::size_t i = 0; i < sources.size(); ++i) {
        for (std::size_t j = i + 1; j < sources.size(); ++j) {
            EXPECT_NE(m["s" + std::to_string(i) + "_c.wav"].first,
                      m["s" + std::to_string(j) + "_c.wav"].first)
                << sources[i] << " and " << sources[j] << " were grouped";
        }
    }
}

}  // namespace
}  // namespace earshot
