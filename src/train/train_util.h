// Helpers shared by the trainers (libtorch; internal to src/train).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/status.h"
#include "train/trainer.h"

namespace earshot::detail {

// Copies of every parameter and buffer, in named_parameters() then named_buffers() order.
std::vector<torch::Tensor> snapshot(const torch::nn::Module& module);
void restore(torch::nn::Module& module, const std::vector<torch::Tensor>& state);

// "<kind>-<file stem>-<8 hex digits of the XXH64 of the weights>": a new name whenever the
// weights (hence the embeddings) change, as the catalog space name requires.
std::string trained_model_name(const std::string& kind,
                               const std::filesystem::path& out,
                               const torch::nn::Module& module);

// Fixed seed and one intra-op thread (bit-identical results).
void seed_everything(std::uint64_t seed);

double seconds_since(std::chrono::steady_clock::time_point start);

// The excerpt-image step of the autoencoder and siamese trainers: fills `config` (mean/std left
// for the caller), computes the images with compute_excerpt_images and reports "features"
// progress every 16 files (elapsed time measured from `start`).
Result<ImageSet> excerpt_images_with_progress(const std::vector<std::filesystem::path>& files,
                                              ExcerptKind excerpt,
                                              double excerpt_s,
                                              int n_frames,
                                              int n_mels,
                                              int threads,
                                              const TrainProgressFn& on_progress,
                                              std::chrono::steady_clock::time_point start,
                                              ExcerptImageConfig& config);

}  // namespace earshot::detail
