// libtorch networks of the trained model kinds (models/trained_models.h) and their file I/O.
// Internal: included by src/models/trained_models.cpp and by src/train/ (which trains exactly
// these networks), never by other modules' headers. No BatchNorm or dropout, so train() and
// eval() compute the same function and a fixed seed gives the same weights.
#pragma once

#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "core/status.h"
#include "models/trained_models.h"

namespace earshot::detail {

// Conv autoencoder over [B, 1, n_frames, n_mels] images (n_frames, n_mels divisible by 8).
// Encoder: 3 × (3×3 conv stride 2, ReLU) with c, 2c, 4c channels, then a linear bottleneck to
// dim. Decoder: linear + ReLU back to 4c × n_frames/8 × n_mels/8, then 3 × (4×4 transposed conv
// stride 2) with ReLU between, linear output (reconstruction of the normalised image).
struct ConvAutoencoderImpl : torch::nn::Module {
    ConvAutoencoderImpl(int n_frames, int n_mels, int channels, int dim)
        : h8(n_frames / 8), w8(n_mels / 8), c4(4 * channels) {
        using namespace torch::nn;
        enc1 = register_module("enc1", Conv2d(Conv2dOptions(1, channels, 3).stride(2).padding(1)));
        enc2 = register_module(
            "enc2", Conv2d(Conv2dOptions(channels, 2 * channels, 3).stride(2).padding(1)));
        enc3 = register_module("enc3",
                               Conv2d(Conv2dOptions(2 * channels, c4, 3).stride(2).padding(1)));
        bottleneck = register_module("bottleneck", Linear(c4 * h8 * w8, dim));
        expand = register_module("expand", Linear(dim, c4 * h8 * w8));
        dec1 = register_module(
            "dec1",
            ConvTranspose2d(ConvTranspose2dOptions(c4, 2 * channels, 4).stride(2).padding(1)));
        dec2 = register_module(
            "dec2", ConvTranspose2d(
                        ConvTranspose2dOptions(2 * channels, channels, 4).stride(2).padding(1)));
        dec3 = register_module(
            "dec3", ConvTranspose2d(ConvTranspose2dOptions(channels, 1, 4).stride(2).padding(1)));
    }
    torch::Tensor encode(const torch::Tensor& x) {
        auto h = torch::relu(enc1->forward(x));
        h = torch::relu(enc2->forward(h));
        h = torch::relu(enc3->forward(h));
        return bottleneck->forward(h.flatten(1));
    }
    torch::Tensor decode(const torch::Tensor& z) {
        auto h = torch::relu(expand->forward(z)).view({-1, c4, h8, w8});
        h = torch::relu(dec1->forward(h));
        h = torch::relu(dec2->forward(h));
        return dec3->forward(h);
    }
    torch::Tensor forward(const torch::Tensor& x) { return decode(encode(x)); }

    std::int64_t h8, w8, c4;
    torch::nn::Conv2d enc1{nullptr}, enc2{nullptr}, enc3{nullptr};
    torch::nn::Linear bottleneck{nullptr}, expand{nullptr};
    torch::nn::ConvTranspose2d dec1{nullptr}, dec2{nullptr}, dec3{nullptr};
};
TORCH_MODULE(ConvAutoencoder);

// Siamese network (issue #6): a branch of two 1-D convolutions along time over mel frames
// ([B, n_mels, T], kernel 5, ReLU), global max-pool over time, dense layer to dim; the pair
// score is sigmoid(head(|e_a - e_b|)), a logistic unit on the L1 difference.
// ref: Koch et al., "Siamese Neural Networks for One-shot Image Recognition", ICML 2015 DL
// workshop (L1 distance + sigmoid unit).
struct SiameseNetImpl : torch::nn::Module {
    SiameseNetImpl(int n_mels, int channels, int dim) {
        using namespace torch::nn;
        conv1 = register_module("conv1", Conv1d(Conv1dOptions(n_mels, channels, 5).padding(2)));
        conv2 = register_module("conv2", Conv1d(Conv1dOptions(channels, channels, 5).padding(2)));
        dense = register_module("dense", Linear(channels, dim));
        head = register_module("head", Linear(dim, 1));
    }
    // x: [B, n_mels, T] -> [B, dim]
    torch::Tensor embed(const torch::Tensor& x) {
        auto h = torch::relu(conv1->forward(x));
        h = torch::relu(conv2->forward(h));
        return dense->forward(std::get<0>(h.max(2)));
    }
    // Logit of the pair score, [B].
    torch::Tensor pair_logit(const torch::Tensor& ea, const torch::Tensor& eb) {
        return head->forward((ea - eb).abs()).squeeze(1);
    }

    torch::nn::Conv1d conv1{nullptr}, conv2{nullptr};
    torch::nn::Linear dense{nullptr}, head{nullptr};
};
TORCH_MODULE(SiameseNet);

// Learned projection head: one linear layer, base_dim -> dim.
struct ProjectionHeadImpl : torch::nn::Module {
    ProjectionHeadImpl(int base_dim, int dim) {
        linear = register_module("linear", torch::nn::Linear(base_dim, dim));
    }
    torch::Tensor forward(const torch::Tensor& x) { return linear->forward(x); }
    torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(ProjectionHead);

// Writes every named parameter and buffer of module (F32) plus the card to path, atomically.
// kIoError.
Status save_trained_module(const std::filesystem::path& path,
                           const TrainedModelCard& card,
                           const torch::nn::Module& module);
// Copies the file's tensors into module's parameters and buffers (names and shapes must match
// exactly; extra or missing tensors are kCorruption). Returns the card. kNotFound, kCorruption.
Result<TrainedModelCard> load_trained_module(const std::filesystem::path& path,
                                             torch::nn::Module& module);

}  // namespace earshot::detail
