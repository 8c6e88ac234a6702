// Generic TorchScript model: card parsing, log-mel patching and batched forward (format and
// contract in torchscript_model.h). libtorch exceptions (c10::Error) are caught here and become
// Error values (STYLE.md §4 rule 2).
#include "models/torchscript_model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "features/log_mel.h"
#include "models/model_factories.h"
#include "models/torch_util.h"

namespace earshot {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kCardExtraFile = "model_card.json";  // sync with docs/models.md
constexpr std::int64_t kMaxBatchPatches = 64;  // patches per forward call (bounds memory)

// Error for a card field.
tl::unexpected<Error> bad_field(std::string_view source,
                                std::string_view field,
                                const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(source) + ": field '" + std::string(field) + "' " + what);
}

template <typename E>
Result<E> parse_enum(const json& obj,
                     std::string_view source,
                     const char* field,
                     const std::vector<std::pair<const char*, E>>& names,
                     E fallback) {
    if (!obj.contains(field))
        return fallback;
    const json& v = obj.at(field);
    std::string known;
    for (const auto& [name, value] : names) {
        if (v.is_string() && v.get<std::string>() == name)
            return value;
        known += (known.empty() ? "" : ", ") + std::string(name);
    }
    return bad_field(source, field, "must be one of: " + known + " (got " + v.dump() + ")");
}

// Reads obj[field] into out if present (numbers for int/double, bools, strings).
template <typename T>
Status read_field(const json& obj, std::string_view source, const char* field, T& out) {
    if (!obj.contains(field))
        return ok_status();
    const json& v = obj.at(field);
    if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean())
            return bad_field(source, field, "must be true or false");
        out = v.get<bool>();
    } else if constexpr (std::is_same_v<T, int>) {
        if (!v.is_number_integer())
            return bad_field(source, field, "must be an integer");
        out = v.get<int>();
    } else if constexpr (std::is_same_v<T, double>) {
        if (!v.is_number())
            return bad_field(source, field, "must be a number");
        out = v.get<double>();
    } else {
        if (!v.is_string())
            return bad_field(source, field, "must be a string");
        out = v.get<std::string>();
    }
    return ok_status();
}

Result<FrontendConfig> parse_frontend(const json& f, std::string_view source) {
    FrontendConfig c;
    EARSHOT_RETURN_IF_ERROR(read_field(f, source, "sample_rate_hz", c.sample_rate_hz));
    EARSHOT_RETURN_IF_ERROR(read_field(f, source, "preemphasis", c.preemphasis));
    EARSHOT_RETURN_IF_ERROR(read_field(f, source, "round_mel_to_f16", c.round_mel_to_f16));
    if (f.contains("stft")) {
        const json& s = f.at("stft");
        if (!s.is_object())
            return bad_field(source, "frontend.stft", "must be an object");
        EARSHOT_RETURN_IF_ERROR(read_field(s, source, "n_fft", c.stft.n_fft));
        EARSHOT_RETURN_IF_ERROR(read_field(s, source, "window_length", c.stft.window_length));
        EARSHOT_RETURN_IF_ERROR(read_field(s, source, "hop_length", c.stft.hop_length));
        EARSHOT_ASSIGN_OR_RETURN(
            c.stft.window,
            parse_enum<WindowKind>(s, source, "window",
                                   {{"hann_periodic", WindowKind::kHannPeriodic},
                                    {"hann_symmetric", WindowKind::kHannSymmetric},
                                    {"hamming_periodic", WindowKind::kHammingPeriodic}},
                                   c.stft.window));
        EARSHOT_ASSIGN_OR_RETURN(c.stft.placement,
                                 parse_enum<WindowPlacement>(s, source, "placement",
                                                             {{"start", WindowPlacement::kStart},
                                                              {"center", WindowPlacement::kCenter}},
                                                             c.stft.placement));
        EARSHOT_ASSIGN_OR_RETURN(c.stft.framing,
                                 parse_enum<Framing>(s, source, "framing",
                                                     {{"none", Framing::kNone},
                                                      {"center_reflect", Framing::kCenterReflect}},
                                                     c.stft.framing));
        EARSHOT_ASSIGN_OR_RETURN(c.stft.spectrum,
                                 parse_enum<SpectrumKind>(s, source, "spectrum",
                                                          {{"magnitude", SpectrumKind::kMagnitude},
                                                           {"power", SpectrumKind::kPower}},
                                                          c.stft.spectrum));
    }
    if (f.contains("mel")) {
        const json& m = f.at("mel");
        if (!m.is_object())
            return bad_field(source, "frontend.mel", "must be an object");
        EARSHOT_RETURN_IF_ERROR(read_field(m, source, "n_mels", c.mel.n_mels));
        EARSHOT_RETURN_IF_ERROR(read_field(m, source, "fmin_hz", c.mel.fmin_hz));
        EARSHOT_RETURN_IF_ERROR(read_field(m, source, "fmax_hz", c.mel.fmax_hz));
        EARSHOT_ASSIGN_OR_RETURN(c.mel.scale, parse_enum<MelScale>(m, source, "scale",
                                                                   {{"htk", MelScale::kHtk},
                                                                    {"slaney", MelScale::kSlaney}},
                                                                   c.mel.scale));
        EARSHOT_ASSIGN_OR_RETURN(c.mel.triangles,
                                 parse_enum<MelTriangles>(m, source, "triangles",
                                                          {{"mel", MelTriangles::kMelDomain},
                                                           {"hz", MelTriangles::kHzDomain}},
                                                          c.mel.triangles));
        EARSHOT_ASSIGN_OR_RETURN(
            c.mel.norm, parse_enum<MelNorm>(
                            m, source, "norm",
                            {{"none", MelNorm::kNone}, {"slaney", MelNorm::kSlaney}}, c.mel.norm));
    }
    if (f.contains("log")) {
        const json& l = f.at("log");
        if (!l.is_object())
            return bad_field(source, "frontend.log", "must be an object");
        EARSHOT_ASSIGN_OR_RETURN(
            c.log.kind,
            parse_enum<LogKind>(l, source, "kind",
                                {{"ln", LogKind::kLn}, {"log10", LogKind::kLog10}}, c.log.kind));
        EARSHOT_RETURN_IF_ERROR(read_field(l, source, "mul", c.log.mul));
        EARSHOT_RETURN_IF_ERROR(read_field(l, source, "add", c.log.add));
        EARSHOT_RETURN_IF_ERROR(read_field(l, source, "shift", c.log.shift));
        EARSHOT_RETURN_IF_ERROR(read_field(l, source, "divisor", c.log.divisor));
    }
    return c;
}

