// Weight-free baseline model "mfcc": classical features (MFCC, deltas, spectral statistics from
// features/mfcc.h), summarised per 1 s segment as mean and std over its 10 ms frames, then put on
// a common scale so that no single feature dominates cosine or euclidean distances.
//
// Segments: 1 s windows with a 0.5 s hop, starting at 0; if the last window does not reach the
// end of the audio, one more window is aligned to the end ([n - 1 s, n)). Audio of <= 1 s gives one
// segment covering all of it (the extractor zero-pads below one 25 ms frame).
//
// Scaling (fixed, no state): for summary dimension j, out_j = (raw_j - kCentre[j]) / kScale[j] *
// block weight. kCentre / kScale are the mean and standard deviation of raw_j over 198 one-second
// segments (<= 10 per file, hop 0.5 s) of 56 files sampled from the four ../shared/datasets
// collections (game_music, gm_fluidr3, hedgewars_voices, ufoai_sfx; every 23rd file in sorted
// order, first 30 s, ffmpeg to 16 kHz mono int16), rounded to two significant digits. They are
// part of the model: changing them (or kMfccConfig) changes the embeddings, so rename the model.
// Block weights 1/sqrt(block size) give each of the six blocks (MFCC means, delta means, spectral
// means, MFCC stds, delta stds, spectral stds) the same expected share of a squared distance,
// except delta means (the mean slope over 1 s, mostly noise), which get half of that weight.
#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "features/mfcc.h"
#include "models/model_factories.h"

