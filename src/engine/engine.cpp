#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "audio/resampler.h"
#include "audio/trim.h"
#include "catalog/ingest_queue.h"
#include "core/file_util.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "fingerprint/fingerprint.h"
#include "index/flat_index.h"
#include "index/index_file.h"
#include "index/vector_index.h"
#include "models/model_registry.h"
#include "models/pooling.h"

namespace earshot {
namespace fs = std::filesystem;

const std::vector<std::string>& audio_extensions() {
    static const std::vector<std::string> kExtensions = {
        ".wav", ".wave", ".flac", ".ogg",  ".oga", ".opus", ".mp3", ".m4a", ".aac",
        ".mp4", ".aif",  ".aiff", ".aifc", ".wma", ".webm", ".mka", ".caf", ".au"};
    return kExtensions;
}

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool has_audio_extension(const fs::path& p) {
    auto ext = lower(p.extension().string());
    const auto& exts = audio_extensions();
    return std::find(exts.begin(), exts.end(), ext) != exts.end();
}

// Absolute, normalised path used as the catalog key (symlinks are kept as given so that a
// library's own layout is what users see).
std::string catalog_path(const fs::path& p) {
    std::error_code ec;
    auto abs = fs::absolute(p, ec);
    if (ec)
        return p.lexically_normal().string();
    return abs.lexically_normal().string();
}

std::int64_t mtime_ns(const fs::path& p) {
    std::error_code ec;
    auto t = fs::last_write_time(p, ec);
    if (ec)
        return 0;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

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

// Embeds the audio from its first non-silent sample on (audio/trim.h: -60 dBFS), so leading
// silence does not change the vectors. Trailing silence is kept: a one-shot's length is part of
// how it sounds (trimming both ends cost 0.013 P@10 with mn04 on gm_fluidr3, docs/models.md).
// Segment times are reported relative to the original file. trim = false embeds from sample 0,
// as the models' reference implementations do (the segments then match ../shared references).
Result<EmbedResult> embed_buffer(AudioBuffer audio,
                                 const AudioInfo& info,
                                 const EmbeddingModel& model,
                                 std::size_t n_labels,
                                 const Segmenting& segmenting = {},
                                 bool trim = true) {
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

}  // namespace

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

Result<SearchBy> parse_search_by(std::string_view text) {
    if (text == "items" || text == "item" || text.empty())
        return SearchBy::kItems;
    if (text == "segments" || text == "segment")
        return SearchBy::kSegments;
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unknown search mode '{}' (known: items, segments)", text));
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

std::string default_model() {
    return default_model_name();
}

std::vector<ModelListing> list_models(const fs::path& models_dir) {
    std::vector<ModelListing> out;
    for (const auto& k : model_kinds()) {
        if (k.takes_path)
            continue;  // torchscript:PATH etc. name no model by themselves
        ModelListing l;
        l.name = k.name;
        l.description = k.description;
        l.license = k.license;
        if (*k.folder != '\0') {
            auto dir = find_model_dir(k, models_dir);
            l.weights_found = dir.has_value();
            l.location = dir ? dir->string() : dir.error().message();
        } else {
            l.weights_found = true;
            l.location = "(no weights needed)";
        }
        if (l.weights_found) {
            ModelOptions mo;
            mo.models_dir = models_dir;
            auto m = make_model(k.name, mo);
            if (m) {
                l.dim = (*m)->info().dim;
                l.sample_rate_hz = (*m)->info().sample_rate_hz;
                l.n_labels = (*m)->info().labels.size();
            } else {
                l.weights_found = false;
                l.location = m.error().message();
            }
        }
        out.push_back(std::move(l));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------

fs::path default_index_dir(const std::string& db) {
    if (!is_postgres_uri(db))
        return fs::path(db + ".idx");
    fs::path cache;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
        cache = xdg;
    } else if (const char* home = std::getenv("HOME"); home && *home) {
        cache = fs::path(home) / ".cache";
    } else {
        cache = fs::temp_directory_path();
    }
    const std::string key = redact_uri(db);
    return cache / "earshot" / fmt::format("pg-{:016x}", hash_bytes(key.data(), key.size()));
}

fs::path index_file_path(const fs::path& db_path,
                         const std::string& space,
                         Metric metric,
                         const std::string& canonical_spec) {
    // File-name-safe space and spec; a hash of the original keeps distinct names distinct.
    auto safe = [](const std::string& in) {
        std::string out;
        bool changed = false;
        for (unsigned char c : in) {
            if (std::isalnum(c) || c == '-' || c == '_') {
                out += static_cast<char>(c);
            } else {
                out += '_';
                changed = true;
            }
        }
        if (changed || out.empty()) {
            out += fmt::format("-{:08x}",
                               static_cast<std::uint32_t>(hash_bytes(in.data(), in.size())));
        }
        return out;
    };
    return default_index_dir(db_path.string()) /
           fmt::format("{}.{}.{}.esix", safe(space), metric_name(metric), safe(canonical_spec));
}

// One cached index: what search_entry hands out. Immutable once installed (searches of the index
// are const), so a search keeps using the entry it got while a newer one replaces it.
struct SearchCacheEntry {
    std::unique_ptr<VectorIndex> index;
    std::unordered_map<std::int64_t, double> durations;
    // The space's catalog generation this entry reflects: every write up to it is in the index
    // (some later ones may be too; applying them again is harmless).
    std::int64_t generation = 0;
    ReindexReport report;  // how the index was obtained
    // Segment indexes (ids: segment_id()): the typical stored segment length and hop (medians
    // over a sample of items), which the query's segments are cut to.
    bool segments = false;
    double segment_s = 0.0;
    double segment_hop_s = 0.0;
};

// A segment index's ids: the item id in the high bits, the segment's position in the item (its
// `seq` in the catalog) in the low kSegmentIdBits.
constexpr int kSegmentIdBits = 20;
constexpr std::int64_t kMaxSegmentsPerItem = std::int64_t{1} << kSegmentIdBits;
std::int64_t segment_id(std::int64_t item, std::size_t seq) {
    return (item << kSegmentIdBits) | static_cast<std::int64_t>(seq);
}
std::int64_t segment_item(std::int64_t id) {
    return id >> kSegmentIdBits;
}
std::size_t segment_seq(std::int64_t id) {
    return static_cast<std::size_t>(id & (kMaxSegmentsPerItem - 1));
}

struct Engine::State {
    // Search cache: one entry per (space, metric, canonical spec). Semantics:
    // - A request first reads the space's generation G (catalog->space_state; it moves with every
    //   vector insert/update/delete, by this process or another). An entry with generation >= G
    //   is current and is returned under a shared lock of search_mu.
    // - Otherwise the request registers a PendingBuild for the key and runs build_entry with no
    //   engine lock held: load the index file and apply the catalog rows written since it was
    //   saved while dropping ids gone from the catalog ("updated"), or build from the catalog
    //   (always for flat and for force). Then it installs the result and completes the pending
    //   build. search_mu is taken exclusively only to look up / register / install. So the first
    //   request after a write waits for the refresh and sees the write (a write committed before
    //   a request starts is seen by it, with the exception below).
    // - At most one build per key runs. A request that finds one in flight returns the key's
    //   previous entry if it has one (stale while refreshing; not for force), otherwise waits for
    //   the build and takes its result or error (and builds again if that build started before
    //   G). Searches and builds of other keys never wait for it.
    // - Stale entries are safe to search: Engine::search_vector resolves every hit in the catalog
    //   and drops those whose item is gone (ids are never reused: AUTOINCREMENT), asking the
    //   index for more candidates until k remain. Until the refresh is installed such a search
    //   misses items added since, and an item whose vector was replaced is ranked by its old one.
    // - force (reindex --force) builds from scratch; it waits for a build in flight and takes it
    //   only if that one was forced and started at G or later.
    // - invalidate() (index/remove/import in this process) drops the installed entries; a build
    //   in flight still installs its entry, whose generation makes the next search refresh it if
    //   the catalog has moved on.
    // space, metric, spec, segments (an index over the space's stored segments)
    using CacheKey = std::tuple<std::string, Metric, std::string, bool>;
    using EntryResult = Result<std::shared_ptr<const SearchCacheEntry>>;
    struct PendingBuild {
        bool force = false;
        std::int64_t generation = 0;  // G of the request that started it
        std::shared_future<EntryResult> done;
    };
    struct CacheSlot {
        std::shared_ptr<const SearchCacheEntry> entry;  // installed entry, may be null
        std::shared_ptr<PendingBuild> building;         // build in flight, may be null
    };

    EngineOptions options;

    // The sorted ids passing a search filter, or null when there is no filter.
    Result<std::shared_ptr<const std::vector<std::int64_t>>> allowed_ids(const ItemFilter& f) {
        if (f.empty())
            return std::shared_ptr<const std::vector<std::int64_t>>{};
        EARSHOT_ASSIGN_OR_RETURN(auto ids, catalog->filter_ids(f));
        return std::make_shared<const std::vector<std::int64_t>>(std::move(ids));
    }
    std::unique_ptr<Catalog> catalog;  // thread-safe (serialises its calls)

    std::mutex models_mu;
    std::map<std::string, std::unique_ptr<EmbeddingModel>> models;  // protected by models_mu

    std::shared_mutex search_mu;
    std::map<CacheKey, CacheSlot> cache;  // protected by search_mu
    // (space, metric, spec as requested, e.g. "auto") -> the key it last resolved to; valid while
    // the space's generation is unchanged (the item count that "auto" depends on is then too).
    using ResolvedKey = std::tuple<std::string, Metric, std::string, bool>;
    std::map<ResolvedKey, CacheKey> resolved;  // protected by search_mu

    void invalidate() {
        std::map<CacheKey, CacheSlot> dropped;  // large indexes are freed outside the lock
        std::unique_lock lock(search_mu);
        for (auto it = cache.begin(); it != cache.end();) {
            if (it->second.building) {
                dropped[it->first].entry = std::move(it->second.entry);
                ++it;
            } else {
                dropped.insert(cache.extract(it++));
            }
        }
        lock.unlock();
    }

    Error no_space(const std::string& space) const {
        return Error(ErrorCode::kNotFound,
                     fmt::format("the catalog '{}' has no items embedded with model or space "
                                 "'{}' (run `earshot index --model {}` or `earshot import "
                                 "--space {}` first)",
                                 redact_uri(options.db_path.string()), space, space, space));
    }

    fs::path index_file_in(const std::string& space, Metric metric, const std::string& spec) const {
        const fs::path file = index_file_path(options.db_path, space, metric, spec);
        return options.index_dir.empty() ? file : options.index_dir / file.filename();
    }

    // Resolves "", "auto" and aliases to a canonical spec for the space's current size.
    Result<IndexSpec> resolve_spec(const std::string& requested, const SpaceState& st) {
        std::string text = requested;
        if (text.empty() || text == "auto")
            text = auto_index_spec(static_cast<std::size_t>(st.n_items));
        return parse_index_spec(text);
    }

    Result<SpaceState> state_of(const std::string& space) {
        auto st = catalog->space_state(space);
        if (!st) {
            if (st.error().code() == ErrorCode::kNotFound)
                return tl::unexpected(no_space(space));
            return tl::unexpected(st.error());
        }
        if (st->n_items == 0)
            return tl::unexpected(no_space(space));
        return st;
    }

    struct CaughtUp {
        SpaceState state;   // the catalog the index now reflects
        EmbeddingSet live;  // ids and durations of the space's rows (no vectors)
        bool consistent = false;
    };

    // Brings an index saved at generation `since` up to the catalog: drops ids no longer in the
    // space and upserts the rows written after `since`. Another process may write meanwhile, so
    // the reads are repeated (from the generation they started at) until the generation did not
    // move during one pass; after kAttempts passes the result is not `consistent`, but still
    // reflects at least state.generation.
    // The segments of `items` as segment-index rows (ids: segment_id()).
    struct SegmentRows {
        std::vector<std::int64_t> ids;
        Matrix vectors;
    };
    Result<SegmentRows> load_segment_rows(const std::string& space,
                                          const std::vector<std::int64_t>& items,
                                          int dim) {
        SegmentRows out;
        out.vectors.n_cols = static_cast<std::size_t>(dim);
        // One batched read (a query per page of items on PostgreSQL), not one per item.
        EARSHOT_ASSIGN_OR_RETURN(auto batch,
                                 catalog->load_segments(space, items, kMaxSegmentsPerItem));
        for (auto item : batch.truncated) {
            log_warning("item {}: only its first {} segments are searched", item,
                        kMaxSegmentsPerItem);
        }
        if (batch.vectors.n_rows > 0 && batch.vectors.n_cols != out.vectors.n_cols) {
            return make_error(ErrorCode::kCorruption,
                              fmt::format("space '{}': segments of dim {}, the space has {}", space,
                                          batch.vectors.n_cols, dim));
        }
        out.ids.reserve(batch.item_ids.size());
        for (std::size_t r = 0; r < batch.item_ids.size(); ++r)
            out.ids.push_back(
                segment_id(batch.item_ids[r], static_cast<std::size_t>(batch.seq[r])));
        out.vectors.n_rows = batch.vectors.n_rows;
        out.vectors.data = std::move(batch.vectors.data);
        return out;
    }

    // Median stored segment length and hop over (up to) the first kSample items that have
    // segments; items with one segment count for the length only.
    void measure_segments(SearchCacheEntry& entry, const std::string& space) {
        constexpr std::size_t kSample = 64;
        std::vector<std::int64_t> items;
        for (const auto& [id, d] : entry.durations) items.push_back(id);
        std::sort(items.begin(), items.end());
        std::vector<double> lengths, hops;
        std::size_t used = 0;
        for (auto item : items) {
            if (used >= kSample)
                break;
            auto segs = catalog->get_segments(item, space);
            if (!segs || segs->second.empty())
                continue;
            ++used;
            const auto& t = segs->second;
            for (std::size_t i = 0; i + 1 < t.size(); ++i) {
                lengths.push_back(t[i].end_s - t[i].start_s);
                hops.push_back(t[i + 1].start_s - t[i].start_s);
            }
            if (t.size() == 1)
                lengths.push_back(t[0].end_s - t[0].start_s);
        }
        auto median = [](std::vector<double>& v) {
            if (v.empty())
                return 0.0;
            std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2),
                             v.end());
            return v[v.size() / 2];
        };
        entry.segment_s = median(lengths);
        entry.segment_hop_s = hops.empty() ? entry.segment_s : median(hops);
    }

    Result<CaughtUp> catch_up(VectorIndex& index,
                              const std::string& space,
                              std::int64_t since,
                              bool segments) {
        constexpr int kAttempts = 4;
        for (int attempt = 1;; ++attempt) {
            CaughtUp out;
            EARSHOT_ASSIGN_OR_RETURN(out.state, state_of(space));
            EARSHOT_ASSIGN_OR_RETURN(out.live, catalog->load_embeddings_since(space, -1, false));
            if (out.state.generation > since) {
                EARSHOT_ASSIGN_OR_RETURN(auto changed,
                                         catalog->load_embeddings_since(space, since, !segments));
                std::unordered_set<std::int64_t> keep(out.live.ids.begin(), out.live.ids.end());
                if (segments) {
                    // A changed item's segments are all replaced.
                    for (auto id : changed.ids) keep.erase(id);
                }
                std::vector<std::int64_t> gone;
                for (auto id : index.ids()) {
                    if (keep.count(segments ? segment_item(id) : id) == 0)
                        gone.push_back(id);
                }
                index.remove(gone);
                if (segments) {
                    EARSHOT_ASSIGN_OR_RETURN(auto rows,
                                             load_segment_rows(space, changed.ids, index.dim()));
                    EARSHOT_RETURN_IF_ERROR(index.add(rows.ids, rows.vectors));
                } else {
                    EARSHOT_RETURN_IF_ERROR(upsert(index, changed.ids, changed.vectors));
                }
            }
            EARSHOT_ASSIGN_OR_RETURN(auto after, state_of(space));
            out.consistent = after.generation == out.state.generation;
            if (out.consistent || attempt == kAttempts)
                return out;
            since = out.state.generation;
        }
    }

    // Builds the entry for (space, metric, spec). Runs without search_mu (only the catalog's own
    // lock, per call), possibly concurrently with builds of other keys.
    Result<std::shared_ptr<SearchCacheEntry>> build_entry(
        const std::string& space, Metric metric, const IndexSpec& spec, bool force, bool segments) {
        auto t0 = std::chrono::steady_clock::now();
        auto entry = std::make_shared<SearchCacheEntry>();
        entry->segments = segments;
        // Segment indexes are files of their own, labelled "<space>#segments".
        const std::string label = segments ? space + "#segments" : space;
        ReindexReport& rep = entry->report;
        rep.space = space;
        rep.index = spec.text;
        rep.metric = metric;
        const bool persisted = spec.kind != "flat";
        const fs::path file = persisted ? index_file_in(label, metric, spec.text) : fs::path();
        rep.file = file;

        // 1. An existing file: use it if current, update it if only older, else rebuild.
        std::string why_rebuild = "built";
        if (persisted && !force) {
            auto loaded = load_index_file(file);
            if (!loaded) {
                if (loaded.error().code() != ErrorCode::kNotFound) {
                    log_warning("index '{}' is unusable ({}); rebuilding", file.string(),
                                loaded.error().message());
                    why_rebuild = "rebuilt";
                }
            } else {
                // Read after loading: another process may have updated the file since this
                // request read the catalog.
                EARSHOT_ASSIGN_OR_RETURN(auto st, state_of(space));
                const std::int64_t saved_at = loaded->header.catalog_generation;
                if (loaded->header.space != label || loaded->header.dim != st.dim ||
                    loaded->header.metric != metric || loaded->header.spec != spec.text) {
                    log_warning(
                        "index '{}' was built for another space/dim/metric/spec; rebuilding",
                        file.string());
                    why_rebuild = "rebuilt";
                } else if (saved_at > st.generation) {
                    log_warning(
                        "index '{}' is newer than the catalog (restored catalog?); rebuilding",
                        file.string());
                    why_rebuild = "rebuilt";
                } else {
                    auto& index = loaded->index;
                    index->set_threads(options.threads);
                    EARSHOT_ASSIGN_OR_RETURN(auto now, catch_up(*index, space, saved_at, segments));
                    rep.action = now.state.generation > saved_at ? "updated" : "current";
                    // With concurrent writes the counts cannot be compared; a damaged file is
                    // caught by the next quiet load.
                    if (!now.consistent || segments ||
                        (index->size() == now.live.ids.size() &&
                         static_cast<std::int64_t>(index->size()) == now.state.n_items)) {
                        if (rep.action == "updated") {
                            IndexFileHeader h;
                            h.space = label;
                            h.catalog_generation = now.state.generation;
                            h.catalog_max_id = now.state.max_id;
                            auto saved = save_index_file(file, *index, h);
                            if (!saved)
                                log_warning("{}", saved.error().message());
                        }
                        entry->index = std::move(index);
                        entry->generation = now.state.generation;
                        for (std::size_t i = 0; i < now.live.ids.size(); ++i)
                            entry->durations[now.live.ids[i]] = now.live.durations_s[i];
                    } else {
                        log_warning(
                            "index '{}' does not match the catalog after updating; rebuilding",
                            file.string());
                        why_rebuild = "rebuilt";
                    }
                }
            }
        }
        // 2. Build from the catalog (labelled with the generation read before loading it).
        if (!entry->index) {
            EARSHOT_ASSIGN_OR_RETURN(auto st, state_of(space));
            auto set = segments ? catalog->load_embeddings_since(space, -1, false)
                                : catalog->load_embeddings(space);
            if (!set) {
                if (set.error().code() == ErrorCode::kNotFound)
                    return tl::unexpected(no_space(space));
                return tl::unexpected(set.error());
            }
            if (segments) {
                EARSHOT_ASSIGN_OR_RETURN(auto rows, load_segment_rows(space, set->ids, st.dim));
                if (rows.ids.empty()) {
                    return make_error(ErrorCode::kNotFound,
                                      fmt::format("space '{}' has no stored segments (imported "
                                                  "without them?); search it by items",
                                                  space));
                }
                entry->durations.reserve(set->ids.size());
                for (std::size_t i = 0; i < set->ids.size(); ++i)
                    entry->durations[set->ids[i]] = set->durations_s[i];
                set->dim = st.dim;
                set->ids = std::move(rows.ids);  // from here on segment ids
                set->vectors = std::move(rows.vectors);
            }
            if (persisted) {
                log_info("building {} index of space '{}' ({} {}, {} metric)", spec.text, label,
                         set->ids.size(), segments ? "segments" : "items", metric_name(metric));
            }
            EARSHOT_ASSIGN_OR_RETURN(auto index, make_index(spec.text, set->dim, metric));
            index->set_threads(options.threads);
            EARSHOT_RETURN_IF_ERROR(index->add(set->ids, set->vectors));
            if (persisted) {
                IndexFileHeader h;
                h.space = label;
                h.catalog_generation = st.generation;
                h.catalog_max_id = st.max_id;
                auto saved = save_index_file(file, *index, h);
                if (!saved)
                    log_warning("{}", saved.error().message());  // still usable in memory
                rep.action = why_rebuild;
            } else {
                rep.action = "in-memory";
            }
            entry->index = std::move(index);
            entry->generation = st.generation;
            if (!segments) {
                entry->durations.reserve(set->ids.size());
                for (std::size_t i = 0; i < set->ids.size(); ++i)
                    entry->durations[set->ids[i]] = set->durations_s[i];
            }
        }
        if (segments)
            measure_segments(*entry, space);
        rep.items = entry->index->size();
        rep.memory_bytes = entry->index->memory_bytes();
        rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return entry;
    }

    // How a query is cut for a segment search of req's space: like the stored segments (their
    // median length and hop); the model's own segments when those match them.
    Result<Segmenting> query_segmenting(const EmbeddingModel& model, const SearchRequest& req) {
        EARSHOT_ASSIGN_OR_RETURN(
            auto entry, search_entry(model.info().name, req.metric, req.index, false, true));
        const auto& info = model.info();
        constexpr double kTolS = 0.05;
        if (entry->segment_s <= 0.0 ||
            (std::abs(entry->segment_s - info.segment_s) < kTolS &&
             std::abs(entry->segment_hop_s - info.segment_hop_s) < kTolS))
            return Segmenting{};
        return Segmenting{entry->segment_s, std::max(entry->segment_hop_s, 0.01)};
    }

    // The entry for (space, metric, requested spec), current with the catalog as read on entry
    // (or the previous one while another request refreshes it); see the comment at the top.
    EntryResult search_entry(const std::string& space,
                             Metric metric,
                             const std::string& requested,
                             bool force = false,
                             bool segments = false) {
        // Fast path: the generation alone (one row) says whether the entry this request resolved
        // to last time is current; space_state counts the space's items (O(n), ~ms at 100k).
        const ResolvedKey asked{space, metric, requested, segments};
        if (!force) {
            auto generation = catalog->space_generation(space);
            if (generation) {
                std::shared_lock lock(search_mu);
                auto r = resolved.find(asked);
                if (r != resolved.end()) {
                    auto it = cache.find(r->second);
                    if (it != cache.end() && it->second.entry &&
                        it->second.entry->generation >= *generation)
                        return it->second.entry;
                }
            }
        }
        EARSHOT_ASSIGN_OR_RETURN(auto st, state_of(space));
        SpaceState sized = st;
        if (segments && (requested.empty() || requested == "auto")) {
            // "auto" for a segment index goes by the number of segments.
            EARSHOT_ASSIGN_OR_RETURN(auto infos, catalog->spaces());
            for (const auto& info : infos) {
                if (info.space == space)
                    sized.n_items = info.n_segments;
            }
        }
        EARSHOT_ASSIGN_OR_RETURN(auto spec, resolve_spec(requested, sized));
        const CacheKey key{space, metric, spec.text, segments};
        auto current = [&](const CacheSlot& slot) {
            return !force && slot.entry && slot.entry->generation >= st.generation;
        };
        for (;;) {
            if (!force) {
                std::shared_lock lock(search_mu);
                auto it = cache.find(key);
                if (it != cache.end() && current(it->second))
                    return it->second.entry;
            }
            std::shared_ptr<PendingBuild> pending;
            std::promise<EntryResult> promise;
            bool mine = false;
            {
                std::unique_lock lock(search_mu);
                resolved[asked] = key;
                CacheSlot& slot = cache[key];
                if (current(slot))
                    return slot.entry;
                if (slot.building) {
                    if (!force && slot.entry)
                        return slot.entry;  // the previous entry while another request refreshes
                    pending = slot.building;
                } else {
                    pending = std::make_shared<PendingBuild>();
                    pending->force = force;
                    pending->generation = st.generation;
                    pending->done = promise.get_future().share();
                    slot.building = pending;
                    mine = true;
                }
            }
            if (mine)
                return run_build(key, spec, force, pending, promise);
            EntryResult r = pending->done.get();
            if (!r)
                return r;
            if (force ? pending->force && pending->generation >= st.generation
                      : (*r)->generation >= st.generation)
                return r;
            // That build started before this request's generation: look again.
        }
    }

    // Runs the build registered as `pending` for key, installs its entry and completes it.
    EntryResult run_build(const CacheKey& key,
                          const IndexSpec& spec,
                          bool force,
                          const std::shared_ptr<PendingBuild>& pending,
                          std::promise<EntryResult>& promise) {
        EntryResult r = make_error(ErrorCode::kInternal, "index build did not run");
        std::shared_ptr<const SearchCacheEntry> replaced;  // freed outside the lock
        auto finish = [&] {
            std::unique_lock lock(search_mu);
            CacheSlot& slot = cache[key];
            if (r && (force || !slot.entry || (*r)->generation >= slot.entry->generation))
                replaced = std::exchange(slot.entry, *r);
            if (slot.building == pending)
                slot.building.reset();
        };
        try {
            auto built =
                build_entry(std::get<0>(key), std::get<1>(key), spec, force, std::get<3>(key));
            if (built)
                r = std::shared_ptr<const SearchCacheEntry>(std::move(*built));
            else
                r = tl::unexpected(built.error());
        } catch (...) {
            finish();  // waiters get the exception rather than waiting forever
            promise.set_exception(std::current_exception());
            throw;
        }
        finish();
        promise.set_value(r);
        return r;
    }
};

Engine::Engine(std::unique_ptr<State> state) : s_(std::move(state)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& options) {
    auto state = std::make_unique<State>();
    state->options = options;
    CatalogOptions co;
    co.create_if_missing = options.create_if_missing;
    auto cat = open_catalog(options.db_path.string(), co);
    if (!cat)
        return tl::unexpected(cat.error());
    state->catalog = std::move(*cat);
    return std::unique_ptr<Engine>(new Engine(std::move(state)));
}

Catalog& Engine::catalog() {
    return *s_->catalog;
}

std::string Engine::default_space() {
    const std::string def = default_model_name();
    auto spaces = s_->catalog->spaces();
    if (!spaces)
        return def;
    for (const auto& sp : *spaces) {
        if (sp.space == def && sp.n_items > 0)
            return def;
    }
    for (const auto& sp : *spaces) {
        if (sp.n_items > 0)
            return sp.space;
    }
    return def;
}

Result<const EmbeddingModel*> Engine::model(const std::string& name_in) {
    std::string name = name_in.empty() ? default_space() : name_in;
    std::lock_guard lock(s_->models_mu);
    auto it = s_->models.find(name);
    if (it != s_->models.end())
        return it->second.get();
    ModelOptions mo;
    mo.models_dir = s_->options.models_dir;
    mo.threads = s_->options.threads;
    EARSHOT_ASSIGN_OR_RETURN(auto m, make_model(name, mo));
    const EmbeddingModel* ptr = m.get();
    s_->models.emplace(name, std::move(m));
    return ptr;
}

namespace {

struct IndexJob {
    std::size_t seq = 0;
    fs::path file;
    std::string key;  // catalog path
    std::int64_t size_bytes = 0;
    std::int64_t mtime = 0;
};

struct IndexOutcome {
    std::size_t seq = 0;
    std::string key;
    Result<Catalog::PutRequest> result = make_error(ErrorCode::kInternal, "not run");
    double audio_s = 0.0;
};

// What a stat mode is, for messages about files that are not regular.
std::string file_kind(mode_t mode) {
    if (S_ISFIFO(mode))
        return "a FIFO (named pipe)";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISDIR(mode))
        return "a directory";
    return "not a regular file";
}

struct CollectedFiles {
    std::vector<fs::path> files;        // sorted by path, one per (device, inode)
    std::vector<IndexFailure> skipped;  // non-regular or unreadable entries, with the reason
};

// The files `index` embeds: regular files named on the command line (any extension) and regular
// files with an audio extension below the named folders. Directory symlinks are followed, but
// each directory (device + inode) is walked once, so a link to "." or to an ancestor cannot loop.
// A file reachable under several names (symlinks, hard links) is indexed once, under the first
// name in path order. FIFOs, sockets and devices are never opened (opening a FIFO blocks): they
// are reported in `skipped`. kInvalidArgument if a named path does not exist.
Result<CollectedFiles> collect_index_files(const std::vector<fs::path>& roots) {
    struct Found {
        fs::path path;
        dev_t dev;
        ino_t ino;
    };
    std::vector<Found> found;
    CollectedFiles out;
    std::set<std::pair<dev_t, ino_t>> seen_dirs;
    std::set<std::string> skipped_paths;  // a FIFO named twice is reported once
    auto skip = [&](const fs::path& p, std::string reason) {
        std::string key = catalog_path(p);
        if (skipped_paths.insert(key).second)
            out.skipped.push_back({std::move(key), std::move(reason)});
    };
    auto add = [&](const fs::path& p, const struct stat& st) {
        if (S_ISREG(st.st_mode))
            found.push_back({p, st.st_dev, st.st_ino});
        else
            skip(p, fmt::format("{}, not a regular file", file_kind(st.st_mode)));
    };
    for (const auto& root : roots) {
        struct stat st {};
        if (::stat(root.c_str(), &st) != 0) {
            const int err = errno;
            if (err == ENOENT) {
                return make_error(ErrorCode::kInvalidArgument,
                                  fmt::format("'{}': no such file or directory", root.string()));
            }
            skip(root, fmt::format("cannot stat: {}", std::strerror(err)));
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            add(root, st);
            continue;
        }
        std::vector<fs::path> stack{root};
        seen_dirs.insert({st.st_dev, st.st_ino});
        while (!stack.empty()) {
            fs::path dir = std::move(stack.back());
            stack.pop_back();
            std::error_code ec;
            std::vector<fs::path> entries;
            for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
                 end;
                 !ec && it != end; it.increment(ec)) {
                entries.push_back(it->path());
            }
            if (ec) {
                skip(dir, fmt::format("cannot list: {}", ec.message()));
                continue;
            }
            std::sort(entries.begin(), entries.end());
            // Reverse so that the stack pops sub-folders in path order (deterministic choice of
            // which name a linked folder is walked under).
            for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
                struct stat est {};
                if (::stat(e->c_str(), &est) != 0) {  // e.g. a dangling symlink
                    if (has_audio_extension(*e))
                        skip(*e, fmt::format("cannot stat: {}", std::strerror(errno)));
                    continue;
                }
                if (S_ISDIR(est.st_mode)) {
                    if (seen_dirs.insert({est.st_dev, est.st_ino}).second)
                        stack.push_back(*e);
                    else
                        log_info("not walking '{}' again (a link to a folder already walked)",
                                 e->string());
                } else if (has_audio_extension(*e)) {
                    add(*e, est);
                }
            }
        }
    }
    std::sort(found.begin(), found.end(),
              [](const Found& a, const Found& b) { return a.path < b.path; });
    std::set<std::pair<dev_t, ino_t>> seen_files;
    for (auto& f : found) {
        if (seen_files.insert({f.dev, f.ino}).second)
            out.files.push_back(std::move(f.path));
    }
    return out;
}

