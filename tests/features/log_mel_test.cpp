// Property tests of the log-mel front end (no ../shared data needed).
#include "features/log_mel.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "features/presets.h"
#include "test_support.h"

namespace earshot {
namespace {

std::unique_ptr<LogMelFrontend> make_frontend(const FrontendConfig& c) {
    auto f = LogMelFrontend::make(c);
    EXPECT_TRUE(f) << f.error().to_string();
    return f ? std::move(*f) : nullptr;
}

std::size_t argmax_row(const Matrix& m, std::size_t t) {
    const float* r = m.row(t);
    return static_cast<std::size_t>(std::max_element(r, r + m.n_cols) - r);
}

// FFT bin where mel band `band` peaks.
std::size_t peak_bin(const Matrix& mel, std::size_t band) {
    const float* r = mel.row(band);
    return static_cast<std::size_t>(std::max_element(r, r + mel.n_cols) - r);
}

TEST(LogMelTest, SilenceGivesFloorValue) {
    struct Case {
        FrontendConfig config;
        float floor;
    };
    const Case cases[] = {
        {yamnet_frontend_config(), std::log(0.001f)},
        {mn04_frontend_config(), (std::log(1e-5f) + 4.5f) / 5.0f},  // -1.40259
        {musicnn_frontend_config(), 0.0f},
    };
    for (const auto& c : cases) {
        auto fe = make_frontend(c.config);
        ASSERT_NE(fe, nullptr);
        std::vector<float> zeros(static_cast<std::size_t>(c.config.sample_rate_hz), 0.0f);
        auto out = fe->compute(zeros);
        ASSERT_TRUE(out) << out.error().to_string();
        ASSERT_EQ(out->n_rows, fe->n_frames(zeros.size()));
        ASSERT_EQ(out->n_cols, static_cast<std::size_t>(c.config.mel.n_mels));
        for (float v : out->data) ASSERT_FLOAT_EQ(v, c.floor);
    }
    EXPECT_NEAR((std::log(1e-5) + 4.5) / 5.0, -1.40259, 1e-5);
}

TEST(LogMelTest, PureTonePeaksInTheRightMelBand) {
    for (const FrontendConfig& c :
         {yamnet_frontend_config(), mn04_frontend_config(), musicnn_frontend_config()}) {
        auto fe = make_frontend(c);
        ASSERT_NE(fe, nullptr);
        for (double hz : {440.0, 1000.0, 3000.0}) {
            auto x = testing::make_sine(hz, 1.0, c.sample_rate_hz);
            auto out = fe->compute(x);
            ASSERT_TRUE(out);
            const std::size_t t = out->n_rows / 2;
            const std::size_t band = argmax_row(*out, t);
            // The tone's FFT bin must lie inside the winning triangle, close to its peak.
            const double bin_hz = static_cast<double>(c.sample_rate_hz) / c.stft.n_fft;
            const double peak_hz = static_cast<double>(peak_bin(fe->mel_matrix(), band)) * bin_hz;
            EXPECT_NEAR(peak_hz, hz, 0.12 * hz + 2 * bin_hz) << "tone " << hz << " band " << band;
            // ... and it is (next to) the band with the largest weight at the tone's bin.
            const auto k = static_cast<std::size_t>(std::lround(hz / bin_hz));
            std::size_t best = 0;
            for (std::size_t i = 1; i < fe->mel_matrix().n_rows; ++i) {
                if (fe->mel_matrix().at(i, k) > fe->mel_matrix().at(best, k))
                    best = i;
            }
            EXPECT_LE(band > best ? band - best : best - band, 1u) << "tone " << hz;
        }
    }
}

TEST(LogMelTest, FrameCountsFollowTheFraming) {
    auto yam = make_frontend(yamnet_frontend_config());
    auto mn = make_frontend(mn04_frontend_config());
    auto mus = make_frontend(musicnn_frontend_config());
    ASSERT_TRUE(yam && mn && mus);
    // kNone, window at start: T = 1 + (N - 400) / 160.
    EXPECT_EQ(yam->n_frames(15600), 96u);
    EXPECT_EQ(yam->n_frames(15600 + 7680), 144u);
    EXPECT_EQ(yam->n_frames(400), 1u);
    EXPECT_EQ(yam->n_frames(399), 0u);
    // Pre-emphasis then centre-reflect: T = 1 + (N - 1) / 320; N >= 514.
    EXPECT_EQ(mn->n_frames(96000), 300u);
    EXPECT_EQ(mn->n_frames(320000), 1000u);
    EXPECT_EQ(mn->n_frames(514), 2u);
    EXPECT_EQ(mn->n_frames(513), 0u);
    // Centre-reflect: T = 1 + N / 256; N > 256.
    EXPECT_EQ(mus->n_frames(48000), 188u);
    EXPECT_EQ(mus->n_frames(32000), 126u);
    EXPECT_EQ(mus->n_frames(257), 2u);
    EXPECT_EQ(mus->n_frames(256), 0u);
    // compute() agrees with n_frames() and rejects too-short input.
    for (std::size_t n : {514u, 1000u, 3333u}) {
        std::vector<float> x(n, 0.1f);
        auto out = mn->compute(x);
        ASSERT_TRUE(out);
        EXPECT_EQ(out->n_rows, mn->n_frames(n));
    }
    std::vector<float> tiny(100, 0.0f);
    auto bad = yam->compute(tiny);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST(LogMelTest, CenterPlacementShiftsAnalysedSamples) {
    // A click at sample 56 is seen by frame 0 of a centred 400-in-512 window with kNone framing
    // only at the window start (n=0); with kStart placement it sits at n = 56.
    FrontendConfig c = yamnet_frontend_config();
    c.stft.spectrum = SpectrumKind::kPower;
    auto start = make_frontend(c);
    c.stft.placement = WindowPlacement::kCenter;
    auto centre = make_frontend(c);
    ASSERT_TRUE(start && centre);
    EXPECT_EQ(centre->n_frames(512), 1u);  // kCenter + kNone frames span n_fft
    EXPECT_EQ(start->n_frames(512), 1u);   // 1 + (512 - 400) / 160
    std::vector<float> x(512, 0.0f);
    x[100] = 1.0f;
    auto s1 = start->spectrum(x);
    auto s2 = centre->spectrum(x);
    ASSERT_TRUE(s1 && s2);
    const auto w = make_window(WindowKind::kHannPeriodic, 400);
    // A single impulse has a flat power spectrum equal to the window value squared.
    EXPECT_NEAR(s1->at(0, 10), w[100] * w[100], 1e-6);
    EXPECT_NEAR(s2->at(0, 10), w[100 - 56] * w[100 - 56], 1e-6);
}

TEST(LogMelTest, WindowsMatchFormulas) {
    const double pi = std::numbers::pi;
    for (int length : {400, 512, 800}) {
        auto hp = make_window(WindowKind::kHannPeriodic, length);
        auto hs = make_window(WindowKind::kHannSymmetric, length);
        auto hm = make_window(WindowKind::kHammingPeriodic, length);
        ASSERT_EQ(hp.size(), static_cast<std::size_t>(length));
        for (int n = 0; n < length; ++n) {
            const auto i = static_cast<std::size_t>(n);
            EXPECT_NEAR(hp[i], 0.5 - 0.5 * std::cos(2 * pi * n / length), 1e-7);
            EXPECT_NEAR(hs[i], 0.5 - 0.5 * std::cos(2 * pi * n / (length - 1)), 1e-7);
            EXPECT_NEAR(hm[i], 0.54 - 0.46 * std::cos(2 * pi * n / length), 1e-7);
        }
        EXPECT_EQ(hp[0], 0.0f);
        EXPECT_FLOAT_EQ(hp[static_cast<std::size_t>(length / 2)], 1.0f);
        EXPECT_NEAR(hs[static_cast<std::size_t>(length - 1)], 0.0f, 1e-7);
    }
}

TEST(LogMelTest, Float16RoundingMatchesKnownValues) {
    EXPECT_EQ(round_to_f16(0.0f), 0.0f);
    EXPECT_EQ(round_to_f16(1.0f), 1.0f);
    EXPECT_EQ(round_to_f16(65504.0f), 65504.0f);
    EXPECT_EQ(round_to_f16(65519.0f), 65504.0f);
    EXPECT_TRUE(std::isinf(round_to_f16(65520.0f)));
    EXPECT_TRUE(std::isinf(round_to_f16(1e6f)));
    EXPECT_EQ(round_to_f16(0.1f), 0.0999755859375f);
    EXPECT_EQ(round_to_f16(1.0f / 3.0f), 0.333251953125f);
    EXPECT_EQ(round_to_f16(-2.0009765625f), -2.0f);         // halfway below ...
    EXPECT_EQ(round_to_f16(1.00048828125f), 1.0f);          // tie 1 + 2^-11 -> even (1.0)
    EXPECT_EQ(round_to_f16(1.00146484375f), 1.001953125f);  // tie 1 + 3*2^-11 -> even (1+2^-9)
    EXPECT_EQ(round_to_f16(6.103515625e-05f), 6.103515625e-05f);  // smallest normal 2^-14
    EXPECT_EQ(round_to_f16(5.9604644775390625e-08f), 5.9604644775390625e-08f);  // 2^-24
    EXPECT_EQ(round_to_f16(2.98023223876953125e-08f), 0.0f);  // 2^-25: tie -> even (0)
    EXPECT_EQ(round_to_f16(4.0e-08f), 5.9604644775390625e-08f);
    EXPECT_EQ(round_to_f16(1e-7f), 1.1920928955078125e-07f);  // 1.68 * 2^-24 -> 2 * 2^-24
    EXPECT_TRUE(std::isnan(round_to_f16(std::nanf(""))));
#if defined(__FLT16_MAX__)
    // Cross-check with the compiler's _Float16 conversion (GCC 12 on x86-64 supports it).
    std::uint32_t state = 1234;
    for (int i = 0; i < 200000; ++i) {
        state = state * 1664525u + 1013904223u;
        float x = 0.0f;
        std::uint32_t bits = (state & 0x807fffffu) | (((state >> 23) % 50u + 98u) << 23);
        std::memcpy(&x, &bits, sizeof x);  // exponents 2^-29 .. 2^20
        const auto expected = static_cast<float>(static_cast<_Float16>(x));
        ASSERT_EQ(round_to_f16(x), expected) << "x = " << x << " seed 1234 step " << i;
    }
#endif
}

TEST(LogMelTest, MelMatricesHaveExpectedShapeAndNormalisation) {
    Matrix yam = make_mel_matrix(yamnet_frontend_config().mel, 16000, 512);
    ASSERT_EQ(yam.n_rows, 64u);
    ASSERT_EQ(yam.n_cols, 257u);
    for (std::size_t i = 0; i < 64; ++i) {
        EXPECT_EQ(yam.at(i, 0), 0.0f);  // DC excluded
        const float peak = *std::max_element(yam.row(i), yam.row(i) + 257);
        EXPECT_LE(peak, 1.0f);
        EXPECT_GT(peak, 0.3f);  // no normalisation: triangles peak near 1
    }
    Matrix mn = make_mel_matrix(mn04_frontend_config().mel, 32000, 1024);
    ASSERT_EQ(mn.n_rows, 128u);
    ASSERT_EQ(mn.n_cols, 513u);
    for (std::size_t i = 0; i < 128; ++i) EXPECT_EQ(mn.at(i, 512), 0.0f);  // Nyquist column
    // Slaney area norm: each triangle in Hz integrates to 1, so sum_k w * bin_hz ≈ 1.
    Matrix mus = make_mel_matrix(musicnn_frontend_config().mel, 16000, 512);
    ASSERT_EQ(mus.n_rows, 96u);
    for (std::size_t i = 70; i < 96; ++i) {  // bands >= ~3 kHz span >= 8 bins: well sampled
        double area = 0.0;
        for (std::size_t k = 0; k < 257; ++k) area += mus.at(i, k) * 31.25;
        EXPECT_NEAR(area, 1.0, 0.05) << i;
    }
}

TEST(LogMelTest, FlatSpectrumGivesSmoothBands) {
    // An impulse has a flat spectrum: with Slaney area norm every (well-sampled) band gets the
    // same energy, so the mel is flat across bands.
    FrontendConfig c = musicnn_frontend_config();
    c.round_mel_to_f16 = false;
    auto fe = make_frontend(c);
    ASSERT_NE(fe, nullptr);
    std::vector<float> x(4096, 0.0f);
    x[2048] = 1.0f;  // centre of frame 8 (hop 256): window value 1
    auto mel = fe->mel(x);
    ASSERT_TRUE(mel);
    const float* r = mel->row(8);
    for (std::size_t i = 71; i < 96; ++i) EXPECT_NEAR(r[i] / r[70], 1.0f, 0.05f) << i;
}

TEST(LogMelTest, InvalidConfigIsRejected) {
    FrontendConfig c = yamnet_frontend_config();
    c.stft.window_length = 600;  // > n_fft
    EXPECT_EQ(LogMelFrontend::make(c).error().code(), ErrorCode::kInvalidArgument);
    c = yamnet_frontend_config();
    c.mel.fmax_hz = 9000.0;  // > rate / 2
    EXPECT_EQ(LogMelFrontend::make(c).error().code(), ErrorCode::kInvalidArgument);
    c = yamnet_frontend_config();
    c.stft.hop_length = 0;
    EXPECT_EQ(LogMelFrontend::make(c).error().code(), ErrorCode::kInvalidArgument);
}

TEST(LogMelTest, ComputeIsThreadSafeAndDeterministic) {
    auto fe = make_frontend(musicnn_frontend_config());
    ASSERT_NE(fe, nullptr);
    auto x = testing::make_noise(2.0, 16000, 0.1f, 1234);
    auto ref = fe->compute(x);
    ASSERT_TRUE(ref);
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            // Also create/destroy frontends concurrently (FFTW planner mutex).
            auto other = LogMelFrontend::make(yamnet_frontend_config());
            auto out = fe->compute(x);
            ok[static_cast<std::size_t>(i)] = other && out && out->data == ref->data ? 1 : 0;
        });
    }
    for (auto& t : threads) t.join();
    for (int v : ok) EXPECT_EQ(v, 1);
}

}  // namespace
}  // namespace earshot
