// EfficientAT mn04_as (MobileNetV3 x0.4 trained on AudioSet by PaSST distillation; Schmid,
// Koutini, Widmer, "Efficient Large-Scale Audio Tagging via Transformer-to-CNN Knowledge
// Distillation", ICASSP 2023). Spec and parity references: ../shared/models/MODELS.md §5.
// Reference code: github.com/fschmid56/EfficientAT models/mn/model.py, block_types.py (v0.0.1).
//
// Segmenting (our rule; the references only fix clips <= 10 s): the network was trained on 10 s
// clips, so audio is cut into consecutive non-overlapping windows of kWindowS = 10 s, each
// embedded as one whole network input. A final remainder shorter than kMinTailS = 1 s is merged
// into the previous window (that window is then up to 11 s long) instead of being embedded on its
// own; a remainder of >= 1 s becomes its own (shorter) segment. So a clip of <= 11 s gives exactly
// one segment (the reference setting), 25 s gives [0,10) [10,20) [20,25), 30.5 s gives
// [0,10) [10,20) [20,30.5). Inputs shorter than 514 samples are zero-padded to 514 (§5.1 step 7).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/safetensors.h"
#include "features/log_mel.h"
#include "features/presets.h"
#include "models/detail/mn04_net.h"
#include "models/labels.h"
#include "models/model_factories.h"
#include "models/torch_util.h"

