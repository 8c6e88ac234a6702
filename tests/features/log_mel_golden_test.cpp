// Golden tests: our log-mel front ends against the reference tensors in ../shared/models
// (MODELS.md §2 and the acceptance criteria of §3.2), plus stage-by-stage comparisons with
// intermediates.safetensors (speech clip) and the stored windows / mel matrices.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "features/log_mel.h"
#include "features/patcher.h"
#include "features/presets.h"
#include "test_support.h"

namespace earshot {
namespace {

const std::vector<std::string> kClips = {"silence", "sine1k", "noise", "speech", "music"};

struct Diff {
    double max_abs = 0.0;
    std::size_t n_over_tol = 0;  // |d| > atol + rtol*|ref|
    std::size_t n_over_1e5 = 0;  // |d| > 1e-5 (musicnn criterion 4)
    std::size_t n = 0;
};

Diff compare(const float* ours, const float* ref, std::size_t n, double rtol, double atol) {
    Diff d;
    d.n = n;
    for (std::size_t i = 0; i < n; ++i) {
        const double delta = std::fabs(static_cast<double>(ours[i]) - static_cast<double>(ref[i]));
        d.max_abs = std::max(d.max_abs, delta);
        if (!(delta <= atol + rtol * std::fabs(static_cast<double>(ref[i]))))
            ++d.n_over_tol;
        if (delta > 1e-5)
            ++d.n_over_1e5;
    }
    return d;
}

SafeTensors load(const std::string& model, const std::string& file) {
    auto st = load_safetensors(testing::models_dir() / model / file);
    EXPECT_TRUE(st) << st.error().to_string();
    return st ? std::move(*st) : SafeTensors{};
}

std::vector<float> clip(const std::string& model, const std::string& name, int rate) {
    int sr = 0;
    auto x = testing::read_wav16(
        testing::models_dir() / model / "reference/clips" / (name + ".wav"), &sr);
    EXPECT_EQ(sr, rate);
    return x;
}

std::unique_ptr<LogMelFrontend> frontend(const FrontendConfig& c) {
    auto f = LogMelFrontend::make(c);
    EXPECT_TRUE(f) << f.error().to_string();
    return f ? std::move(*f) : nullptr;
}

// [rows][cols] -> [cols][rows]
std::vector<float> transpose(const float* x, std::size_t rows, std::size_t cols) {
    std::vector<float> t(rows * cols);
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) t[j * rows + i] = x[i * cols + j];
    }
    return t;
}

void report(const std::string& what, const Diff& d) {
    std::printf("[ golden ] %-34s max|d| = %.3g  over tol: %zu  over 1e-5: %zu / %zu\n",
                what.c_str(), d.max_abs, d.n_over_tol, d.n_over_1e5, d.n);
}

// ---- stored windows and mel matrices ----

TEST(LogMelGoldenTest, YamnetMelMatrixMatchesStoredTensor) {
    EARSHOT_REQUIRE_SHARED();
    auto w = load("yamnet", "weights.safetensors");
    auto mel = w.get("mel", {257, 64});
    ASSERT_TRUE(mel);
    Matrix m = make_mel_matrix(yamnet_frontend_config().mel, 16000, 512);
    ASSERT_EQ(m.n_rows, 64u);
    ASSERT_EQ(m.n_cols, 257u);
    const auto ours = transpose(m.data.data(), 64, 257);  // -> [257][64] like the tensor
    const Diff d = compare(ours.data(), (*mel)->data.data(), ours.size(), 1e-6, 1e-6);
    report("yamnet mel matrix", d);
    EXPECT_EQ(d.n_over_tol, 0u);
}

TEST(LogMelGoldenTest, YamnetWindowMatchesStoredTensor) {
    EARSHOT_REQUIRE_SHARED();
    auto w = load("yamnet", "weights.safetensors");
    auto win = w.get("window", {400});
    ASSERT_TRUE(win);
    auto ours = make_window(WindowKind::kHannPeriodic, 400);
    const Diff d = compare(ours.data(), (*win)->data.data(), ours.size(), 1e-6, 1e-6);
    report("yamnet window", d);
    EXPECT_EQ(d.n_over_tol, 0u);  // TFLite window equals the formula to 2.5e-7 (§4.1)
}

