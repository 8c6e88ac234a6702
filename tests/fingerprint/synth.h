// Test-only signals for the fingerprint and dedup tests: a seeded "tune" (notes with harmonics
// and envelopes over noise-burst beats) and a single plucked note, at any rate; and encoded,
// gained, trimmed copies of them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "../audio/encode_fixture.h"

namespace earshot::testing {

// duration_s of a tune made from seed: notes of 0.2-0.5 s from a two-octave scale, 4 partials,
// attack/decay envelopes, plus a noise burst every 0.5 s. Peak about 0.5.
inline std::vector<float> make_tune(std::uint32_t seed, double duration_s, int rate_hz) {
    std::mt19937 rng(seed);
    const int scale[] = {0, 2, 4, 5, 7, 9, 11, 12, 14, 16, 17, 19, 21, 23};
    std::vector<float> x(static_cast<std::size_t>(duration_s * rate_hz), 0.0f);
    std::uniform_int_distribution<int> pick(0, 13);
    std::uniform_real_distribution<double> len(0.2, 0.5);
    for (double t = 0.0; t < duration_s;) {
        const double f0 = 220.0 * std::pow(2.0, scale[pick(rng)] / 12.0);
        const double d = len(rng);
        const auto begin = static_cast<std::size_t>(t * rate_hz);
        const auto n = static_cast<std::size_t>(d * rate_hz);
        for (std::size_t i = 0; i < n && begin + i < x.size(); ++i) {
            const double s = static_cast<double>(i) / rate_hz;
            const double env = std::min(1.0, s / 0.01) * std::exp(-3.0 * s);
            double v = 0.0;
            for (int h = 1; h <= 4; ++h) v += std::sin(2 * std::numbers::pi * f0 * h * s) / h;
            x[begin + i] += static_cast<float>(0.25 * env * v);
        }
        t += d;
    }
    std::normal_distribution<double> g(0.0, 1.0);
    for (double t = 0.0; t < duration_s; t += 0.5) {
        const auto begin = static_cast<std::size_t>(t * rate_hz);
        for (std::size_t i = 0;
             i < static_cast<std::size_t>(0.05 * rate_hz) && begin + i < x.size(); ++i) {
            x[begin + i] += static_cast<float>(0.1 * g(rng) *
                                               std::exp(-60.0 * static_cast<double>(i) / rate_hz));
        }
    }
    return x;
}

// A plucked note: f0 with 6 decaying partials, 10 ms attack, exponential decay, duration_s long.
inline std::vector<float> make_note(double f0, double duration_s, int rate_hz, double decay = 3.0) {
    std::vector<float> x(static_cast<std::size_t>(duration_s * rate_hz));
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double s = static_cast<double>(i) / rate_hz;
        double v = 0.0;
        for (int h = 1; h <= 6; ++h)
            v += std::exp(-decay * h * 0.5 * s) * std::sin(2 * std::numbers::pi * f0 * h * s) / h;
        x[i] = static_cast<float>(0.4 * std::min(1.0, s / 0.01) * std::exp(-decay * s) * v);
    }
    return x;
}

inline FixtureSpec fixture_spec(
    std::string container, std::string codec, int rate, int channels, std::int64_t bit_rate = 0) {
    FixtureSpec s;
    s.container = std::move(container);
    s.codec = std::move(codec);
    s.sample_rate_hz = rate;
    s.channels = channels;
    s.bit_rate = bit_rate;
    return s;
}

// Encodes x (mono at rate_in) to path per spec, with gain (dB, clipped to [-1, 1]) and the first
// trim_s seconds dropped. The rate change interpolates linearly, close enough to a real
// resampler for these signals.
inline Status write_transformed_copy(const std::filesystem::path& path,
                                     const std::vector<float>& x,
                                     int rate_in,
                                     const FixtureSpec& spec,
                                     double gain_db = 0.0,
                                     double trim_s = 0.0) {
    const double g = std::pow(10.0, gain_db / 20.0);
    const auto skip = static_cast<std::size_t>(trim_s * rate_in);
    const double ratio = static_cast<double>(spec.sample_rate_hz) / rate_in;
    const auto n = static_cast<std::int64_t>(static_cast<double>(x.size() - skip) * ratio);
    return encode_fixture(path, spec, n, [&](int, std::int64_t i) {
        const double at = static_cast<double>(i) / ratio + static_cast<double>(skip);
        const auto k = static_cast<std::size_t>(at);
        const double f = at - static_cast<double>(k);
        const float a = x[std::min(k, x.size() - 1)];
        const float b = x[std::min(k + 1, x.size() - 1)];
        return static_cast<float>(std::clamp(g * (a + f * (b - a)), -1.0, 1.0));
    });
}

}  // namespace earshot::testing
