// Training data: listening-log pair scores, pairs-file and log parsing, group splits, excerpts,
// and the trained-model card.
#include "train/dataset.h"

#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "models/trained_models.h"
#include "test_support.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& p, const std::string& text) {
    std::ofstream(p) << text;
}

TEST(ListeningLogTest, ArtistPairScoresCountNormaliseAndScale) {
    // listeners: A = {u1, u2, u4}, B = {u1, u3} (u2 has 0 plays of B), C = {u2, u3}.
    std::vector<ListeningRow> log = {{"u1", "A", 5}, {"u1", "B", 3}, {"u2", "A", 1},
                                     {"u2", "B", 0}, {"u2", "C", 2}, {"u3", "B", 4},
                                     {"u3", "C", 1}, {"u4", "A", 2}};
    auto s = artist_pair_scores(log, {"A", "B", "C", "D"});
    // raw: co / sqrt(n_a n_b): AB = 1/sqrt(6), AC = 1/sqrt(6), BC = 1/sqrt(4) = 0.5 (the max).
    const float ab = static_cast<float>((1.0 / std::sqrt(6.0)) / 0.5);
    EXPECT_NEAR(s.at({"A", "B"}), ab, 1e-6);
    EXPECT_NEAR(s.at({"A", "C"}), ab, 1e-6);
    EXPECT_FLOAT_EQ(s.at({"B", "C"}), 1.0f);
    EXPECT_FLOAT_EQ(s.at({"A", "D"}), 0.0f);  // D has no listeners
    EXPECT_EQ(s.size(), 6u);                  // every unordered pair of A..D
    for (const auto& [k, v] : s) {
        EXPECT_LT(k.first, k.second);
        EXPECT_GE(v, 0.0f);
        EXPECT_LE(v, 1.0f);
    }
    // Without an artist list: the log's artists.
    EXPECT_EQ(artist_pair_scores(log).size(), 3u);
}

TEST(ListeningLogTest, ReadsCsvAndTsvWithOptionalHeader) {
    testing::TempDir dir;
    write_text(dir / "log.tsv", "user\tartist\tplays\nu1\tThe Band, Inc\t12\nu2\tX\t3\n");
    auto rows = read_listening_log(dir / "log.tsv");
    ASSERT_TRUE(rows) << rows.error().to_string();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0].artist, "The Band, Inc");
    EXPECT_EQ((*rows)[0].plays, 12.0);
    write_text(dir / "log.csv", "u1,\"A, B\",4\nu2,C,x\n");
    auto bad = read_listening_log(dir / "log.csv");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.error().message().find(":2:"), std::string::npos) << bad.error().message();
    EXPECT_EQ(read_listening_log(dir / "missing.csv").error().code(), ErrorCode::kNotFound);
}

TEST(PairsFileTest, ParsesRowsRelativeToItsFolder) {
    testing::TempDir dir;
    write_text(dir / "pairs.csv",
               "a,b,score\n# comment\n\nx/1.wav,2.wav,0.25\n\"c,d.wav\",e.wav,1\n");
    auto pairs = read_pairs_file(dir / "pairs.csv");
    ASSERT_TRUE(pairs) << pairs.error().to_string();
    ASSERT_EQ(pairs->size(), 2u);
    EXPECT_EQ((*pairs)[0].a, dir.path() / "x/1.wav");
    EXPECT_EQ((*pairs)[0].b, dir.path() / "2.wav");
    EXPECT_FLOAT_EQ((*pairs)[0].score, 0.25f);
    EXPECT_EQ((*pairs)[1].a, dir.path() / "c,d.wav");
}

TEST(PairsFileTest, ErrorsNameTheLine) {
    testing::TempDir dir;
    struct Case {
        const char* text;
        const char* needle;
    };
    for (const auto& c :
         {Case{"a.wav,b.wav\n", ":1: expected 3 fields"},
          Case{"a.wav,b.wav,0.5\na.wav,b.wav,high\n", ":2: score 'high'"},
          Case{"a.wav,b.wav,1.5\n", "outside [0, 1]"}, Case{"a.wav,b.wav,-0.1\n", "outside [0, 1]"},
          Case{",b.wav,0.5\n", "empty path"},
          Case{"a,b,score\n# nothing\n", "no `a,b,score` rows"}}) {
        write_text(dir / "p.csv", c.text);
        auto r = read_pairs_file(dir / "p.csv");
        ASSERT_FALSE(r) << c.text;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << c.text;
        EXPECT_NE(r.error().message().find(c.needle), std::string::npos) << r.error().message();
    }
    EXPECT_EQ(read_pairs_file(dir / "none.csv").error().code(), ErrorCode::kNotFound);
}

