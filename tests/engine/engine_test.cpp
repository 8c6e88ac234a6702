// Whole-file embeddings through the engine (decode -> trim -> model -> pooling): robustness to
// leading silence, determinism, thread-count independence; and Engine search on a tiny library.
#include "engine/engine.h"

#include <cmath>

#include <gtest/gtest.h>

#include "audio/decoder.h"
#include "core/safetensors.h"
#include "models/model_registry.h"
#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        ab += double(a[i]) * b[i];
        aa += double(a[i]) * a[i];
        bb += double(b[i]) * b[i];
    }
    return ab / std::sqrt(aa * bb);
}

// Writes `src` decoded at 44.1 kHz as a 16-bit WAV, optionally with leading silence.
fs::path make_wav(const fs::path& src, const fs::path& out, double leading_silence_s) {
    DecodeOptions opts;
    opts.target_sample_rate_hz = 44100;
    auto audio = decode_audio(src, opts);
    EXPECT_TRUE(audio) << audio.error().to_string();
    std::vector<float> x(static_cast<std::size_t>(leading_silence_s * 44100), 0.0f);
    x.insert(x.end(), audio->samples.begin(), audio->samples.end());
    testing::write_wav16(out, x, 44100);
    return out;
}

class EngineEmbedTest : public ::testing::TestWithParam<const char*> {};

TEST_P(EngineEmbedTest, LeadingSilenceKeepsCosineAbove099) {
    EARSHOT_REQUIRE_SHARED();
    testing::TempDir dir;
    const fs::path sources[] = {
        testing::datasets_dir() / "gm_fluidr3" / "03_guitar" /
            "p024_acoustic_guitar_nylon_n062_D4_v112.flac",
        testing::datasets_dir() / "hedgewars_voices" / "voices" / "British" / "Amazing.ogg",
    };
    for (const auto& src : sources) {
        auto plain = make_wav(src, dir / "plain.wav", 0.0);
        auto padded = make_wav(src, dir / "padded.wav", 1.5);
        EmbedOptions eo;
        eo.model = GetParam();
        auto a = embed_file(plain, eo);
        auto b = embed_file(padded, eo);
        ASSERT_TRUE(a) << a.error().to_string();
        ASSERT_TRUE(b) << b.error().to_string();
        EXPECT_GE(cosine(a->embedding, b->embedding), 0.99) << GetParam() << " " << src;
        // Segment times refer to the original file: the padded file's start 1.5 s later.
        EXPECT_NEAR(b->segments.start_s.front() - a->segments.start_s.front(), 1.5, 1e-3);
    }
}

// `embed --no-trim` on the models' own reference clips gives the reference segment vectors
// (MODELS.md §3.2: per-row cosine >= 0.9999). With trimming, YAMNet's speech clip (12 ms below
// -60 dBFS) is shifted and its segments fall to cosine 0.79-0.84.
TEST(EngineEmbedParityTest, SegmentsMatchReferenceOnEveryClip) {
    EARSHOT_REQUIRE_SHARED();
    const std::pair<const char*, const char*> models[] = {
        {"yamnet", "yamnet"}, {"mn04", "mn04_as"}, {"musicnn-msd", "msd_musicnn"}};
    for (const auto& [model, folder] : models) {
        const auto dir = testing::models_dir() / folder / "reference";
        auto ref = load_safetensors(dir / "reference.safetensors");
        ASSERT_TRUE(ref) << ref.error().to_string();
        for (const char* clip : {"silence", "sine1k", "noise", "speech", "music"}) {
            SCOPED_TRACE(std::string(model) + " " + clip);
            EmbedOptions eo;
            eo.model = model;
            eo.trim_leading_silence = false;
            auto e = embed_file(dir / "clips" / (std::string(clip) + ".wav"), eo);
            ASSERT_TRUE(e) << e.error().to_string();
            auto t = ref->get(std::string(clip) + ".embeddings");
            ASSERT_TRUE(t) << t.error().to_string();
            const auto& shape = (*t)->shape;
            ASSERT_EQ(shape.size(), 2u);
            ASSERT_EQ(static_cast<std::size_t>(shape[0]), e->segments.segments.n_rows);
            ASSERT_EQ(static_cast<std::size_t>(shape[1]), e->segments.segments.n_cols);
            const auto d = static_cast<std::size_t>(shape[1]);
            for (std::size_t i = 0; i < e->segments.segments.n_rows; ++i) {
                std::vector<float> got(e->segments.segments.row_span(i).begin(),
                                       e->segments.segments.row_span(i).end());
                std::vector<float> want(
                    (*t)->data.begin() + static_cast<std::ptrdiff_t>(i * d),
                    (*t)->data.begin() + static_cast<std::ptrdiff_t>((i + 1) * d));
                double norm = 0;
                for (float v : want) norm += double(v) * v;
                if (norm == 0.0)
                    continue;  // an all-zero reference row (post-ReLU silence) has no direction
                EXPECT_GE(cosine(got, want), 0.9999) << "segment " << i;
            }
        }
    }
}

