// Embedding models: mono float32 audio at the model's rate -> per-segment embeddings (and, for
// models with a classifier head, per-segment class scores). Whole-file vectors are made from the
// segments by pool_segments() (models/pooling.h), so every model pools the same documented way.
// Data layout: segments n_segments × dim row-major, in time order.
// Thread-safety: embed() is const and may be called from several threads at once.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"

namespace earshot {

struct ModelInfo {
    std::string name;           // CLI name, e.g. "yamnet"
    std::string description;    // one line
    std::string license;        // e.g. "Apache-2.0"
    int dim = 0;                // embedding dimension
    int sample_rate_hz = 16000; // rate embed() expects
    double segment_s = 0.0;     // nominal segment length (0.96 for YAMNet)
    double segment_hop_s = 0.0; // nominal hop between segment starts
    std::vector<std::string> labels;        // class/tag names of the scores, empty if none
    std::filesystem::path weights_path;     // where weights were loaded from (empty if none)
};

struct Embeddings {
    Matrix segments;              // n_segments × dim
    std::vector<double> start_s;  // n_segments, seconds from the start of the audio
    std::vector<double> end_s;    // n_segments
    Matrix scores;                // n_segments × labels.size(), sigmoid outputs; empty if no head
};

class EmbeddingModel {
public:
    virtual ~EmbeddingModel() = default;
    virtual const ModelInfo& info() const = 0;
    // audio: mono float32 in [-1, 1] at info().sample_rate_hz. Any length >= 0: short input is
    // padded as the model's own front end does, so at least one segment is returned.
    // Errors: kInternal if the network fails (message names the model).
    virtual Result<Embeddings> embed(std::span<const float> audio) const = 0;
};

}  // namespace earshot
