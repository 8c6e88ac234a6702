// The generic "torchscript:PATH" model with a tiny random-weight module that the test writes
// itself (tests/tiny_torchscript.h: card embedded and as sidecar tiny_model.pt.json).
#include "models/torchscript_model.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "features/log_mel.h"
#include "models/torch_util.h"
#include "test_support.h"
#include "tiny_torchscript.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;

// Written once per test process into a temporary folder.
const fs::path& tiny_model() {
    static testing::TempDir dir;
    static const fs::path pt = testing::write_tiny_torchscript(dir.path());
    return pt;
}
constexpr int kRate = 16000;

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::unique_ptr<EmbeddingModel> load_tiny() {
    auto m = make_torchscript_model(tiny_model(), ModelOptions{});
    EXPECT_TRUE(m) << m.error().to_string();
    return m ? std::move(*m) : nullptr;
}

TEST(TorchScriptModelTest, LoadsTheEmbeddedCard) {
    auto m = load_tiny();
    ASSERT_TRUE(m);
    const ModelInfo& info = m->info();
    EXPECT_EQ(info.name, "tiny-random-1");
    EXPECT_EQ(info.dim, 8);
    EXPECT_EQ(info.sample_rate_hz, 16000);
    EXPECT_EQ(info.license, "MIT");
    EXPECT_DOUBLE_EQ(info.segment_s, 0.48);
    EXPECT_DOUBLE_EQ(info.segment_hop_s, 0.24);
    EXPECT_EQ(info.weights_path, tiny_model());
}

TEST(TorchScriptModelTest, EmbedGivesOneRowPerPatch) {
    auto m = load_tiny();
    ASSERT_TRUE(m);
    // 2 s at hop 160 with 400-sample frames: T = 1 + (32000 - 400) / 160 = 198 frames;
    // patches of 48 hop 24: 1 + ceil((198 - 48) / 24) = 8, the last one padded.
    auto audio = testing::make_sine(440.0, 2.0, kRate);
    auto e = m->embed(audio);
    ASSERT_TRUE(e) << e.error().to_string();
    ASSERT_EQ(e->segments.n_rows, 8u);
    EXPECT_EQ(e->segments.n_cols, 8u);
    EXPECT_TRUE(e->scores.empty());
    for (std::size_t i = 0; i < 8; ++i) {
        EXPECT_NEAR(e->start_s[i], 0.24 * static_cast<double>(i), 1e-9);
        EXPECT_NEAR(e->end_s[i], 0.24 * static_cast<double>(i) + 0.48, 1e-9);
    }
    for (float v : e->segments.data) ASSERT_TRUE(std::isfinite(v));
}

TEST(TorchScriptModelTest, MatchesTheModuleOnHandMadePatches) {
    // Recompute the first patch independently (front end from the card, [1,1,48,32] time x mel)
    // and run the raw module: embed() must give the same row.
    auto m = load_tiny();
    ASSERT_TRUE(m);
    auto audio = testing::make_noise(1.0, kRate, 0.1f, 3);
    auto e = m->embed(audio);
    ASSERT_TRUE(e) << e.error().to_string();

    auto card = parse_torchscript_card(read_file(tiny_model().string() + ".json"));
    ASSERT_TRUE(card) << card.error().to_string();
    auto frontend = LogMelFrontend::make(card->frontend);
    ASSERT_TRUE(frontend);
    auto logmel = (*frontend)->compute(audio);
    ASSERT_TRUE(logmel);
    ASSERT_GE(logmel->n_rows, 48u);
    auto module = torch::jit::load(tiny_model().string());
    module.eval();
    torch::NoGradGuard no_grad;
    auto x = detail::from_matrix(*logmel).narrow(0, 0, 48).unsqueeze(0).unsqueeze(0);
    auto y = module.forward({x}).toTensor();
    ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{1, 8}));
    for (std::int64_t j = 0; j < 8; ++j) {
        EXPECT_NEAR(e->segments.at(0, static_cast<std::size_t>(j)), y[0][j].item<float>(), 1e-6);
    }
}

