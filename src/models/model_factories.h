// Factories of the built-in model kinds (one per <arch>_model.cpp). Only model_registry.cpp and
// tests include this; everyone else goes through make_model() in models/model_registry.h.
#pragma once

#include <filesystem>
#include <memory>

#include "core/status.h"
#include "models/embedding_model.h"
#include "models/model_registry.h"

namespace earshot {

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
