// EfficientAT mn04_as network (MobileNetV3 x0.4, AudioSet) as plain libtorch functional ops over
// the tensors of mn04_as/weights.safetensors (spec: ../shared/models/MODELS.md §5.2, §5.3).
// Private to src/models (mn04_model.cpp and its tests): torch types appear here on purpose.
// Input: log-mel [B,1,128,T] (H = mel, W = time), float32 CPU. Thread-safety: forward() is const
// and may run concurrently (the weights are never modified).
#pragma once

#include <array>
#include <vector>

#include <torch/torch.h>

#include "core/safetensors.h"
#include "core/status.h"

namespace earshot::detail {

inline constexpr int kMn04Mels = 128;
inline constexpr int kMn04EmbeddingDim = 384;
inline constexpr int kMn04Classes = 527;
inline constexpr int kMn04Blocks = 17;  // features.0 .. features.16

struct Mn04Output {
    torch::Tensor embedding;              // [B,384]: mean over (mel, time) of features.16
    torch::Tensor hidden;                 // [B,512]: hardswish(classifier.2(embedding))
    torch::Tensor logits;                 // [B,527]
    torch::Tensor scores;                 // [B,527]: sigmoid(logits)
    std::vector<torch::Tensor> features;  // outputs of features.0..16, only if requested
};

class Mn04Net {
public:
    // Reads every network tensor (frontend.* are ignored); kNotFound / kCorruption with the
    // tensor name when one is missing or has the wrong shape.
    static Result<Mn04Net> load(const SafeTensors& weights);

    // logmel: [B,1,128,T], T >= 1. Call under torch::NoGradGuard or c10::InferenceMode.
    // Throws c10::Error on bad shapes (callers convert it).
    Mn04Output forward(const torch::Tensor& logmel, bool keep_features = false) const;

private:
    struct ConvBn {  // conv (no bias) + BatchNorm2d(eps 1e-3, eval)
        torch::Tensor weight, bn_weight, bn_bias, bn_mean, bn_var;
        int stride = 1;
        int groups = 1;
    };
    struct Se {
        torch::Tensor fc1_w, fc1_b, fc2_w, fc2_b;
    };
    struct Block {  // inverted residual (features.1 .. features.15)
        bool has_expand = false;
        bool has_se = false;
        bool hardswish = false;  // activation: hardswish, else ReLU
        bool residual = false;
        ConvBn expand, depthwise, project;
        Se se;
    };

    static torch::Tensor conv_bn(const torch::Tensor& x, const ConvBn& c);
    static torch::Tensor run_block(const torch::Tensor& x, const Block& b);

    ConvBn stem_;  // features.0
    std::vector<Block> blocks_;
    ConvBn head_;                                  // features.16
    torch::Tensor fc1_w_, fc1_b_, fc2_w_, fc2_b_;  // classifier.2, classifier.5
};

}  // namespace earshot::detail