namespace earshot {
namespace {

constexpr int kRateHz = 16000;
constexpr double kSegmentS = 1.0;
constexpr double kHopS = 0.5;

// Spelled out (not the MfccConfig defaults) because kCentre / kScale were measured with it.
MfccConfig mfcc_config() {
    MfccConfig c;
    c.sample_rate_hz = kRateHz;
    c.n_fft = 512;
    c.window_length = 400;
    c.hop_length = 160;
    c.n_mels = 40;
    c.fmin_hz = 20.0;
    c.fmax_hz = 8000.0;
    c.n_mfcc = 20;
    c.delta_width = 2;
    c.log_floor = 1e-6;
    c.rolloff_fraction = 0.85;
    return c;
}

constexpr std::size_t kNMfcc = 20;
constexpr std::size_t kNSpectral = 5;
constexpr std::size_t kNFrame = 2 * kNMfcc + kNSpectral;  // 45 per-frame features
constexpr std::size_t kDim = 2 * kNFrame;                 // means then stds: 90

struct Standardiser {
    float centre;
    float scale;
};
// Mean and std of each raw summary dimension on the calibration set (see the top of the file),
// in MfccExtractor::summary_names() order.
constexpr std::array<Standardiser, kDim> kStandardisers = {{
    {-28.0f, 25.0f},      // mean_mfcc_0
    {13.0f, 11.0f},       // mean_mfcc_1
    {-0.63f, 5.8f},       // mean_mfcc_2
    {1.1f, 3.9f},         // mean_mfcc_3
    {-0.59f, 3.3f},       // mean_mfcc_4
    {-0.034f, 2.6f},      // mean_mfcc_5
    {-0.41f, 2.0f},       // mean_mfcc_6
    {0.19f, 1.9f},        // mean_mfcc_7
    {-0.051f, 2.1f},      // mean_mfcc_8
    {0.2f, 1.8f},         // mean_mfcc_9
    {-0.13f, 1.7f},       // mean_mfcc_10
    {0.71f, 1.9f},        // mean_mfcc_11
    {0.26f, 1.8f},        // mean_mfcc_12
    {0.39f, 1.9f},        // mean_mfcc_13
    {0.27f, 1.4f},        // mean_mfcc_14
    {0.1f, 1.0f},         // mean_mfcc_15
    {-0.44f, 1.4f},       // mean_mfcc_16
    {0.27f, 1.5f},        // mean_mfcc_17
    {0.12f, 1.2f},        // mean_mfcc_18
    {0.33f, 1.3f},        // mean_mfcc_19
    {-0.098f, 0.23f},     // mean_delta_0
    {-0.001f, 0.094f},    // mean_delta_1
    {0.0038f, 0.047f},    // mean_delta_2
    {-0.005f, 0.038f},    // mean_delta_3
    {0.0025f, 0.032f},    // mean_delta_4
    {0.0016f, 0.026f},    // mean_delta_5
    {0.0014f, 0.024f},    // mean_delta_6
    {5.5e-05f, 0.022f},   // mean_delta_7
    {0.0027f, 0.025f},    // mean_delta_8
    {0.00023f, 0.021f},   // mean_delta_9
    {0.0021f, 0.022f},    // mean_delta_10
    {0.00071f, 0.02f},    // mean_delta_11
    {0.00073f, 0.019f},   // mean_delta_12
    {-0.00045f, 0.018f},  // mean_delta_13
    {0.00015f, 0.018f},   // mean_delta_14
    {-0.00016f, 0.014f},  // mean_delta_15
    {0.00055f, 0.014f},   // mean_delta_16
    {0.0016f, 0.016f},    // mean_delta_17
    {0.00073f, 0.013f},   // mean_delta_18
    {-0.0022f, 0.016f},   // mean_delta_19
    {1300.0f, 930.0f},    // mean_centroid_hz
    {1200.0f, 470.0f},    // mean_bandwidth_hz
    {0.037f, 0.11f},      // mean_flatness
    {2200.0f, 1500.0f},   // mean_rolloff_hz
    {0.1f, 0.12f},        // mean_zcr
    {7.0f, 7.0f},         // std_mfcc_0
    {3.2f, 2.5f},         // std_mfcc_1
    {2.1f, 1.3f},         // std_mfcc_2
    {1.7f, 0.91f},        // std_mfcc_3
    {1.5f, 0.79f},        // std_mfcc_4
    {1.3f, 0.59f},        // std_mfcc_5
    {1.2f, 0.51f},        // std_mfcc_6
    {1.2f, 0.48f},        // std_mfcc_7
    {1.1f, 0.58f},        // std_mfcc_8
    {1.0f, 0.48f},        // std_mfcc_9
    {1.0f, 0.48f},        // std_mfcc_10
    {0.99f, 0.58f},       // std_mfcc_11
    {0.98f, 0.52f},       // std_mfcc_12
    {0.93f, 0.48f},       // std_mfcc_13
    {0.92f, 0.47f},       // std_mfcc_14
    {0.87f, 0.48f},       // std_mfcc_15
    {0.83f, 0.47f},       // std_mfcc_16
    {0.82f, 0.4f},        // std_mfcc_17
    {0.79f, 0.4f},        // std_mfcc_18
    {0.79f, 0.44f},       // std_mfcc_19
    {1.1f, 0.93f},        // std_delta_0
    {0.61f, 0.39f},       // std_delta_1
    {0.47f, 0.26f},       // std_delta_2
    {0.39f, 0.18f},       // std_delta_3
    {0.35f, 0.15f},       // std_delta_4
    {0.32f, 0.12f},       // std_delta_5
    {0.31f, 0.12f},       // std_delta_6
    {0.3f, 0.11f},        // std_delta_7
    {0.3f, 0.12f},        // std_delta_8
    {0.28f, 0.1f},        // std_delta_9
    {0.28f, 0.11f},       // std_delta_10
    {0.27f, 0.099f},      // std_delta_11
    {0.26f, 0.099f},      // std_delta_12
    {0.26f, 0.09f},       // std_delta_13
    {0.25f, 0.1f},        // std_delta_14
    {0.25f, 0.1f},        // std_delta_15
    {0.23f, 0.098f},      // std_delta_16
    {0.23f, 0.082f},      // std_delta_17
    {0.22f, 0.092f},      // std_delta_18
    {0.22f, 0.083f},      // std_delta_19
    {350.0f, 360.0f},     // std_centroid_hz
    {240.0f, 210.0f},     // std_bandwidth_hz
    {0.033f, 0.072f},     // std_flatness
    {720.0f, 700.0f},     // std_rolloff_hz
    {0.036f, 0.037f},     // std_zcr
}};

// Weight of dimension j (block weights, see the top of the file).
float block_weight(std::size_t j) {
    const std::size_t f = j % kNFrame;  // feature within the mean or std half
    if (f < kNMfcc)
        return static_cast<float>(1.0 / std::sqrt(double(kNMfcc)));
    if (f < 2 * kNMfcc) {
        const double w = j < kNFrame ? 0.5 : 1.0;  // delta means: half weight
        return static_cast<float>(w / std::sqrt(double(kNMfcc)));
    }
    return static_cast<float>(1.0 / std::sqrt(double(kNSpectral)));
}

class MfccModel final : public EmbeddingModel {
public:
    MfccModel(ModelInfo info, std::unique_ptr<MfccExtractor> extractor)
        : info_(std::move(info)), extractor_(std::move(extractor)) {
        for (std::size_t j = 0; j < kDim; ++j) {
            mul_[j] = block_weight(j) / kStandardisers[j].scale;
        }
    }

