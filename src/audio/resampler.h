// Sample-rate conversion of mono float32 audio with soxr (HQ recipe; why: resampler.cpp).
// One-shot and streaming forms.
// A Resampler object is not thread-safe; use one per thread.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "core/status.h"

namespace earshot {

// One-shot: returns in resampled from in_rate_hz to out_rate_hz (copy when equal).
// kInvalidArgument for non-positive rates.
Result<std::vector<float>> resample(std::span<const float> in, int in_rate_hz, int out_rate_hz);

class Resampler {
public:
    static Result<std::unique_ptr<Resampler>> make(int in_rate_hz, int out_rate_hz);
    virtual ~Resampler() = default;
    // Feeds input, appends available output to out.
    virtual Status process(std::span<const float> in, std::vector<float>& out) = 0;
    // Flushes the filter tail into out; afterwards the object must not be fed again.
    virtual Status finish(std::vector<float>& out) = 0;
};

}  // namespace earshot