Result<Catalog::PutRequest> process_file(const IndexJob& job,
                                         const EmbeddingModel& model,
                                         const Segmenting& segmenting) {
    // The walk saw a regular file; if it has been replaced by a FIFO or device since, opening it
    // could block or never end.
    struct stat st {};
    if (::stat(job.file.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}, not a regular file", file_kind(st.st_mode)));
    }
    // One decode for both the fingerprint (docs/dedup.md) and the embedding.
    DecodeOptions opts;
    opts.target_sample_rate_hz = model.info().sample_rate_hz;
    AudioInfo info;
    EARSHOT_ASSIGN_OR_RETURN(auto audio, decode_audio(job.file, opts, &info));
    EARSHOT_ASSIGN_OR_RETURN(auto fp, compute_fingerprint(audio.samples, audio.sample_rate_hz));
    auto embedded = embed_buffer(std::move(audio), info, model, kMaxItemTags, segmenting);
    if (!embedded) {
        return tl::unexpected(
            embedded.error().with_context(fmt::format("embed '{}'", job.file.string())));
    }
    auto& emb = *embedded;
    EARSHOT_ASSIGN_OR_RETURN(auto hash, hash_file(job.file));
    Catalog::PutRequest req;
    req.fingerprint = encode_fingerprint(fp);
    req.fingerprint_version = fp.version;
    ItemRecord& it = req.item;
    it.path = job.key;
    it.name = job.file.filename().string();
    it.duration_s = emb.info.duration_s;
    it.sample_rate_hz = emb.info.sample_rate_hz;
    it.channels = emb.info.channels;
    it.codec = emb.info.codec;
    it.size_bytes = job.size_bytes;
    it.mtime_ns = job.mtime;
    it.content_hash = hash;
    it.title = emb.info.title;
    it.artist = emb.info.artist;
    it.labels = labels_text(emb.labels, 3);
    if (!model.info().labels.empty())
        req.tags = tags_from_labels(emb.labels);  // models without a head leave tags as they are
    req.vector = std::move(emb.embedding);
    req.segments = std::move(emb.segments.segments);
    req.segment_times.reserve(emb.segments.start_s.size());
    for (std::size_t i = 0; i < emb.segments.start_s.size(); ++i) {
        req.segment_times.push_back({emb.segments.start_s[i], emb.segments.end_s[i]});
    }
    return req;
}

}  // namespace