namespace earshot {
namespace detail {
namespace {

constexpr double kBnEps = 1e-3;  // every BatchNorm2d in EfficientAT mn (MODELS.md §5, bn_eps)

// One row per inverted-residual block, MODELS.md §5.2 table (features.1 .. features.15).
struct BlockSpec {
    int in, kernel, exp, out, se_sq;
    bool hardswish;
    int stride;
};
constexpr std::array<BlockSpec, 15> kBlockSpecs = {{
    {8, 3, 8, 8, 0, false, 1},      // features.1
    {8, 3, 24, 16, 0, false, 2},    // features.2
    {16, 3, 32, 16, 0, false, 1},   // features.3
    {16, 5, 32, 16, 8, false, 2},   // features.4
    {16, 5, 48, 16, 16, false, 1},  // features.5
    {16, 5, 48, 16, 16, false, 1},  // features.6
    {16, 3, 96, 32, 0, true, 2},    // features.7
    {32, 3, 80, 32, 0, true, 1},    // features.8
    {32, 3, 72, 32, 0, true, 1},    // features.9
    {32, 3, 72, 32, 0, true, 1},    // features.10
    {32, 3, 192, 48, 48, true, 1},  // features.11
    {48, 3, 272, 48, 72, true, 1},  // features.12
    {48, 5, 272, 64, 72, true, 2},  // features.13
    {64, 5, 384, 64, 96, true, 1},  // features.14
    {64, 5, 384, 64, 96, true, 1},  // features.15
}};

}  // namespace

Result<Mn04Net> Mn04Net::load(const SafeTensors& weights) {
    // Loads "<prefix>.0.weight" (conv) and "<prefix>.1.*" (its BatchNorm).
    auto load_conv_bn = [&](const std::string& prefix, std::int64_t out, std::int64_t in_per_group,
                            std::int64_t k, int stride, int groups) -> Result<ConvBn> {
        ConvBn c;
        c.stride = stride;
        c.groups = groups;
        EARSHOT_ASSIGN_OR_RETURN(
            c.weight, load_tensor(weights, prefix + ".0.weight", {out, in_per_group, k, k}));
        EARSHOT_ASSIGN_OR_RETURN(c.bn_weight, load_tensor(weights, prefix + ".1.weight", {out}));
        EARSHOT_ASSIGN_OR_RETURN(c.bn_bias, load_tensor(weights, prefix + ".1.bias", {out}));
        EARSHOT_ASSIGN_OR_RETURN(c.bn_mean,
                                 load_tensor(weights, prefix + ".1.running_mean", {out}));
        EARSHOT_ASSIGN_OR_RETURN(c.bn_var, load_tensor(weights, prefix + ".1.running_var", {out}));
        return c;
    };

    Mn04Net net;
    EARSHOT_ASSIGN_OR_RETURN(net.stem_, load_conv_bn("features.0", 8, 1, 3, 2, 1));
    for (std::size_t i = 0; i < kBlockSpecs.size(); ++i) {
        const BlockSpec& s = kBlockSpecs[i];
        const std::string p = "features." + std::to_string(i + 1) + ".block.";
        Block b;
        b.has_expand = s.exp != s.in;
        b.has_se = s.se_sq > 0;
        b.hardswish = s.hardswish;
        b.residual = s.stride == 1 && s.in == s.out;
        int j = 0;  // index of the sub-module inside .block
        if (b.has_expand) {
            EARSHOT_ASSIGN_OR_RETURN(b.expand,
                                     load_conv_bn(p + std::to_string(j++), s.exp, s.in, 1, 1, 1));
        }
        EARSHOT_ASSIGN_OR_RETURN(b.depthwise, load_conv_bn(p + std::to_string(j++), s.exp, 1,
                                                           s.kernel, s.stride, s.exp));
        if (b.has_se) {
            const std::string se = p + std::to_string(j++) + ".conc_se_layers.0.";
            EARSHOT_ASSIGN_OR_RETURN(b.se.fc1_w,
                                     load_tensor(weights, se + "fc1.weight", {s.se_sq, s.exp}));
            EARSHOT_ASSIGN_OR_RETURN(b.se.fc1_b, load_tensor(weights, se + "fc1.bias", {s.se_sq}));
            EARSHOT_ASSIGN_OR_RETURN(b.se.fc2_w,
                                     load_tensor(weights, se + "fc2.weight", {s.exp, s.se_sq}));
            EARSHOT_ASSIGN_OR_RETURN(b.se.fc2_b, load_tensor(weights, se + "fc2.bias", {s.exp}));
        }
        EARSHOT_ASSIGN_OR_RETURN(b.project,
                                 load_conv_bn(p + std::to_string(j++), s.out, s.exp, 1, 1, 1));
        net.blocks_.push_back(std::move(b));
    }
    EARSHOT_ASSIGN_OR_RETURN(net.head_,
                             load_conv_bn("features.16", kMn04EmbeddingDim, 64, 1, 1, 1));
    EARSHOT_ASSIGN_OR_RETURN(net.fc1_w_,
                             load_tensor(weights, "classifier.2.weight", {512, kMn04EmbeddingDim}));
    EARSHOT_ASSIGN_OR_RETURN(net.fc1_b_, load_tensor(weights, "classifier.2.bias", {512}));
    EARSHOT_ASSIGN_OR_RETURN(net.fc2_w_,
                             load_tensor(weights, "classifier.5.weight", {kMn04Classes, 512}));
    EARSHOT_ASSIGN_OR_RETURN(net.fc2_b_, load_tensor(weights, "classifier.5.bias", {kMn04Classes}));
    return net;
}

torch::Tensor Mn04Net::conv_bn(const torch::Tensor& x, const ConvBn& c) {
    const std::int64_t k = c.weight.size(2);
    auto y = torch::conv2d(x, c.weight, /*bias=*/{}, /*stride=*/c.stride, /*padding=*/(k - 1) / 2,
                           /*dilation=*/1, /*groups=*/c.groups);
    return torch::batch_norm(y, c.bn_weight, c.bn_bias, c.bn_mean, c.bn_var, /*training=*/false,
                             /*momentum=*/0.0, kBnEps, /*cudnn_enabled=*/false);
}

torch::Tensor Mn04Net::run_block(const torch::Tensor& x, const Block& b) {
    auto act = [&](const torch::Tensor& t) {
        return b.hardswish ? torch::hardswish(t) : torch::relu(t);
    };
    torch::Tensor y = x;
    if (b.has_expand)
        y = act(conv_bn(y, b.expand));
    y = act(conv_bn(y, b.depthwise));
    if (b.has_se) {
        // EfficientAT block_types.py SqueezeExcitation: mean over (H, W) -> fc1 -> ReLU -> fc2
        // -> sigmoid (a plain logistic), then scale the channels.
        auto s = torch::mean(y, {2, 3}, /*keepdim=*/true);
        auto shape = s.sizes().vec();
        s = s.squeeze(2).squeeze(2);
        s = torch::relu(torch::linear(s, b.se.fc1_w, b.se.fc1_b));
        s = torch::sigmoid(torch::linear(s, b.se.fc2_w, b.se.fc2_b)).view(shape);
        y = s * y;
    }
    y = conv_bn(y, b.project);
    if (b.residual)
        y = y + x;
    return y;
}

Mn04Output Mn04Net::forward(const torch::Tensor& logmel, bool keep_features) const {
    TORCH_CHECK(logmel.dim() == 4 && logmel.size(1) == 1 && logmel.size(2) == kMn04Mels,
                "mn04 expects log-mel [B,1,128,T], got ", logmel.sizes());
    Mn04Output out;
    auto x = torch::hardswish(conv_bn(logmel, stem_));
    if (keep_features)
        out.features.push_back(x);
    for (const Block& b : blocks_) {
        x = run_block(x, b);
        if (keep_features)
            out.features.push_back(x);
    }
    x = torch::hardswish(conv_bn(x, head_));
    if (keep_features)
        out.features.push_back(x);
    // model.py: features = adaptive_avg_pool2d(x, (1, 1)); classifier = [AdaptiveAvgPool2d,
    // Flatten, Linear(384, 512), Hardswish, Dropout, Linear(512, 527)].
    out.embedding = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    out.hidden = torch::hardswish(torch::linear(out.embedding, fc1_w_, fc1_b_));
    out.logits = torch::linear(out.hidden, fc2_w_, fc2_b_);
    out.scores = torch::sigmoid(out.logits);
    return out;
}

}  // namespace detail

namespace {

constexpr int kMn04RateHz = 32000;
constexpr double kWindowS = 10.0;  // training clip length (MODELS.md §5.1 step 6)
constexpr double kMinTailS = 1.0;  // shorter final remainders are merged into the last window
constexpr std::size_t kMinSamples = 514;  // reflect padding needs N - 1 > 512 (§5.1 step 7)

class Mn04Model final : public EmbeddingModel {
public:
    Mn04Model(ModelInfo info, detail::Mn04Net net, std::unique_ptr<LogMelFrontend> frontend)
        : info_(std::move(info)), net_(std::move(net)), frontend_(std::move(frontend)) {}

