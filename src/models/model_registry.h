// The registry of embedding models. make_model("yamnet", options) finds the weights in the
// documented search path (core/file_util.h model_search_dirs) and returns a ready model;
// make_model("torchscript:PATH", options) loads a file through a prefixed kind.
// Each kind is one ModelKind row defined in the kind's own source file (name, spec form, help
// text, weights folder, factory); model_registry.cpp lists the built-in rows once, and
// register_model_kind() adds rows at run time (tests, plug-ins). Adding a model = one
// <arch>_model.cpp with its row + one line in model_registry.cpp: see docs/adding-a-model.md.
// Thread-safety: every function may be called concurrently, except register_model_kind(), which
// must run before other threads use the registry.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "models/embedding_model.h"

namespace earshot {

struct ModelOptions {
    std::filesystem::path models_dir;  // --models-dir; empty = default search path
    int threads = 0;                   // intra-op threads for the network; 0 = all cores
};

// What make_model() resolved from a spec before calling the kind's factory.
struct ModelSource {
    std::string spec;                   // as written: "yamnet", "torchscript:/m/x.pt"
    std::filesystem::path path;         // prefixed kinds: PATH of "<prefix>:PATH"; else empty
    std::filesystem::path weights_dir;  // kinds with a folder: the folder found; else empty
};

using ModelFactory = Result<std::unique_ptr<EmbeddingModel>> (*)(const ModelSource& source,
                                                                 const ModelOptions& options);

// One registry row. Rows are plain constants (designated initialisers), one per source file.
struct ModelKind {
    // The name users write. For a prefixed kind (takes_path) the prefix: spec "<name>:PATH".
    const char* name = "";
    // true: a prefixed kind whose spec carries a file path (torchscript:, ae:, ...).
    bool takes_path = false;
    // Folder under a models dir that holds weights.safetensors; "" = no weights to find.
    const char* folder = "";
    ModelFactory factory = nullptr;
    const char* description = "";  // one line, for `earshot models` and --help
    const char* license = "";
    // true for the one default model (chosen from the retrieval numbers in docs/models.md).
    bool is_default = false;
};

// Every row: built-in kinds in their documented order, then the registered ones.
std::span<const ModelKind> model_kinds();

// Adds a row (a model defined outside src/models, e.g. in a test). kAlreadyExists if a row with
// that name exists, kInvalidArgument for an empty name, a ':' in it or no factory.
Status register_model_kind(const ModelKind& kind);

// The row a spec selects ("mn04" or "torchscript:x.pt"), or nullptr.
const ModelKind* find_model_kind(std::string_view spec);

// Comma-separated specs of every row ("yamnet, mn04, ..., torchscript:PATH, ..."), for help and
// error messages.
std::string model_names();

// Name of the default model (the row with is_default).
const char* default_model_name();

// kInvalidArgument for an unknown name (listing the known ones); kNotFound when the weights
// are not in any search dir (listing every dir tried and how to fix it); the factory's errors.
Result<std::unique_ptr<EmbeddingModel>> make_model(const std::string& name,
                                                   const ModelOptions& options);

// The folder that holds the weights for a model kind, or kNotFound (message lists the dirs).
// REQUIRES: kind.folder is not empty.
Result<std::filesystem::path> find_model_dir(const ModelKind& kind,
                                             const std::filesystem::path& explicit_models_dir);

// Sets the number of threads the networks use for one forward pass (process-wide; 0 = all
// cores). The indexer sets 1 while it runs one file per worker thread.
void set_inference_threads(int threads);

// Splits "torchscript:PATH"-style specs: returns the prefix ("torchscript") and the path, or
// nullopt for a spec without ':'.
struct ModelRef {
    std::string kind;
    std::string path;
};
std::optional<ModelRef> parse_model_ref(const std::string& name);

}  // namespace earshot
