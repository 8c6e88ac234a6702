#include "engine/waveform.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "audio/decoder.h"

namespace earshot {

Result<Waveform> compute_waveform(const std::filesystem::path& path,
                                  std::size_t n_points,
                                  double max_duration_s) {
    constexpr std::size_t kMaxPoints = 4096;
    if (n_points == 0 || n_points > kMaxPoints) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("waveform points must be 1..{}, got {}", kMaxPoints, n_points));
    }
    DecodeOptions opts;
    opts.target_sample_rate_hz = 8000;  // plenty for a thumbnail, and cheap to resample to
    opts.max_duration_s = max_duration_s;
    AudioInfo info;
    EARSHOT_ASSIGN_OR_RETURN(auto audio, decode_audio(path, opts, &info));
    Waveform w;
    w.duration_s = info.duration_s;
    w.peaks.assign(n_points, 0.0f);
    const std::size_t n = audio.samples.size();
    if (n == 0)
        return w;
    for (std::size_t p = 0; p < n_points; ++p) {
        std::size_t begin = p * n / n_points;
        std::size_t end = std::max(begin + 1, (p + 1) * n / n_points);
        float peak = 0.0f;
        for (std::size_t i = begin; i < end && i < n; ++i) {
            peak = std::max(peak, std::abs(audio.samples[i]));
        }
        w.peaks[p] = std::min(peak, 1.0f);
    }
    return w;
}

}  // namespace earshot
