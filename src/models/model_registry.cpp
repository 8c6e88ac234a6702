#include "models/model_registry.h"

#include <fmt/format.h>

#include "core/file_util.h"
#include "models/model_factories.h"
#include "models/torch_util.h"
#include "models/torchscript_model.h"
#include "models/trained_models.h"

namespace earshot {
namespace {

// The one list of built-in models. Folder = where weights.safetensors lives under a models dir.
constexpr ModelKind kModelKinds[] = {
    {"yamnet", "yamnet", &make_yamnet_model,
     "Google YAMNet (MobileNetV1, AudioSet 521 classes): general sounds, 1024-d per 0.96 s",
     "Apache-2.0"},
    {"mn04", "mn04_as", &make_mn04_model,
     "EfficientAT mn04_as (MobileNetV3, AudioSet 527 classes): general sounds, 384-d per <=10 s",
     "MIT"},
    {"musicnn-msd", "msd_musicnn", &make_musicnn_msd_model,
     "musicnn trained on the Million Song Dataset (50 tags): music, 200-d per 3 s", "ISC"},
    {"musicnn-mtt", "mtt_musicnn", &make_musicnn_mtt_model,
     "musicnn trained on MagnaTagATune (50 tags): music, 200-d per 3 s", "ISC"},
    {"vggish", "vggish", &make_vggish_model,
     "Google VGGish (VGG, YouTube-100M): general sounds, 128-d (PCA) per 0.96 s; weights not "
     "shipped, convert them with tools/convert_vggish.py",
     "Apache-2.0"},
    {"mfcc", "", &make_mfcc_model,
     "classical baseline: MFCC + deltas + spectral statistics, no weights", "n/a (ours)"},
};

}  // namespace

std::span<const ModelKind> model_kinds() {
    return kModelKinds;
}

std::string model_names() {
    std::string s;
    for (const auto& k : kModelKinds) {
        if (!s.empty())
            s += ", ";
        s += k.name;
    }
    s += ", torchscript:PATH, ae:PATH, siamese:PATH, proj:PATH";
    return s;
}

// Chosen from the retrieval numbers in docs/models.md.
const char* default_model_name() {
    return "mn04";
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
    if (auto ref = parse_model_ref(name)) {
        if (ref->kind == "torchscript") {
            auto m = make_torchscript_model(ref->path, options);
            if (!m)
                return tl::unexpected(m.error().with_context(fmt::format("model '{}'", name)));
            return m;
        }
        if (ref->kind == "ae" || ref->kind == "siamese" || ref->kind == "proj") {
            auto m = make_trained_model(ref->kind, ref->path, options);
            if (!m)
                return tl::unexpected(m.error().with_context(fmt::format("model '{}'", name)));
            return m;
        }
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("unknown model kind '{}' in '{}' (known: torchscript:PATH, "
                                      "ae:PATH, siamese:PATH, proj:PATH)",
                                      ref->kind, name));
    }
    for (const auto& k : kModelKinds) {
        if (name != k.name)
            continue;
        std::filesystem::path dir;
        if (*k.folder != '\0') {
            EARSHOT_ASSIGN_OR_RETURN(dir, find_model_dir(k, options.models_dir));
        }
        auto m = k.factory(dir, options);
        if (!m)
            return tl::unexpected(m.error().with_context(fmt::format("model '{}'", name)));
        return m;
    }
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unknown model '{}' (known: {})", name, model_names()));
}

}  // namespace earshot
