// Embedding audio with a model for the engine: decoded or in-memory audio in, the whole-file
// vector, per-segment vectors (optionally cut into windows) and classifier labels out. Shared by
// ingest (engine/ingest.h), search (engine/search.h) and `earshot embed`.
// Vectors: whole-file `embedding` of the model's dim; `segments.segments` n_segments x dim,
// row-major, with start_s/end_s in seconds from the start of the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_buffer.h"
#include "catalog/catalog.h"
#include "core/status.h"
#include "models/embedding_model.h"

namespace earshot {

// How stored segments are cut. window_s == 0: the model's own segments.
struct Segmenting {
    double window_s = 0.0;
    double hop_s = 0.0;
};
// The default for a model: models whose own segments are longer than kMaxNativeSegmentS (mn04:
// 10 s windows) get 4 s windows every 2 s, others keep their own (docs/cli.md).
inline constexpr double kMaxNativeSegmentS = 4.0;
Segmenting default_segmenting(const ModelInfo& info);

// A query whose peak is below this (dBFS) is refused as silent unless allow_silent.
inline constexpr double kSilentQueryDbfs = -50.0;
// The error of a silent query is kInvalidArgument with a message starting with this; the server
// answers it with 422 and code "SilentQuery", the CLI with exit code 8 (is_silent_query).
inline constexpr std::string_view kSilentQueryMessage = "silent query: ";
bool is_silent_query(const Error& error);
// The silent-query error naming the query and its peak if samples peak below kSilentQueryDbfs.
Status check_query_not_silent(std::span<const float> samples, const std::string& query_name);

struct LabelScore {
    std::string name;
    float score = 0.0f;
};

// Tags stored at index time: the model's classifier labels (mean score over the segments), at
// most kMaxItemTags of them with a score >= kMinTagScore, best first (docs/cli.md "Tags").
inline constexpr std::size_t kMaxItemTags = 5;
inline constexpr float kMinTagScore = 0.2f;
std::vector<TagScore> tags_from_labels(const std::vector<LabelScore>& labels);

struct EmbedResult {
    std::string model;
    int dim = 0;
    AudioInfo info;
    std::vector<float> embedding;    // whole-file vector (models/pooling.h)
    Embeddings segments;             // per segment, in time order
    std::vector<LabelScore> labels;  // mean score over segments, best first; empty if no head
};

// Embeds one file with a model (no catalog needed). top_labels limits `labels` (0 = all).
struct EmbedOptions {
    std::string model;
    std::filesystem::path models_dir;
    int threads = 0;
    std::size_t top_labels = 10;
    // Drop leading silence (below -60 dBFS) before embedding, as `index` and `search` do, so
    // padding does not change the vectors. false: embed from sample 0 like the models' reference
    // implementations (segment vectors then match ../shared/models/*/reference; a few ms of quiet
    // lead would otherwise shift every patch).
    bool trim_leading_silence = true;
};
Result<EmbedResult> embed_file(const std::filesystem::path& path, const EmbedOptions& options);
// Same with an already-made model.
// With segmenting.window_s > 0 the segments are windows cut as Segmenting says (each embedded
// and pooled like a whole file); the whole-file vector and labels are the model's own.
Result<EmbedResult> embed_audio_file(const std::filesystem::path& path,
                                     const EmbeddingModel& model,
                                     std::size_t top_labels,
                                     const Segmenting& segmenting = {},
                                     bool trim_leading_silence = true);
// Same for mono samples in memory at any rate (resampled to the model's rate as decoding does;
// info: duration, the given rate, 1 channel, codec "pcm_f32"). kInvalidArgument for a rate
// outside 1000..384000 Hz, no samples or a non-finite sample.
Result<EmbedResult> embed_samples(std::span<const float> samples,
                                  int sample_rate_hz,
                                  const EmbeddingModel& model,
                                  std::size_t top_labels);

// Embeds decoded audio (at the model's rate) from its first non-silent sample on (audio/trim.h:
// -60 dBFS), so leading silence does not change the vectors. Trailing silence is kept: a
// one-shot's length is part of how it sounds (trimming both ends cost 0.013 P@10 with mn04 on
// gm_fluidr3, docs/models.md). Segment times are relative to the original file. trim = false
// embeds from sample 0, as the models' reference implementations do (the segments then match
// ../shared references). kCorruption for non-finite samples or vectors.
Result<EmbedResult> embed_buffer(AudioBuffer audio,
                                 const AudioInfo& info,
                                 const EmbeddingModel& model,
                                 std::size_t n_labels,
                                 const Segmenting& segmenting = {},
                                 bool trim = true);

// The mean classifier score of each label over the segments, best first; at most `top` (0: all).
std::vector<LabelScore> top_labels(const Embeddings& e,
                                   const std::vector<std::string>& names,
                                   std::size_t top);
// The names of the first n labels, comma-separated.
std::string labels_text(const std::vector<LabelScore>& labels, std::size_t n);

}  // namespace earshot
