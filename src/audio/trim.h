// Finding the non-silent part of a signal, so that leading/trailing silence does not change what
// a model sees (a file with 1.5 s of silence in front embeds like the original). Pure functions,
// thread-safe.
#pragma once

#include <cstddef>
#include <span>

namespace earshot {

inline constexpr double kTrimThresholdDbfs = -60.0;

// [begin, end) sample range from the first to the last sample whose magnitude reaches the
// threshold (dBFS, relative to full scale 1.0). Sample-exact, so padding by any amount of digital
// silence gives the same range of content. A signal that never reaches it gives {0, size}.
struct SampleRange {
    std::size_t begin = 0;
    std::size_t end = 0;
};
SampleRange non_silent_range(std::span<const float> audio,
                             double threshold_dbfs = kTrimThresholdDbfs);

}  // namespace earshot