TEST(TorchScriptModelTest, ShortAndEmptyInputGiveOnePatch) {
    auto m = load_tiny();
    ASSERT_TRUE(m);
    for (std::size_t n : {0u, 10u, 400u, 8000u}) {
        std::vector<float> audio(n, 0.05f);
        auto e = m->embed(audio);
        ASSERT_TRUE(e) << n << ": " << e.error().to_string();
        EXPECT_EQ(e->segments.n_rows, 1u) << n;
        for (float v : e->segments.data) ASSERT_TRUE(std::isfinite(v));
    }
}

TEST(TorchScriptModelTest, EmbedIsDeterministic) {
    auto m = load_tiny();
    ASSERT_TRUE(m);
    auto audio = testing::make_noise(3.0, kRate, 0.2f, 8);
    auto a = m->embed(audio);
    auto b = m->embed(audio);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->segments.data, b->segments.data);
}

TEST(TorchScriptModelTest, ReadsASidecarCardWhenTheArchiveHasNone) {
    testing::TempDir dir;
    const fs::path pt = dir / "bare.pt";
    torch::jit::load(tiny_model().string()).save(pt.string());  // no extra files
    auto missing = make_torchscript_model(pt, {});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(missing.error().message().find("model_card.json"), std::string::npos);

    std::string card = read_file(tiny_model().string() + ".json");
    auto pos = card.find("tiny-random-1");
    ASSERT_NE(pos, std::string::npos);
    card.replace(pos, 13, "tiny-sidecar");
    std::ofstream(pt.string() + ".json") << card;
    auto m = make_torchscript_model(pt, {});
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ((*m)->info().name, "tiny-sidecar");
    auto e = (*m)->embed(testing::make_sine(300.0, 1.0, kRate));
    ASSERT_TRUE(e);
}

TEST(TorchScriptModelTest, MissingOrBrokenFilesAreErrors) {
    auto missing = make_torchscript_model("tests/data/no_such_model.pt", {});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

    testing::TempDir dir;
    std::ofstream(dir / "junk.pt") << "not a zip archive";
    auto junk = make_torchscript_model(dir / "junk.pt", {});
    ASSERT_FALSE(junk);
    EXPECT_EQ(junk.error().code(), ErrorCode::kCorruption);
}

TEST(TorchScriptModelTest, CardParsingRejectsBadFields) {
    const std::string good = read_file(tiny_model().string() + ".json");
    auto ok = parse_torchscript_card(good);
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_EQ(ok->frontend.mel.n_mels, 32);
    EXPECT_EQ(ok->frontend.stft.window_length, 400);
    EXPECT_EQ(ok->frontend.stft.placement, WindowPlacement::kStart);
    EXPECT_EQ(ok->input_layout, InputLayout::kTimeMel);
    EXPECT_EQ(ok->patch_hop_frames, 24);

    auto expect_invalid = [](const std::string& json, const std::string& mentions) {
        auto r = parse_torchscript_card(json);
        ASSERT_FALSE(r) << json;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message().find(mentions), std::string::npos) << r.error().message();
    };
    expect_invalid("[1, 2]", "not a JSON object");
    expect_invalid(R"({"name":"x","sample_rate_hz":16000,"frontend":{},"patch_frames":4})", "dim");
    expect_invalid(
        R"({"name":"x","dim":4,"sample_rate_hz":16000,"frontend":{},"patch_frames":4,
            "input_layout":"NHWC"})",
        "NCHW_time_mel");
    expect_invalid(
        R"({"name":"x","dim":4,"sample_rate_hz":16000,"patch_frames":4,
            "frontend":{"stft":{"window":"kaiser"}}})",
        "hann_periodic");
    expect_invalid(
        R"({"name":"x","dim":4,"sample_rate_hz":16000,"patch_frames":4,
            "frontend":{"sample_rate_hz":32000}})",
        "frontend.sample_rate_hz");
    // Minimal card: defaults fill the rest, the front end takes the top-level rate.
    auto minimal = parse_torchscript_card(
        R"({"name":"x","dim":4,"sample_rate_hz":22050,"frontend":{},"patch_frames":4})");
    ASSERT_TRUE(minimal) << minimal.error().to_string();
    EXPECT_EQ(minimal->frontend.sample_rate_hz, 22050);
    EXPECT_EQ(minimal->patch_hop_frames, 4);
}

}  // namespace
}  // namespace earshot