TEST(LogMelGoldenTest, Mn04MelMatrixAndWindowMatchStoredTensors) {
    EARSHOT_REQUIRE_SHARED();
    auto w = load("mn04_as", "weights.safetensors");
    auto mel = w.get("frontend.mel_basis", {128, 513});
    auto win = w.get("frontend.window", {800});
    ASSERT_TRUE(mel);
    ASSERT_TRUE(win);
    Matrix m = make_mel_matrix(mn04_frontend_config().mel, 32000, 1024);
    // torchaudio builds this matrix in float32: one ulp of mel(f) (~2.4e-4 near 3000 mel) over
    // the band spacing δ ≈ 22 mel is ~1e-5 in the weights, so the stored matrix itself carries
    // that much rounding noise; its effect on the log-mel is ~2e-6.
    Diff d = compare(m.data.data(), (*mel)->data.data(), m.data.size(), 1e-6, 2e-5);
    report("mn04 mel matrix", d);
    EXPECT_EQ(d.n_over_tol, 0u);
    auto ours = make_window(WindowKind::kHannSymmetric, 800);
    d = compare(ours.data(), (*win)->data.data(), ours.size(), 1e-6, 1e-6);
    report("mn04 window", d);
    EXPECT_EQ(d.n_over_tol, 0u);
}

TEST(LogMelGoldenTest, MusicnnMelMatrixAndWindowMatchStoredTensors) {
    EARSHOT_REQUIRE_SHARED();
    for (const std::string model : {"msd_musicnn", "mtt_musicnn"}) {
        auto w = load(model, "weights.safetensors");
        auto mel = w.get("frontend.mel_fb", {96, 257});
        auto win = w.get("frontend.window", {512});
        ASSERT_TRUE(mel);
        ASSERT_TRUE(win);
        Matrix m = make_mel_matrix(musicnn_frontend_config().mel, 16000, 512);
        Diff d = compare(m.data.data(), (*mel)->data.data(), m.data.size(), 1e-6, 1e-9);
        report(model + " mel matrix", d);
        EXPECT_EQ(d.n_over_tol, 0u);
        auto ours = make_window(WindowKind::kHannPeriodic, 512);
        d = compare(ours.data(), (*win)->data.data(), ours.size(), 1e-6, 1e-6);
        report(model + " window", d);
        EXPECT_EQ(d.n_over_tol, 0u);
    }
}

// ---- log-mel of the 5 reference clips (§3.2) ----

TEST(LogMelGoldenTest, YamnetLogMelMatchesReferenceOnAllClips) {
    EARSHOT_REQUIRE_SHARED();
    auto ref = load("yamnet", "reference/reference.safetensors");
    auto fe = frontend(yamnet_frontend_config());
    ASSERT_NE(fe, nullptr);
    double worst = 0.0;
    for (const auto& name : kClips) {
        auto x = yamnet_pad_waveform(clip("yamnet", name, 16000));
        auto out = fe->compute(x);
        ASSERT_TRUE(out) << out.error().to_string();
        auto frames = ref.get(name + ".logmel_frames");
        ASSERT_TRUE(frames);
        ASSERT_EQ((*frames)->shape,
                  (std::vector<std::int64_t>{static_cast<std::int64_t>(out->n_rows), 64}))
            << name;
        Diff d = compare(out->data.data(), (*frames)->data.data(), out->data.size(), 1e-3, 1e-3);
        report("yamnet " + name + ".logmel_frames", d);
        EXPECT_EQ(d.n_over_tol, 0u) << name;
        worst = std::max(worst, d.max_abs);
        // Patched tensor [P,1,96,64].
        Patches p = make_yamnet_patches(*out);
        auto patches = ref.get(name + ".logmel");
        ASSERT_TRUE(patches);
        ASSERT_EQ((*patches)->shape,
                  (std::vector<std::int64_t>{static_cast<std::int64_t>(p.n_patches), 1, 96, 64}));
        d = compare(p.data.data(), (*patches)->data.data(), p.data.size(), 1e-3, 1e-3);
        EXPECT_EQ(d.n_over_tol, 0u) << name;
    }
    std::printf("[ golden ] yamnet worst max|d| over clips: %.3g\n", worst);
}