// Log-mel value of digital silence for this front end (the padding value of patches).
float silence_value(const FrontendConfig& c) {
    const double x = c.log.add;  // mul * 0 + add
    const double l = c.log.kind == LogKind::kLn ? std::log(x) : std::log10(x);
    return static_cast<float>((l + c.log.shift) / c.log.divisor);
}

Result<std::string> read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(ErrorCode::kIoError, "cannot read " + path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class TorchScriptModel final : public EmbeddingModel {
public:
    TorchScriptModel(ModelInfo info,
                     TorchScriptCard card,
                     torch::jit::Module module,
                     std::unique_ptr<LogMelFrontend> frontend)
        : info_(std::move(info)),
          card_(std::move(card)),
          module_(std::move(module)),
          frontend_(std::move(frontend)),
          silence_(silence_value(card_.frontend)) {}

    const ModelInfo& info() const override { return info_; }

    Result<Embeddings> embed(std::span<const float> audio) const override {
        try {
            return embed_impl(audio);
        } catch (const std::exception& e) {
            return make_error(ErrorCode::kInternal, "model '" + info_.name + "': " + e.what());
        }
    }

private:
    Result<Embeddings> embed_impl(std::span<const float> audio) const {
        // Zero-pad very short input so that every framing yields at least one frame.
        const auto min_samples = static_cast<std::size_t>(
            std::max(card_.frontend.stft.n_fft, card_.frontend.stft.window_length) + 2);
        std::vector<float> padded;
        if (audio.size() < min_samples) {
            padded.assign(audio.begin(), audio.end());
            padded.resize(min_samples, 0.0f);
            audio = padded;
        }
        EARSHOT_ASSIGN_OR_RETURN(Matrix logmel, frontend_->compute(audio));
        const auto n_frames = static_cast<std::int64_t>(logmel.n_rows);
        const auto n_mels = static_cast<std::int64_t>(logmel.n_cols);
        const std::int64_t pf = card_.patch_frames;
        const std::int64_t hop = card_.patch_hop_frames;
        // Patches start at 0, hop, ...; the last one covers the last frame (padded with silence).
        const std::int64_t n_patches = n_frames <= pf ? 1 : 1 + (n_frames - pf + hop - 1) / hop;
        const std::int64_t padded_frames = (n_patches - 1) * hop + pf;

        c10::InferenceMode guard;
        auto frames = torch::full({padded_frames, n_mels}, silence_, torch::kFloat32);
        frames.narrow(0, 0, n_frames).copy_(detail::from_matrix(logmel));
        auto patches = frames.unfold(0, pf, hop);  // [P, n_mels, pf]
        patches = card_.input_layout == InputLayout::kTimeMel ? patches.transpose(1, 2) : patches;
        patches = patches.unsqueeze(1).contiguous();  // [P, 1, H, W]

        Embeddings out;
        out.segments =
            Matrix(static_cast<std::size_t>(n_patches), static_cast<std::size_t>(info_.dim));
        for (std::int64_t b = 0; b < n_patches; b += kMaxBatchPatches) {
            const std::int64_t n = std::min(kMaxBatchPatches, n_patches - b);
            auto result = module_.forward({patches.narrow(0, b, n)});
            torch::Tensor y, scores;
            if (result.isTuple()) {  // (embeddings, scores)
                const auto& elements = result.toTuple()->elements();
                y = elements.at(0).toTensor();
                if (elements.size() > 1)
                    scores = elements.at(1).toTensor();
            } else {
                y = result.toTensor();
            }
            if (scores.defined() && !info_.labels.empty()) {
                const auto n_labels = static_cast<std::int64_t>(info_.labels.size());
                if (scores.dim() != 2 || scores.size(0) != n || scores.size(1) != n_labels) {
                    return make_error(ErrorCode::kInternal,
                                      "model '" + info_.name + "': scores do not match the " +
                                          std::to_string(n_labels) + " card labels");
                }
                if (out.scores.empty()) {
                    out.scores = Matrix(static_cast<std::size_t>(n_patches),
                                        static_cast<std::size_t>(n_labels));
                }
                scores = scores.to(torch::kFloat32).contiguous();
                std::copy_n(scores.data_ptr<float>(), n * n_labels,
                            out.scores.row(static_cast<std::size_t>(b)));
            }
            if (y.dim() != 2 || y.size(0) != n || y.size(1) != info_.dim) {
                std::ostringstream shape;
                shape << y.sizes();
                return make_error(ErrorCode::kInternal,
                                  "model '" + info_.name + "': forward returned shape " +
                                      shape.str() + ", expected [" + std::to_string(n) + ", " +
                                      std::to_string(info_.dim) + "] (card dim)");
            }
            y = y.to(torch::kFloat32).contiguous();
            std::copy_n(y.data_ptr<float>(), n * info_.dim,
                        out.segments.row(static_cast<std::size_t>(b)));
        }
        const double frame_s =
            static_cast<double>(card_.frontend.stft.hop_length) / card_.frontend.sample_rate_hz;
        for (std::int64_t p = 0; p < n_patches; ++p) {
            out.start_s.push_back(static_cast<double>(p * hop) * frame_s);
            out.end_s.push_back(static_cast<double>(p * hop + pf) * frame_s);
        }
        return out;
    }

    ModelInfo info_;
    TorchScriptCard card_;
    // torch::jit::Module::forward is not const; running it concurrently is safe for inference.
    mutable torch::jit::Module module_;
    std::unique_ptr<LogMelFrontend> frontend_;
    float silence_;
};

}  // namespace

