// YAMNet as an EmbeddingModel: our own libtorch definition of the network, loading the
// dequantised TFLite weights from weights.safetensors. Specification and parity references:
// ../shared/models/MODELS.md §4 (front end §4.1, network §4.2, tensors §4.3); upstream
// architecture: tensorflow/models research/audioset/yamnet/yamnet.py (_YAMNET_LAYER_DEFS).
#include <algorithm>
#include <array>
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
#include "models/detail/yamnet_network.h"
#include "models/labels.h"
#include "models/model_factories.h"
#include "models/torch_util.h"

namespace earshot {
namespace detail {
namespace {

// Per layer: stride and output channels (MODELS.md §4.2 table; metadata `conv_strides`).
// Layer 0 is a full 3×3 conv, odd layers are depthwise 3×3, even layers >= 2 are pointwise 1×1.
constexpr std::array<std::int64_t, kYamnetNumLayers> kStrides = {
    2, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1};
constexpr std::array<std::int64_t, kYamnetNumLayers> kOutChannels = {
    32,  32,  64,  64,  128, 128, 128, 128, 256, 256, 256,  256,  512, 512,
    512, 512, 512, 512, 512, 512, 512, 512, 512, 512, 1024, 1024, 1024};

// TensorFlow "SAME" padding for one spatial axis: output ceil(n/s), total padding
// max((out-1)*s + k - n, 0), floor(total/2) before and the rest after (MODELS.md §4.2).
std::pair<std::int64_t, std::int64_t> tf_same_padding(std::int64_t n,
                                                      std::int64_t kernel,
                                                      std::int64_t stride) {
    const std::int64_t out = (n + stride - 1) / stride;
    const std::int64_t total = std::max<std::int64_t>((out - 1) * stride + kernel - n, 0);
    return {total / 2, total - total / 2};
}

}  // namespace

Result<YamnetNetwork> YamnetNetwork::load(const SafeTensors& weights, const std::string& source) {
    if (auto it = weights.metadata.find("conv_strides"); it != weights.metadata.end()) {
        std::string expected;
        for (std::size_t i = 0; i < kStrides.size(); ++i) {
            expected += (i == 0 ? "" : ",") + std::to_string(kStrides[i]);
        }
        if (it->second != expected) {
            return make_error(ErrorCode::kCorruption,
                              fmt::format("{}: conv_strides '{}' is not YAMNet's '{}'", source,
                                          it->second, expected));
        }
    }
    YamnetNetwork net;
    std::int64_t in_channels = 1;
    for (int i = 0; i < kYamnetNumLayers; ++i) {
        const auto idx = static_cast<std::size_t>(i);
        const bool depthwise = (i % 2) == 1;
        const bool full = i == 0;
        const std::string prefix = fmt::format("conv{:02d}_{}", i, depthwise ? "dw" : "pw");
        const std::int64_t out = kOutChannels[idx];
        const std::int64_t k = (full || depthwise) ? 3 : 1;
        Conv conv;
        EARSHOT_ASSIGN_OR_RETURN(
            conv.weight,
            load_weight(weights, source, prefix + "_w", {out, depthwise ? 1 : in_channels, k, k}));
        EARSHOT_ASSIGN_OR_RETURN(conv.bias, load_weight(weights, source, prefix + "_b", {out}));
        conv.stride = kStrides[idx];
        conv.groups = depthwise ? out : 1;
        net.convs_.push_back(std::move(conv));
        in_channels = out;
    }
    EARSHOT_ASSIGN_OR_RETURN(net.fc_weight_, load_weight(weights, source, "fc_w",
                                                         {kYamnetNumClasses, kYamnetEmbeddingDim}));
    EARSHOT_ASSIGN_OR_RETURN(net.fc_bias_,
                             load_weight(weights, source, "fc_b", {kYamnetNumClasses}));
    return net;
}

YamnetOutputs YamnetNetwork::forward(const torch::Tensor& patches,
                                     std::vector<torch::Tensor>* layers) const {
    TORCH_CHECK(patches.dim() == 4 && patches.size(1) == 1 && patches.size(2) == 96 &&
                    patches.size(3) == 64,
                "yamnet: patches must be [P,1,96,64], got ", patches.sizes());
    torch::Tensor x = patches;
    if (layers != nullptr) {
        layers->clear();
    }
    for (const Conv& conv : convs_) {
        const std::int64_t kh = conv.weight.size(2);
        const std::int64_t kw = conv.weight.size(3);
        const auto [top, bottom] = tf_same_padding(x.size(2), kh, conv.stride);
        const auto [left, right] = tf_same_padding(x.size(3), kw, conv.stride);
        // Symmetric padding goes into the conv itself; only TF's asymmetric case (stride 2:
        // 0 before, 1 after) needs an explicit pad.
        std::int64_t padding[2] = {0, 0};
        if (top == bottom && left == right) {
            padding[0] = top;
            padding[1] = left;
        } else {
            x = torch::constant_pad_nd(x, {left, right, top, bottom}, 0.0);
        }
        const std::int64_t stride[2] = {conv.stride, conv.stride};
        const std::int64_t dilation[2] = {1, 1};
        x = torch::conv2d(x, conv.weight, conv.bias, stride, padding, dilation, conv.groups);
        x = torch::relu(x);
        if (layers != nullptr) {
            layers->push_back(x);
        }
    }
    YamnetOutputs out;
    out.embeddings = x.mean({2, 3});
    out.scores = torch::sigmoid(torch::linear(out.embeddings, fc_weight_, fc_bias_));
    return out;
}

Result<Patches> yamnet_patches(const LogMelFrontend& frontend, std::span<const float> audio) {
    // §4.1 step 1: zero-pad at the end to 15600 + k·7680 samples, so there is no partial patch.
    const std::vector<float> padded = yamnet_pad_waveform(audio);
    EARSHOT_ASSIGN_OR_RETURN(const Matrix frames, frontend.compute(padded));
    Patches patches = make_yamnet_patches(frames);
    if (patches.n_patches == 0) {
        return make_error(ErrorCode::kInternal, "yamnet: front end produced no patch");
    }
    return patches;
}

}  // namespace detail

namespace {

constexpr double kPatchSeconds = 0.96;  // 96 frames × 10 ms (MODELS.md §4.1 step 7)
constexpr double kHopSeconds = 0.48;    // 48 frames
// Patches per forward pass (~31 s of audio): bounds activation memory (~0.4 MB per patch at the
// widest layer) on long files while keeping batches large enough to be efficient.
constexpr std::int64_t kMaxBatchPatches = 64;

}  // namespace

Result<std::unique_ptr<EmbeddingModel>> make_yamnet_model(const std::filesystem::path& weights_dir,
                                                          const ModelOptions& options) {
    const auto weights_path = weights_dir / "weights.safetensors";
    auto weights = load_safetensors(weights_path);
    if (!weights) {
        return tl::unexpected(weights.error().with_context("yamnet: load weights"));
    }
    auto network = detail::YamnetNetwork::load(*weights, weights_path.string());
    if (!network) {
        return tl::unexpected(network.error().with_context("yamnet"));
    }

    const auto labels_path = weights_dir / "original" / "yamnet_class_map.csv";
    auto labels = read_labels_csv(labels_path, "display_name");
    if (!labels) {
        return tl::unexpected(labels.error().with_context("yamnet: labels"));
    }
    if (labels->size() != static_cast<std::size_t>(detail::kYamnetNumClasses)) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("yamnet: {}: {} labels, expected {}", labels_path.string(),
                                      labels->size(), detail::kYamnetNumClasses));
    }

    auto frontend = LogMelFrontend::make(yamnet_frontend_config());
    if (!frontend) {
        return tl::unexpected(frontend.error().with_context("yamnet front end"));
    }

    detail::set_torch_threads(options.threads);

    ModelInfo info;
    info.name = kYamnetModelKind.name;
    info.description = "Google YAMNet (MobileNetV1, AudioSet 521 classes), 1024-d per 0.96 s";
    info.license = "Apache-2.0";
    info.dim = static_cast<int>(detail::kYamnetEmbeddingDim);
    info.sample_rate_hz = 16000;
    info.segment_s = kPatchSeconds;
    info.segment_hop_s = kHopSeconds;
    info.labels = std::move(*labels);
    info.weights_path = weights_path;
    return std::make_unique<detail::PatchNetworkModel>(
        std::move(info), std::move(*frontend), detail::yamnet_patches,
        detail::forward_with_scores(std::move(*network)), kMaxBatchPatches);
}

const ModelKind kYamnetModelKind{
    .name = "yamnet",
    .folder = "yamnet",
    .factory =
        [](const ModelSource& source, const ModelOptions& options) {
            return make_yamnet_model(source.weights_dir, options);
        },
    .description =
        "Google YAMNet (MobileNetV1, AudioSet 521 classes): general sounds, 1024-d per 0.96 s",
    .license = "Apache-2.0",
};

}  // namespace earshot
