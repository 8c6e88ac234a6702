// VGGish as an EmbeddingModel: our own libtorch definition of Google's VGGish, loading the
// PyTorch port's weights (github.com/harritaylor/torchvggish release v0.1, vggish-10086976.pth +
// vggish_pca_params-970ea276.pth) converted by tools/convert_vggish.py. The weights are not
// shipped in ../shared; without them the registry reports the model as missing.
//
// References (commit-pinned):
// - network, flatten order and PCA/quantisation: github.com/harritaylor/torchvggish/blob/
//   1bedc9d7d9f46339bf90ba2f6f6e7638f6feba2e/torchvggish/vggish.py (VGG L9-L31: transpose(1,3),
//   transpose(1,2), view; Postprocessor.postprocess L83-L123; make_layers)
// - front end and constants: tensorflow/models research/audioset/vggish/vggish_params.py
//   (0.025 s window, 0.010 s hop, 64 bands 125-7500 Hz, LOG_OFFSET 0.01, 0.96 s examples with
//   0.96 s hop, QUANTIZE_MIN/MAX_VAL ±2), mel_features.py (periodic Hann, rfft to the next power
//   of two, magnitude, HTK mel-domain triangles, DC weight 0), vggish_input.py.
// Parity with the official model is NOT verified in this project (no weights here); the tests use
// a synthetic checkpoint of the same layout (tests/models/vggish_model_test.cpp).
//
// Segmenting: non-overlapping 0.96 s patches; a trailing partial patch is dropped (as upstream);
// audio shorter than one patch (0.975 s) is zero-padded to one patch.
#include <algorithm>
#include <array>
#include <cmath>
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
#include "models/detail/vggish_network.h"
#include "models/model_factories.h"
#include "models/torch_util.h"