    const ModelInfo& info() const override { return info_; }

    Result<Embeddings> embed(std::span<const float> audio) const override {
        try {
            return embed_impl(audio);
        } catch (const std::exception& e) {
            return make_error(ErrorCode::kInternal, std::string("mn04: ") + e.what());
        }
    }

private:
    Result<Embeddings> embed_impl(std::span<const float> audio) const {
        const auto windows = segment_windows(audio.size());
        Embeddings out;
        out.segments = Matrix(windows.size(), detail::kMn04EmbeddingDim);
        out.scores = Matrix(windows.size(), detail::kMn04Classes);
        c10::InferenceMode guard;
        for (std::size_t w = 0; w < windows.size(); ++w) {
            const auto [begin, end] = windows[w];
            std::vector<float> padded;
            std::span<const float> chunk = audio.subspan(begin, end - begin);
            if (chunk.size() < kMinSamples) {
                padded.assign(chunk.begin(), chunk.end());
                padded.resize(kMinSamples, 0.0f);
                chunk = padded;
            }
            EARSHOT_ASSIGN_OR_RETURN(Matrix logmel, frontend_->compute(chunk));
            // [T][128] -> [1,1,128,T] (mel is H, time is W; MODELS.md §1.2).
            auto x = detail::from_matrix(logmel).t().contiguous().view(
                {1, 1, detail::kMn04Mels, static_cast<std::int64_t>(logmel.n_rows)});
            auto y = net_.forward(x);
            auto emb = y.embedding.contiguous();
            auto sc = y.scores.contiguous();
            std::copy_n(emb.data_ptr<float>(), detail::kMn04EmbeddingDim, out.segments.row(w));
            std::copy_n(sc.data_ptr<float>(), detail::kMn04Classes, out.scores.row(w));
            out.start_s.push_back(static_cast<double>(begin) / kMn04RateHz);
            out.end_s.push_back(static_cast<double>(begin + chunk.size()) / kMn04RateHz);
        }
        return out;
    }

