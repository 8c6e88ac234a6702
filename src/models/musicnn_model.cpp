// musicnn (MSD_musicnn and MTT_musicnn) as EmbeddingModels: our own libtorch definition of the
// Keras graph, loading weights.safetensors (Keras layouts). Specification and parity references:
// ../shared/models/MODELS.md §6 (front end §6.1, network §6.2, tensors §6.3); upstream model:
// github.com/jordipons/musicnn musicnn/models.py (define_model, musically_motivated_cnn).
#include <algorithm>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/safetensors.h"
#include "features/log_mel.h"
#include "features/patcher.h"
#include "features/presets.h"
#include "models/detail/musicnn_network.h"
#include "models/labels.h"
#include "models/model_factories.h"
#include "models/torch_util.h"

namespace earshot {
namespace detail {
namespace {

constexpr double kBatchNormEps = 1e-3;  // Keras BatchNormalization default (metadata `bn_eps`)
constexpr std::int64_t kPatchFrames = 187;
constexpr std::int64_t kMels = 96;
constexpr std::int64_t kTimbralChannels = 204;
constexpr std::int64_t kTemporalChannels = 51;
constexpr std::int64_t kMidendChannels = 64;
constexpr std::int64_t kFrontendChannels = 2 * kTimbralChannels + 3 * kTemporalChannels;  // 561
constexpr std::int64_t kTimbralKernelMel[2] = {38, 67};  // int(0.4·96), int(0.7·96)
constexpr std::int64_t kTemporalKernelTime[3] = {128, 64, 32};

// Folds a Keras BatchNormalization (inference) into y = x·scale + shift.
Result<MusicnnNetwork::BatchNorm> load_bn(const SafeTensors& st,
                                          const std::string& source,
                                          const std::string& name,
                                          std::int64_t channels) {
    EARSHOT_ASSIGN_OR_RETURN(auto gamma, load_weight(st, source, name + ".gamma", {channels}));
    EARSHOT_ASSIGN_OR_RETURN(auto beta, load_weight(st, source, name + ".beta", {channels}));
    EARSHOT_ASSIGN_OR_RETURN(auto mean, load_weight(st, source, name + ".moving_mean", {channels}));
    EARSHOT_ASSIGN_OR_RETURN(auto var,
                             load_weight(st, source, name + ".moving_variance", {channels}));
    MusicnnNetwork::BatchNorm bn;
    bn.scale = gamma / torch::sqrt(var + kBatchNormEps);
    bn.shift = beta - mean * bn.scale;
    return bn;
}

// Applies a folded BN along dim 1 of x (any rank >= 2).
torch::Tensor apply_bn(const torch::Tensor& x, const MusicnnNetwork::BatchNorm& bn) {
    std::vector<std::int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
    shape[1] = bn.scale.size(0);
    return x * bn.scale.view(shape) + bn.shift.view(shape);
}

}  // namespace

Result<MusicnnNetwork> MusicnnNetwork::load(const SafeTensors& weights, const std::string& source) {
    MusicnnNetwork net;
    EARSHOT_ASSIGN_OR_RETURN(net.input_bn_, load_bn(weights, source, "batch_normalization", 1));

    // Conv2D kernels are HWIO [time, mel, in, out]; torch wants OIHW.
    for (int i = 0; i < 2; ++i) {
        const std::string name = i == 0 ? "conv2d" : "conv2d_1";
        Conv& c = net.timbral_[i];
        EARSHOT_ASSIGN_OR_RETURN(auto kernel,
                                 load_weight(weights, source, name + ".kernel",
                                             {7, kTimbralKernelMel[i], 1, kTimbralChannels}));
        c.weight = kernel.permute({3, 2, 0, 1}).contiguous();
        EARSHOT_ASSIGN_OR_RETURN(c.bias,
                                 load_weight(weights, source, name + ".bias", {kTimbralChannels}));
        EARSHOT_ASSIGN_OR_RETURN(
            c.bn, load_bn(weights, source, fmt::format("batch_normalization_{}", i + 1),
                          kTimbralChannels));
    }
    for (int i = 0; i < 3; ++i) {
        const std::string name = fmt::format("conv2d_{}", i + 2);
        Conv& c = net.temporal_[i];
        EARSHOT_ASSIGN_OR_RETURN(auto kernel,
                                 load_weight(weights, source, name + ".kernel",
                                             {kTemporalKernelTime[i], 1, 1, kTemporalChannels}));
        c.weight = kernel.permute({3, 2, 0, 1}).contiguous();
        EARSHOT_ASSIGN_OR_RETURN(c.bias,
                                 load_weight(weights, source, name + ".bias", {kTemporalChannels}));
        EARSHOT_ASSIGN_OR_RETURN(
            c.bn, load_bn(weights, source, fmt::format("batch_normalization_{}", i + 3),
                          kTemporalChannels));
    }
    // Mid-end kernels [7, C_in, 1, 64] slide over time only: conv1d weight [64, C_in, 7].
    for (int i = 0; i < 3; ++i) {
        const std::string name = fmt::format("midend_conv{}", i + 1);
        const std::int64_t in = i == 0 ? kFrontendChannels : kMidendChannels;
        Conv& c = net.midend_[i];
        EARSHOT_ASSIGN_OR_RETURN(auto kernel, load_weight(weights, source, name + ".kernel",
                                                          {7, in, 1, kMidendChannels}));
        c.weight = kernel.select(2, 0).permute({2, 1, 0}).contiguous();
        EARSHOT_ASSIGN_OR_RETURN(c.bias,
                                 load_weight(weights, source, name + ".bias", {kMidendChannels}));
        EARSHOT_ASSIGN_OR_RETURN(c.bn, load_bn(weights, source, "bn_" + name, kMidendChannels));
    }
    EARSHOT_ASSIGN_OR_RETURN(net.bn_flatpool_,
                             load_bn(weights, source, "bn_flatpool", 2 * kMusicnnPoolDim));
    EARSHOT_ASSIGN_OR_RETURN(
        net.dense_kernel_,
        load_weight(weights, source, "dense.kernel", {2 * kMusicnnPoolDim, kMusicnnEmbeddingDim}));
    EARSHOT_ASSIGN_OR_RETURN(net.dense_bias_,
                             load_weight(weights, source, "dense.bias", {kMusicnnEmbeddingDim}));
    EARSHOT_ASSIGN_OR_RETURN(net.bn_dense_,
                             load_bn(weights, source, "bn_dense", kMusicnnEmbeddingDim));
    EARSHOT_ASSIGN_OR_RETURN(
        net.dense1_kernel_,
        load_weight(weights, source, "dense_1.kernel", {kMusicnnEmbeddingDim, kMusicnnNumTags}));
    EARSHOT_ASSIGN_OR_RETURN(net.dense1_bias_,
                             load_weight(weights, source, "dense_1.bias", {kMusicnnNumTags}));
    return net;
}

MusicnnOutputs MusicnnNetwork::forward(const torch::Tensor& patches) const {
    TORCH_CHECK(patches.dim() == 4 && patches.size(1) == 1 && patches.size(2) == kPatchFrames &&
                    patches.size(3) == kMels,
                "musicnn: patches must be [P,1,187,96], got ", patches.sizes());
    // 1. Input BN with scalar parameters.
    const torch::Tensor x = patches * input_bn_.scale + input_bn_.shift;

    std::vector<torch::Tensor> front;
    front.reserve(5);
    // 2. Timbral branch: pad time 3/3 after the BN, valid 7×k conv, ReLU, BN, max over mel.
    const torch::Tensor x_timbral = torch::constant_pad_nd(x, {0, 0, 3, 3}, 0.0);
    for (const Conv& c : timbral_) {
        auto y = torch::relu(torch::conv2d(x_timbral, c.weight, c.bias));
        front.push_back(std::get<0>(apply_bn(y, c.bn).max(3)));
    }
    // 3. Temporal branch: k×1 convs with TF SAME padding in time ((k-1)/2 before, rest after).
    for (const Conv& c : temporal_) {
        const std::int64_t k = c.weight.size(2);
        const auto xp = torch::constant_pad_nd(x, {0, 0, (k - 1) / 2, k - 1 - (k - 1) / 2}, 0.0);
        auto y = torch::relu(torch::conv2d(xp, c.weight, c.bias));
        front.push_back(std::get<0>(apply_bn(y, c.bn).max(3)));
    }
    MusicnnOutputs out;
    // 4. [P,561,187], channel order conv2d, conv2d_1, conv2d_2, conv2d_3, conv2d_4.
    out.frontend_concat = torch::cat(front, 1);

    // 5. Mid-end: three 1-D convs over time (kernel 7, pad 3/3), ReLU, BN, residuals.
    auto midend = [&](const torch::Tensor& in, const Conv& c) {
        return apply_bn(torch::relu(torch::conv1d(in, c.weight, c.bias, 1, 3)), c.bn);
    };
    out.midend1 = midend(out.frontend_concat, midend_[0]);
    out.midend2 = midend(out.midend1, midend_[1]) + out.midend1;
    out.midend3 = midend(out.midend2, midend_[2]) + out.midend2;
    const auto z = torch::cat({out.frontend_concat, out.midend1, out.midend2, out.midend3}, 1);

    // 6. Back-end: temporal pools, interleaved (flat[2i] = max, flat[2i+1] = mean).
    out.max_pool = std::get<0>(z.max(2));
    out.mean_pool = z.mean(2);
    const auto flat = torch::stack({out.max_pool, out.mean_pool}, 2).reshape({z.size(0), -1});
    out.flat_bn = apply_bn(flat, bn_flatpool_);
    out.dense_prerelu = torch::addmm(dense_bias_, out.flat_bn, dense_kernel_);
    out.embeddings = apply_bn(torch::relu(out.dense_prerelu), bn_dense_);
    out.scores = torch::sigmoid(torch::addmm(dense1_bias_, out.embeddings, dense1_kernel_));
    return out;
}

Result<Patches> musicnn_patches(const LogMelFrontend& frontend, std::span<const float> audio) {
    // The centred STFT reflect-pads by 256 and needs N > 256; shorter input is zero-padded (it
    // becomes one patch of mostly log-mel zeros, i.e. digital silence, anyway).
    constexpr std::size_t kMinSamples = 257;
    std::vector<float> padded;
    if (audio.size() < kMinSamples) {
        padded.assign(audio.begin(), audio.end());
        padded.resize(kMinSamples, 0.0f);
        audio = padded;
    }
    EARSHOT_ASSIGN_OR_RETURN(const Matrix frames, frontend.compute(audio));
    Patches patches = make_musicnn_patches(frames);
    if (patches.n_patches == 0) {
        return make_error(ErrorCode::kInternal, "musicnn: front end produced no patch");
    }
    return patches;
}

}  // namespace detail

namespace {

// One patch is 187 frames of hop 256 at 16 kHz (MODELS.md §6.1 step 6), patches do not overlap.
constexpr double kPatchSeconds = 187.0 * 256.0 / 16000.0;  // 2.992 s
// Patches per forward pass: bounds the memory of the timbral branch (~10 MB per patch).
constexpr std::int64_t kMaxBatchPatches = 16;

struct MusicnnVariant {
    const char* name;        // CLI name
    const char* weights_id;  // metadata `model` of weights.safetensors
    const char* labels_csv;  // original/<file>, fallback when metadata has no labels
    const char* description;
};

constexpr MusicnnVariant kMsd = {
    "musicnn-msd", "msd_musicnn", "labels_MSD.csv",
    "musicnn MSD (Pons & Serra 2019; Million Song Dataset top-50 tags), 200-d per 3 s"};
constexpr MusicnnVariant kMtt = {
    "musicnn-mtt", "mtt_musicnn", "labels_MTT.csv",
    "musicnn MTT (Pons & Serra 2019; MagnaTagATune top-50 tags), 200-d per 3 s"};

Result<std::unique_ptr<EmbeddingModel>> make_musicnn_model(const MusicnnVariant& variant,
                                                           const std::filesystem::path& weights_dir,
                                                           const ModelOptions& options) {
    const std::string name = variant.name;
    const auto weights_path = weights_dir / "weights.safetensors";
    auto weights = load_safetensors(weights_path);
    if (!weights) {
        return tl::unexpected(weights.error().with_context(name + ": load weights"));
    }
    if (auto it = weights->metadata.find("model");
        it != weights->metadata.end() && it->second != variant.weights_id) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("{}: {} holds '{}' weights, expected '{}'", name,
                                      weights_path.string(), it->second, variant.weights_id));
    }
    auto network = detail::MusicnnNetwork::load(*weights, weights_path.string());
    if (!network) {
        return tl::unexpected(network.error().with_context(name));
    }

