// The one table of embedding models. make_model("yamnet", options) finds the weights in the
// documented search path (core/file_util.h model_search_dirs) and returns a ready model.
// Adding a model = one <arch>_model.cpp with a make_<arch>_model() factory + one row in
// model_registry.cpp (see docs/adding-a-model.md).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/status.h"
#include "models/embedding_model.h"

namespace earshot {

struct ModelOptions {
    std::filesystem::path models_dir;  // --models-dir; empty = default search path
    int threads = 0;                   // intra-op threads for the network; 0 = all cores
};

// Factory signature. weights_dir is the model's folder (e.g. <models>/yamnet) that was found;
// empty for models without weights.
using ModelFactory = Result<std::unique_ptr<EmbeddingModel>> (*)(
    const std::filesystem::path& weights_dir, const ModelOptions& options);

struct ModelKind {
    const char* name;    // CLI name
    const char* folder;  // folder under a models dir holding weights.safetensors; "" = none
    ModelFactory factory;
    const char* description;  // one line, for `earshot models`
    const char* license;
};

std::span<const ModelKind> model_kinds();
// Comma-separated list of names, for error messages.
std::string model_names();

// Name of the default model (the pretrained one we measured best overall; docs/models.md).
const char* default_model_name();

// kInvalidArgument for an unknown name (listing the known ones); kNotFound when the weights
// are not in any search dir (listing every dir tried and how to fix it).
Result<std::unique_ptr<EmbeddingModel>> make_model(const std::string& name,
                                                   const ModelOptions& options);

// The folder that holds the weights for a model kind, or kNotFound (message lists the dirs).
Result<std::filesystem::path> find_model_dir(const ModelKind& kind,
                                             const std::filesystem::path& explicit_models_dir);

// Sets the number of threads the networks use for one forward pass (process-wide; 0 = all
// cores). The indexer sets 1 while it runs one file per worker thread.
void set_inference_threads(int threads);

// Parses "torchscript:PATH"-style names: returns the prefix kind ("torchscript") and the path,
// or nullopt for a plain registry name.
struct ModelRef {
    std::string kind;
    std::string path;
};
std::optional<ModelRef> parse_model_ref(const std::string& name);

}  // namespace earshot
