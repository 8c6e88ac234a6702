#include "models/pooling.h"

#include <algorithm>
#include <cmath>

namespace earshot {

std::vector<double> segment_weights(const Embeddings& embeddings,
                                    std::span<const float> audio,
                                    int sample_rate_hz) {
    const std::size_t n = embeddings.segments.n_rows;
    std::vector<double> w(n, 0.0);
    const double silence_rms = std::pow(10.0, kSilenceDbfs / 20.0);
    bool any_loud = false;
    for (std::size_t i = 0; i < n; ++i) {
        auto b = static_cast<std::size_t>(std::max(0.0, embeddings.start_s[i] * sample_rate_hz));
        auto e = static_cast<std::size_t>(std::max(0.0, embeddings.end_s[i] * sample_rate_hz));
        b = std::min(b, audio.size());
        e = std::min(std::max(e, b), audio.size());
        // Padding beyond the end of the audio counts as silence: divide by the nominal length.
        std::size_t nominal = static_cast<std::size_t>(
            std::max(1.0, (embeddings.end_s[i] - embeddings.start_s[i]) * sample_rate_hz));
        double sum = 0.0;
        for (std::size_t j = b; j < e; ++j) sum += static_cast<double>(audio[j]) * audio[j];
        double rms = std::sqrt(sum / static_cast<double>(nominal));
        if (rms >= silence_rms) {
            w[i] = rms;
            any_loud = true;
        }
    }
    if (!any_loud)
        std::fill(w.begin(), w.end(), 1.0);
    return w;
}

std::vector<float> pool_segments(const Embeddings& embeddings,
                                 std::span<const float> audio,
                                 int sample_rate_hz) {
    const std::size_t n = embeddings.segments.n_rows;
    const std::size_t d = embeddings.segments.n_cols;
    std::vector<float> out(d, 0.0f);
    if (n == 0)
        return out;
    auto w = segment_weights(embeddings, audio, sample_rate_hz);
    double total = 0.0;
    for (double x : w) total += x;
    std::vector<double> acc(d, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        if (w[i] == 0.0)
            continue;
        const float* r = embeddings.segments.row(i);
        for (std::size_t j = 0; j < d; ++j) acc[j] += w[i] * r[j];
    }
    for (std::size_t j = 0; j < d; ++j) out[j] = static_cast<float>(acc[j] / total);
    return out;
}

}  // namespace earshot