    Result<std::vector<std::string>> labels = std::vector<std::string>{};
    if (auto it = weights->metadata.find("labels"); it != weights->metadata.end()) {
        labels = parse_labels_json(it->second, weights_path.string() + " metadata 'labels'");
    } else {
        labels = read_labels_csv(weights_dir / "original" / variant.labels_csv, "name");
    }
    if (!labels) {
        return tl::unexpected(labels.error().with_context(name + ": labels"));
    }
    if (labels->size() != static_cast<std::size_t>(detail::kMusicnnNumTags)) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("{}: {} labels, expected {}", name, labels->size(),
                                      detail::kMusicnnNumTags));
    }

    auto frontend = LogMelFrontend::make(musicnn_frontend_config());
    if (!frontend) {
        return tl::unexpected(frontend.error().with_context(name + " front end"));
    }

    detail::set_torch_threads(options.threads);

    ModelInfo info;
    info.name = name;
    info.description = variant.description;
    info.license = "ISC";
    info.dim = static_cast<int>(detail::kMusicnnEmbeddingDim);
    info.sample_rate_hz = 16000;
    info.segment_s = kPatchSeconds;
    info.segment_hop_s = kPatchSeconds;
    info.labels = std::move(*labels);
    info.weights_path = weights_path;
    return std::make_unique<detail::PatchNetworkModel>(
        std::move(info), std::move(*frontend), detail::musicnn_patches,
        detail::forward_with_scores(std::move(*network)), kMaxBatchPatches);
}

}  // namespace

