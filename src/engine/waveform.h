// Waveform thumbnails: per-bucket peak amplitudes of an audio file, for the web page's result
// cards (server/ GET /api/items/{id}/waveform). Thread-safe (each call decodes on its own).
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#include "core/status.h"

namespace earshot {

struct Waveform {
    double duration_s = 0.0;
    std::vector<float> peaks;  // n_points values in [0, 1]: max |sample| of each equal time slice
};

// Decodes path (mono, 8 kHz, at most max_duration_s seconds) and returns n_points peaks.
// REQUIRES: 1 <= n_points <= 4096. Errors as decode_audio (kNotFound, kNotSupported,
// kCorruption, kIoError); kInvalidArgument for n_points out of range.
Result<Waveform> compute_waveform(const std::filesystem::path& path,
                                  std::size_t n_points,
                                  double max_duration_s = 600.0);

}  // namespace earshot