TEST(LogMelGoldenTest, Mn04LogMelMatchesReferenceOnAllClips) {
    EARSHOT_REQUIRE_SHARED();
    auto ref = load("mn04_as", "reference/reference.safetensors");
    auto fe = frontend(mn04_frontend_config());
    ASSERT_NE(fe, nullptr);
    double worst = 0.0;
    for (const auto& name : kClips) {
        auto x = clip("mn04_as", name, 32000);
        auto out = fe->compute(x);
        ASSERT_TRUE(out) << out.error().to_string();
        auto logmel = ref.get(name + ".logmel");
        ASSERT_TRUE(logmel);
        ASSERT_EQ((*logmel)->shape,
                  (std::vector<std::int64_t>{1, 1, 128, static_cast<std::int64_t>(out->n_rows)}));
        const auto ours = transpose(out->data.data(), out->n_rows, 128);  // -> [128][T]
        Diff d = compare(ours.data(), (*logmel)->data.data(), ours.size(), 1e-3, 1e-4);
        report("mn04 " + name + ".logmel", d);
        EXPECT_EQ(d.n_over_tol, 0u) << name;
        worst = std::max(worst, d.max_abs);
    }
    std::printf("[ golden ] mn04 worst max|d| over clips: %.3g\n", worst);
}

TEST(LogMelGoldenTest, MusicnnLogMelMatchesReferenceOnAllClips) {
    EARSHOT_REQUIRE_SHARED();
    auto fe = frontend(musicnn_frontend_config());
    ASSERT_NE(fe, nullptr);
    for (const std::string model : {"msd_musicnn", "mtt_musicnn"}) {
        auto ref = load(model, "reference/reference.safetensors");
        double worst = 0.0;
        for (const auto& name : kClips) {
            auto x = clip(model, name, 16000);
            auto out = fe->compute(x);
            ASSERT_TRUE(out) << out.error().to_string();
            auto frames = ref.get(name + ".logmel_frames");
            ASSERT_TRUE(frames);
            ASSERT_EQ((*frames)->shape,
                      (std::vector<std::int64_t>{static_cast<std::int64_t>(out->n_rows), 96}));
            Diff d =
                compare(out->data.data(), (*frames)->data.data(), out->data.size(), 1e-3, 1e-3);
            report(model + " " + name + ".logmel_frames", d);
            EXPECT_EQ(d.n_over_tol, 0u) << name;
            EXPECT_LT(static_cast<double>(d.n_over_1e5), 0.01 * static_cast<double>(d.n)) << name;
            worst = std::max(worst, d.max_abs);
            Patches p = make_musicnn_patches(*out);
            auto patches = ref.get(name + ".logmel");
            ASSERT_TRUE(patches);
            ASSERT_EQ((*patches)->shape, (std::vector<std::int64_t>{
                                             static_cast<std::int64_t>(p.n_patches), 1, 187, 96}));
            d = compare(p.data.data(), (*patches)->data.data(), p.data.size(), 1e-3, 1e-3);
            EXPECT_EQ(d.n_over_tol, 0u) << name;
            EXPECT_LT(static_cast<double>(d.n_over_1e5), 0.01 * static_cast<double>(d.n)) << name;
        }
        std::printf("[ golden ] %s worst max|d| over clips: %.3g\n", model.c_str(), worst);
    }
}

// ---- intermediate stages on the speech clip ----

TEST(LogMelGoldenTest, YamnetStagesMatchIntermediates) {
    EARSHOT_REQUIRE_SHARED();
    auto inter = load("yamnet", "reference/intermediates.safetensors");
    auto fe = frontend(yamnet_frontend_config());
    ASSERT_NE(fe, nullptr);
    auto x = yamnet_pad_waveform(clip("yamnet", "speech", 16000));
    auto spec = fe->spectrum(x);
    auto mel = fe->mel(x);
    ASSERT_TRUE(spec);
    ASSERT_TRUE(mel);
    auto ref_spec = inter.get("speech.stft_magnitude", {336, 257});
    auto ref_mel = inter.get("speech.mel", {336, 64});
    ASSERT_TRUE(ref_spec);
    ASSERT_TRUE(ref_mel);
    Diff d = compare(spec->data.data(), (*ref_spec)->data.data(), spec->data.size(), 1e-4, 1e-5);
    report("yamnet speech.stft_magnitude", d);
    EXPECT_EQ(d.n_over_tol, 0u);
    d = compare(mel->data.data(), (*ref_mel)->data.data(), mel->data.size(), 1e-4, 1e-5);
    report("yamnet speech.mel", d);
    EXPECT_EQ(d.n_over_tol, 0u);
}

