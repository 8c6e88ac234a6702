// Whole-file vector from segment embeddings: a loudness-weighted mean. Segment i gets weight
// w_i = rms_i (linear RMS of the audio inside [start_s, end_s)); segments quieter than
// kSilenceDbfs get weight 0 unless every segment is that quiet (then a plain mean). This keeps
// leading/trailing silence and padding from pulling the vector (tests/models/pooling_test.cpp).
// Deterministic: same input, bit-identical output. Thread-safe (pure function).
#pragma once

#include <span>
#include <vector>

#include "models/embedding_model.h"

namespace earshot {

inline constexpr double kSilenceDbfs = -60.0;

// audio: the mono signal the embeddings were computed from, at sample_rate_hz.
std::vector<float> pool_segments(const Embeddings& embeddings,
                                 std::span<const float> audio,
                                 int sample_rate_hz);

// Per-segment weights as used by pool_segments (exposed for tests).
std::vector<double> segment_weights(const Embeddings& embeddings,
                                    std::span<const float> audio,
                                    int sample_rate_hz);

}  // namespace earshot