    const ModelInfo& info() const override { return info_; }

    Result<Embeddings> embed(std::span<const float> audio) const override {
        const auto seg = static_cast<std::size_t>(kSegmentS * kRateHz);
        const auto hop = static_cast<std::size_t>(kHopS * kRateHz);
        std::vector<std::size_t> starts;
        if (audio.size() <= seg) {
            starts.push_back(0);
        } else {
            for (std::size_t b = 0; b + seg <= audio.size(); b += hop) starts.push_back(b);
            if (starts.back() + seg < audio.size())
                starts.push_back(audio.size() - seg);
        }
        Embeddings out;
        out.segments = Matrix(starts.size(), kDim);
        for (std::size_t i = 0; i < starts.size(); ++i) {
            const std::size_t len = std::min(seg, audio.size() - starts[i]);
            auto raw = extractor_->summary(audio.subspan(starts[i], len));
            if (!raw)
                return tl::unexpected(raw.error().with_context("mfcc"));
            float* row = out.segments.row(i);
            for (std::size_t j = 0; j < kDim; ++j) {
                row[j] = ((*raw)[j] - kStandardisers[j].centre) * mul_[j];
            }
            out.start_s.push_back(static_cast<double>(starts[i]) / kRateHz);
            out.end_s.push_back(static_cast<double>(starts[i] + len) / kRateHz);
        }
        return out;
    }

private:
    ModelInfo info_;
    std::unique_ptr<MfccExtractor> extractor_;
    std::array<float, kDim> mul_{};
};

}  // namespace

Result<std::unique_ptr<EmbeddingModel>> make_mfcc_model(
    const std::filesystem::path& /*weights_dir*/, const ModelOptions& /*options*/) {
    auto extractor = MfccExtractor::make(mfcc_config());
    if (!extractor)
        return tl::unexpected(extractor.error().with_context("mfcc"));
    if ((*extractor)->n_summary_features() != kDim) {
        return make_error(ErrorCode::kInternal,
                          "mfcc: extractor gives " +
                              std::to_string((*extractor)->n_summary_features()) +
                              " summary features, the scaling table has " + std::to_string(kDim));
    }
    ModelInfo info;
    info.name = kMfccModelKind.name;
    info.description =
        "classical baseline: MFCC + deltas + spectral statistics (mean, std) per 1 s, no weights";
    info.license = "n/a (ours)";
    info.dim = static_cast<int>(kDim);
    info.sample_rate_hz = kRateHz;
    info.segment_s = kSegmentS;
    info.segment_hop_s = kHopS;
    return std::make_unique<MfccModel>(std::move(info), std::move(*extractor));
}

const ModelKind kMfccModelKind{
    .name = "mfcc",
    .factory =
        [](const ModelSource& source, const ModelOptions& options) {
            return make_mfcc_model(source.weights_dir, options);
        },
    .description = "classical baseline: MFCC + deltas + spectral statistics, no weights",
    .license = "n/a (ours)",
};

}  // namespace earshot