namespace {

// The catalog key of a file: its absolute path, or its path relative to root ('/'-separated).
Result<std::string> item_key(const fs::path& file, const fs::path& root) {
    const std::string abs = catalog_path(file);
    if (root.empty())
        return abs;
    const fs::path rel = fs::path(abs).lexically_relative(catalog_path(root));
    if (rel.empty() || *rel.begin() == "..") {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' is not under --root '{}'", abs, root.string()));
    }
    return rel.generic_string();
}

// The local file of a key (inverse of item_key).
fs::path key_file(const std::string& key, const fs::path& root) {
    return root.empty() ? fs::path(key) : root / key;
}

}  // namespace

Result<IndexReport> Engine::index(const IndexOptions& options) {
    if (ingest_queue(*s_->catalog) != nullptr)
        return index_shared(options);
    auto t0 = std::chrono::steady_clock::now();
    std::string space = options.model.empty() ? default_model_name() : options.model;
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* model, model(space));
    space = model->info().name;
    Segmenting segmenting = default_segmenting(model->info());
    if (options.segment_s) {
        segmenting.window_s = *options.segment_s;
        segmenting.hop_s = options.segment_hop_s.value_or(segmenting.window_s / 2.0);
    } else if (options.segment_hop_s && segmenting.window_s > 0.0) {
        segmenting.hop_s = *options.segment_hop_s;
    }
    if (segmenting.window_s < 0.0 ||
        (segmenting.window_s > 0.0 &&
         (segmenting.hop_s <= 0.0 || segmenting.hop_s > segmenting.window_s))) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("segment length {} s / hop {} s: the length must be >= 0 "
                                      "(0 = the model's own segments) and the hop in (0, length]",
                                      segmenting.window_s, segmenting.hop_s));
    }

    // 1. Collect files (sorted; each real file once; non-regular files skipped with a reason).
    EARSHOT_ASSIGN_OR_RETURN(auto collected, collect_index_files(options.paths));
    std::vector<fs::path>& files = collected.files;

    IndexReport report;
    report.counts.total = files.size() + collected.skipped.size();
    for (auto& f : collected.skipped) {
        log_warning("skipped '{}': {}", f.path, f.reason);
        report.counts.failed++;
        report.counts.done++;
        report.failures.push_back(std::move(f));
    }

    // 2. Decide which files need work.
    std::vector<IndexJob> jobs;
    for (const auto& f : files) {
        IndexJob job;
        job.file = f;
        auto key = item_key(f, options.root);
        if (!key) {
            report.counts.failed++;
            report.counts.done++;
            report.failures.push_back({catalog_path(f), key.error().message()});
            continue;
        }
        job.key = *key;
        std::error_code ec;
        job.size_bytes = static_cast<std::int64_t>(fs::file_size(f, ec));
        job.mtime = mtime_ns(f);
        if (!options.force) {
            auto existing = s_->catalog->find_by_path(job.key);
            if (!existing)
                return tl::unexpected(existing.error());
            if (existing->has_value() && (*existing)->size_bytes == job.size_bytes &&
                (*existing)->mtime_ns == job.mtime) {
                auto has = s_->catalog->has_embedding((*existing)->id, space);
                if (!has)
                    return tl::unexpected(has.error());
                if (*has) {
                    report.counts.unchanged++;
                    report.counts.done++;
                    continue;
                }
            }
        }
        job.seq = jobs.size();
        jobs.push_back(std::move(job));
    }
    if (options.on_progress)
        options.on_progress(report.counts);

    // 3. Workers embed; this thread writes batches in order of completion.
    const int n_workers = std::max(
        1, std::min<int>(s_->options.threads > 0 ? s_->options.threads : hardware_threads(),
                         static_cast<int>(jobs.size())));
    if (n_workers > 1)
        set_inference_threads(1);
    std::mutex mu;
    std::condition_variable cv;
    std::deque<IndexOutcome> done_queue;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int w = 0; w < (jobs.empty() ? 0 : n_workers); ++w) {
        workers.emplace_back([&] {
            for (;;) {
                if (stop.load())
                    return;
                std::size_t i = next.fetch_add(1);
                if (i >= jobs.size())
                    return;
                IndexOutcome out;
                out.seq = i;
                out.key = jobs[i].key;
                try {
                    out.result = process_file(jobs[i], *model, segmenting);
                } catch (const std::exception& e) {  // e.g. std::bad_alloc: this file only
                    out.result = make_error(ErrorCode::kInternal,
                                            fmt::format("unexpected error: {}", e.what()));
                }
                {
                    std::lock_guard lock(mu);
                    done_queue.push_back(std::move(out));
                }
                cv.notify_one();
            }
        });
    }

    std::vector<Catalog::PutRequest> batch;
    Status write_status = ok_status();
    // One transaction per batch. If the catalog refuses a batch for an item's own data
    // (kInvalidArgument: a non-finite value, a dim mismatch, ...), the items are written one by
    // one and only those refused are reported, so that no single file stops the run.
    auto flush = [&]() -> Status {
        if (batch.empty())
            return ok_status();
        auto ids = s_->catalog->put_items(space, batch);
        if (!ids && ids.error().code() == ErrorCode::kInvalidArgument) {
            for (auto& req : batch) {
                std::vector<Catalog::PutRequest> one;
                one.push_back(std::move(req));
                auto id = s_->catalog->put_items(space, one);
                if (id)
                    continue;
                if (id.error().code() != ErrorCode::kInvalidArgument) {
                    batch.clear();
                    return tl::unexpected(id.error());
                }
                report.counts.added--;
                report.counts.audio_s -= one.front().item.duration_s;
                report.counts.failed++;
                report.failures.push_back({one.front().item.path, id.error().message()});
                log_warning("skipped '{}': {}", one.front().item.path, id.error().message());
            }
            batch.clear();
            return ok_status();
        }
        batch.clear();
        if (!ids)
            return tl::unexpected(ids.error());
        return ok_status();
    };
    auto last_poll = std::chrono::steady_clock::now();
    auto stop_requested = [&] {  // options.should_stop, at most every 100 ms
        const auto now = std::chrono::steady_clock::now();
        if (!options.should_stop || now - last_poll < std::chrono::milliseconds(100))
            return false;
        last_poll = now;
        return options.should_stop();
    };
    std::size_t received = 0;
    while (received < jobs.size()) {
        IndexOutcome out;
        for (bool have = false; !have;) {
            {
                std::unique_lock lock(mu);
                if (cv.wait_for(lock, std::chrono::milliseconds(100),
                                [&] { return !done_queue.empty(); })) {
                    out = std::move(done_queue.front());
                    done_queue.pop_front();
                    have = true;
                }
            }
            if (stop_requested()) {
                report.cancelled = true;
                break;
            }
        }
        if (report.cancelled) {
            stop = true;
            break;
        }
        ++received;
        report.counts.done++;
        report.counts.current = out.key;
        if (!out.result) {
            report.counts.failed++;
            report.failures.push_back({out.key, out.result.error().message()});
            log_warning("skipped '{}': {}", out.key, out.result.error().message());
        } else {
            report.counts.added++;
            report.counts.audio_s += out.result->item.duration_s;
            batch.push_back(std::move(*out.result));
            if (batch.size() >= options.batch_size) {
                write_status = flush();
                if (!write_status) {
                    stop = true;
                    break;
                }
            }
        }
        if (options.on_progress)
            options.on_progress(report.counts);
    }
    for (auto& w : workers) w.join();
    if (write_status)
        write_status = flush();
    s_->invalidate();
    if (n_workers > 1)
        set_inference_threads(s_->options.threads);
    if (!write_status) {
        return tl::unexpected(write_status.error().with_context(
            fmt::format("writing to catalog '{}'", redact_uri(s_->options.db_path.string()))));
    }
    report.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

