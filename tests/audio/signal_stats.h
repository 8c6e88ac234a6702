// Test-only measurements on decoded mono audio: tone frequency, RMS, peak. All look at the
// middle of the signal (edge_fraction trimmed from each end) to skip codec/filter transients.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace earshot::testing {

// Frequency of a (near-)pure tone from its rising zero crossings, interpolated between samples.
// Hysteresis (the signal must dip below -hysteresis between two crossings) ignores codec noise.
// Returns 0 when fewer than two crossings are found.
inline double tone_frequency_hz(std::span<const float> x,
                                int sample_rate_hz,
                                double edge_fraction = 0.1,
                                float hysteresis = 0.02f) {
    const auto skip = static_cast<std::size_t>(static_cast<double>(x.size()) * edge_fraction);
    if (x.size() < 2 * skip + 2) {
        return 0.0;
    }
    double first = -1.0;
    double last = -1.0;
    int count = 0;
    bool armed = false;
    for (std::size_t i = skip + 1; i < x.size() - skip; ++i) {
        if (x[i - 1] < -hysteresis) {
            armed = true;
        }
        if (armed && x[i - 1] < 0.0f && x[i] >= 0.0f) {
            const double frac = -x[i - 1] / (static_cast<double>(x[i]) - x[i - 1]);
            const double t = static_cast<double>(i - 1) + frac;
            if (first < 0.0) {
                first = t;
            }
            last = t;
            ++count;
            armed = false;
        }
    }
    if (count < 2) {
        return 0.0;
    }
    return static_cast<double>(count - 1) * sample_rate_hz / (last - first);
}

inline double rms(std::span<const float> x, double edge_fraction = 0.1) {
    const auto skip = static_cast<std::size_t>(static_cast<double>(x.size()) * edge_fraction);
    if (x.size() <= 2 * skip) {
        return 0.0;
    }
    double sum = 0.0;
    for (std::size_t i = skip; i < x.size() - skip; ++i) {
        sum += static_cast<double>(x[i]) * x[i];
    }
    return std::sqrt(sum / static_cast<double>(x.size() - 2 * skip));
}

// Amplitude of a sine estimated from its RMS.
inline double sine_amplitude(std::span<const float> x, double edge_fraction = 0.1) {
    return rms(x, edge_fraction) * std::sqrt(2.0);
}

inline float peak(std::span<const float> x) {
    float p = 0.0f;
    for (float v : x) {
        p = std::max(p, std::abs(v));
    }
    return p;
}

}  // namespace earshot::testing