TEST_P(EngineEmbedTest, DeterministicAndThreadCountIndependent) {
    EARSHOT_REQUIRE_SHARED();
    auto src = testing::datasets_dir() / "game_music" / "wesnoth" / "battle__e0.ogg";
    EmbedOptions eo;
    eo.model = GetParam();
    eo.threads = 1;
    auto a = embed_file(src, eo);
    auto b = embed_file(src, eo);
    eo.threads = 2;
    auto c = embed_file(src, eo);
    ASSERT_TRUE(a && b && c);
    ASSERT_EQ(a->embedding.size(), static_cast<std::size_t>(a->dim));
    EXPECT_EQ(a->embedding, b->embedding) << "same settings must give bit-identical vectors";
    for (std::size_t i = 0; i < a->embedding.size(); ++i) {
        ASSERT_NEAR(a->embedding[i], c->embedding[i], 1e-5) << GetParam() << " dim " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(EveryModel,
                         EngineEmbedTest,
                         ::testing::Values("yamnet", "mn04", "musicnn-msd", "musicnn-mtt", "mfcc"),
                         [](const auto& param_info) {
                             std::string s = param_info.param;
                             for (auto& ch : s) {
                                 if (ch == '-')
                                     ch = '_';
                             }
                             return s;
                         });

TEST(EngineTest, SearchLeavesQueryOutAndFiltersByDuration) {
    EARSHOT_REQUIRE_SHARED();
    testing::TempDir dir;
    // A tiny library: three sines and two noises of different lengths.
    testing::write_wav16(dir / "sine_a.wav", testing::make_sine(440, 1.0, 16000), 16000);
    testing::write_wav16(dir / "sine_b.wav", testing::make_sine(450, 2.0, 16000), 16000);
    testing::write_wav16(dir / "sine_c.wav", testing::make_sine(460, 3.0, 16000), 16000);
    testing::write_wav16(dir / "noise_a.wav", testing::make_noise(1.0, 16000, 0.2f, 1), 16000);
    testing::write_wav16(dir / "noise_b.wav", testing::make_noise(2.5, 16000, 0.2f, 2), 16000);
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine) << engine.error().to_string();
    IndexOptions io;
    io.paths = {dir.path()};
    auto report = (*engine)->index(io);
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_EQ(report->counts.added, 5u);

    SearchRequest req;
    req.k = 10;
    auto r = (*engine)->search_file(dir / "sine_a.wav", req);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(r->results.size(), 4u);  // the query itself is left out
    for (const auto& h : r->results) EXPECT_NE(h.name, "sine_a.wav");
    EXPECT_EQ(r->results[0].name.substr(0, 4), "sine") << "nearest to a sine is a sine";

    req.min_duration_s = 1.9;
    req.max_duration_s = 2.6;
    auto f = (*engine)->search_file(dir / "sine_a.wav", req);
    ASSERT_TRUE(f);
    ASSERT_EQ(f->results.size(), 2u);
    for (const auto& h : f->results) {
        EXPECT_GE(h.duration_s, 1.9);
        EXPECT_LE(h.duration_s, 2.6);
    }

    // Search by id uses the stored vector and leaves the item out.
    auto by_id = (*engine)->search_id(r->results[0].id, SearchRequest{});
    ASSERT_TRUE(by_id) << by_id.error().to_string();
    for (const auto& h : by_id->results) EXPECT_NE(h.id, r->results[0].id);

    auto missing = (*engine)->search_id(9999, SearchRequest{});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace earshot

namespace earshot {
namespace {

TEST(EngineTest, EmbedSamplesAtTheModelRateEqualsTheFile) {
    EARSHOT_REQUIRE_SHARED();
    auto src = testing::datasets_dir() / "gm_fluidr3" / "03_guitar" /
               "p024_acoustic_guitar_nylon_n062_D4_v112.flac";
    EmbedOptions eo;
    eo.model = "mn04";
    auto from_file = embed_file(src, eo);
    ASSERT_TRUE(from_file) << from_file.error().to_string();
    ModelOptions mo;
    auto model = make_model("mn04", mo);
    ASSERT_TRUE(model);
    const int rate = (*model)->info().sample_rate_hz;
    DecodeOptions d;
    d.target_sample_rate_hz = rate;
    auto audio = decode_audio(src, d);
    ASSERT_TRUE(audio);
    auto same = embed_samples(audio->samples, rate, **model, 10);
    ASSERT_TRUE(same) << same.error().to_string();
    EXPECT_EQ(same->embedding, from_file->embedding);
    EXPECT_EQ(same->info.sample_rate_hz, rate);
    // Another rate is resampled: the vector barely moves.
    d.target_sample_rate_hz = 44100;
    auto at44 = decode_audio(src, d);
    ASSERT_TRUE(at44);
    auto resampled = embed_samples(at44->samples, 44100, **model, 10);
    ASSERT_TRUE(resampled);
    EXPECT_GT(cosine(resampled->embedding, from_file->embedding), 0.995);
    // Bad input.
    EXPECT_EQ(embed_samples(at44->samples, 10, **model, 10).error().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(embed_samples({}, 44100, **model, 10).error().code(), ErrorCode::kInvalidArgument);
    std::vector<float> nan_samples(1000, 0.0f);
    nan_samples[10] = std::nanf("");
    EXPECT_EQ(embed_samples(nan_samples, 16000, **model, 10).error().code(),
              ErrorCode::kInvalidArgument);
}

TEST(EngineTest, ShouldStopEndsIndexKeepingFinishedFiles) {
    EARSHOT_REQUIRE_SHARED();
    testing::TempDir dir;
    for (int i = 0; i < 20; ++i) {
        testing::write_wav16(dir / ("sine_" + std::to_string(i) + ".wav"),
                             testing::make_sine(300.0 + 20 * i, 2.0, 16000), 16000);
    }
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.create_if_missing = true;
    eo.threads = 1;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine);
    IndexOptions io;
    io.paths = {dir.path()};
    io.model = "mn04";  // ~50 ms a file: the 100 ms polling stops it well before the end
    std::size_t done = 0;
    io.on_progress = [&](const IndexProgress& p) { done = p.done; };
    io.should_stop = [&] { return done >= 1; };
    auto report = (*engine)->index(io);
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_TRUE(report->cancelled);
    EXPECT_GE(report->counts.added, 1u);
    EXPECT_LT(report->counts.added, 20u);
    auto stored = (*engine)->catalog().count_items();
    ASSERT_TRUE(stored);
    EXPECT_EQ(static_cast<std::size_t>(*stored), report->counts.added);
    io.should_stop = nullptr;
    auto rest = (*engine)->index(io);
    ASSERT_TRUE(rest);
    EXPECT_FALSE(rest->cancelled);
    EXPECT_EQ(rest->counts.unchanged + rest->counts.added, 20u);
    EXPECT_EQ(rest->counts.unchanged, report->counts.added);
}

}  // namespace
}  // namespace earshot
