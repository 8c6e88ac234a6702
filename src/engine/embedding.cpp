#include "engine/embedding.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "audio/resampler.h"
#include "audio/trim.h"
#include "models/model_registry.h"
#include "models/pooling.h"

namespace earshot {
namespace fs = std::filesystem;

namespace {

std::string dbfs_text(float peak) {
    return peak > 0.0f ? fmt::format("{:.1f} dBFS", 20.0 * std::log10(static_cast<double>(peak)))
                       : std::string("-inf dBFS (all zero)");
}

// Rejects audio no model can embed: NaN/Inf samples (float WAVs can hold them) and, after
// embedding, vectors that came out non-finite (samples so large that the spectrum overflows).
// kCorruption with the count or the peak, so that one such file is skipped with a reason.
Status check_samples_finite(std::span<const float> samples) {
    std::size_t bad = 0;
    for (float x : samples) bad += std::isfinite(x) ? 0 : 1;
    if (bad == 0)
        return ok_status();
    return make_error(ErrorCode::kCorruption,
                      fmt::format("the audio has {} non-finite (NaN or infinite) sample(s) of {}",
                                  bad, samples.size()));
}

Status check_embedding_finite(const Embeddings& emb, std::span<const float> samples) {
    const bool finite = std::all_of(emb.segments.data.begin(), emb.segments.data.end(),
                                    [](float v) { return std::isfinite(v); });
    if (finite)
        return ok_status();
    float peak = 0.0f;
    for (float x : samples) peak = std::max(peak, std::fabs(x));
    return make_error(ErrorCode::kCorruption,
                      fmt::format("the embedding came out non-finite: samples far outside [-1, 1] "
                                  "(peak |x| = {:g})",
                                  peak));
}

// Cuts `content` into windows of seg.window_s every seg.hop_s (the last one ends at the end of
// the audio; audio no longer than a window is one window) and embeds each on its own, pooled as a
// whole file. Times are relative to the start of `content`. `whole` is the pooled vector of all
// of `content`, reused when it is a single window.
Result<Embeddings> embed_windows(std::span<const float> content,
                                 int sample_rate_hz,
                                 const EmbeddingModel& model,
                                 const Segmenting& seg,
                                 const std::vector<float>& whole) {
    const double rate = static_cast<double>(sample_rate_hz);
    const auto window = std::max<std::size_t>(1, static_cast<std::size_t>(seg.window_s * rate));
    const auto hop = std::max<std::size_t>(1, static_cast<std::size_t>(seg.hop_s * rate));
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    if (content.size() <= window) {
        spans.emplace_back(0, content.size());
    } else {
        std::size_t begin = 0;
        for (; begin + window <= content.size(); begin += hop)
            spans.emplace_back(begin, begin + window);
        if (spans.back().second < content.size())
            spans.emplace_back(content.size() - window, content.size());
    }
    Embeddings out;
    out.segments = Matrix(spans.size(), whole.size());
    for (std::size_t w = 0; w < spans.size(); ++w) {
        const auto [begin, end] = spans[w];
        out.start_s.push_back(static_cast<double>(begin) / rate);
        out.end_s.push_back(static_cast<double>(end) / rate);
        if (spans.size() == 1) {
            std::copy(whole.begin(), whole.end(), out.segments.row(w));
            continue;
        }
        auto part = content.subspan(begin, end - begin);
        EARSHOT_ASSIGN_OR_RETURN(auto emb, model.embed(part));
        auto pooled = pool_segments(emb, part, sample_rate_hz);
        if (pooled.size() != whole.size())
            return make_error(ErrorCode::kInternal, "window embedding has the wrong dimension");
        std::copy(pooled.begin(), pooled.end(), out.segments.row(w));
    }
    return out;
}

}  // namespace

std::vector<LabelScore> top_labels(const Embeddings& e,
                                   const std::vector<std::string>& names,
                                   std::size_t top) {
    std::vector<LabelScore> out;
    if (e.scores.empty() || names.empty())
        return out;
    const std::size_t c = std::min(e.scores.n_cols, names.size());
    std::vector<double> mean(c, 0.0);
    for (std::size_t i = 0; i < e.scores.n_rows; ++i) {
        for (std::size_t j = 0; j < c; ++j) mean[j] += e.scores.at(i, j);
    }
    out.reserve(c);
    for (std::size_t j = 0; j < c; ++j) {
        out.push_back(
            {names[j], static_cast<float>(mean[j] / static_cast<double>(e.scores.n_rows))});
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const LabelScore& a, const LabelScore& b) { return a.score > b.score; });
    if (top > 0 && out.size() > top)
        out.resize(top);
    return out;
}

std::string labels_text(const std::vector<LabelScore>& labels, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < std::min(n, labels.size()); ++i) {
        if (!s.empty())
            s += ", ";
        s += labels[i].name;
    }
    return s;
}