Result<IndexReport> Engine::index_shared(const IndexOptions& options) {
    IngestQueue* queue = ingest_queue(*s_->catalog);
    if (queue == nullptr) {
        return make_error(ErrorCode::kNotSupported,
                          "shared (distributed) ingest needs a PostgreSQL catalog (--db "
                          "postgresql://...)");
    }
    auto t0 = std::chrono::steady_clock::now();
    std::string space = options.model.empty() ? default_model_name() : options.model;
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* model, model(space));
    space = model->info().name;
    IndexReport report;

    // 1. Queue the files (skipping those already embedded and unchanged).
    if (!options.paths.empty()) {
        EARSHOT_ASSIGN_OR_RETURN(auto collected, collect_index_files(options.paths));
        for (const auto& f : collected.skipped) log_warning("skipped '{}': {}", f.path, f.reason);
        std::vector<fs::path>& files = collected.files;
        report.counts.total = files.size();
        std::vector<IngestJob> jobs;
        for (const auto& f : files) {
            auto key = item_key(f, options.root);
            if (!key) {
                report.counts.failed++;
                report.counts.done++;
                report.failures.push_back({catalog_path(f), key.error().message()});
                continue;
            }
            std::error_code ec;
            IngestJob job{*key, static_cast<std::int64_t>(fs::file_size(f, ec)), mtime_ns(f), 0};
            if (!options.force) {
                EARSHOT_ASSIGN_OR_RETURN(auto existing, s_->catalog->find_by_path(job.key));
                if (existing && existing->size_bytes == job.size_bytes &&
                    existing->mtime_ns == job.mtime_ns) {
                    EARSHOT_ASSIGN_OR_RETURN(bool has,
                                             s_->catalog->has_embedding(existing->id, space));
                    if (has) {
                        report.counts.unchanged++;
                        report.counts.done++;
                        continue;
                    }
                }
            }
            jobs.push_back(std::move(job));
        }
        EARSHOT_ASSIGN_OR_RETURN(auto queued, queue->enqueue_jobs(space, jobs, options.force));
        log_info("queued {} file(s) of {} for '{}' ({} already queued or done)", queued.queued,
                 files.size(), space, queued.skipped);
    }
    if (options.on_progress)
        options.on_progress(report.counts);

    // 2. Work: claim a batch, embed it with the threads, store it and mark it done in one
    // transaction; a heartbeat thread renews the leases meanwhile.
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0)
        std::snprintf(host, sizeof host, "host");
    const std::string worker = fmt::format("{}:{}", host, static_cast<long>(getpid()));
    const double lease_s = std::max(options.lease_s, 0.5);
    std::mutex state_mu;
    std::string state = "working";
    std::atomic<bool> stop_heartbeat{false};
    std::condition_variable heartbeat_cv;
    auto beat = [&]() -> Status {
        std::string st;
        {
            std::lock_guard lock(state_mu);
            st = state;
        }
        return queue->heartbeat(worker, space, st, lease_s);
    };
    EARSHOT_RETURN_IF_ERROR(beat());
    std::thread heartbeat([&] {
        std::unique_lock lock(state_mu);
        while (!stop_heartbeat.load()) {
            heartbeat_cv.wait_for(lock, std::chrono::duration<double>(lease_s / 3.0));
            if (stop_heartbeat.load())
                break;
            lock.unlock();
            auto b = beat();
            if (!b)
                log_warning("worker {}: heartbeat failed: {}", worker, b.error().message());
            lock.lock();
        }
    });
    auto set_state = [&](const std::string& st) {
        std::lock_guard lock(state_mu);
        state = st;
    };

    const int n_threads =
        std::max(1, s_->options.threads > 0 ? s_->options.threads : hardware_threads());
    if (n_threads > 1)
        set_inference_threads(1);
    const std::size_t claim_n = std::max<std::size_t>(
        1, std::min<std::size_t>(options.batch_size, static_cast<std::size_t>(2 * n_threads)));
    Status status = ok_status();
    for (;;) {
        auto claimed = queue->claim_jobs(space, worker, claim_n, lease_s, options.max_attempts);
        if (!claimed) {
            status = tl::unexpected(claimed.error());
            break;
        }
        if (claimed->empty()) {
            auto counts = queue->job_counts(space);
            if (!counts) {
                status = tl::unexpected(counts.error());
                break;
            }
            if (counts->queued == 0 && counts->running == 0)
                break;
            // Others hold the rest: wait for them to finish, or for their leases to expire.
            set_state("waiting");
            std::this_thread::sleep_for(
                std::chrono::duration<double>(std::min(0.5, lease_s / 4.0)));
            continue;
        }
        set_state("working");
        const auto& jobs = *claimed;
        std::vector<std::optional<Result<Catalog::PutRequest>>> results(jobs.size());
        std::atomic<std::size_t> next{0};
        auto work = [&] {
            for (std::size_t i = next.fetch_add(1); i < jobs.size(); i = next.fetch_add(1)) {
                IndexJob job;
                job.file = key_file(jobs[i].key, options.root);
                job.key = jobs[i].key;
                std::error_code ec;
                const auto size = fs::file_size(job.file, ec);
                job.size_bytes = ec ? jobs[i].size_bytes : static_cast<std::int64_t>(size);
                job.mtime = mtime_ns(job.file);
                results[i] = process_file(job, *model, default_segmenting(model->info()));
            }
        };
        std::vector<std::thread> threads;
        const int n_batch_threads = std::min<int>(n_threads, static_cast<int>(jobs.size()));
        for (int t = 1; t < n_batch_threads; ++t) threads.emplace_back(work);
        work();
        for (auto& t : threads) t.join();
        std::vector<Catalog::PutRequest> done;
        std::vector<JobFailure> failed;
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            auto& r = *results[i];
            if (r) {
                report.counts.audio_s += r->item.duration_s;
                done.push_back(std::move(*r));
            } else {
                failed.push_back({jobs[i].key, r.error().message()});
                log_warning("skipped '{}': {}", jobs[i].key, r.error().message());
            }
        }
        auto ids = queue->finish_jobs(space, worker, done, failed);
        if (!ids) {
            status = tl::unexpected(ids.error());
            break;
        }
        report.counts.added += done.size();
        report.counts.failed += failed.size();
        report.counts.done += jobs.size();
        for (auto& f : failed) report.failures.push_back({f.key, f.reason});
        report.counts.current = jobs.back().key;
        if (options.on_progress)
            options.on_progress(report.counts);
    }
    set_state(status ? "finished" : "failed");
    stop_heartbeat = true;
    heartbeat_cv.notify_all();
    heartbeat.join();
    (void)beat();
    s_->invalidate();
    if (n_threads > 1)
        set_inference_threads(s_->options.threads);
    if (!status) {
        return tl::unexpected(status.error().with_context(fmt::format(
            "worker {} on catalog '{}'", worker, redact_uri(s_->options.db_path.string()))));
    }
    report.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

