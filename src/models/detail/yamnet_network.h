// YAMNet network (MobileNetV1 on log-mel patches), as specified in ../shared/models/MODELS.md
// §4.2. Private to the models module and its tests: it exposes torch types so the golden tests
// can feed reference log-mel patches and read intermediate layers. Everyone else uses
// make_yamnet_model() (models/model_factories.h).
// Thread-safety: immutable after load(); forward() may run concurrently.
#pragma once

#include <span>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/safetensors.h"
#include "core/status.h"
#include "features/log_mel.h"
#include "features/patcher.h"

namespace earshot::detail {

inline constexpr int kYamnetNumLayers = 27;
inline constexpr std::int64_t kYamnetEmbeddingDim = 1024;
inline constexpr std::int64_t kYamnetNumClasses = 521;

struct YamnetOutputs {
    torch::Tensor embeddings;  // [P,1024], mean of conv26 over H,W (post-ReLU, >= 0)
    torch::Tensor scores;      // [P,521], sigmoid(fc)
};

class YamnetNetwork {
public:
    // Loads conv00..conv26 and fc from weights (tensor names and shapes of MODELS.md §4.3).
    // kNotFound / kCorruption with `source` (the file) in the message.
    static Result<YamnetNetwork> load(const SafeTensors& weights, const std::string& source);

    // patches: float32 [P,1,96,64] (time × mel), P >= 1. If layers is non-null it receives the
    // 27 post-ReLU layer outputs (NCHW). Throws c10::Error on shape mismatch (callers catch).
    YamnetOutputs forward(const torch::Tensor& patches,
                          std::vector<torch::Tensor>* layers = nullptr) const;

private:
    struct Conv {
        torch::Tensor weight;  // OIHW; depthwise [C,1,3,3]
        torch::Tensor bias;    // [O], BN folded in
        std::int64_t stride = 1;
        std::int64_t groups = 1;
    };
    std::vector<Conv> convs_;
    torch::Tensor fc_weight_;  // [521,1024]
    torch::Tensor fc_bias_;    // [521]
};

// The model's front end (MODELS.md §4.1): zero-pad the waveform to yamnet_padded_length(),
// log-mel with `frontend` (built from yamnet_frontend_config()), then 96-frame patches with hop
// 48: [P][96][64], P >= 1 for any input length. Errors from the front end pass through.
Result<Patches> yamnet_patches(const LogMelFrontend& frontend, std::span<const float> audio);

}  // namespace earshot::detail
