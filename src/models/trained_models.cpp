// Trained model kinds ae:/siamese:/proj: (contract in trained_models.h): excerpt images, the
// model card, the safetensors file I/O and the EmbeddingModel adapters. libtorch exceptions are
// caught here and become Error values (STYLE.md §4 rule 2).
#include "models/trained_models.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "models/detail/trained_networks.h"
#include "models/model_factories.h"
#include "models/torch_util.h"

namespace earshot {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kCardKey = "earshot_card";
constexpr const char* kFormat = "earshot-trained-1";
constexpr int kRateHz = 16000;

tl::unexpected<Error> bad_card(std::string_view source, std::string_view field) {
    return make_error(
        ErrorCode::kCorruption,
        fmt::format("{}: model card field '{}' is missing or malformed", source, field));
}

ModelInfo info_from_card(const TrainedModelCard& card, const fs::path& path) {
    ModelInfo info;
    info.name = card.name;
    info.description = card.description.empty() ? fmt::format("{} model trained by earshot ({})",
                                                              card.kind, path.filename().string())
                                                : card.description;
    info.license = "yours (trained on your data)";
    info.dim = card.dim;
    info.sample_rate_hz = card.sample_rate_hz;
    info.segment_s = card.input.excerpt_s;
    info.segment_hop_s = card.input.excerpt_s;
    info.weights_path = path;
    return info;
}

// Normalised image as a [1, n_frames, n_mels] tensor plus the excerpt's start/end in seconds.
struct ImageTensor {
    torch::Tensor x;
    double start_s = 0.0;
    double end_s = 0.0;
};

Result<ImageTensor> image_tensor(const ExcerptImager& imager, std::span<const float> audio) {
    std::size_t start = 0;
    EARSHOT_ASSIGN_OR_RETURN(Matrix m, imager.compute(audio, &start));
    const auto& c = imager.config();
    ImageTensor t;
    t.x = (detail::from_matrix(m) - c.mean) / c.std;
    t.x = t.x.unsqueeze(0);
    const double rate = c.frontend.sample_rate_hz;
    t.start_s = static_cast<double>(start) / rate;
    t.end_s = t.start_s + static_cast<double>(imager.excerpt_samples()) / rate;
    return t;
}

Embeddings one_segment(const torch::Tensor& y, double start_s, double end_s) {
    Embeddings out;
    out.segments = detail::to_matrix(y);
    out.start_s = {start_s};
    out.end_s = {end_s};
    return out;
}

class AutoencoderModel final : public EmbeddingModel {
public:
    AutoencoderModel(ModelInfo info,
                     std::unique_ptr<ExcerptImager> imager,
                     detail::ConvAutoencoder net)
        : info_(std::move(info)), imager_(std::move(imager)), net_(std::move(net)) {}
    const ModelInfo& info() const override { return info_; }
    Result<Embeddings> embed(std::span<const float> audio) const override {
        try {
            EARSHOT_ASSIGN_OR_RETURN(ImageTensor t, image_tensor(*imager_, audio));
            c10::InferenceMode guard;
            auto y = net_->encode(t.x.unsqueeze(0));  // [1, 1, F, M] -> [1, dim]
            return one_segment(y, t.start_s, t.end_s);
        } catch (const std::exception& e) {
            return make_error(ErrorCode::kInternal, "model '" + info_.name + "': " + e.what());
        }
    }

private:
    ModelInfo info_;
    std::unique_ptr<ExcerptImager> imager_;
    mutable detail::ConvAutoencoder net_;  // forward is not const; read-only in inference
};

class SiameseModel final : public EmbeddingModel {
public:
    SiameseModel(ModelInfo info, std::unique_ptr<ExcerptImager> imager, detail::SiameseNet net)
        : info_(std::move(info)), imager_(std::move(imager)), net_(std::move(net)) {}
    const ModelInfo& info() const override { return info_; }
    Result<Embeddings> embed(std::span<const float> audio) const override {
        try {
            EARSHOT_ASSIGN_OR_RETURN(ImageTensor t, image_tensor(*imager_, audio));
            c10::InferenceMode guard;
            auto y = net_->embed(t.x.transpose(1, 2).contiguous());  // [1, M, F] -> [1, dim]
            return one_segment(y, t.start_s, t.end_s);
        } catch (const std::exception& e) {
            return make_error(ErrorCode::kInternal, "model '" + info_.name + "': " + e.what());
        }
    }
    Result<float> pair_score(std::span<const float> a, std::span<const float> b) const {
        const auto dim = static_cast<std::size_t>(info_.dim);
        if (a.size() != dim || b.size() != dim) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("model '{}': pair score needs two {}-d vectors (got {} "
                                          "and {})",
                                          info_.name, dim, a.size(), b.size()));
        }
        try {
            c10::InferenceMode guard;
            auto ta = torch::from_blob(const_cast<float*>(a.data()), {1, info_.dim}).clone();
            auto tb = torch::from_blob(const_cast<float*>(b.data()), {1, info_.dim}).clone();
            return torch::sigmoid(net_->pair_logit(ta, tb)).item<float>();
        } catch (const std::exception& e) {
            return make_error(ErrorCode::kInternal, "model '" + info_.name + "': " + e.what());
        }
    }