namespace {

std::vector<SegmentRecord> segment_records(const Embeddings& e) {
    std::vector<SegmentRecord> out;
    out.reserve(e.start_s.size());
    for (std::size_t i = 0; i < e.start_s.size(); ++i) out.push_back({e.start_s[i], e.end_s[i]});
    return out;
}

// Whether an item with this content hash may be a result when the query's hash is exclude_hash.
bool exact_hash_ok(const std::string& exclude_hash, const std::string& item_hash) {
    return exclude_hash.empty() || item_hash != exclude_hash;
}

// Gives each result its item's tags (one catalog read for all).
Status attach_tags(Catalog& catalog, SearchResponse& resp) {
    if (resp.results.empty())
        return ok_status();
    std::vector<std::int64_t> ids;
    ids.reserve(resp.results.size());
    for (const auto& r : resp.results) ids.push_back(r.id);
    EARSHOT_ASSIGN_OR_RETURN(auto tags, catalog.get_tags(ids));
    std::unordered_map<std::int64_t, std::vector<TagScore>*> by_id;
    for (auto& t : tags) by_id[t.item_id] = &t.tags;
    for (auto& r : resp.results) {
        auto it = by_id.find(r.id);
        if (it != by_id.end())
            r.tags = *it->second;
    }
    return ok_status();
}

// For an index whose distances are approximate (IVF-PQ): gives each hit (SearchHit or
// SearchResultItem) its exact distance and score from the stored vector (one catalog read each),
// drops hits whose item is gone, orders by (distance, id) and keeps the best k.
template <typename Hit>
void rerank_exactly(Catalog& catalog,
                    const std::string& space,
                    Metric metric,
                    std::span<const float> query,
                    std::vector<Hit>& hits,
                    std::size_t k) {
    std::erase_if(hits, [&](Hit& h) {
        auto stored = catalog.get_embedding(h.id, space);
        if (!stored)
            return true;  // removed meanwhile
        h.distance = static_cast<float>(naive_distance(metric, query, *stored));
        h.score = score_from_distance(metric, h.distance);
        return false;
    });
    std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    });
    if (hits.size() > k)
        hits.resize(k);
}

}  // namespace

