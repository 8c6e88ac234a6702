// VGGish network (Hershey et al., "CNN Architectures for Large-Scale Audio Classification",
// ICASSP 2017) with torchvggish's parameter layout, and its PCA/quantisation post-processing.
// Private to the models module and its tests (exposes torch types); everyone else uses
// make_vggish_model() (models/model_factories.h). Weights: tools/convert_vggish.py.
// Layouts: patches NCHW [P,1,96 time,64 mel]; embeddings [P,128] row-major.
// Thread-safety: immutable after load(); forward() may run concurrently.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/safetensors.h"
#include "core/status.h"
#include "features/frontend_config.h"
#include "features/log_mel.h"
#include "features/patcher.h"
#include "models/embedding_model.h"
#include "models/model_registry.h"

namespace earshot::detail {

inline constexpr std::int64_t kVggishEmbeddingDim = 128;
inline constexpr std::int64_t kVggishPatchFrames = 96;  // 0.96 s of 10 ms frames
inline constexpr std::int64_t kVggishMels = 64;
inline constexpr std::int64_t kVggishFlatDim = 512 * 6 * 4;  // after 4 poolings of 96×64
// vggish_params.QUANTIZE_MIN_VAL / QUANTIZE_MAX_VAL (tensorflow/models research/audioset/vggish).
inline constexpr double kVggishQuantizeMin = -2.0;
inline constexpr double kVggishQuantizeMax = 2.0;

// What embed() returns per patch.
enum class VggishOutput {
    kRaw,  // output of embeddings.4 (after its ReLU if final_relu), before PCA
    kPca,  // (x − meansᵀ)·Mᵀ, float, not clipped: the default, for similarity search
    kPcaQuantized,  // AudioSet release format: clip to [−2, 2], round((x+2)·255/4) -> 0..255
};

struct VggishOptions {
    VggishOutput output = VggishOutput::kPca;
    // torchvggish applies ReLU after the last Linear (128); newer TF vggish_slim.py does not
    // (activation_fn=None on fc2). Default follows torchvggish, whose weights we load.
    bool final_relu = true;
};

// VGGish front end (vggish_params.py / mel_features.py): 16 kHz, frames x[160t, 160t+400),
// periodic Hann 400 zero-padded to a 512 FFT, magnitude, 64 HTK mel bands 125-7500 Hz with
// mel-domain triangles, ln(mel + 0.01). Same as YAMNet's except the log offset.
FrontendConfig vggish_frontend_config();

// Zero-pads the waveform to >= 15600 samples (one patch), computes the log-mel with `frontend`
// and cuts non-overlapping 96-frame patches, dropping a trailing partial patch as upstream
// vggish_input.waveform_to_examples does: [P][96][64], P = max(1, floor(T/96)).
Result<Patches> vggish_patches(const LogMelFrontend& frontend, std::span<const float> audio);

// [P,512,6,4] NCHW -> [P,12288] flattened in NHWC order (h, w, c), which is TF's order and so
// the order embeddings.0 was trained with. torchvggish VGG.forward does transpose(1,3),
// transpose(1,2), view.
torch::Tensor vggish_flatten(const torch::Tensor& features);
// PCA as torchvggish Postprocessor.postprocess: x [P,128], matrix [128,128] (rows = output
// dims), means [128,1] -> (matrix·(xᵀ − means))ᵀ = (x − meansᵀ)·matrixᵀ, [P,128].
torch::Tensor vggish_pca(const torch::Tensor& x,
                         const torch::Tensor& matrix,
                         const torch::Tensor& means);
// 8-bit quantisation of post-PCA values: round((clamp(x, −2, 2) + 2) · 255/4), values 0..255
// (torch::round: halves to even, like torch.round in torchvggish).
torch::Tensor vggish_quantize(const torch::Tensor& x);

class VggishNetwork {
public:
    // Loads features.{0,3,6,8,11,13}.{weight,bias}, embeddings.{0,2,4}.{weight,bias},
    // pproc._pca_matrix [128,128] and pproc._pca_means [128,1] (tools/convert_vggish.py).
    // kCorruption naming `source` for a missing tensor or a wrong shape.
    static Result<VggishNetwork> load(const SafeTensors& weights, const std::string& source);

    // patches: [P,1,96,64], P >= 1 -> [P,128] per options.output. Throws c10::Error on a shape
    // mismatch (callers catch).
    torch::Tensor forward(const torch::Tensor& patches, const VggishOptions& options) const;

private:
    struct Conv {
        torch::Tensor weight;  // OIHW 3×3
        torch::Tensor bias;
        bool pool_after = false;  // MaxPool2d(2, 2) after the ReLU
    };
    std::vector<Conv> convs_;
    std::vector<torch::Tensor> fc_weights_;  // embeddings.{0,2,4}.weight, [out,in]
    std::vector<torch::Tensor> fc_biases_;
    torch::Tensor pca_matrix_;  // [128,128]
    torch::Tensor pca_means_;   // [128,1]
};

// make_vggish_model() with explicit post-processing options (the registry uses the defaults).
// Non-default outputs get their own model names ("vggish-uint8", "vggish-raw", "-norelu"
// suffix) so their vectors never mix with the default float ones in a catalog.
Result<std::unique_ptr<EmbeddingModel>> make_vggish_model(const std::filesystem::path& weights_dir,
                                                          const ModelOptions& options,
                                                          const VggishOptions& vggish_options);

}  // namespace earshot::detail
