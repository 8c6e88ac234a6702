#include "models/model_registry.h"

#include <vector>

#include <fmt/format.h>

#include "core/file_util.h"
#include "core/log.h"
#include "models/model_factories.h"
#include "models/torch_util.h"

namespace earshot {
namespace {

// The one list of built-in model kinds; each row lives in its model's source file.
const ModelKind* const kBuiltInModelKinds[] = {
    &kYamnetModelKind,  &kMn04ModelKind,       &kMusicnnMsdModelKind,  &kMusicnnMttModelKind,
    &kVggishModelKind,  &kMfccModelKind,       &kTorchscriptModelKind, &kAutoencoderModelKind,
    &kSiameseModelKind, &kProjectionModelKind,
};

std::vector<ModelKind>& rows() {
    static std::vector<ModelKind> all = [] {
        std::vector<ModelKind> v;
        for (const ModelKind* k : kBuiltInModelKinds) v.push_back(*k);
        return v;
    }();
    return all;
}

std::string spec_form(const ModelKind& k) {
    return k.takes_path ? fmt::format("{}:PATH", k.name) : std::string(k.name);
}

}  // namespace

std::span<const ModelKind> model_kinds() {
    return rows();
}

Status register_model_kind(const ModelKind& kind) {
    const std::string_view name = kind.name == nullptr ? "" : kind.name;
    if (name.empty() || name.find(':') != std::string_view::npos || kind.factory == nullptr) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("model kind '{}': needs a name without ':' and a factory", name));
    }
    for (const auto& k : rows()) {
        if (name == k.name) {
            return make_error(ErrorCode::kAlreadyExists,
                              fmt::format("model kind '{}' is already registered", name));
        }
    }
    rows().push_back(kind);
    return ok_status();
}

const ModelKind* find_model_kind(std::string_view spec) {
    const auto colon = spec.find(':');
    const bool prefixed = colon != std::string_view::npos;
    const std::string_view name = prefixed ? spec.substr(0, colon) : spec;
    for (const auto& k : rows()) {
        if (k.takes_path == prefixed && name == k.name)
            return &k;
    }
    return nullptr;
}

std::string model_names() {
    std::string s;
    for (const auto& k : rows()) {
        if (!s.empty())
            s += ", ";
        s += spec_form(k);
    }
    return s;
}

const char* default_model_name() {
    for (const auto& k : rows()) {
        if (k.is_default)
            return k.name;
    }
    return rows().front().name;
}

void set_inference_threads(int threads) {
    detail::set_torch_threads(threads);
}

std::optional<ModelRef> parse_model_ref(const std::string& name) {
    auto colon = name.find(':');
    if (colon == std::string::npos)
        return std::nullopt;
    return ModelRef{name.substr(0, colon), name.substr(colon + 1)};
}

Result<std::filesystem::path> find_model_dir(const ModelKind& kind,
                                             const std::filesystem::path& explicit_models_dir) {
    auto dirs = model_search_dirs(explicit_models_dir);
    std::string tried;
    for (const auto& d : dirs) {
        auto candidate = d / kind.folder;
        std::error_code ec;
        if (std::filesystem::exists(candidate / "weights.safetensors", ec))
            return candidate;
        tried += fmt::format("{}{}", tried.empty() ? "" : ", ",
                             (candidate / "weights.safetensors").string());
    }
    return make_error(ErrorCode::kNotFound,
                      fmt::format("weights for model '{}' not found (looked for {}); put the "
                                  "'{}' folder in one of these places, or pass --models-dir DIR / "
                                  "set EARSHOT_MODELS_DIR (see docs/models.md)",
                                  kind.name, tried, kind.folder));
}

Result<std::unique_ptr<EmbeddingModel>> make_model(const std::string& name,
                                                   const ModelOptions& options) {
    const ModelKind* kind = find_model_kind(name);
    if (kind == nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("unknown model '{}' (known: {})", name, model_names()));
    }
    ModelSource source;
    source.spec = name;
    if (kind->takes_path)
        source.path = name.substr(name.find(':') + 1);
    if (*kind->folder != '\0') {
        EARSHOT_ASSIGN_OR_RETURN(source.weights_dir, find_model_dir(*kind, options.models_dir));
    }
    auto m = kind->factory(source, options);
    if (!m)
        return tl::unexpected(m.error().with_context(fmt::format("model '{}'", name)));
    const ModelInfo& info = (*m)->info();
    log_info("model '{}': {}-d, {}", info.name, info.dim,
             info.weights_path.empty() ? std::string("no weights file")
                                       : "weights " + info.weights_path.string());
    return m;
}

}  // namespace earshot