Result<TorchScriptCard> parse_torchscript_card(std::string_view text, std::string_view source) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
        return make_error(ErrorCode::kInvalidArgument, std::string(source) + ": not a JSON object");
    }
    TorchScriptCard c;
    for (const char* required : {"name", "dim", "sample_rate_hz", "frontend", "patch_frames"}) {
        if (!j.contains(required))
            return bad_field(source, required, "is required");
    }
    EARSHOT_RETURN_IF_ERROR(read_field(j, source, "name", c.name));
    EARSHOT_RETURN_IF_ERROR(read_field(j, source, "description", c.description));
    EARSHOT_RETURN_IF_ERROR(read_field(j, source, "license", c.license));
    EARSHOT_RETURN_IF_ERROR(read_field(j, source, "dim", c.dim));
    EARSHOT_RETURN_IF_ERROR(read_field(j, source, "sample_rate_hz", c.sample_rate_hz));
    EARSHOT_RETURN_IF_ERROR(read_field(j, source, "patch_frames", c.patch_frames));
    c.patch_hop_frames = c.patch_frames;
    EARSHOT_RETURN_IF_ERROR(read_field(j, source, "patch_hop_frames", c.patch_hop_frames));
    if (c.name.empty())
        return bad_field(source, "name", "must not be empty");
    if (c.dim <= 0)
        return bad_field(source, "dim", "must be > 0");
    if (c.sample_rate_hz <= 0)
        return bad_field(source, "sample_rate_hz", "must be > 0");
    if (c.patch_frames <= 0)
        return bad_field(source, "patch_frames", "must be > 0");
    if (c.patch_hop_frames <= 0)
        return bad_field(source, "patch_hop_frames", "must be > 0");
    EARSHOT_ASSIGN_OR_RETURN(c.input_layout,
                             parse_enum<InputLayout>(j, source, "input_layout",
                                                     {{"NCHW_time_mel", InputLayout::kTimeMel},
                                                      {"NCHW_mel_time", InputLayout::kMelTime}},
                                                     InputLayout::kTimeMel));
    const json& f = j.at("frontend");
    if (!f.is_object())
        return bad_field(source, "frontend", "must be an object");
    EARSHOT_ASSIGN_OR_RETURN(c.frontend, parse_frontend(f, source));
    if (!f.contains("sample_rate_hz"))
        c.frontend.sample_rate_hz = c.sample_rate_hz;
    if (c.frontend.sample_rate_hz != c.sample_rate_hz) {
        return bad_field(source, "frontend.sample_rate_hz",
                         "(" + std::to_string(c.frontend.sample_rate_hz) +
                             ") differs from sample_rate_hz (" + std::to_string(c.sample_rate_hz) +
                             ")");
    }
    if (j.contains("labels")) {
        const json& l = j.at("labels");
        if (!l.is_array())
            return bad_field(source, "labels", "must be a list of strings");
        for (const json& s : l) {
            if (!s.is_string())
                return bad_field(source, "labels", "must be a list of strings");
            c.labels.push_back(s.get<std::string>());
        }
    }
    return c;
}

