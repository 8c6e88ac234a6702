// Trainers of `earshot train` (issue #6), on CPU with the libtorch C++ front end: a learned
// projection over a pretrained model's embeddings, a convolutional autoencoder on excerpt
// images, and a siamese similarity network. Each writes one model file (models/trained_models.h)
// usable as --model proj:PATH / ae:PATH / siamese:PATH. Training runs on one libtorch thread
// (set here, process-wide) so that a fixed seed gives bit-identical weights; data preparation
// (decoding, log-mel) uses `threads` workers. Progress goes to on_progress; nothing is printed.
// Errors: kInvalidArgument (bad options, too little data), kIoError (writing the model), and
// decode errors only when no file at all could be read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"
#include "models/trained_models.h"
#include "train/dataset.h"

namespace earshot {

struct TrainProgress {
    std::string stage;  // "features" while decoding (epoch = files done), then "train"
    int epoch = 0;      // 1-based
    int epochs = 0;
    double train_loss = 0.0;
    double val_loss = 0.0;  // NaN when there is no validation split
    double elapsed_s = 0.0;
    bool improved = false;  // best validation loss so far (model file written)
};
using TrainProgressFn = std::function<void(const TrainProgress&)>;

struct TrainReport {
    std::string model_name;  // the card name (catalog space)
    std::size_t n_train = 0, n_val = 0;
    std::size_t n_failed = 0;          // files that did not decode
    std::vector<double> train_losses;  // per epoch run (including epochs before a resume)
    std::vector<double> val_losses;
    int best_epoch = 0;
    int start_epoch = 1;  // > 1 after a resume
    bool stopped_early = false;
    double elapsed_s = 0.0;   // this run
    double features_s = 0.0;  // of which: decoding and log-mel
};

// ---- projection (proj:PATH) --------------------------------------------------------------

struct ProjectionTrainOptions {
    int dim = 128;
    int epochs = 300;             // full-batch steps
    double learning_rate = 1e-3;  // Adam
    double weight_decay = 1e-4;
    double temperature = 0.1;   // of the supervised contrastive loss
    double val_fraction = 0.2;  // of the groups
    int patience = 30;          // epochs without a better validation loss
    std::uint64_t seed = 1234;
    std::string training_json = "{}";  // extra facts for the card's "training" object
    TrainProgressFn on_progress;
};

// base_vectors: n × base_dim whole-file vectors of base_model; labels / groups: n each (groups
// decide the validation split; pass labels' indices or file names when there are no groups).
// Loss: supervised contrastive (Khosla et al. 2020, arXiv:2004.11362, eq. 2) on L2-normalised
// outputs of a linear head, full batch. The best-validation head is written to out.
Result<TrainReport> train_projection(const Matrix& base_vectors,
                                     const std::vector<std::string>& labels,
                                     const std::vector<std::string>& groups,
                                     const std::string& base_model,
                                     const std::filesystem::path& out,
                                     const ProjectionTrainOptions& options);

// ---- autoencoder (ae:PATH) ---------------------------------------------------------------

struct AutoencoderTrainOptions {
    int dim = 64;       // bottleneck = embedding size
    int channels = 16;  // first conv layer (then x2, x4)
    int n_mels = 64;    // image width; multiple of 8
    int n_frames = 64;  // image height; multiple of 8
    ExcerptKind excerpt = ExcerptKind::kStart;
    double excerpt_s = 2.0;
    int epochs = 20;
    int batch_size = 32;
    double learning_rate = 1e-3;  // Adam
    double val_fraction = 0.1;    // of the files
    int patience = 4;
    std::uint64_t seed = 1234;
    int threads = 0;  // decoding workers; 0 = all cores
    // After every epoch the state (weights, Adam moments, epoch, best loss) is written to
    // checkpoint (default: out + ".ckpt"); resume continues from it with identical results.
    std::filesystem::path checkpoint;
    bool resume = false;
    std::string training_json = "{}";
    TrainProgressFn on_progress;
};

// Mean squared reconstruction error of the normalised images; the best-validation model is
// written to out.
Result<TrainReport> train_autoencoder(const std::vector<std::filesystem::path>& files,
                                      const std::filesystem::path& out,
                                      const AutoencoderTrainOptions& options);

// ---- siamese (siamese:PATH) --------------------------------------------------------------

// What the network learns. Either explicit pairs (score per pair of files), or one key per file
// (a label or an artist): two files of the same key score 1, different keys score
// key_scores[(min, max)] (0 when absent, i.e. plain labels).
struct SiameseTargets {
    std::vector<std::filesystem::path> files;
    std::vector<std::string> keys;  // per file, empty when pairs are given
    std::map<std::pair<std::string, std::string>, float> key_scores;
    struct Pair {
        std::size_t a = 0, b = 0;  // indices into files
        float score = 0.0f;
    };
    std::vector<Pair> pairs;
};

struct SiameseTrainOptions {
    int dim = 64;
    int channels = 64;
    int n_mels = 64;
    int n_frames = 128;
    ExcerptKind excerpt = ExcerptKind::kStart;
    double excerpt_s = 2.0;
    int epochs = 15;
    int pairs_per_epoch = 4096;  // sampled per epoch in key mode (half same-key)
    int batch_size = 64;
    double learning_rate = 1e-3;
    double val_fraction = 0.15;  // of the keys (key mode) or of the pairs
    int patience = 4;
    std::uint64_t seed = 1234;
    int threads = 0;
    std::string training_json = "{}";
    TrainProgressFn on_progress;
};

// Binary cross-entropy between sigmoid(pair logit) and the target score.
Result<TrainReport> train_siamese(const SiameseTargets& targets,
                                  const std::filesystem::path& out,
                                  const SiameseTrainOptions& options);

}  // namespace earshot