Result<SearchResponse> Engine::search_vector(std::span<const float> vector,
                                             const std::string& query_name,
                                             const SearchRequest& req,
                                             std::optional<std::int64_t> exclude_id,
                                             const std::string& exclude_hash) {
    std::string space = req.model.empty() ? default_space() : req.model;
    EARSHOT_ASSIGN_OR_RETURN(auto entry, s_->search_entry(space, req.metric, req.index));
    if (static_cast<int>(vector.size()) != entry->index->dim()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("query vector has {} dims, space '{}' has {}", vector.size(),
                                      space, entry->index->dim()));
    }
    SearchOptions so;
    // A few extra candidates so that byte-identical copies of the query can be dropped.
    constexpr std::size_t kExtra = 8;
    so.threads = s_->options.threads;
    so.ef_search = req.ef_search;
    so.nprobe = req.nprobe;
    const auto* durations = &entry->durations;
    auto min_d = req.min_duration_s;
    auto max_d = req.max_duration_s;
    EARSHOT_ASSIGN_OR_RETURN(auto allowed_ids, s_->allowed_ids(req.filter));
    const auto* allowed = allowed_ids.get();
    so.filter = [durations, min_d, max_d, exclude_id, allowed](std::int64_t id) {
        if (exclude_id && id == *exclude_id)
            return false;
        if (allowed && !std::binary_search(allowed->begin(), allowed->end(), id))
            return false;
        if (min_d || max_d) {
            auto it = durations->find(id);
            double d = it == durations->end() ? 0.0 : it->second;
            if (min_d && d < *min_d)
                return false;
            if (max_d && d > *max_d)
                return false;
        }
        return true;
    };
    SearchResponse resp;
    resp.query = query_name;
    resp.model = space;
    resp.metric = req.metric;
    resp.index = entry->index->spec().text;
    // Hits are resolved in the catalog: an item removed since the entry was built (a stale entry
    // while it is refreshed, or a removal racing this search) is dropped, and the index is asked
    // for more candidates until k results remain or it has no more.
    // An index with approximate distances (IVF-PQ) hands over 2k candidates: their exact
    // distances, recomputed below, decide the final k (its half-precision re-ranking can swap
    // near-ties at the k-th place).
    const bool exact = entry->index->exact_distances();
    const std::size_t keep = exact ? req.k : 2 * req.k;
    for (std::size_t want = keep + (exclude_hash.empty() ? 0 : kExtra);; want *= 2) {
        so.k = want;
        EARSHOT_ASSIGN_OR_RETURN(auto hits, entry->index->search(vector, so));
        resp.results.clear();
        for (const auto& h : hits) {
            if (resp.results.size() >= keep)
                break;
            auto item = s_->catalog->get_item(h.id);
            if (!item) {
                if (item.error().code() == ErrorCode::kNotFound)
                    continue;  // removed
                return tl::unexpected(item.error());
            }
            if (!exclude_hash.empty() && item->content_hash == exclude_hash)
                continue;
            SearchResultItem r;
            r.rank = static_cast<int>(resp.results.size()) + 1;
            r.id = item->id;
            r.path = item->path;
            r.name = item->name;
            r.duration_s = item->duration_s;
            r.distance = h.distance;
            r.score = h.score;
            resp.results.push_back(std::move(r));
        }
        if (resp.results.size() >= keep || hits.size() < want)
            break;
    }
    if (!exact) {
        rerank_exactly(*s_->catalog, space, req.metric, vector, resp.results, req.k);
        for (std::size_t i = 0; i < resp.results.size(); ++i)
            resp.results[i].rank = static_cast<int>(i) + 1;
    }
    EARSHOT_RETURN_IF_ERROR(attach_tags(*s_->catalog, resp));
    return resp;
}

Result<SearchResponse> Engine::search_segments(const Matrix& segments,
                                               const std::vector<SegmentRecord>& times,
                                               const std::string& query_name,
                                               const SearchRequest& req,
                                               std::optional<std::int64_t> exclude_id,
                                               const std::string& exclude_hash) {
    std::string space = req.model.empty() ? default_model_name() : req.model;
    EARSHOT_ASSIGN_OR_RETURN(auto entry,
                             s_->search_entry(space, req.metric, req.index, false, true));
    const auto dim = static_cast<std::size_t>(entry->index->dim());
    if (segments.n_rows == 0 || segments.n_cols != dim || times.size() != segments.n_rows) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("query has {} segments of {} dims ({} times); space '{}' "
                                      "has {} dims",
                                      segments.n_rows, segments.n_cols, times.size(), space, dim));
    }
    SearchOptions so;
    so.threads = s_->options.threads;
    so.ef_search = req.ef_search;
    so.nprobe = req.nprobe;
    const auto* durations = &entry->durations;
    auto min_d = req.min_duration_s;
    auto max_d = req.max_duration_s;
    EARSHOT_ASSIGN_OR_RETURN(auto allowed_ids, s_->allowed_ids(req.filter));
    const auto* allowed = allowed_ids.get();
    so.filter = [durations, min_d, max_d, exclude_id, allowed](std::int64_t sid) {
        const std::int64_t id = segment_item(sid);
        if (exclude_id && id == *exclude_id)
            return false;
        if (allowed && !std::binary_search(allowed->begin(), allowed->end(), id))
            return false;
        if (min_d || max_d) {
            auto it = durations->find(id);
            double d = it == durations->end() ? 0.0 : it->second;
            if (min_d && d < *min_d)
                return false;
            if (max_d && d > *max_d)
                return false;
        }
        return true;
    };
    // Every query segment asks the index for its nearest segments; the hits are grouped by item.
    // Too few distinct items (a few long items take all the hits): ask for more, until the index
    // has no more.
    struct Pair {
        float distance = 0.0f;
        std::size_t query_seq = 0;
        std::size_t item_seq = 0;
    };
    std::unordered_map<std::int64_t, std::vector<Pair>> by_item;
    constexpr std::size_t kExtra = 8;  // room for removed items and copies of the query
    const std::size_t want_items = req.k + kExtra;
    for (std::size_t per_query = std::max<std::size_t>(32, 4 * want_items);; per_query *= 4) {
        so.k = per_query;
        by_item.clear();
        bool exhausted = true;
        for (std::size_t q = 0; q < segments.n_rows; ++q) {
            EARSHOT_ASSIGN_OR_RETURN(auto hits, entry->index->search(segments.row_span(q), so));
            if (hits.size() >= per_query)
                exhausted = false;
            for (const auto& h : hits)
                by_item[segment_item(h.id)].push_back({h.distance, q, segment_seq(h.id)});
        }
        if (by_item.size() >= want_items || exhausted)
            break;
    }
    struct Candidate {
        std::int64_t id = 0;
        std::vector<Pair>* pairs = nullptr;
        float best = 0.0f;
    };
    auto best_of = [](const std::vector<Pair>& pairs) {
        std::size_t b = 0;
        for (std::size_t i = 1; i < pairs.size(); ++i) {
            if (pairs[i].distance < pairs[b].distance)
                b = i;
        }
        return b;
    };
    std::vector<Candidate> cands;
    cands.reserve(by_item.size());
    for (auto& [id, pairs] : by_item) cands.push_back({id, &pairs, pairs[best_of(pairs)].distance});
    auto order = [](const Candidate& a, const Candidate& b) {
        return a.best < b.best || (a.best == b.best && a.id < b.id);
    };
    std::sort(cands.begin(), cands.end(), order);

    const bool exact = entry->index->exact_distances();
    const std::size_t keep = exact ? req.k : 2 * req.k;
    SearchResponse resp;
    resp.query = query_name;
    resp.model = space;
    resp.metric = req.metric;
    resp.index = entry->index->spec().text;
    resp.by = SearchBy::kSegments;
    const double half_hop = 0.5 * entry->segment_hop_s + 1e-6;
    std::vector<float> bests;
    for (auto& c : cands) {
        if (resp.results.size() >= keep)
            break;
        auto item = s_->catalog->get_item(c.id);
        if (!item) {
            if (item.error().code() == ErrorCode::kNotFound)
                continue;  // removed
            return tl::unexpected(item.error());
        }
        if (!exact_hash_ok(exclude_hash, item->content_hash))
            continue;
        auto stored = s_->catalog->get_segments(c.id, space);
        if (!stored)
            return tl::unexpected(stored.error());
        auto& pairs = *c.pairs;
        std::erase_if(pairs, [&](const Pair& p) { return p.item_seq >= stored->second.size(); });
        if (pairs.empty())
            continue;  // re-indexed meanwhile with fewer segments
        if (!exact) {
            for (auto& p : pairs) {
                p.distance =
                    static_cast<float>(naive_distance(req.metric, segments.row_span(p.query_seq),
                                                      stored->first.row_span(p.item_seq)));
            }
        }
        const Pair best = pairs[best_of(pairs)];
        const auto& st = stored->second;
        SegmentMatch m{times[best.query_seq].start_s, times[best.query_seq].end_s,
                       st[best.item_seq].start_s, st[best.item_seq].end_s};
        const double offset = m.item_start_s - m.query_start_s;
        for (const auto& p : pairs) {
            const auto& qt = times[p.query_seq];
            const auto& it = st[p.item_seq];
            if (std::abs((it.start_s - qt.start_s) - offset) > half_hop)
                continue;
            m.query_start_s = std::min(m.query_start_s, qt.start_s);
            m.query_end_s = std::max(m.query_end_s, qt.end_s);
            m.item_start_s = std::min(m.item_start_s, it.start_s);
            m.item_end_s = std::max(m.item_end_s, it.end_s);
        }
        SearchResultItem r;
        r.id = item->id;
        r.path = item->path;
        r.name = item->name;
        r.duration_s = item->duration_s;
        r.distance = best.distance;
        r.score = score_from_distance(req.metric, best.distance);
        r.match = m;
        resp.results.push_back(std::move(r));
    }
    std::sort(resp.results.begin(), resp.results.end(),
              [](const SearchResultItem& a, const SearchResultItem& b) {
                  return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
              });
    if (resp.results.size() > req.k)
        resp.results.resize(req.k);
    for (std::size_t i = 0; i < resp.results.size(); ++i)
        resp.results[i].rank = static_cast<int>(i) + 1;
    EARSHOT_RETURN_IF_ERROR(attach_tags(*s_->catalog, resp));
    return resp;
}

