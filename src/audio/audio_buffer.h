// Audio as the rest of earshot sees it: mono float32 samples in [-1, 1] at sample_rate_hz,
// plus what we learned about the source file. Plain values; not shared between threads mutably.
#pragma once

#include <string>
#include <vector>

namespace earshot {

// Facts about a source file, read from its container/stream headers (and, for duration,
// refined by decoding when the container does not say).
struct AudioInfo {
    double duration_s = 0.0;  // of the source stream
    int sample_rate_hz = 0;   // original rate
    int channels = 0;         // original channel count
    std::string codec;        // FFmpeg codec name, e.g. "flac", "vorbis", "pcm_s16le"
    std::string container;    // FFmpeg format name, e.g. "wav", "ogg"
    int bits_per_sample = 0;  // 0 when the codec has no fixed depth (lossy codecs)
    std::string title;        // tag, empty if absent
    std::string artist;       // tag, empty if absent
};

struct AudioBuffer {
    std::vector<float> samples;  // mono, float32, [-1, 1]
    int sample_rate_hz = 0;

    double duration_s() const {
        return sample_rate_hz > 0 ? static_cast<double>(samples.size()) / sample_rate_hz : 0.0;
    }
};

}  // namespace earshot
