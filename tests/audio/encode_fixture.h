// Test-only: writes audio fixtures at test time by encoding a generated signal through the
// FFmpeg libraries (libavcodec encoders + libavformat muxers), so the decoder tests need no
// binary files in the repo and no ffmpeg CLI. Streams frame by frame: a 10-minute fixture
// never exists in memory as a whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace earshot::testing {

struct FixtureSpec {
    std::string container;  // FFmpeg muxer: "wav", "flac", "ogg", "opus", "mp3", "ipod", "mp4"
    std::string codec;      // FFmpeg encoder: "pcm_s16le", "flac", "libvorbis", "libopus",
                            // "libmp3lame", "aac", ...
    int sample_rate_hz = 44100;
    int channels = 1;             // default layout for the count (6 = 5.1, 8 = 7.1)
    std::string sample_format;    // FFmpeg name ("u8", "s16", "s32", "flt", "fltp", ...);
                                  // empty = the encoder's first supported format
    int bits_per_raw_sample = 0;  // e.g. 24 for pcm_s24le / 24-bit flac (input then s32)
    std::int64_t bit_rate = 0;    // lossy codecs; 0 = encoder default
    std::string title;            // tags; empty = none
    std::string artist;
    bool tags_on_stream = false;  // write tags as stream metadata instead of format metadata
};

// Value in [-1, 1] of channel c at frame i; called in increasing frame order.
using FixtureSignal = std::function<float(int channel, std::int64_t frame)>;

// Encodes n_frames frames of signal into path per spec.
Status encode_fixture(const std::filesystem::path& path,
                      const FixtureSpec& spec,
                      std::int64_t n_frames,
                      const FixtureSignal& signal);

// Same, from one vector per channel (all of equal length; spec.channels must match).
Status encode_fixture(const std::filesystem::path& path,
                      const FixtureSpec& spec,
                      const std::vector<std::vector<float>>& channels);

// A sine of freq_hz and amplitude on every channel, duration_s long.
Status encode_sine_fixture(const std::filesystem::path& path,
                           const FixtureSpec& spec,
                           double freq_hz,
                           double duration_s,
                           float amplitude = 0.5f);

}  // namespace earshot::testing