TEST(SplitTest, ByGroupIsDeterministicAndKeepsGroupsTogether) {
    std::vector<std::string> groups;
    for (int i = 0; i < 100; ++i) groups.push_back("g" + std::to_string(i % 10));
    auto a = split_by_group(groups, 0.2, 7);
    EXPECT_EQ(a, split_by_group(groups, 0.2, 7));
    int n_val = 0;
    for (std::size_t i = 0; i < groups.size(); ++i) {
        n_val += a[i] ? 1 : 0;
        EXPECT_EQ(a[i], a[i % 10]) << "group split apart";
    }
    EXPECT_EQ(n_val, 20);
    EXPECT_NE(a, split_by_group(groups, 0.2, 8));
    auto none = split_by_group(groups, 0.0, 7);
    EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
}

TEST(ExcerptTest, StartMiddleAndEnergyPickTheirWindow) {
    ExcerptImageConfig c;
    c.excerpt_s = 0.5;
    c.n_frames = 16;
    c.frontend = make_excerpt_frontend(c.excerpt_s, c.n_frames, 32);
    // 2 s: silence, a loud burst in [1.2 s, 1.7 s), silence.
    std::vector<float> audio(32000, 0.0f);
    auto burst = testing::make_sine(1000.0, 0.5, 16000, 0.8f);
    std::copy(burst.begin(), burst.end(), audio.begin() + 19200);
    for (auto [kind, expected] : {std::pair{ExcerptKind::kStart, std::size_t{0}},
                                  std::pair{ExcerptKind::kMiddle, std::size_t{12000}},
                                  std::pair{ExcerptKind::kEnergy, std::size_t{19200}}}) {
        c.excerpt = kind;
        auto imager = ExcerptImager::make(c);
        ASSERT_TRUE(imager) << imager.error().to_string();
        std::size_t start = 99;
        auto img = (*imager)->compute(audio, &start);
        ASSERT_TRUE(img);
        EXPECT_EQ(start, expected) << excerpt_kind_name(kind);
        EXPECT_EQ(img->n_rows, 16u);
        EXPECT_EQ(img->n_cols, 32u);
    }
    // Shorter than the excerpt: zero-padded, still a full image.
    auto imager = ExcerptImager::make(c);
    auto img = (*imager)->compute(std::span<const float>(audio.data(), 100));
    ASSERT_TRUE(img);
    EXPECT_EQ(img->n_rows, 16u);
}

TEST(TrainedCardTest, JsonRoundTripAndErrors) {
    TrainedModelCard c;
    c.kind = "ae";
    c.name = "ae-test-01234567";
    c.dim = 8;
    c.channels = 4;
    c.input.excerpt = ExcerptKind::kEnergy;
    c.input.excerpt_s = 1.5;
    c.input.n_frames = 32;
    c.input.frontend = make_excerpt_frontend(1.5, 32, 40);
    c.input.mean = -3.25f;
    c.input.std = 1.5f;
    c.training_json = R"({"seed":1})";
    auto back = parse_trained_card(trained_card_to_json(c), "test");
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(back->name, c.name);
    EXPECT_EQ(back->input.excerpt, ExcerptKind::kEnergy);
    EXPECT_EQ(back->input.frontend.stft.hop_length, c.input.frontend.stft.hop_length);
    EXPECT_EQ(back->input.frontend.mel.n_mels, 40);
    EXPECT_EQ(back->input.mean, c.input.mean);
    EXPECT_EQ(back->training_json, R"({"seed":1})");
    EXPECT_EQ(parse_trained_card("{}", "x").error().code(), ErrorCode::kCorruption);
    EXPECT_EQ(parse_trained_card("nope", "x").error().code(), ErrorCode::kCorruption);
    testing::TempDir dir;
    EXPECT_EQ(read_trained_card(dir / "missing.st").error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace earshot
