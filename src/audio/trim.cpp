#include "audio/trim.h"

#include <cmath>

namespace earshot {

SampleRange non_silent_range(std::span<const float> audio, double threshold_dbfs) {
    const auto threshold = static_cast<float>(std::pow(10.0, threshold_dbfs / 20.0));
    std::size_t begin = 0;
    while (begin < audio.size() && std::fabs(audio[begin]) < threshold) ++begin;
    if (begin == audio.size())
        return {0, audio.size()};
    std::size_t end = audio.size();
    while (end > begin && std::fabs(audio[end - 1]) < threshold) --end;
    return {begin, end};
}

}  // namespace earshot
