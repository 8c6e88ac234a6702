// Parity of the EfficientAT mn04_as port against ../shared/models/mn04_as/reference (MODELS.md
// §3.2 criteria: shapes identical, allclose(rtol 1e-3, atol 1e-4), per-row cosine >= 0.9999),
// plus the segmenting rule of mn04_model.cpp, determinism and thread-count stability.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/safetensors.h"
#include "features/log_mel.h"
#include "features/presets.h"
#include "models/detail/mn04_net.h"
#include "models/model_factories.h"
#include "models/torch_util.h"
#include "test_support.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-4;
constexpr double kMinCosine = 0.9999;
constexpr int kRate = 32000;

struct ClipRef {
    const char* name;
    std::array<int, 3> top3;  // reference/expected.md
};
constexpr ClipRef kClips[] = {
    {"silence", {500, 504, 137}}, {"sine1k", {481, 501, 393}}, {"noise", {515, 520, 513}},
    {"speech", {0, 7, 5}},        {"music", {137, 158, 163}},
};

fs::path mn04_dir() {
    return testing::models_dir() / "mn04_as";
}

const SafeTensors& weights() {
    static const SafeTensors st = [] {
        auto r = load_safetensors(mn04_dir() / "weights.safetensors");
        EXPECT_TRUE(r) << r.error().to_string();
        return r ? std::move(*r) : SafeTensors{};
    }();
    return st;
}
const SafeTensors& reference() {
    static const SafeTensors st = [] {
        auto r = load_safetensors(mn04_dir() / "reference" / "reference.safetensors");
        EXPECT_TRUE(r) << r.error().to_string();
        return r ? std::move(*r) : SafeTensors{};
    }();
    return st;
}
const detail::Mn04Net& net() {
    static const detail::Mn04Net n = [] {
        auto r = detail::Mn04Net::load(weights());
        if (!r) {
            ADD_FAILURE() << r.error().to_string();
            std::abort();
        }
        return std::move(*r);
    }();
    return n;
}
const EmbeddingModel& model() {
    static const std::unique_ptr<EmbeddingModel> m = [] {
        auto r = make_mn04_model(mn04_dir(), ModelOptions{.models_dir = {}, .threads = 2});
        if (!r) {
            ADD_FAILURE() << r.error().to_string();
            std::abort();
        }
        return std::move(*r);
    }();
    return *m;
}

torch::Tensor ref_tensor(const std::string& name) {
    auto t = detail::load_tensor(reference(), name);
    EXPECT_TRUE(t) << name << ": " << t.error().to_string();
    return t ? *t : torch::Tensor();
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>();
}

// Shapes, allclose and (for embeddings) per-row cosine; returns max |Δ|.
double expect_close(const torch::Tensor& out,
                    const torch::Tensor& ref,
                    const std::string& what,
                    bool check_cosine = false) {
    EXPECT_EQ(out.sizes(), ref.sizes()) << what;
    if (out.sizes() != ref.sizes())
        return INFINITY;
    EXPECT_TRUE(torch::allclose(out, ref, kRtol, kAtol))
        << what << ": max |diff| = " << max_abs_diff(out, ref);
    if (check_cosine) {
        auto cos = torch::cosine_similarity(out.flatten(1), ref.flatten(1), 1);
        EXPECT_GE(cos.min().item<double>(), kMinCosine) << what;
    }
    return max_abs_diff(out, ref);
}

torch::Tensor matrix_to_tensor(const Matrix& m) {
    return detail::from_matrix(m);
}

std::vector<float> read_clip(const std::string& clip) {
    int rate = 0;
    auto x = testing::read_wav16(mn04_dir() / "reference" / "clips" / (clip + ".wav"), &rate);
    EXPECT_EQ(rate, kRate) << clip;
    return x;
}

TEST(Mn04ModelTest, NetworkMatchesReferenceOnEveryClip) {
    EARSHOT_REQUIRE_SHARED();
    c10::InferenceMode guard;
    for (const auto& clip : kClips) {
        const std::string c = clip.name;
        auto logmel = ref_tensor(c + ".logmel");
        ASSERT_TRUE(logmel.defined());
        auto out = net().forward(logmel);
        double de = expect_close(out.embedding, ref_tensor(c + ".embeddings"), c + ".embeddings",
                                 /*check_cosine=*/true);
        double ds = expect_close(out.scores, ref_tensor(c + ".scores"), c + ".scores");
        std::cout << "[network-only] " << c << ": max|d| embeddings " << de << ", scores " << ds
                  << "\n";
    }
}