TEST(LogMelGoldenTest, Mn04StagesMatchIntermediates) {
    EARSHOT_REQUIRE_SHARED();
    auto inter = load("mn04_as", "reference/intermediates.safetensors");
    auto fe = frontend(mn04_frontend_config());
    ASSERT_NE(fe, nullptr);
    auto x = clip("mn04_as", "speech", 32000);
    // Pre-emphasis on its own: the spectrum of a 0-preemphasis front end on y must match too.
    auto ref_pre = inter.get("speech.preemphasis", {95999});
    ASSERT_TRUE(ref_pre);
    std::vector<float> y(x.size() - 1);
    for (std::size_t n = 0; n + 1 < x.size(); ++n) y[n] = x[n + 1] - 0.97f * x[n];
    Diff d = compare(y.data(), (*ref_pre)->data.data(), y.size(), 0.0, 1e-7);
    report("mn04 speech.preemphasis", d);
    EXPECT_EQ(d.n_over_tol, 0u);

    auto spec = fe->spectrum(x);
    auto mel = fe->mel(x);
    ASSERT_TRUE(spec);
    ASSERT_TRUE(mel);
    auto ref_spec = inter.get("speech.stft_power", {1, 513, 300});
    auto ref_mel = inter.get("speech.mel", {1, 128, 300});
    ASSERT_TRUE(ref_spec);
    ASSERT_TRUE(ref_mel);
    auto s = transpose(spec->data.data(), spec->n_rows, 513);
    d = compare(s.data(), (*ref_spec)->data.data(), s.size(), 1e-3, 1e-6);
    report("mn04 speech.stft_power", d);
    EXPECT_EQ(d.n_over_tol, 0u);
    auto m = transpose(mel->data.data(), mel->n_rows, 128);
    d = compare(m.data(), (*ref_mel)->data.data(), m.size(), 1e-3, 1e-6);
    report("mn04 speech.mel", d);
    EXPECT_EQ(d.n_over_tol, 0u);
}

TEST(LogMelGoldenTest, MusicnnStagesMatchIntermediates) {
    EARSHOT_REQUIRE_SHARED();
    auto inter = load("msd_musicnn", "reference/intermediates.safetensors");
    auto x = clip("msd_musicnn", "speech", 16000);
    auto fe = frontend(musicnn_frontend_config());
    FrontendConfig no_f16 = musicnn_frontend_config();
    no_f16.round_mel_to_f16 = false;
    auto fe_raw = frontend(no_f16);
    ASSERT_NE(fe, nullptr);
    ASSERT_NE(fe_raw, nullptr);
    auto spec = fe->spectrum(x);
    auto mel_raw = fe_raw->mel(x);
    auto mel_f16 = fe->mel(x);
    ASSERT_TRUE(spec);
    ASSERT_TRUE(mel_raw);
    ASSERT_TRUE(mel_f16);
    auto ref_spec = inter.get("speech.stft_power", {257, 188});
    auto ref_mel = inter.get("speech.mel", {188, 96});
    auto ref_f16 = inter.get("speech.mel_f16", {188, 96});
    ASSERT_TRUE(ref_spec);
    ASSERT_TRUE(ref_mel);
    ASSERT_TRUE(ref_f16);
    auto s = transpose(spec->data.data(), spec->n_rows, 257);
    Diff d = compare(s.data(), (*ref_spec)->data.data(), s.size(), 1e-3, 1e-6);
    report("musicnn speech.stft_power", d);
    EXPECT_EQ(d.n_over_tol, 0u);
    d = compare(mel_raw->data.data(), (*ref_mel)->data.data(), mel_raw->data.size(), 1e-4, 1e-8);
    report("musicnn speech.mel", d);
    EXPECT_EQ(d.n_over_tol, 0u);
    // f16 rounding of the reference's own float mel must reproduce mel_f16 exactly.
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < (*ref_mel)->data.size(); ++i) {
        if (round_to_f16((*ref_mel)->data[i]) != (*ref_f16)->data[i])
            ++mismatches;
    }
    EXPECT_EQ(mismatches, 0u);
    // Our float mel may land on the other side of a float16 rounding boundary (§3.1): allow
    // one-step flips on < 1% of the values; everything else must be identical.
    d = compare(mel_f16->data.data(), (*ref_f16)->data.data(), mel_f16->data.size(), 0.0, 0.0);
    report("musicnn speech.mel_f16", d);
    EXPECT_LT(static_cast<double>(d.n_over_tol), 0.01 * static_cast<double>(d.n));
    for (std::size_t i = 0; i < mel_f16->data.size(); ++i) {
        const float a = mel_f16->data[i];
        const float b = (*ref_f16)->data[i];
        // one float16 step is at most 2^-10 relative (normals) or 2^-24 absolute (subnormals)
        EXPECT_LE(std::fabs(a - b), std::max(std::fabs(b) * 0.0009766f, 5.97e-8f)) << i;
    }
}

}  // namespace
}  // namespace earshot