Result<std::unique_ptr<EmbeddingModel>> make_musicnn_msd_model(
    const std::filesystem::path& weights_dir, const ModelOptions& options) {
    return make_musicnn_model(kMsd, weights_dir, options);
}

Result<std::unique_ptr<EmbeddingModel>> make_musicnn_mtt_model(
    const std::filesystem::path& weights_dir, const ModelOptions& options) {
    return make_musicnn_model(kMtt, weights_dir, options);
}

const ModelKind kMusicnnMsdModelKind{
    .name = kMsd.name,
    .folder = kMsd.weights_id,
    .factory =
        [](const ModelSource& source, const ModelOptions& options) {
            return make_musicnn_model(kMsd, source.weights_dir, options);
        },
    .description = "musicnn trained on the Million Song Dataset (50 tags): music, 200-d per 3 s",
    .license = "ISC",
};

const ModelKind kMusicnnMttModelKind{
    .name = kMtt.name,
    .folder = kMtt.weights_id,
    .factory =
        [](const ModelSource& source, const ModelOptions& options) {
            return make_musicnn_model(kMtt, source.weights_dir, options);
        },
    .description = "musicnn trained on MagnaTagATune (50 tags): music, 200-d per 3 s",
    .license = "ISC",
};

}  // namespace earshot