TEST(Mn04ModelTest, IntermediatesMatchForSpeech) {
    EARSHOT_REQUIRE_SHARED();
    auto inter = load_safetensors(mn04_dir() / "reference" / "intermediates.safetensors");
    ASSERT_TRUE(inter) << inter.error().to_string();
    auto get = [&](const std::string& name) {
        auto t = detail::load_tensor(*inter, name);
        EXPECT_TRUE(t) << name;
        return t ? *t : torch::Tensor();
    };
    c10::InferenceMode guard;
    auto out = net().forward(ref_tensor("speech.logmel"), /*keep_features=*/true);
    ASSERT_EQ(out.features.size(), static_cast<std::size_t>(detail::kMn04Blocks));
    double worst = 0.0;
    for (int i = 0; i < detail::kMn04Blocks; ++i) {
        const std::string name = "speech.features." + std::to_string(i);
        worst = std::max(worst,
                         expect_close(out.features[static_cast<std::size_t>(i)], get(name), name));
    }
    double dh =
        expect_close(out.hidden, get("speech.classifier.hidden"), "speech.classifier.hidden");
    double dl = expect_close(out.logits, get("speech.logits"), "speech.logits");
    std::cout << "[intermediates] speech: max|d| features.0-16 " << worst << ", hidden " << dh
              << ", logits " << dl << "\n";
}

TEST(Mn04ModelTest, FrontEndMatchesReferenceLogMel) {
    EARSHOT_REQUIRE_SHARED();
    auto frontend = LogMelFrontend::make(mn04_frontend_config());
    ASSERT_TRUE(frontend) << frontend.error().to_string();
    for (const auto& clip : kClips) {
        const std::string c = clip.name;
        auto audio = read_clip(c);
        auto lm = (*frontend)->compute(audio);
        ASSERT_TRUE(lm) << lm.error().to_string();
        auto t = matrix_to_tensor(*lm).t().unsqueeze(0).unsqueeze(0);
        double d = expect_close(t, ref_tensor(c + ".logmel"), c + ".logmel");
        std::cout << "[front end] " << c << ": max|d| logmel " << d << "\n";
    }
}

TEST(Mn04ModelTest, EndToEndMatchesReferenceOnEveryClip) {
    EARSHOT_REQUIRE_SHARED();
    for (const auto& clip : kClips) {
        const std::string c = clip.name;
        auto audio = read_clip(c);
        auto e = model().embed(audio);
        ASSERT_TRUE(e) << e.error().to_string();
        ASSERT_EQ(e->segments.n_rows, 1u) << c;  // clips <= 10 s: one segment
        EXPECT_DOUBLE_EQ(e->start_s[0], 0.0);
        EXPECT_DOUBLE_EQ(e->end_s[0], static_cast<double>(audio.size()) / kRate);
        double de = expect_close(matrix_to_tensor(e->segments), ref_tensor(c + ".embeddings"),
                                 c + ".embeddings", /*check_cosine=*/true);
        double ds =
            expect_close(matrix_to_tensor(e->scores), ref_tensor(c + ".scores"), c + ".scores");
        std::cout << "[end-to-end] " << c << ": max|d| embeddings " << de << ", scores " << ds
                  << "\n";
        // Same top-3 classes as reference/expected.md.
        std::vector<int> idx(e->scores.n_cols);
        std::iota(idx.begin(), idx.end(), 0);
        const float* s = e->scores.row(0);
        std::partial_sort(idx.begin(), idx.begin() + 3, idx.end(),
                          [&](int a, int b) { return s[a] > s[b]; });
        EXPECT_EQ((std::array<int, 3>{idx[0], idx[1], idx[2]}), clip.top3) << c;
    }
}

TEST(Mn04ModelTest, InfoDescribesTheModel) {
    EARSHOT_REQUIRE_SHARED();
    const ModelInfo& info = model().info();
    EXPECT_EQ(info.name, "mn04");
    EXPECT_EQ(info.dim, 384);
    EXPECT_EQ(info.sample_rate_hz, 32000);
    EXPECT_EQ(info.license, "MIT");
    ASSERT_EQ(info.labels.size(), 527u);
    EXPECT_EQ(info.labels[0], "Speech");
    EXPECT_EQ(info.labels[137], "Music");
    EXPECT_EQ(info.labels[1], "Male speech, man speaking");
}