private:
    ModelInfo info_;
    std::unique_ptr<ExcerptImager> imager_;
    mutable detail::SiameseNet net_;
};

class ProjectionModel final : public EmbeddingModel {
public:
    ProjectionModel(ModelInfo info,
                    std::unique_ptr<EmbeddingModel> base,
                    detail::ProjectionHead head)
        : info_(std::move(info)), base_(std::move(base)), head_(std::move(head)) {}
    const ModelInfo& info() const override { return info_; }
    Result<Embeddings> embed(std::span<const float> audio) const override {
        EARSHOT_ASSIGN_OR_RETURN(Embeddings e, base_->embed(audio));
        try {
            c10::InferenceMode guard;
            auto y = head_->forward(detail::from_matrix(e.segments));
            Embeddings out;
            out.segments = detail::to_matrix(y);
            out.start_s = std::move(e.start_s);
            out.end_s = std::move(e.end_s);
            return out;
        } catch (const std::exception& ex) {
            return make_error(ErrorCode::kInternal, "model '" + info_.name + "': " + ex.what());
        }
    }

private:
    ModelInfo info_;
    std::unique_ptr<EmbeddingModel> base_;
    mutable detail::ProjectionHead head_;
};

Result<std::unique_ptr<ExcerptImager>> make_imager(const TrainedModelCard& card,
                                                   const fs::path& path) {
    auto imager = ExcerptImager::make(card.input);
    if (!imager)
        return tl::unexpected(imager.error().with_context(path.string() + ": input"));
    return imager;
}

}  // namespace

const char* excerpt_kind_name(ExcerptKind kind) {
    switch (kind) {
        case ExcerptKind::kStart:
            return "start";
        case ExcerptKind::kMiddle:
            return "middle";
        case ExcerptKind::kEnergy:
            return "energy";
    }
    return "start";
}

Result<ExcerptKind> parse_excerpt_kind(std::string_view name) {
    for (auto k : {ExcerptKind::kStart, ExcerptKind::kMiddle, ExcerptKind::kEnergy}) {
        if (name == excerpt_kind_name(k))
            return k;
    }
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("unknown excerpt rule '{}' (known: start, middle, energy)", name));
}

FrontendConfig make_excerpt_frontend(double excerpt_s, int n_frames, int n_mels) {
    FrontendConfig c;
    c.sample_rate_hz = kRateHz;
    c.stft.n_fft = 1024;
    c.stft.window_length = 1024;
    const auto n = static_cast<int>(std::lround(excerpt_s * kRateHz));
    c.stft.hop_length = std::max(1, (n - c.stft.window_length) / std::max(1, n_frames - 1));
    c.mel.n_mels = n_mels;
    c.mel.fmin_hz = 60.0;
    c.mel.fmax_hz = 7800.0;
    c.log.add = 0.001;
    return c;
}

ExcerptImager::ExcerptImager(ExcerptImageConfig config, std::unique_ptr<LogMelFrontend> frontend)
    : config_(std::move(config)), frontend_(std::move(frontend)) {}
ExcerptImager::~ExcerptImager() = default;

Result<std::unique_ptr<ExcerptImager>> ExcerptImager::make(const ExcerptImageConfig& config) {
    if (config.n_frames < 1 || config.excerpt_s <= 0.0 || !(config.std > 0.0f)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "excerpt image: need n_frames >= 1, excerpt_s > 0 and std > 0");
    }
    EARSHOT_ASSIGN_OR_RETURN(auto frontend, LogMelFrontend::make(config.frontend));
    auto imager = std::unique_ptr<ExcerptImager>(new ExcerptImager(config, std::move(frontend)));
    const std::size_t n = imager->excerpt_samples();
    if (imager->frontend_->n_frames(n) < static_cast<std::size_t>(config.n_frames)) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("excerpt image: {} s with hop {} gives fewer than {} frames",
                        config.excerpt_s, config.frontend.stft.hop_length, config.n_frames));
    }
    return imager;
}