namespace earshot {
namespace detail {
namespace {

// torchvggish make_layers(): [64, M, 128, M, 256, 256, M, 512, 512, M]; Sequential index of each
// conv, its channels, and whether a MaxPool2d(2, 2) follows its ReLU. Tensor names and shapes:
// sync with tools/convert_vggish.py (CONVS, LINEARS, pproc._pca_*).
struct ConvSpec {
    int index;
    std::int64_t in;
    std::int64_t out;
    bool pool_after;
};
constexpr std::array<ConvSpec, 6> kConvSpecs = {{
    {0, 1, 64, true},
    {3, 64, 128, true},
    {6, 128, 256, false},
    {8, 256, 256, true},
    {11, 256, 512, false},
    {13, 512, 512, true},
}};
// embeddings = Sequential(Linear(12288, 4096), ReLU, Linear(4096, 4096), ReLU, Linear(4096, 128),
// ReLU): index, in, out.
constexpr std::array<std::array<std::int64_t, 3>, 3> kLinearSpecs = {{
    {0, kVggishFlatDim, 4096},
    {2, 4096, 4096},
    {4, 4096, kVggishEmbeddingDim},
}};

// Named in the error of a weights file without one of VGGish's tensors.
const std::string kConvertHint = "convert the torchvggish weights with tools/convert_vggish.py";

}  // namespace

FrontendConfig vggish_frontend_config() {
    FrontendConfig c = yamnet_frontend_config();  // 400/160/512, magnitude, 64 HTK 125-7500 Hz
    c.log.add = 0.01;                             // vggish_params.LOG_OFFSET (YAMNet: 0.001)
    return c;
}

Result<Patches> vggish_patches(const LogMelFrontend& frontend, std::span<const float> audio) {
    std::vector<float> padded;
    if (audio.size() < kYamnetMinSamples) {  // 400 + 95·160: the samples of one 96-frame patch
        padded.assign(audio.begin(), audio.end());
        padded.resize(kYamnetMinSamples, 0.0f);
        audio = padded;
    }
    EARSHOT_ASSIGN_OR_RETURN(const Matrix frames, frontend.compute(audio));
    Patches patches = make_patches(frames, kVggishPatchFrames, kVggishPatchFrames);
    if (patches.n_patches == 0) {
        return make_error(ErrorCode::kInternal, "vggish: front end produced no patch");
    }
    return patches;
}

torch::Tensor vggish_flatten(const torch::Tensor& features) {
    // torchvggish: x = transpose(x, 1, 3); x = transpose(x, 1, 2) -> [P,H,W,C]; view(P, -1).
    return features.permute({0, 2, 3, 1}).contiguous().view({features.size(0), -1});
}

torch::Tensor vggish_pca(const torch::Tensor& x,
                         const torch::Tensor& matrix,
                         const torch::Tensor& means) {
    // torchvggish: torch.mm(pca_matrix, embeddings.T - pca_means).T
    return torch::mm(matrix, x.t() - means).t();
}

torch::Tensor vggish_quantize(const torch::Tensor& x) {
    const auto clipped = torch::clamp(x, kVggishQuantizeMin, kVggishQuantizeMax);
    return torch::round((clipped - kVggishQuantizeMin) *
                        (255.0 / (kVggishQuantizeMax - kVggishQuantizeMin)));
}

Result<VggishNetwork> VggishNetwork::load(const SafeTensors& weights, const std::string& source) {
    VggishNetwork net;
    for (const ConvSpec& s : kConvSpecs) {
        const std::string prefix = fmt::format("features.{}.", s.index);
        Conv conv;
        EARSHOT_ASSIGN_OR_RETURN(conv.weight, load_weight(weights, source, prefix + "weight",
                                                          {s.out, s.in, 3, 3}, kConvertHint));
        EARSHOT_ASSIGN_OR_RETURN(
            conv.bias, load_weight(weights, source, prefix + "bias", {s.out}, kConvertHint));
        conv.pool_after = s.pool_after;
        net.convs_.push_back(std::move(conv));
    }
    for (const auto& [index, in, out] : kLinearSpecs) {
        const std::string prefix = fmt::format("embeddings.{}.", index);
        EARSHOT_ASSIGN_OR_RETURN(
            auto w, load_weight(weights, source, prefix + "weight", {out, in}, kConvertHint));
        EARSHOT_ASSIGN_OR_RETURN(
            auto b, load_weight(weights, source, prefix + "bias", {out}, kConvertHint));
        net.fc_weights_.push_back(std::move(w));
        net.fc_biases_.push_back(std::move(b));
    }
    EARSHOT_ASSIGN_OR_RETURN(net.pca_matrix_,
                             load_weight(weights, source, "pproc._pca_matrix",
                                         {kVggishEmbeddingDim, kVggishEmbeddingDim}, kConvertHint));
    EARSHOT_ASSIGN_OR_RETURN(net.pca_means_, load_weight(weights, source, "pproc._pca_means",
                                                         {kVggishEmbeddingDim, 1}, kConvertHint));
    return net;
}

torch::Tensor VggishNetwork::forward(const torch::Tensor& patches,
                                     const VggishOptions& options) const {
    TORCH_CHECK(patches.dim() == 4 && patches.size(1) == 1 &&
                    patches.size(2) == kVggishPatchFrames && patches.size(3) == kVggishMels,
                "vggish: patches must be [P,1,96,64], got ", patches.sizes());
    torch::Tensor x = patches;
    for (const Conv& conv : convs_) {
        x = torch::relu(torch::conv2d(x, conv.weight, conv.bias, /*stride=*/1, /*padding=*/1));
        if (conv.pool_after) {
            x = torch::max_pool2d(x, /*kernel_size=*/2, /*stride=*/2);
        }
    }
    x = vggish_flatten(x);  // [P,512,6,4] -> [P,12288], NHWC order
    for (std::size_t i = 0; i < fc_weights_.size(); ++i) {
        x = torch::linear(x, fc_weights_[i], fc_biases_[i]);
        if (i + 1 < fc_weights_.size() || options.final_relu) {
            x = torch::relu(x);
        }
    }
    if (options.output == VggishOutput::kRaw) {
        return x;
    }
    x = vggish_pca(x, pca_matrix_, pca_means_);
    if (options.output == VggishOutput::kPcaQuantized) {
        x = vggish_quantize(x);
    }
    return x;
}

namespace {

constexpr double kPatchSeconds = 0.96;  // vggish_params.EXAMPLE_WINDOW_SECONDS
constexpr double kHopSeconds = 0.96;    // vggish_params.EXAMPLE_HOP_SECONDS
// Patches per forward pass: the first conv's output is 1.5 MB per patch.
constexpr std::int64_t kMaxBatchPatches = 32;

// If the weights carry the converter's front-end tensors, they must match the matrices we
// compute (guards against a converter/front-end drift).
Status check_frontend(const SafeTensors& st,
                      const LogMelFrontend& frontend,
                      const std::string& source) {
    constexpr double kTolerance = 1e-6;
    if (auto w = st.get("frontend.window"); w) {
        const auto& ours = frontend.window();
        if ((*w)->data.size() != ours.size()) {
            return make_error(ErrorCode::kCorruption,
                              fmt::format("{}: frontend.window has {} values, expected {}", source,
                                          (*w)->data.size(), ours.size()));
        }
        for (std::size_t i = 0; i < ours.size(); ++i) {
            if (std::abs((*w)->data[i] - ours[i]) > kTolerance) {
                return make_error(ErrorCode::kCorruption,
                                  fmt::format("{}: frontend.window[{}] = {} differs from our {}",
                                              source, i, (*w)->data[i], ours[i]));
            }
        }
    }
    if (auto m = st.get("frontend.mel"); m) {
        const Matrix& ours = frontend.mel_matrix();  // [n_mels][n_bins]; stored [n_bins, n_mels]
        const std::vector<std::int64_t> expected = {static_cast<std::int64_t>(ours.n_cols),
                                                    static_cast<std::int64_t>(ours.n_rows)};
        if ((*m)->shape != expected) {
            return make_error(ErrorCode::kCorruption,
                              fmt::format("{}: frontend.mel has the wrong shape", source));
        }
        for (std::size_t k = 0; k < ours.n_cols; ++k) {
            for (std::size_t j = 0; j < ours.n_rows; ++j) {
                if (std::abs((*m)->data[k * ours.n_rows + j] - ours.row(j)[k]) > kTolerance) {
                    return make_error(
                        ErrorCode::kCorruption,
                        fmt::format("{}: frontend.mel[{}][{}] differs from ours", source, k, j));
                }
            }
        }
    }
    return ok_status();
}

}  // namespace

Result<std::unique_ptr<EmbeddingModel>> make_vggish_model(const std::filesystem::path& weights_dir,
                                                          const ModelOptions& options,
                                                          const VggishOptions& vggish_options) {
    const auto weights_path = weights_dir / "weights.safetensors";
    std::unique_ptr<LogMelFrontend> frontend;
    Result<VggishNetwork> network = make_error(ErrorCode::kInternal, "vggish: not loaded");
    {
        // Scoped: the parsed file (~290 MB) is freed once the torch tensors are made.
        auto weights = load_safetensors(weights_path);
        if (!weights) {
            return tl::unexpected(weights.error().with_context(
                "vggish: load weights (make them with tools/convert_vggish.py)"));
        }
        network = VggishNetwork::load(*weights, weights_path.string());
        if (!network) {
            return tl::unexpected(network.error().with_context("vggish"));
        }
        auto fe = LogMelFrontend::make(vggish_frontend_config());
        if (!fe) {
            return tl::unexpected(fe.error().with_context("vggish front end"));
        }
        frontend = std::move(*fe);
        EARSHOT_RETURN_IF_ERROR(check_frontend(*weights, *frontend, weights_path.string()));
    }

    set_torch_threads(options.threads);

    // Names are contracts (catalog, index headers): every non-default output gets its own.
    ModelInfo info;
    info.name = "vggish";
    if (vggish_options.output == VggishOutput::kRaw) {
        info.name += "-raw";
    } else if (vggish_options.output == VggishOutput::kPcaQuantized) {
        info.name += "-uint8";
    }
    if (!vggish_options.final_relu) {
        info.name += "-norelu";
    }
    info.description = "Google VGGish (VGG, YouTube-100M), 128-d per 0.96 s after PCA";
    info.license = "Apache-2.0";
    info.dim = static_cast<int>(kVggishEmbeddingDim);
    info.sample_rate_hz = 16000;
    info.segment_s = kPatchSeconds;
    info.segment_hop_s = kHopSeconds;
    info.weights_path = weights_path;
    auto forward = [network = std::move(*network), vggish_options](const torch::Tensor& batch) {
        return std::make_pair(network.forward(batch, vggish_options), torch::Tensor());
    };
    return std::make_unique<PatchNetworkModel>(std::move(info), std::move(frontend), vggish_patches,
                                               std::move(forward), kMaxBatchPatches);
}

}  // namespace detail

Result<std::unique_ptr<EmbeddingModel>> make_vggish_model(const std::filesystem::path& weights_dir,
                                                          const ModelOptions& options) {
    return detail::make_vggish_model(weights_dir, options, detail::VggishOptions{});
}

const ModelKind kVggishModelKind{
    .name = "vggish",
    .folder = "vggish",
    .factory =
        [](const ModelSource& source, const ModelOptions& options) {
            return make_vggish_model(source.weights_dir, options);
        },
    .description =
        "Google VGGish (VGG, YouTube-100M): general sounds, 128-d (PCA) per 0.96 s; weights not "
        "shipped, convert them with tools/convert_vggish.py",
    .license = "Apache-2.0",
};

}  // namespace earshot