namespace {

// Sets same_recording on the results that are the same recording as the query (docs/dedup.md).
// Results further than kMaxSameRecordingDistance (cosine) from the query are not compared: a
// copy of a recording embeds close to it. Best effort: a result without a fingerprint, or a
// catalog read that fails, leaves the flag false.
constexpr double kMaxSameRecordingDistance = 0.3;

void mark_same_recording(Engine& engine,
                         SearchResponse& resp,
                         const Fingerprint& query,
                         std::span<const float> query_vector) {
    // A whole-file cosine search already has the distance; otherwise read the result's vector.
    const bool have_cosine = resp.metric == Metric::kCosine && resp.by == SearchBy::kItems;
    std::map<std::int64_t, double> near;  // result id -> cosine distance to the query
    for (const auto& r : resp.results) {
        double distance = r.distance;
        if (!have_cosine) {
            auto v = engine.catalog().get_embedding(r.id, resp.model);
            if (!v || v->size() != query_vector.size())
                continue;
            distance = naive_distance(Metric::kCosine, query_vector, *v);
        }
        if (distance <= kMaxSameRecordingDistance)
            near.emplace(r.id, distance);
    }
    if (near.empty())
        return;  // (an empty id list would load every fingerprint)
    std::vector<std::int64_t> ids;
    for (const auto& [id, d] : near) ids.push_back(id);
    auto stored = engine.catalog().load_fingerprints(ids);
    if (!stored)
        return;
    std::map<std::int64_t, Fingerprint> fps;
    for (const auto& rec : *stored) {
        if (rec.version != kFingerprintVersion)
            continue;
        if (auto fp = decode_fingerprint(rec.data))
            fps.emplace(rec.item_id, std::move(*fp));
    }
    SameRecordingOptions thresholds;
    for (auto& r : resp.results) {
        auto d = near.find(r.id);
        auto fp = fps.find(r.id);
        if (d == near.end() || fp == fps.end())
            continue;
        // The result's time t is the query's time t + offset_s.
        const auto m = same_recording(query, fp->second, d->second, thresholds);
        r.same_recording = m.same;
        r.same_recording_offset_s = m.same ? -m.offset_s : 0.0;
    }
}

void mark_same_recording_as_item(Engine& engine,
                                 SearchResponse& resp,
                                 std::int64_t id,
                                 const std::string& space) {
    auto stored = engine.catalog().get_fingerprint(id);
    if (!stored || !stored->has_value() || (*stored)->version != kFingerprintVersion)
        return;
    auto fp = decode_fingerprint((*stored)->data);
    auto vec = engine.catalog().get_embedding(id, space);
    if (fp && vec)
        mark_same_recording(engine, resp, *fp, *vec);
}

}  // namespace

Result<SearchResponse> Engine::search_file(const fs::path& query, const SearchRequest& req) {
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* m, model(req.model));
    SearchRequest r = req;
    r.model = m->info().name;
    Segmenting seg;
    if (r.by == SearchBy::kSegments) {
        EARSHOT_ASSIGN_OR_RETURN(seg, s_->query_segmenting(*m, r));
    }
    DecodeOptions opts;
    opts.target_sample_rate_hz = m->info().sample_rate_hz;
    AudioInfo info;
    EARSHOT_ASSIGN_OR_RETURN(auto audio, decode_audio(query, opts, &info));
    if (!r.allow_silent)
        EARSHOT_RETURN_IF_ERROR(check_query_not_silent(audio.samples, query.string()));
    auto fp = compute_fingerprint(audio.samples, audio.sample_rate_hz);
    auto embedded = embed_buffer(std::move(audio), info, *m, 0, seg);
    if (!embedded) {
        return tl::unexpected(
            embedded.error().with_context(fmt::format("embed '{}'", query.string())));
    }
    auto& emb = *embedded;
    std::optional<std::int64_t> self;
    auto existing = s_->catalog->find_by_path(catalog_path(query));
    if (existing && existing->has_value())
        self = (*existing)->id;
    auto hash = hash_file(query);
    auto resp = r.by == SearchBy::kSegments
                    ? search_segments(emb.segments.segments, segment_records(emb.segments),
                                      query.string(), r, self, hash ? *hash : "")
                    : search_vector(emb.embedding, query.string(), r, self, hash ? *hash : "");
    if (resp && fp)
        mark_same_recording(*this, *resp, *fp, emb.embedding);
    return resp;
}

Result<SearchResponse> Engine::search_bytes(std::span<const std::uint8_t> bytes,
                                            const std::string& name,
                                            const SearchRequest& req,
                                            const std::function<Status(double)>& decode_check) {
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* m, model(req.model));
    SearchRequest r = req;
    r.model = m->info().name;
    DecodeOptions opts;
    opts.target_sample_rate_hz = m->info().sample_rate_hz;
    opts.check = decode_check;
    AudioInfo info;
    EARSHOT_ASSIGN_OR_RETURN(auto audio, decode_audio_memory(bytes, name, opts, &info));
    if (!r.allow_silent)
        EARSHOT_RETURN_IF_ERROR(check_query_not_silent(audio.samples, name));
    Segmenting seg;
    if (r.by == SearchBy::kSegments) {
        EARSHOT_ASSIGN_OR_RETURN(seg, s_->query_segmenting(*m, r));
    }
    auto fp = compute_fingerprint(audio.samples, audio.sample_rate_hz);
    EARSHOT_ASSIGN_OR_RETURN(auto emb, embed_buffer(std::move(audio), info, *m, 0, seg));
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx",
                  static_cast<unsigned long long>(hash_bytes(bytes.data(), bytes.size())));
    auto resp = r.by == SearchBy::kSegments
                    ? search_segments(emb.segments.segments, segment_records(emb.segments), name, r,
                                      std::nullopt, hash)
                    : search_vector(emb.embedding, name, r, std::nullopt, hash);
    if (resp && fp)
        mark_same_recording(*this, *resp, *fp, emb.embedding);
    return resp;
}

namespace {

// "More like this stretch" of a library item: refuses a silent stretch (the item's file decoded
// at its own rate). Best effort: an item whose file is gone or does not decode is not checked.
Status check_stretch_not_silent(const ItemRecord& item, const SearchRequest& req) {
    std::error_code ec;
    const fs::path file(item.path);
    if (!file.is_absolute() || !fs::is_regular_file(file, ec))
        return ok_status();
    auto audio = decode_audio(file, DecodeOptions{}, nullptr);
    if (!audio || audio->sample_rate_hz <= 0)
        return ok_status();
    const double rate = static_cast<double>(audio->sample_rate_hz);
    const std::size_t n = audio->samples.size();
    const auto at = [&](double s) {
        return std::min(n, static_cast<std::size_t>(std::max(0.0, s) * rate));
    };
    const std::size_t begin = at(req.query_start_s.value_or(0.0));
    const std::size_t end = req.query_end_s ? at(*req.query_end_s) : n;
    if (begin >= end)
        return ok_status();
    return check_query_not_silent(
        std::span<const float>(audio->samples.data() + begin, end - begin),
        fmt::format("{} {:g}-{:g} s", item.name, req.query_start_s.value_or(0.0),
                    req.query_end_s.value_or(static_cast<double>(n) / rate)));
}

}  // namespace