TEST(Mn04ModelTest, MissingWeightsIsNotFound) {
    auto r = make_mn04_model("/nonexistent/mn04_as", {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

TEST(Mn04ModelTest, LongInputIsCutIntoTenSecondWindows) {
    EARSHOT_REQUIRE_SHARED();
    auto audio = testing::make_noise(25.0, kRate, 0.1f, 7);
    auto e = model().embed(audio);
    ASSERT_TRUE(e) << e.error().to_string();
    ASSERT_EQ(e->segments.n_rows, 3u);
    ASSERT_EQ(e->scores.n_rows, 3u);
    EXPECT_EQ(e->segments.n_cols, 384u);
    EXPECT_EQ(e->start_s, (std::vector<double>{0.0, 10.0, 20.0}));
    EXPECT_EQ(e->end_s, (std::vector<double>{10.0, 20.0, 25.0}));
    // Each window is embedded exactly as if it were its own clip.
    auto first = model().embed(std::span<const float>(audio).subspan(0, 10 * kRate));
    ASSERT_TRUE(first);
    for (std::size_t j = 0; j < 384; ++j) EXPECT_EQ(e->segments.at(0, j), first->segments.at(0, j));
}

TEST(Mn04ModelTest, ShortTailIsMergedIntoTheLastWindow) {
    EARSHOT_REQUIRE_SHARED();
    auto audio = testing::make_sine(440.0, 20.5, kRate);
    auto e = model().embed(audio);
    ASSERT_TRUE(e) << e.error().to_string();
    EXPECT_EQ(e->start_s, (std::vector<double>{0.0, 10.0}));
    EXPECT_EQ(e->end_s, (std::vector<double>{10.0, 20.5}));
    // <= 11 s stays one segment (the reference setting for clips up to the training length).
    auto one = model().embed(std::span<const float>(audio).subspan(0, 10 * kRate + kRate / 2));
    ASSERT_TRUE(one);
    EXPECT_EQ(one->segments.n_rows, 1u);
}

TEST(Mn04ModelTest, VeryShortAndEmptyInputsAreZeroPadded) {
    EARSHOT_REQUIRE_SHARED();
    for (std::size_t n : {0u, 1u, 100u, 513u, 514u}) {
        auto audio = testing::make_sine(1000.0, static_cast<double>(n) / kRate, kRate);
        ASSERT_EQ(audio.size(), n);
        auto e = model().embed(audio);
        ASSERT_TRUE(e) << n << ": " << e.error().to_string();
        ASSERT_EQ(e->segments.n_rows, 1u) << n;
        for (float v : e->segments.data) ASSERT_TRUE(std::isfinite(v)) << n;
        EXPECT_EQ(e->start_s[0], 0.0);
        EXPECT_GT(e->end_s[0], 0.0);
    }
}

TEST(Mn04ModelTest, EmbedIsDeterministic) {
    EARSHOT_REQUIRE_SHARED();
    auto audio = read_clip("music");
    auto a = model().embed(audio);
    auto b = model().embed(audio);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->segments.data, b->segments.data);
    EXPECT_EQ(a->scores.data, b->scores.data);
}

TEST(Mn04ModelTest, OneAndTwoThreadsAgree) {
    EARSHOT_REQUIRE_SHARED();
    auto audio = read_clip("speech");
    auto embed_with = [&](int threads) {
        auto m = make_mn04_model(mn04_dir(), ModelOptions{.models_dir = {}, .threads = threads});
        EXPECT_TRUE(m);
        auto e = (*m)->embed(audio);
        EXPECT_TRUE(e);
        return *e;
    };
    auto one = embed_with(1);
    auto two = embed_with(2);
    detail::set_torch_threads(2);
    double d = max_abs_diff(matrix_to_tensor(one.segments), matrix_to_tensor(two.segments));
    EXPECT_LE(d, 1e-5);
    EXPECT_LE(max_abs_diff(matrix_to_tensor(one.scores), matrix_to_tensor(two.scores)), 1e-5);
}

// Not a check: prints the time per embed() for 10 s and 30 s (run with
// --gtest_also_run_disabled_tests --gtest_filter='*Timing*').
TEST(Mn04ModelTest, DISABLED_TimingPerEmbed) {
    for (double seconds : {10.0, 30.0}) {
        auto audio = testing::make_noise(seconds, kRate, 0.1f, 3);
        (void)model().embed(audio);  // warm-up
        const int reps = 5;
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) (void)model().embed(audio);
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count() /
                  reps;
        std::cout << "[timing] mn04 embed " << seconds << " s: " << ms << " ms ("
                  << torch::get_num_threads() << " threads)\n";
    }
}

}  // namespace
}  // namespace earshot