    // [begin, end) sample ranges per the rule at the top of this file; at least one (maybe
    // empty) range.
    static std::vector<std::pair<std::size_t, std::size_t>> segment_windows(std::size_t n) {
        const auto window = static_cast<std::size_t>(kWindowS * kMn04RateHz);
        const auto min_tail = static_cast<std::size_t>(kMinTailS * kMn04RateHz);
        std::vector<std::pair<std::size_t, std::size_t>> w;
        std::size_t begin = 0;
        while (n - begin > window) {
            w.emplace_back(begin, begin + window);
            begin += window;
        }
        if (!w.empty() && n - begin < min_tail) {
            w.back().second = n;
        } else {
            w.emplace_back(begin, n);
        }
        return w;
    }

    ModelInfo info_;
    detail::Mn04Net net_;
    std::unique_ptr<LogMelFrontend> frontend_;
};

}  // namespace

Result<std::unique_ptr<EmbeddingModel>> make_mn04_model(const std::filesystem::path& weights_dir,
                                                        const ModelOptions& options) {
    const auto weights_path = weights_dir / "weights.safetensors";
    auto context = [&](const Error& e) {
        return e.with_context("mn04: load " + weights_path.string());
    };
    auto weights = load_safetensors(weights_path);
    if (!weights)
        return tl::unexpected(context(weights.error()));
    auto net = detail::Mn04Net::load(*weights);
    if (!net)
        return tl::unexpected(context(net.error()));

    auto frontend = LogMelFrontend::make(mn04_frontend_config());
    if (!frontend)
        return tl::unexpected(frontend.error().with_context("mn04: front end"));

    ModelInfo info;
    info.name = kMn04ModelKind.name;
    info.description =
        "EfficientAT mn04_as: MobileNetV3 x0.4 on AudioSet, 384-d per <= 10 s window";
    info.license = "MIT";
    info.dim = detail::kMn04EmbeddingDim;
    info.sample_rate_hz = kMn04RateHz;
    info.segment_s = kWindowS;
    info.segment_hop_s = kWindowS;
    info.weights_path = weights_path;
    const auto labels_path = weights_dir / "original" / "class_labels_indices.csv";
    auto labels = read_labels_csv(labels_path, "display_name");
    if (!labels)
        return tl::unexpected(labels.error().with_context("mn04: labels"));
    if (labels->size() != static_cast<std::size_t>(detail::kMn04Classes)) {
        return make_error(ErrorCode::kCorruption, "mn04: " + labels_path.string() + " has " +
                                                      std::to_string(labels->size()) +
                                                      " labels, expected 527");
    }
    info.labels = std::move(*labels);

    detail::set_torch_threads(options.threads);
    return std::make_unique<Mn04Model>(std::move(info), std::move(*net), std::move(*frontend));
}

// The default model: best retrieval overall in docs/models.md.
const ModelKind kMn04ModelKind{
    .name = "mn04",
    .folder = "mn04_as",
    .factory =
        [](const ModelSource& source, const ModelOptions& options) {
            return make_mn04_model(source.weights_dir, options);
        },
    .description =
        "EfficientAT mn04_as (MobileNetV3, AudioSet 527 classes): general sounds, 384-d per <=10 s",
    .license = "MIT",
    .is_default = true,
};

}  // namespace earshot
