// libtorch helpers shared by the model adapters (the only files that include torch). Not part of
// the module's public interface: include only from src/models/*.cpp and model tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/matrix.h"
#include "core/safetensors.h"
#include "core/status.h"
#include "features/log_mel.h"
#include "features/patcher.h"
#include "models/embedding_model.h"

namespace earshot::detail {

// Copies a safetensors tensor into a new float32 CPU torch tensor of the same shape.
torch::Tensor to_torch(const Tensor& t);
// Looks up name (optionally checking shape) and converts; errors as SafeTensors::get.
Result<torch::Tensor> load_tensor(const SafeTensors& st,
                                  const std::string& name,
                                  const std::vector<std::int64_t>& shape = {});
// load_tensor for a model's weights file `source`: a missing tensor or a wrong shape means the
// wrong or a damaged file, so the error is kCorruption naming source (and `hint`, e.g. how to
// make the file, when not empty).
Result<torch::Tensor> load_weight(const SafeTensors& st,
                                  const std::string& source,
                                  const std::string& name,
                                  const std::vector<std::int64_t>& shape,
                                  const std::string& hint = "");
// Copies a 2-D float tensor (any strides) into a Matrix.
Matrix to_matrix(const torch::Tensor& t);
// Wraps a Matrix as a [n_rows, n_cols] tensor (copy).
torch::Tensor from_matrix(const Matrix& m);
// Runs a patch network over patches ([P][patch_frames][n_mels], features/patcher.h) in batches
// of at most max_batch patches, under InferenceMode. forward(batch [B,1,patch_frames,n_mels])
// returns (embeddings [B,dim], scores [B,n_classes] or an undefined tensor when the model has no
// head). Segment p spans [p*hop_s, p*hop_s + length_s). Exceptions from torch become kInternal
// errors naming the model.
using PatchForward = std::function<std::pair<torch::Tensor, torch::Tensor>(const torch::Tensor&)>;
Result<Embeddings> embed_patches(const Patches& patches,
                                 std::int64_t max_batch,
                                 double hop_s,
                                 double length_s,
                                 const std::string& model_name,
                                 const PatchForward& forward);

// The PatchForward of a network whose forward(batch) returns {embeddings, scores} (YAMNet,
// musicnn); the network is kept by the function (torch modules share their tensors).
template <class Network>
PatchForward forward_with_scores(Network network) {
    return [network = std::move(network)](const torch::Tensor& batch) {
        auto out = network.forward(batch);
        return std::make_pair(out.embeddings, out.scores);
    };
}

// The model of a log-mel front end, a patcher and a patch network (YAMNet, musicnn, VGGish):
// embed() cuts the audio's frames into patches (front-end errors get "<name> front end" as
// context) and runs forward over them with embed_patches. Segment p spans
// [p * hop_s, p * hop_s + info.segment_s).
using PatchFn = Result<Patches> (*)(const LogMelFrontend& frontend, std::span<const float> audio);
class PatchNetworkModel final : public EmbeddingModel {
public:
    PatchNetworkModel(ModelInfo info,
                      std::unique_ptr<LogMelFrontend> frontend,
                      PatchFn patches,
                      PatchForward forward,
                      std::int64_t max_batch)
        : info_(std::move(info)),
          frontend_(std::move(frontend)),
          patches_(patches),
          forward_(std::move(forward)),
          max_batch_(max_batch) {}

    const ModelInfo& info() const override { return info_; }
    Result<Embeddings> embed(std::span<const float> audio) const override;

private:
    ModelInfo info_;
    std::unique_ptr<LogMelFrontend> frontend_;
    PatchFn patches_;
    PatchForward forward_;
    std::int64_t max_batch_;
};

// Sets libtorch's intra-op threads (0 = all cores). Process-wide.
void set_torch_threads(int threads);

}  // namespace earshot::detail
