// musicnn network (Pons & Serra 2019, MSD/MTT variants) as specified in
// ../shared/models/MODELS.md §6.2. Private to the models module and its tests: it exposes torch
// types so the golden tests can feed reference log-mel patches and read the pools and
// intermediate stages. Everyone else uses make_musicnn_{msd,mtt}_model() (model_factories.h).
// Thread-safety: immutable after load(); forward() may run concurrently.
#pragma once

#include <span>
#include <string>

#include <torch/torch.h>

#include "core/safetensors.h"
#include "core/status.h"
#include "features/log_mel.h"
#include "features/patcher.h"

namespace earshot::detail {

inline constexpr std::int64_t kMusicnnEmbeddingDim = 200;
inline constexpr std::int64_t kMusicnnNumTags = 50;
inline constexpr std::int64_t kMusicnnPoolDim = 753;  // 561 front end + 3 × 64 mid end

struct MusicnnOutputs {
    torch::Tensor frontend_concat;  // [P,561,187]: timbral (204+204) and temporal (3×51) maxima
    torch::Tensor midend1;          // [P,64,187]
    torch::Tensor midend2;          // [P,64,187] (includes the residual m1)
    torch::Tensor midend3;          // [P,64,187] (includes the residual m2)
    torch::Tensor max_pool;         // [P,753], max over time of concat(front, m1, m2, m3)
    torch::Tensor mean_pool;        // [P,753], mean over time
    torch::Tensor flat_bn;          // [P,1506], bn_flatpool(interleave(max_pool, mean_pool))
    torch::Tensor dense_prerelu;    // [P,200]
    torch::Tensor embeddings;       // [P,200], penultimate = bn_dense(relu(dense))
    torch::Tensor scores;           // [P,50], taggram = sigmoid(dense_1(penultimate))
};

class MusicnnNetwork {
public:
    // Loads the 62 network tensors (Keras names and layouts, MODELS.md §6.3) and folds every
    // BatchNorm (eps 1e-3) into a per-channel scale and shift. kNotFound / kCorruption with
    // `source` (the file) in the message.
    static Result<MusicnnNetwork> load(const SafeTensors& weights, const std::string& source);

    // patches: float32 [P,1,187,96] (time × mel), P >= 1. Throws c10::Error on bad shapes.
    MusicnnOutputs forward(const torch::Tensor& patches) const;

    struct BatchNorm {
        torch::Tensor scale;  // gamma / sqrt(moving_variance + eps)
        torch::Tensor shift;  // beta - moving_mean * scale
    };
    struct Conv {
        torch::Tensor weight;  // OIHW (conv2d) or [O,I,K] (conv1d)
        torch::Tensor bias;
        BatchNorm bn;
    };

private:
    BatchNorm input_bn_;
    Conv timbral_[2];   // conv2d (7×38), conv2d_1 (7×67)
    Conv temporal_[3];  // conv2d_2 (128×1), conv2d_3 (64×1), conv2d_4 (32×1)
    Conv midend_[3];    // midend_conv1..3 (kernel 7 over time)
    BatchNorm bn_flatpool_;
    torch::Tensor dense_kernel_;  // [1506,200] (in, out)
    torch::Tensor dense_bias_;
    BatchNorm bn_dense_;
    torch::Tensor dense1_kernel_;  // [200,50]
    torch::Tensor dense1_bias_;
};

// The model's front end (MODELS.md §6.1): log-mel with `frontend` (musicnn_frontend_config())
// then non-overlapping 187-frame patches, zero-padded to one patch when shorter: [P][187][96].
// Audio of 256 samples or fewer (too short for the reflect padding) is zero-padded to 257.
Result<Patches> musicnn_patches(const LogMelFrontend& frontend, std::span<const float> audio);

}  // namespace earshot::detail