std::size_t ExcerptImager::excerpt_samples() const {
    return static_cast<std::size_t>(
        std::lround(config_.excerpt_s * config_.frontend.sample_rate_hz));
}

std::size_t ExcerptImager::excerpt_start(std::span<const float> audio) const {
    const std::size_t len = excerpt_samples();
    if (audio.size() <= len)
        return 0;
    switch (config_.excerpt) {
        case ExcerptKind::kStart:
            return 0;
        case ExcerptKind::kMiddle:
            return (audio.size() - len) / 2;
        case ExcerptKind::kEnergy: {
            // Sliding sum of squares in 10 ms steps; the first maximum wins.
            const auto step =
                static_cast<std::size_t>(std::max(1, config_.frontend.sample_rate_hz / 100));
            std::vector<double> prefix(audio.size() + 1, 0.0);
            for (std::size_t i = 0; i < audio.size(); ++i)
                prefix[i + 1] = prefix[i] + static_cast<double>(audio[i]) * audio[i];
            std::size_t best = 0;
            double best_energy = -1.0;
            for (std::size_t s = 0; s + len <= audio.size(); s += step) {
                const double e = prefix[s + len] - prefix[s];
                if (e > best_energy) {
                    best_energy = e;
                    best = s;
                }
            }
            return best;
        }
    }
    return 0;
}

Result<Matrix> ExcerptImager::compute(std::span<const float> audio,
                                      std::size_t* start_sample) const {
    const std::size_t len = excerpt_samples();
    const std::size_t start = excerpt_start(audio);
    std::vector<float> excerpt(len, 0.0f);
    const std::size_t n = std::min(len, audio.size() - std::min(audio.size(), start));
    std::copy_n(audio.begin() + static_cast<std::ptrdiff_t>(start), n, excerpt.begin());
    if (start_sample != nullptr)
        *start_sample = start;
    EARSHOT_ASSIGN_OR_RETURN(Matrix logmel, frontend_->compute(excerpt));
    logmel.n_rows = static_cast<std::size_t>(config_.n_frames);  // first n_frames frames
    logmel.data.resize(logmel.n_rows * logmel.n_cols);
    return logmel;
}

std::string trained_card_to_json(const TrainedModelCard& card) {
    const auto& in = card.input;
    json training = json::parse(card.training_json, nullptr, false);
    if (training.is_discarded())
        training = json::object();
    json j = {{"format", kFormat},
              {"kind", card.kind},
              {"name", card.name},
              {"description", card.description},
              {"dim", card.dim},
              {"sample_rate_hz", card.sample_rate_hz},
              {"channels", card.channels},
              {"base_model", card.base_model},
              {"base_dim", card.base_dim},
              {"input",
               {{"excerpt", excerpt_kind_name(in.excerpt)},
                {"excerpt_s", in.excerpt_s},
                {"n_frames", in.n_frames},
                {"mean", in.mean},
                {"std", in.std},
                {"n_fft", in.frontend.stft.n_fft},
                {"window_length", in.frontend.stft.window_length},
                {"hop_length", in.frontend.stft.hop_length},
                {"n_mels", in.frontend.mel.n_mels},
                {"fmin_hz", in.frontend.mel.fmin_hz},
                {"fmax_hz", in.frontend.mel.fmax_hz},
                {"log_add", in.frontend.log.add}}},
              {"training", training}};
    return j.dump(2);
}