Result<std::unique_ptr<EmbeddingModel>> make_torchscript_model(const fs::path& pt_path,
                                                               const ModelOptions& options) {
    const std::string where = "torchscript model " + pt_path.string();
    std::error_code ec;
    if (!fs::is_regular_file(pt_path, ec)) {
        return make_error(ErrorCode::kNotFound,
                          where +
                              ": file not found (expected a TorchScript archive written by "
                              "torch.jit.save, see docs/models.md \"torchscript:PATH\")");
    }
    torch::jit::Module module;
    torch::jit::ExtraFilesMap extra{{kCardExtraFile, ""}};
    try {
        module = torch::jit::load(pt_path.string(), torch::kCPU, extra);
        module.eval();
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kCorruption,
                          where + ": not a loadable TorchScript archive: " + e.what());
    }
    std::string card_text = extra[kCardExtraFile];
    std::string source = where + " (extra file " + kCardExtraFile + ")";
    if (card_text.empty()) {
        const fs::path sidecar = pt_path.string() + ".json";
        if (!fs::is_regular_file(sidecar, ec)) {
            return make_error(ErrorCode::kCorruption,
                              where + ": no model card: neither the extra file '" +
                                  std::string(kCardExtraFile) + "' in the archive nor " +
                                  sidecar.string());
        }
        EARSHOT_ASSIGN_OR_RETURN(card_text, read_text(sidecar));
        source = sidecar.string();
    }
    EARSHOT_ASSIGN_OR_RETURN(TorchScriptCard card, parse_torchscript_card(card_text, source));
    auto frontend = LogMelFrontend::make(card.frontend);
    if (!frontend)
        return tl::unexpected(frontend.error().with_context(source + ": frontend"));

    ModelInfo info;
    info.name = card.name;
    info.description = card.description.empty() ? "TorchScript model " + pt_path.filename().string()
                                                : card.description;
    info.license = card.license.empty() ? "unknown" : card.license;
    info.dim = card.dim;
    info.sample_rate_hz = card.sample_rate_hz;
    const double frame_s =
        static_cast<double>(card.frontend.stft.hop_length) / card.frontend.sample_rate_hz;
    info.segment_s = card.patch_frames * frame_s;
    info.segment_hop_s = card.patch_hop_frames * frame_s;
    info.labels = card.labels;
    info.weights_path = pt_path;
    detail::set_torch_threads(options.threads);
    return std::make_unique<TorchScriptModel>(std::move(info), std::move(card), std::move(module),
                                              std::move(*frontend));
}

const ModelKind kTorchscriptModelKind{
    .name = "torchscript",
    .takes_path = true,
    .factory =
        [](const ModelSource& source, const ModelOptions& options) {
            return make_torchscript_model(source.path, options);
        },
    .description =
        "any TorchScript archive with a model card (models/torchscript_model.h); the "
        "space is named by the card",
    .license = "as the file's card says",
};

}  // namespace earshot
