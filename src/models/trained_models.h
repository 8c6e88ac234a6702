// Models trained by `earshot train` (src/train/): a convolutional autoencoder ("ae:PATH"), a
// siamese similarity network ("siamese:PATH") and a learned projection over a pretrained model
// ("proj:PATH"). One file per model: a safetensors file (core/safetensors.h) with every parameter
// and buffer as F32, and the model card (JSON, format below) in the metadata key "earshot_card".
//
// Input of ae/siamese ("excerpt image"): from the audio the engine hands to embed() (leading
// silence already trimmed), one excerpt of excerpt_s seconds (first / middle / most energetic
// window; zero-padded if shorter) becomes a log-mel image [n_frames][n_mels], hop chosen so the
// excerpt fills n_frames frames, normalised as (x - mean) / std with training-set statistics.
// Each model returns one segment per file (the excerpt). proj applies its head to every segment
// of its base model (a linear head commutes with the weighted-mean pooling, models/pooling.h).
// Thread-safety: the models' embed() and learned_pair_score() may be called concurrently.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/matrix.h"
#include "core/status.h"
#include "features/frontend_config.h"
#include "features/log_mel.h"
#include "models/embedding_model.h"
#include "models/model_registry.h"

namespace earshot {

enum class ExcerptKind {
    kStart,   // "start": the first excerpt_s seconds
    kMiddle,  // "middle": centred on the middle of the audio
    kEnergy,  // "energy": the window (10 ms steps) with the largest sum of squares
};
const char* excerpt_kind_name(ExcerptKind kind);
// kInvalidArgument listing the known names.
Result<ExcerptKind> parse_excerpt_kind(std::string_view name);

// How audio becomes the network's input image (ae, siamese).
struct ExcerptImageConfig {
    ExcerptKind excerpt = ExcerptKind::kStart;
    double excerpt_s = 2.0;
    int n_frames = 64;        // image height (time)
    FrontendConfig frontend;  // hop_length chosen by make_excerpt_frontend()
    float mean = 0.0f;        // normalisation: (x - mean) / std, training-set statistics
    float std = 1.0f;
};

// Front end for an excerpt image: 16 kHz, Hann 1024 in a 1024 FFT, magnitude, n_mels HTK bands
// 60-7800 Hz, ln(mel + 0.001); hop = (excerpt samples - 1024) / (n_frames - 1) so that the first
// n_frames frames span the excerpt. REQUIRES n_frames >= 2, excerpt_s * 16000 >= 1024 + n_frames.
FrontendConfig make_excerpt_frontend(double excerpt_s, int n_frames, int n_mels);

// Computes un-normalised log-mel images [n_frames][n_mels] of audio's excerpt (mean/std are
// not applied). Immutable after make(); compute() is thread-safe.
class ExcerptImager {
public:
    // kInvalidArgument for a bad front end or n_frames < 1.
    static Result<std::unique_ptr<ExcerptImager>> make(const ExcerptImageConfig& config);
    ~ExcerptImager();
    ExcerptImager(const ExcerptImager&) = delete;
    ExcerptImager& operator=(const ExcerptImager&) = delete;

    const ExcerptImageConfig& config() const { return config_; }
    // Samples in one excerpt.
    std::size_t excerpt_samples() const;
    // Where the excerpt of audio starts (sample index) under config().excerpt.
    std::size_t excerpt_start(std::span<const float> audio) const;
    // start_sample (optional) receives excerpt_start(audio).
    Result<Matrix> compute(std::span<const float> audio, std::size_t* start_sample = nullptr) const;

private:
    ExcerptImager(ExcerptImageConfig config, std::unique_ptr<LogMelFrontend> frontend);
    ExcerptImageConfig config_;
    std::unique_ptr<LogMelFrontend> frontend_;
};

struct TrainedModelCard {
    std::string kind;  // "ae", "siamese", "proj"
    std::string name;  // persisted name = catalog space, e.g. "ae-gm-1a2b3c4d"
    std::string description;
    int dim = 0;
    int sample_rate_hz = 16000;
    ExcerptImageConfig input;  // ae, siamese
    int channels = 0;          // ae: first conv's channels (then x2, x4); siamese: conv channels
    std::string base_model;    // proj: the pretrained model's registry name ("mn04")
    int base_dim = 0;          // proj: its dim
    std::string training_json = "{}";  // free-form facts about the run (data, seed, epochs, ...)
};

// Card <-> JSON. The card JSON:
//   {"format": "earshot-trained-1", "kind", "name", "description", "dim", "sample_rate_hz",
//    "channels", "base_model", "base_dim",
//    "input": {"excerpt": "start|middle|energy", "excerpt_s", "n_frames", "mean", "std",
//              "n_fft", "window_length", "hop_length", "n_mels", "fmin_hz", "fmax_hz", "log_add"},
//    "training": {...}}
// parse: kCorruption naming the field when something is missing or malformed.
std::string trained_card_to_json(const TrainedModelCard& card);
Result<TrainedModelCard> parse_trained_card(std::string_view json, std::string_view source);

// Reads only the card of a trained model file. kNotFound, kCorruption.
Result<TrainedModelCard> read_trained_card(const std::filesystem::path& path);

// Loads PATH as a model of the given kind ("ae", "siamese", "proj"; the file's card must agree).
// proj also makes its base model with make_model(card.base_model, options).
// Errors: kNotFound (file), kCorruption (not a trained-model file, wrong shapes),
// kInvalidArgument (kind mismatch), and the base model's errors.
Result<std::unique_ptr<EmbeddingModel>> make_trained_model(const std::string& kind,
                                                           const std::filesystem::path& path,
                                                           const ModelOptions& options);

// The siamese network's learned similarity of two of its own embeddings, in [0, 1]:
// sigmoid(w · |a - b| + c). kInvalidArgument if model is not a siamese model or the sizes differ
// from its dim.
Result<float> learned_pair_score(const EmbeddingModel& model,
                                 std::span<const float> a,
                                 std::span<const float> b);

}  // namespace earshot