Result<TrainedModelCard> parse_trained_card(std::string_view text, std::string_view source) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
        return make_error(ErrorCode::kCorruption, fmt::format("{}: card is not JSON", source));
    if (j.value("format", "") != kFormat) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("{}: not an earshot trained model (format '{}' expected)",
                                      source, kFormat));
    }
    TrainedModelCard c;
    try {
        c.kind = j.at("kind").get<std::string>();
        c.name = j.at("name").get<std::string>();
        c.description = j.value("description", "");
        c.dim = j.at("dim").get<int>();
        c.sample_rate_hz = j.at("sample_rate_hz").get<int>();
        c.channels = j.value("channels", 0);
        c.base_model = j.value("base_model", "");
        c.base_dim = j.value("base_dim", 0);
        if (j.contains("training"))
            c.training_json = j.at("training").dump();
        if (c.kind != "proj") {
            const json& in = j.at("input");
            EARSHOT_ASSIGN_OR_RETURN(c.input.excerpt,
                                     parse_excerpt_kind(in.at("excerpt").get<std::string>()));
            c.input.excerpt_s = in.at("excerpt_s").get<double>();
            c.input.n_frames = in.at("n_frames").get<int>();
            c.input.mean = in.at("mean").get<float>();
            c.input.std = in.at("std").get<float>();
            auto& f = c.input.frontend;
            f.sample_rate_hz = c.sample_rate_hz;
            f.stft.n_fft = in.at("n_fft").get<int>();
            f.stft.window_length = in.at("window_length").get<int>();
            f.stft.hop_length = in.at("hop_length").get<int>();
            f.mel.n_mels = in.at("n_mels").get<int>();
            f.mel.fmin_hz = in.at("fmin_hz").get<double>();
            f.mel.fmax_hz = in.at("fmax_hz").get<double>();
            f.log.add = in.at("log_add").get<double>();
        }
    } catch (const json::exception& e) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("{}: malformed model card: {}", source, e.what()));
    }
    if (c.kind != "ae" && c.kind != "siamese" && c.kind != "proj")
        return bad_card(source, "kind");
    if (c.name.empty())
        return bad_card(source, "name");
    if (c.dim <= 0)
        return bad_card(source, "dim");
    if (c.kind == "proj" && (c.base_model.empty() || c.base_dim <= 0))
        return bad_card(source, "base_model/base_dim");
    if (c.kind != "proj" && c.channels <= 0)
        return bad_card(source, "channels");
    return c;
}

Result<TrainedModelCard> read_trained_card(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        return make_error(ErrorCode::kNotFound,
                          fmt::format("trained model {} not found (write one with `earshot "
                                      "train`)",
                                      path.string()));
    }
    EARSHOT_ASSIGN_OR_RETURN(SafeTensors st, load_safetensors(path));
    auto it = st.metadata.find(kCardKey);
    if (it == st.metadata.end()) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("{}: no model card (metadata '{}'); not written by `earshot "
                                      "train`",
                                      path.string(), kCardKey));
    }
    return parse_trained_card(it->second, path.string());
}

namespace detail {

Status save_trained_module(const fs::path& path,
                           const TrainedModelCard& card,
                           const torch::nn::Module& module) {
    SafeTensors st;
    auto add = [&](const std::string& name, const torch::Tensor& t) {
        auto c = t.detach().to(torch::kFloat32).contiguous();
        Tensor out;
        out.shape.assign(c.sizes().begin(), c.sizes().end());
        out.data.resize(static_cast<std::size_t>(c.numel()));
        if (!out.data.empty())
            std::memcpy(out.data.data(), c.data_ptr<float>(), out.data.size() * sizeof(float));
        st.tensors[name] = std::move(out);
    };
    for (const auto& p : module.named_parameters(/*recurse=*/true)) add(p.key(), p.value());
    for (const auto& b : module.named_buffers(/*recurse=*/true)) add(b.key(), b.value());
    st.metadata[kCardKey] = trained_card_to_json(card);
    auto s = save_safetensors(path, st);
    if (!s)
        return tl::unexpected(s.error().with_context("save model " + path.string()));
    return ok_status();
}

Result<TrainedModelCard> load_trained_module(const fs::path& path, torch::nn::Module& module) {
    EARSHOT_ASSIGN_OR_RETURN(TrainedModelCard card, read_trained_card(path));
    EARSHOT_ASSIGN_OR_RETURN(SafeTensors st, load_safetensors(path));
    std::size_t used = 0;
    torch::NoGradGuard no_grad;
    auto copy = [&](const std::string& name, torch::Tensor& dst) -> Status {
        std::vector<std::int64_t> shape(dst.sizes().begin(), dst.sizes().end());
        auto t = load_tensor(st, name, shape);
        if (!t) {
            return make_error(
                ErrorCode::kCorruption,
                fmt::format("{}: tensor '{}': {}", path.string(), name, t.error().message()));
        }
        dst.copy_(*t);
        ++used;
        return ok_status();
    };
    for (auto& p : module.named_parameters(true)) EARSHOT_RETURN_IF_ERROR(copy(p.key(), p.value()));
    for (auto& b : module.named_buffers(true)) EARSHOT_RETURN_IF_ERROR(copy(b.key(), b.value()));
    if (used != st.tensors.size()) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("{}: {} tensors in the file, the '{}' network has {}",
                                      path.string(), st.tensors.size(), card.kind, used));
    }
    return card;
}

}  // namespace detail

