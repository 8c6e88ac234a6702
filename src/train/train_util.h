// Helpers shared by the trainers (libtorch; internal to src/train).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
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

// One epoch's mean losses; val is NaN when there is no validation split.
struct EpochLosses {
    double train = 0.0;
    double val = std::numeric_limits<double>::quiet_NaN();
};

// The early-stopping state a checkpoint keeps (the autoencoder resumes from it).
struct EarlyStopping {
    bool watch_val = true;  // watch the validation loss (false: the training loss)
    double best = std::numeric_limits<double>::infinity();
    int since_best = 0;  // epochs in a row without a better watched loss
};

// The epoch loop every trainer shares. For epoch = first_epoch..epochs, while fewer than
// `patience` epochs in a row failed to improve the watched loss: run_epoch(epoch) trains and
// validates; the losses go into report (train_losses, val_losses); when the watched loss is the
// best so far, report.best_epoch is set and on_improved(epoch) runs (the trainer writes or
// snapshots its weights); then after_epoch(epoch) (checkpoints; may be empty); then on_progress.
// report.stopped_early is set when patience ended the loop before `epochs`. kInternal when no
// epoch (of this run or, after a resume, before it) gave a finite watched loss; errors of the
// callbacks are returned as they are. Torch exceptions pass through to the trainer.
Status run_epochs(const std::string& what,
                  int first_epoch,
                  int epochs,
                  int patience,
                  EarlyStopping& state,
                  TrainReport& report,
                  const TrainProgressFn& on_progress,
                  std::chrono::steady_clock::time_point start,
                  const std::function<Result<EpochLosses>(int)>& run_epoch,
                  const std::function<Status(int)>& on_improved,
                  const std::function<Status(int)>& after_epoch = nullptr);

}  // namespace earshot::detail