Result<EmbedResult> embed_buffer(AudioBuffer audio,
                                 const AudioInfo& info,
                                 const EmbeddingModel& model,
                                 std::size_t n_labels,
                                 const Segmenting& segmenting,
                                 bool trim) {
    EARSHOT_RETURN_IF_ERROR(check_samples_finite(audio.samples));
    auto range = trim ? non_silent_range(audio.samples) : SampleRange{0, audio.samples.size()};
    std::span<const float> content(audio.samples.data() + range.begin,
                                   audio.samples.size() - range.begin);
    EARSHOT_ASSIGN_OR_RETURN(auto emb, model.embed(content));
    EARSHOT_RETURN_IF_ERROR(check_embedding_finite(emb, content));
    EmbedResult r;
    r.model = model.info().name;
    r.dim = model.info().dim;
    r.info = info;
    r.embedding = pool_segments(emb, content, audio.sample_rate_hz);
    if (!std::all_of(r.embedding.begin(), r.embedding.end(),
                     [](float v) { return std::isfinite(v); })) {
        return make_error(ErrorCode::kCorruption, "the pooled embedding came out non-finite");
    }
    r.labels = top_labels(emb, model.info().labels, n_labels);
    if (segmenting.window_s > 0.0) {
        // Windows have no per-segment scores; the labels above are the model's own.
        EARSHOT_ASSIGN_OR_RETURN(
            emb, embed_windows(content, audio.sample_rate_hz, model, segmenting, r.embedding));
    }
    const double offset_s =
        static_cast<double>(range.begin) / static_cast<double>(audio.sample_rate_hz);
    for (auto& t : emb.start_s) t += offset_s;
    for (auto& t : emb.end_s) t += offset_s;
    r.segments = std::move(emb);
    return r;
}

std::vector<TagScore> tags_from_labels(const std::vector<LabelScore>& labels) {
    std::vector<TagScore> out;
    for (const auto& l : labels) {
        if (out.size() >= kMaxItemTags)
            break;
        if (l.score >= kMinTagScore && std::isfinite(l.score) && !l.name.empty())
            out.push_back({l.name, l.score});
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const TagScore& a, const TagScore& b) { return a.score > b.score; });
    return out;
}

Status check_query_not_silent(std::span<const float> samples, const std::string& query_name) {
    float peak = 0.0f;
    for (float x : samples) peak = std::max(peak, std::fabs(x));
    const double threshold = std::pow(10.0, kSilentQueryDbfs / 20.0);
    if (static_cast<double>(peak) >= threshold)
        return ok_status();
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("{}the query '{}' is silent (peak {}, below {:g} dBFS): its "
                    "nearest neighbours would be noise. Use a louder recording or "
                    "another stretch, or search anyway with --allow-silent (HTTP "
                    "allow_silent=1)",
                    kSilentQueryMessage, query_name, dbfs_text(peak), kSilentQueryDbfs));
}

bool is_silent_query(const Error& error) {
    return error.code() == ErrorCode::kInvalidArgument &&
           error.message().find(kSilentQueryMessage) != std::string::npos;
}

Segmenting default_segmenting(const ModelInfo& info) {
    if (info.segment_s > kMaxNativeSegmentS)
        return {4.0, 2.0};
    return {};
}

Result<EmbedResult> embed_audio_file(const fs::path& path,
                                     const EmbeddingModel& model,
                                     std::size_t n_labels,
                                     const Segmenting& segmenting,
                                     bool trim_leading_silence) {
    DecodeOptions opts;
    opts.target_sample_rate_hz = model.info().sample_rate_hz;
    AudioInfo info;
    auto audio = decode_audio(path, opts, &info);
    if (!audio)
        return tl::unexpected(audio.error());
    auto r =
        embed_buffer(std::move(*audio), info, model, n_labels, segmenting, trim_leading_silence);
    if (!r)
        return tl::unexpected(r.error().with_context(fmt::format("embed '{}'", path.string())));
    return r;
}

Result<EmbedResult> embed_samples(std::span<const float> samples,
                                  int sample_rate_hz,
                                  const EmbeddingModel& model,
                                  std::size_t n_labels) {
    if (sample_rate_hz < 1000 || sample_rate_hz > 384000) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("sample rate {} Hz is outside 1000..384000", sample_rate_hz));
    }
    if (samples.empty())
        return make_error(ErrorCode::kInvalidArgument, "no samples to embed");
    if (!std::all_of(samples.begin(), samples.end(), [](float x) { return std::isfinite(x); }))
        return make_error(ErrorCode::kInvalidArgument, "the samples contain NaN or infinity");
    AudioBuffer audio;
    audio.sample_rate_hz = model.info().sample_rate_hz;
    EARSHOT_ASSIGN_OR_RETURN(audio.samples,
                             resample(samples, sample_rate_hz, audio.sample_rate_hz));
    AudioInfo info;
    info.duration_s = static_cast<double>(samples.size()) / sample_rate_hz;
    info.sample_rate_hz = sample_rate_hz;
    info.channels = 1;
    info.codec = "pcm_f32";
    return embed_buffer(std::move(audio), info, model, n_labels);
}

Result<EmbedResult> embed_file(const fs::path& path, const EmbedOptions& options) {
    ModelOptions mo;
    mo.models_dir = options.models_dir;
    mo.threads = options.threads;
    std::string name = options.model.empty() ? default_model_name() : options.model;
    EARSHOT_ASSIGN_OR_RETURN(auto model, make_model(name, mo));
    return embed_audio_file(path, *model, options.top_labels, {}, options.trim_leading_silence);
}

}  // namespace earshot
