// Registry rows and factories of the built-in model kinds (each row is defined in its
// <arch>_model.cpp). Only model_registry.cpp and tests include this; everyone else goes through
// make_model() in models/model_registry.h.
#pragma once

#include <filesystem>
#include <memory>

#include "core/status.h"
#include "models/embedding_model.h"
#include "models/model_registry.h"

namespace earshot {

// The rows, in the order model_registry.cpp lists them.
extern const ModelKind kYamnetModelKind;       // yamnet_model.cpp
extern const ModelKind kMn04ModelKind;         // mn04_model.cpp
extern const ModelKind kMusicnnMsdModelKind;   // musicnn_model.cpp
extern const ModelKind kMusicnnMttModelKind;   // musicnn_model.cpp
extern const ModelKind kVggishModelKind;       // vggish_model.cpp
extern const ModelKind kMfccModelKind;         // mfcc_model.cpp
extern const ModelKind kTorchscriptModelKind;  // torchscript_model.cpp ("torchscript:PATH")
extern const ModelKind kAutoencoderModelKind;  // trained_models.cpp ("ae:PATH")
extern const ModelKind kSiameseModelKind;      // trained_models.cpp ("siamese:PATH")
extern const ModelKind kProjectionModelKind;   // trained_models.cpp ("proj:PATH")

// weights_dir: the folder holding weights.safetensors (and original/ labels), e.g.
// ../shared/models/yamnet. kNotFound / kCorruption when weights are missing or malformed.
Result<std::unique_ptr<EmbeddingModel>> make_yamnet_model(const std::filesystem::path& weights_dir,
                                                          const ModelOptions& options);
Result<std::unique_ptr<EmbeddingModel>> make_mn04_model(const std::filesystem::path& weights_dir,
                                                        const ModelOptions& options);
// Same code for both musicnn variants; the folder decides (msd_musicnn / mtt_musicnn).
Result<std::unique_ptr<EmbeddingModel>> make_musicnn_msd_model(
    const std::filesystem::path& weights_dir, const ModelOptions& options);
Result<std::unique_ptr<EmbeddingModel>> make_musicnn_mtt_model(
    const std::filesystem::path& weights_dir, const ModelOptions& options);
// VGGish (torchvggish weights converted by tools/convert_vggish.py; not shipped in ../shared).
Result<std::unique_ptr<EmbeddingModel>> make_vggish_model(const std::filesystem::path& weights_dir,
                                                          const ModelOptions& options);
// Weight-free baseline: MFCC + deltas + spectral statistics (weights_dir ignored).
Result<std::unique_ptr<EmbeddingModel>> make_mfcc_model(const std::filesystem::path& weights_dir,
                                                        const ModelOptions& options);

}  // namespace earshot