Result<SearchResponse> Engine::search_id(std::int64_t id, const SearchRequest& req) {
    std::string space = req.model.empty() ? default_space() : req.model;
    EARSHOT_ASSIGN_OR_RETURN(auto item, s_->catalog->get_item(id));
    SearchRequest r = req;
    r.model = space;
    if (r.by == SearchBy::kSegments) {
        EARSHOT_ASSIGN_OR_RETURN(auto segs, s_->catalog->get_segments(id, space));
        if ((req.query_start_s || req.query_end_s) && !req.allow_silent)
            EARSHOT_RETURN_IF_ERROR(check_stretch_not_silent(item, req));
        if (req.query_start_s || req.query_end_s) {
            // Only the segments overlapping the span (at least the one nearest to its middle).
            const double from = req.query_start_s.value_or(0.0);
            const double to = req.query_end_s.value_or(item.duration_s + 1.0);
            Matrix kept(0, segs.first.n_cols);
            std::vector<SegmentRecord> kept_times;
            for (std::size_t i = 0; i < segs.second.size(); ++i) {
                if (segs.second[i].end_s > from && segs.second[i].start_s < to) {
                    kept.data.insert(kept.data.end(), segs.first.row(i),
                                     segs.first.row(i) + segs.first.n_cols);
                    ++kept.n_rows;
                    kept_times.push_back(segs.second[i]);
                }
            }
            if (kept.n_rows == 0) {
                return make_error(
                    ErrorCode::kInvalidArgument,
                    fmt::format("item {} has no segment between {} s and {} s", id, from, to));
            }
            segs.first = std::move(kept);
            segs.second = std::move(kept_times);
        }
        if (segs.first.n_rows == 0) {
            return make_error(
                ErrorCode::kNotFound,
                fmt::format("item {} has no stored segments in space '{}'", id, space));
        }
        auto resp = search_segments(segs.first, segs.second, item.path, r, id, item.content_hash);
        if (resp)
            mark_same_recording_as_item(*this, *resp, id, space);
        return resp;
    }
    EARSHOT_ASSIGN_OR_RETURN(auto vec, s_->catalog->get_embedding(id, space));
    auto resp = search_vector(vec, item.path, r, id, item.content_hash);
    if (resp)
        mark_same_recording_as_item(*this, *resp, id, space);
    return resp;
}

Result<ReindexReport> Engine::reindex(const ReindexOptions& options) {
    std::string space = options.space.empty() ? default_space() : options.space;
    EARSHOT_ASSIGN_OR_RETURN(auto entry, s_->search_entry(space, options.metric, options.index,
                                                          options.force, options.segments));
    return entry->report;
}

Result<Engine::TagFillReport> Engine::fill_tags(
    const std::string& model_name,
    bool force,
    const fs::path& root,
    const std::function<void(std::size_t, std::size_t)>& on_progress) {
    const auto t0 = std::chrono::steady_clock::now();
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* m, model(model_name));
    if (m->info().labels.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("model '{}' has no classifier head, so it gives no tags "
                                      "(models with tags: mn04, yamnet, musicnn)",
                                      m->info().name));
    }
    std::vector<std::int64_t> ids;
    if (force) {
        EARSHOT_ASSIGN_OR_RETURN(ids, s_->catalog->filter_ids(ItemFilter{}));
    } else {
        EARSHOT_ASSIGN_OR_RETURN(ids, s_->catalog->items_without_tags());
    }
    TagFillReport rep;
    rep.total = ids.size();
    const std::size_t n_threads = static_cast<std::size_t>(std::max(
        1, std::min<int>(s_->options.threads > 0 ? s_->options.threads : hardware_threads(),
                         static_cast<int>(std::max<std::size_t>(1, ids.size())))));
    if (n_threads > 1)
        set_inference_threads(1);
    struct RestoreThreads {
        int threads;
        bool on;
        ~RestoreThreads() {
            if (on)
                set_inference_threads(threads);
        }
    } restore{s_->options.threads, n_threads > 1};
    constexpr std::size_t kBatch = 64;
    for (std::size_t start = 0; start < ids.size(); start += kBatch) {
        const std::size_t end = std::min(ids.size(), start + kBatch);
        std::vector<std::optional<Result<std::vector<TagScore>>>> out(end - start);
        std::vector<std::string> paths(end - start);
        std::atomic<std::size_t> next{start};
        auto work = [&] {
            for (std::size_t i = next.fetch_add(1); i < end; i = next.fetch_add(1)) {
                auto item = s_->catalog->get_item(ids[i]);
                if (!item) {
                    out[i - start] = tl::unexpected(item.error());
                    continue;
                }
                paths[i - start] = item->path;
                const fs::path file = root.empty() || fs::path(item->path).is_absolute()
                                          ? fs::path(item->path)
                                          : root / item->path;
                auto emb = embed_audio_file(file, *m, kMaxItemTags);
                if (!emb)
                    out[i - start] = tl::unexpected(emb.error());
                else
                    out[i - start] = tags_from_labels(emb->labels);
            }
        };
        std::vector<std::thread> threads;
        for (std::size_t t = 1; t < n_threads; ++t) threads.emplace_back(work);
        work();
        for (auto& t : threads) t.join();
        std::vector<ItemTags> batch;
        for (std::size_t i = start; i < end; ++i) {
            auto& r = *out[i - start];
            if (!r) {
                if (r.error().code() == ErrorCode::kNotFound && paths[i - start].empty())
                    continue;  // removed meanwhile
                ++rep.failed;
                rep.failures.push_back({paths[i - start], r.error().message()});
                continue;
            }
            if (!r->empty())
                ++rep.tagged;
            batch.push_back({ids[i], std::move(*r)});
        }
        auto stored = s_->catalog->set_tags(batch);
        if (!stored && stored.error().code() == ErrorCode::kNotFound) {
            // An item was removed meanwhile: store the others one by one.
            for (const auto& b : batch) (void)s_->catalog->set_tags({b});
        } else if (!stored) {
            return tl::unexpected(stored.error());
        }
        if (on_progress)
            on_progress(end, ids.size());
    }
    rep.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

Result<std::vector<SearchHit>> Engine::nearest(std::span<const float> vector,
                                               const SearchRequest& req,
                                               const SearchOptions& options) {
    std::string space = req.model.empty() ? default_space() : req.model;
    EARSHOT_ASSIGN_OR_RETURN(auto entry, s_->search_entry(space, req.metric, req.index));
    SearchOptions so = options;
    so.ef_search = req.ef_search;
    so.nprobe = req.nprobe;
    if (entry->index->exact_distances())
        return entry->index->search(vector, so);
    // As search_vector: 2k candidates, exact distances from the catalog decide the final k.
    const std::size_t k = so.k;
    so.k = 2 * k;
    EARSHOT_ASSIGN_OR_RETURN(auto hits, entry->index->search(vector, so));
    rerank_exactly(*s_->catalog, space, req.metric, vector, hits, k);
    return hits;
}

void Engine::invalidate_cache() {
    s_->invalidate();
}

Result<std::size_t> Engine::refresh_cached_indexes() {
    std::vector<State::ResolvedKey> keys;
    {
        std::shared_lock lock(s_->search_mu);
        for (const auto& [asked, key] : s_->resolved) {
            // Flat indexes are rebuilt from the catalog whenever it moves: left to the next
            // search, so that a stream of writes does not reload them over and over.
            auto it = s_->cache.find(key);
            if (it != s_->cache.end() && it->second.entry &&
                it->second.entry->report.action != "in-memory")
                keys.push_back(asked);
        }
    }
    std::size_t refreshed = 0;
    Status first_error = ok_status();
    for (const auto& [space, metric, spec, segments] : keys) {
        auto entry = s_->search_entry(space, metric, spec, false, segments);
        if (entry)
            ++refreshed;
        else if (first_error)
            first_error = tl::unexpected(entry.error());
    }
    if (!first_error)
        return tl::unexpected(first_error.error());
    return refreshed;
}

Result<std::int64_t> Engine::find_item(const std::string& key) {
    for (const auto& k : {key, catalog_path(key)}) {
        EARSHOT_ASSIGN_OR_RETURN(auto item, s_->catalog->find_by_path(k));
        if (item)
            return item->id;
    }
    return make_error(ErrorCode::kNotFound,
                      fmt::format("no item with key or path '{}' in the catalog", key));
}

Result<std::int64_t> Engine::resolve_item(const std::string& id_or_key) {
    // A catalog id first; a record imported with a numeric key ("123") is then found by its key.
    std::optional<Error> id_error;
    if (!id_or_key.empty() && id_or_key.find_first_not_of("0123456789") == std::string::npos &&
        id_or_key.size() < 19) {
        const std::int64_t id = std::stoll(id_or_key);
        auto item = s_->catalog->get_item(id);
        if (item)
            return id;
        if (item.error().code() != ErrorCode::kNotFound)
            return tl::unexpected(item.error());
        id_error = item.error();
    }
    auto by_key = find_item(id_or_key);
    if (by_key || by_key.error().code() != ErrorCode::kNotFound)
        return by_key;
    if (id_error)  // the catalog's own message, the same as search_id's
        return tl::unexpected(*id_error);
    return make_error(ErrorCode::kNotFound,
                      fmt::format("no item with id, key or path '{}' in the catalog "
                                  "(ids are listed by `earshot list`)",
                                  id_or_key));
}

Result<std::int64_t> Engine::remove_paths(const std::vector<std::string>& paths) {
    std::vector<std::int64_t> ids;
    for (const auto& p : paths) {
        for (const auto& key : {p, catalog_path(p)}) {
            EARSHOT_ASSIGN_OR_RETURN(auto item, s_->catalog->find_by_path(key));
            if (item) {
                ids.push_back(item->id);
                break;
            }
        }
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (ids.empty())
        return std::int64_t{0};
    EARSHOT_ASSIGN_OR_RETURN(auto n, s_->catalog->remove_items(ids));
    s_->invalidate();
    return n;
}

}  // namespace earshot