Result<std::unique_ptr<EmbeddingModel>> make_trained_model(const std::string& kind,
                                                           const fs::path& path,
                                                           const ModelOptions& options) {
    EARSHOT_ASSIGN_OR_RETURN(TrainedModelCard card, read_trained_card(path));
    if (card.kind != kind) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{} is a '{}' model; use --model {}:{}", path.string(),
                                      card.kind, card.kind, path.string()));
    }
    detail::set_torch_threads(options.threads);
    ModelInfo info = info_from_card(card, path);
    try {
        if (kind == "ae") {
            if (card.input.n_frames % 8 != 0 || card.input.frontend.mel.n_mels % 8 != 0)
                return bad_card(path.string(), "input.n_frames/n_mels (multiples of 8)");
            detail::ConvAutoencoder net(card.input.n_frames, card.input.frontend.mel.n_mels,
                                        card.channels, card.dim);
            EARSHOT_RETURN_IF_ERROR(detail::load_trained_module(path, *net));
            net->eval();
            EARSHOT_ASSIGN_OR_RETURN(auto imager, make_imager(card, path));
            return std::make_unique<AutoencoderModel>(std::move(info), std::move(imager),
                                                      std::move(net));
        }
        if (kind == "siamese") {
            detail::SiameseNet net(card.input.frontend.mel.n_mels, card.channels, card.dim);
            EARSHOT_RETURN_IF_ERROR(detail::load_trained_module(path, *net));
            net->eval();
            EARSHOT_ASSIGN_OR_RETURN(auto imager, make_imager(card, path));
            return std::make_unique<SiameseModel>(std::move(info), std::move(imager),
                                                  std::move(net));
        }
        EARSHOT_ASSIGN_OR_RETURN(auto base, make_model(card.base_model, options));
        if (base->info().dim != card.base_dim) {
            return make_error(
                ErrorCode::kCorruption,
                fmt::format("{}: trained on {} ({}-d) but that model is now {}-d", path.string(),
                            card.base_model, card.base_dim, base->info().dim));
        }
        detail::ProjectionHead head(card.base_dim, card.dim);
        EARSHOT_RETURN_IF_ERROR(detail::load_trained_module(path, *head));
        head->eval();
        info.sample_rate_hz = base->info().sample_rate_hz;
        info.segment_s = base->info().segment_s;
        info.segment_hop_s = base->info().segment_hop_s;
        return std::make_unique<ProjectionModel>(std::move(info), std::move(base), std::move(head));
    } catch (const std::exception& e) {
        return make_error(
            ErrorCode::kCorruption,
            fmt::format("{}: cannot build the '{}' network: {}", path.string(), kind, e.what()));
    }
}

Result<float> learned_pair_score(const EmbeddingModel& model,
                                 std::span<const float> a,
                                 std::span<const float> b) {
    const auto* siamese = dynamic_cast<const SiameseModel*>(&model);
    if (siamese == nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("model '{}' has no learned pair score (use --model "
                                      "siamese:PATH, a model from `earshot train siamese`)",
                                      model.info().name));
    }
    return siamese->pair_score(a, b);
}

namespace {

constexpr char kAutoencoderKindName[] = "ae";
constexpr char kSiameseKindName[] = "siamese";
constexpr char kProjectionKindName[] = "proj";

// The registry row of a model file written by `earshot train`: "<Kind>:PATH".
template <const char* Kind>
constexpr ModelKind trained_model_row(const char* description) {
    return ModelKind{
        .name = Kind,
        .takes_path = true,
        .factory =
            [](const ModelSource& source, const ModelOptions& options) {
                return make_trained_model(Kind, source.path, options);
            },
        .description = description,
        .license = "yours (trained on your data)",
    };
}

}  // namespace

const ModelKind kAutoencoderModelKind = trained_model_row<kAutoencoderKindName>(
    "convolutional autoencoder trained by `earshot train ae`");
const ModelKind kSiameseModelKind = trained_model_row<kSiameseKindName>(
    "siamese similarity network trained by `earshot train siamese`");
const ModelKind kProjectionModelKind = trained_model_row<kProjectionKindName>(
    "learned projection over a pretrained model, trained by `earshot train projection`");

}  // namespace earshot
