#include "engine/search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "core/file_util.h"
#include "engine/audio_files.h"
#include "engine/item_filter.h"
#include "fingerprint/fingerprint.h"

namespace earshot {
namespace fs = std::filesystem;

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
Status attach_tags(CatalogReader& catalog, SearchResponse& resp) {
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

// The stored whole vectors of these items (one catalog read for all), by item id; items without
// one (removed meanwhile) are missing.
struct StoredVectors {
    EmbeddingSet set;
    std::unordered_map<std::int64_t, std::size_t> row_of;

    const float* find(std::int64_t id) const {
        auto it = row_of.find(id);
        return it == row_of.end() ? nullptr : set.vectors.row(it->second);
    }
};

Result<StoredVectors> stored_vectors(CatalogReader& catalog,
                                     const std::string& space,
                                     std::span<const std::int64_t> ids) {
    StoredVectors out;
    EARSHOT_ASSIGN_OR_RETURN(out.set, catalog.get_embeddings(space, ids));
    out.row_of.reserve(out.set.ids.size());
    for (std::size_t i = 0; i < out.set.ids.size(); ++i) out.row_of.emplace(out.set.ids[i], i);
    return out;
}

// For an index whose distances are approximate (IVF-PQ): gives each hit (SearchHit or
// SearchResultItem) its exact distance and score from the stored vector (one catalog read for
// all hits), drops hits whose item is gone, orders by (distance, id) and keeps the best k.
template <typename Hit>
Status rerank_exactly(CatalogReader& catalog,
                      const std::string& space,
                      Metric metric,
                      std::span<const float> query,
                      std::vector<Hit>& hits,
                      std::size_t k) {
    std::vector<std::int64_t> ids;
    ids.reserve(hits.size());
    for (const Hit& h : hits) ids.push_back(h.id);
    EARSHOT_ASSIGN_OR_RETURN(auto stored, stored_vectors(catalog, space, ids));
    const auto dim = static_cast<std::size_t>(stored.set.dim);
    std::erase_if(hits, [&](Hit& h) {
        const float* v = stored.find(h.id);
        if (!v || dim != query.size())
            return true;  // removed meanwhile
        h.distance = static_cast<float>(naive_distance(metric, query, {v, dim}));
        h.score = score_from_distance(metric, h.distance);
        return false;
    });
    std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    });
    if (hits.size() > k)
        hits.resize(k);
    return ok_status();
}

// The request's item conditions (duration bounds, catalog filter, an excluded item), for
// item_predicate / item_block_predicate (engine/item_filter.h). They own the ids passing the
// catalog filter.
Result<ItemConditions> request_conditions(CatalogReader& catalog,
                                          const SearchRequest& req,
                                          std::optional<std::int64_t> exclude_id) {
    ItemConditions c;
    if (!req.filter.empty()) {
        EARSHOT_ASSIGN_OR_RETURN(auto ids, catalog.filter_ids(req.filter));
        c.allowed = std::make_shared<const IdSet>(std::move(ids));
    }
    c.min_duration_s = req.min_duration_s;
    c.max_duration_s = req.max_duration_s;
    c.exclude_id = exclude_id;
    return c;
}

// Sets same_recording on the results that are the same recording as the query (docs/dedup.md).
// Results further than kMaxSameRecordingDistance (cosine) from the query are not compared: a
// copy of a recording embeds close to it. Best effort: a result without a fingerprint, or a
// catalog read that fails, leaves the flag false.
constexpr double kMaxSameRecordingDistance = 0.3;

void mark_same_recording(CatalogReader& catalog,
                         SearchResponse& resp,
                         const Fingerprint& query,
                         std::span<const float> query_vector) {
    // A whole-file cosine search already has the distance; otherwise read the result's vector.
    const bool have_cosine = resp.metric == Metric::kCosine && resp.by == SearchBy::kItems;
    StoredVectors stored_vecs;  // the results' vectors, when needed (one catalog read)
    if (!have_cosine) {
        std::vector<std::int64_t> ids;
        for (const auto& r : resp.results) ids.push_back(r.id);
        auto read = stored_vectors(catalog, resp.model, ids);
        if (!read)
            return;
        stored_vecs = std::move(*read);
    }
    std::map<std::int64_t, double> near;  // result id -> cosine distance to the query
    for (const auto& r : resp.results) {
        double distance = r.distance;
        if (!have_cosine) {
            const float* v = stored_vecs.find(r.id);
            if (!v || static_cast<std::size_t>(stored_vecs.set.dim) != query_vector.size())
                continue;
            distance = naive_distance(Metric::kCosine, query_vector, {v, query_vector.size()});
        }
        if (distance <= kMaxSameRecordingDistance)
            near.emplace(r.id, distance);
    }
    if (near.empty())
        return;  // (an empty id list would load every fingerprint)
    std::vector<std::int64_t> ids;
    for (const auto& [id, d] : near) ids.push_back(id);
    auto stored = catalog.load_fingerprints(ids);
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

void mark_same_recording_as_item(CatalogReader& catalog,
                                 SearchResponse& resp,
                                 std::int64_t id,
                                 const std::string& space) {
    auto stored = catalog.get_fingerprint(id);
    if (!stored || !stored->has_value() || (*stored)->version != kFingerprintVersion)
        return;
    auto fp = decode_fingerprint((*stored)->data);
    auto vec = catalog.get_embedding(id, space);
    if (fp && vec)
        mark_same_recording(catalog, resp, *fp, *vec);
}

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

Result<SearchBy> parse_search_by(std::string_view text) {
    if (text == "items" || text == "item" || text.empty())
        return SearchBy::kItems;
    if (text == "segments" || text == "segment")
        return SearchBy::kSegments;
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unknown search mode '{}' (known: items, segments)", text));
}

Result<Segmenting> query_segmenting(const SearchContext& ctx,
                                    const EmbeddingModel& model,
                                    const SearchRequest& req) {
    EARSHOT_ASSIGN_OR_RETURN(
        auto entry, ctx.indexes.get(model.info().name, req.metric, req.index, false, true));
    const auto& info = model.info();
    constexpr double kTolS = 0.05;
    if (entry->segment_s <= 0.0 || (std::abs(entry->segment_s - info.segment_s) < kTolS &&
                                    std::abs(entry->segment_hop_s - info.segment_hop_s) < kTolS))
        return Segmenting{};
    return Segmenting{entry->segment_s, std::max(entry->segment_hop_s, 0.01)};
}

Result<SearchResponse> search_by_vector(const SearchContext& ctx,
                                        std::span<const float> vector,
                                        const std::string& query_name,
                                        const SearchRequest& req,
                                        std::optional<std::int64_t> exclude_id,
                                        const std::string& exclude_hash) {
    const std::string& space = req.model;
    EARSHOT_ASSIGN_OR_RETURN(auto entry, ctx.indexes.get(space, req.metric, req.index));
    if (static_cast<int>(vector.size()) != entry->index->dim()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("query vector has {} dims, space '{}' has {}", vector.size(),
                                      space, entry->index->dim()));
    }
    SearchOptions so;
    // A few extra candidates so that byte-identical copies of the query can be dropped.
    constexpr std::size_t kExtra = 8;
    so.threads = ctx.threads;
    so.ef_search = req.ef_search;
    so.nprobe = req.nprobe;
    EARSHOT_ASSIGN_OR_RETURN(auto conditions, request_conditions(ctx.catalog, req, exclude_id));
    // A search by a catalog item whose only condition is leaving that item out asks the index
    // for one more hit, unfiltered, and drops the item from the hits: a filter that rejects one
    // item would cost an HNSW walk its passing-fraction sample and a call per node reached.
    std::optional<std::int64_t> drop_id = std::exchange(conditions.exclude_id, std::nullopt);
    if (!conditions.none())
        conditions.exclude_id = std::exchange(drop_id, std::nullopt);  // filtered anyway
    // `durations` are the index entry's, which outlives the search.
    so.filter = item_predicate(&entry->durations, conditions);
    so.filter_block = item_block_predicate(&entry->durations, std::move(conditions));
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
    for (std::size_t want = keep + (exclude_hash.empty() ? 0 : kExtra) + (drop_id ? 1 : 0);;
         want *= 2) {
        so.k = want;
        EARSHOT_ASSIGN_OR_RETURN(auto hits, entry->index->search(vector, so));
        resp.results.clear();
        // The hits' items in one catalog read (one query on PostgreSQL instead of one per hit);
        // a removed item is missing from it.
        std::vector<std::int64_t> hit_ids;
        hit_ids.reserve(hits.size());
        for (const auto& h : hits) hit_ids.push_back(h.id);
        EARSHOT_ASSIGN_OR_RETURN(auto items, ctx.catalog.get_items(hit_ids));
        std::unordered_map<std::int64_t, const ItemRecord*> item_of;
        item_of.reserve(items.size());
        for (const auto& it : items) item_of.emplace(it.id, &it);
        for (const auto& h : hits) {
            if (resp.results.size() >= keep)
                break;
            if (drop_id && h.id == *drop_id)
                continue;
            const auto found = item_of.find(h.id);
            if (found == item_of.end())
                continue;  // removed
            const ItemRecord* item = found->second;
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
        EARSHOT_RETURN_IF_ERROR(
            rerank_exactly(ctx.catalog, space, req.metric, vector, resp.results, req.k));
        for (std::size_t i = 0; i < resp.results.size(); ++i)
            resp.results[i].rank = static_cast<int>(i) + 1;
    }
    EARSHOT_RETURN_IF_ERROR(attach_tags(ctx.catalog, resp));
    return resp;
}

Result<SearchResponse> search_by_segments(const SearchContext& ctx,
                                          const Matrix& segments,
                                          const std::vector<SegmentRecord>& times,
                                          const std::string& query_name,
                                          const SearchRequest& req,
                                          std::optional<std::int64_t> exclude_id,
                                          const std::string& exclude_hash) {
    const std::string& space = req.model;
    EARSHOT_ASSIGN_OR_RETURN(auto entry,
                             ctx.indexes.get(space, req.metric, req.index, false, true));
    const auto dim = static_cast<std::size_t>(entry->index->dim());
    if (segments.n_rows == 0 || segments.n_cols != dim || times.size() != segments.n_rows) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("query has {} segments of {} dims ({} times); space '{}' "
                                      "has {} dims",
                                      segments.n_rows, segments.n_cols, times.size(), space, dim));
    }
    SearchOptions so;
    so.threads = ctx.threads;
    so.ef_search = req.ef_search;
    so.nprobe = req.nprobe;
    EARSHOT_ASSIGN_OR_RETURN(auto conditions, request_conditions(ctx.catalog, req, exclude_id));
    // Per id only: a segment's item is looked up for each (no block form).
    auto passes = item_predicate(&entry->durations, std::move(conditions));
    if (passes) {
        so.filter = [passes = std::move(passes)](std::int64_t sid) {
            return passes(segment_item(sid));
        };
    }
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
    // The candidates are resolved a chunk at a time, best first: their items in one catalog read
    // and their matched segments in another (on PostgreSQL one query each instead of two round
    // trips per candidate). A chunk holds as many candidates as results are still missing, plus a
    // few for removed items and copies of the query.
    for (std::size_t next = 0; next < cands.size() && resp.results.size() < keep;) {
        const std::size_t n = std::min(cands.size() - next, keep - resp.results.size() + kExtra);
        const std::span<Candidate> chunk(cands.data() + next, n);
        next += n;
        std::vector<std::int64_t> ids;
        ids.reserve(n);
        std::size_t max_seq = 0;  // the segments read: those the hits matched, and the ones before
        for (const auto& c : chunk) {
            ids.push_back(c.id);
            for (const auto& p : *c.pairs) max_seq = std::max(max_seq, p.item_seq);
        }
        EARSHOT_ASSIGN_OR_RETURN(auto items, ctx.catalog.get_items(ids));
        std::unordered_map<std::int64_t, const ItemRecord*> item_of;
        for (const auto& it : items) item_of.emplace(it.id, &it);
        EARSHOT_ASSIGN_OR_RETURN(
            auto stored,
            ctx.catalog.load_segments(space, ids, static_cast<std::int64_t>(max_seq) + 1));
        // Rows are ordered by item, then seq: each item's rows are one run.
        std::unordered_map<std::int64_t, std::pair<std::size_t, std::size_t>> rows_of;
        for (std::size_t row = 0; row < stored.item_ids.size(); ++row) {
            auto [it, fresh] = rows_of.try_emplace(stored.item_ids[row], row, row + 1);
            if (!fresh)
                it->second.second = row + 1;
        }
        for (auto& c : chunk) {
            if (resp.results.size() >= keep)
                break;
            const auto found = item_of.find(c.id);
            if (found == item_of.end())
                continue;  // removed
            const ItemRecord* item = found->second;
            if (!exact_hash_ok(exclude_hash, item->content_hash))
                continue;
            // The stored row of each matched segment (none: re-indexed meanwhile with fewer).
            const auto run = rows_of.find(c.id);
            auto row_of = [&](std::size_t seq) -> std::optional<std::size_t> {
                if (run == rows_of.end())
                    return std::nullopt;
                const auto first =
                    stored.seq.begin() + static_cast<std::ptrdiff_t>(run->second.first);
                const auto last =
                    stored.seq.begin() + static_cast<std::ptrdiff_t>(run->second.second);
                const auto at = std::lower_bound(first, last, static_cast<std::int64_t>(seq));
                if (at == last || *at != static_cast<std::int64_t>(seq))
                    return std::nullopt;
                return static_cast<std::size_t>(at - stored.seq.begin());
            };
            auto& pairs = *c.pairs;
            std::erase_if(pairs, [&](const Pair& p) { return !row_of(p.item_seq); });
            if (pairs.empty())
                continue;  // re-indexed meanwhile with fewer segments
            if (!exact) {
                for (auto& p : pairs) {
                    p.distance = static_cast<float>(
                        naive_distance(req.metric, segments.row_span(p.query_seq),
                                       stored.vectors.row_span(*row_of(p.item_seq))));
                }
            }
            const Pair best = pairs[best_of(pairs)];
            const SegmentRecord& best_t = stored.times[*row_of(best.item_seq)];
            SegmentMatch m{times[best.query_seq].start_s, times[best.query_seq].end_s,
                           best_t.start_s, best_t.end_s};
            const double offset = m.item_start_s - m.query_start_s;
            for (const auto& p : pairs) {
                const auto& qt = times[p.query_seq];
                const auto& it = stored.times[*row_of(p.item_seq)];
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
    }
    std::sort(resp.results.begin(), resp.results.end(),
              [](const SearchResultItem& a, const SearchResultItem& b) {
                  return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
              });
    if (resp.results.size() > req.k)
        resp.results.resize(req.k);
    for (std::size_t i = 0; i < resp.results.size(); ++i)
        resp.results[i].rank = static_cast<int>(i) + 1;
    EARSHOT_RETURN_IF_ERROR(attach_tags(ctx.catalog, resp));
    return resp;
}

Result<SearchResponse> search_by_file(const SearchContext& ctx,
                                      const EmbeddingModel& model,
                                      const fs::path& query,
                                      const SearchRequest& req) {
    const EmbeddingModel* m = &model;
    SearchRequest r = req;
    r.model = m->info().name;
    Segmenting seg;
    if (r.by == SearchBy::kSegments) {
        EARSHOT_ASSIGN_OR_RETURN(seg, query_segmenting(ctx, *m, r));
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
    auto existing = ctx.catalog.find_by_path(catalog_path(query));
    if (existing && existing->has_value())
        self = (*existing)->id;
    auto hash = hash_file(query);
    auto resp =
        r.by == SearchBy::kSegments
            ? search_by_segments(ctx, emb.segments.segments, segment_records(emb.segments),
                                 query.string(), r, self, hash ? *hash : "")
            : search_by_vector(ctx, emb.embedding, query.string(), r, self, hash ? *hash : "");
    if (resp && fp)
        mark_same_recording(ctx.catalog, *resp, *fp, emb.embedding);
    return resp;
}

Result<SearchResponse> search_by_bytes(const SearchContext& ctx,
                                       const EmbeddingModel& model,
                                       std::span<const std::uint8_t> bytes,
                                       const std::string& name,
                                       const SearchRequest& req,
                                       const std::function<Status(double)>& decode_check) {
    const EmbeddingModel* m = &model;
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
        EARSHOT_ASSIGN_OR_RETURN(seg, query_segmenting(ctx, *m, r));
    }
    auto fp = compute_fingerprint(audio.samples, audio.sample_rate_hz);
    EARSHOT_ASSIGN_OR_RETURN(auto emb, embed_buffer(std::move(audio), info, *m, 0, seg));
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx",
                  static_cast<unsigned long long>(hash_bytes(bytes.data(), bytes.size())));
    auto resp = r.by == SearchBy::kSegments
                    ? search_by_segments(ctx, emb.segments.segments, segment_records(emb.segments),
                                         name, r, std::nullopt, hash)
                    : search_by_vector(ctx, emb.embedding, name, r, std::nullopt, hash);
    if (resp && fp)
        mark_same_recording(ctx.catalog, *resp, *fp, emb.embedding);
    return resp;
}

Result<SearchResponse> search_by_item(const SearchContext& ctx,
                                      std::int64_t id,
                                      const SearchRequest& req) {
    const std::string& space = req.model;
    EARSHOT_ASSIGN_OR_RETURN(auto item, ctx.catalog.get_item(id));
    SearchRequest r = req;
    r.model = space;
    if (r.by == SearchBy::kSegments) {
        EARSHOT_ASSIGN_OR_RETURN(auto segs, ctx.catalog.get_segments(id, space));
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
        auto resp =
            search_by_segments(ctx, segs.first, segs.second, item.path, r, id, item.content_hash);
        if (resp)
            mark_same_recording_as_item(ctx.catalog, *resp, id, space);
        return resp;
    }
    EARSHOT_ASSIGN_OR_RETURN(auto vec, ctx.catalog.get_embedding(id, space));
    auto resp = search_by_vector(ctx, vec, item.path, r, id, item.content_hash);
    if (resp)
        mark_same_recording_as_item(ctx.catalog, *resp, id, space);
    return resp;
}

Result<std::vector<SearchHit>> nearest_hits(const SearchContext& ctx,
                                            std::span<const float> vector,
                                            const SearchRequest& req,
                                            const SearchOptions& options) {
    const std::string& space = req.model;
    EARSHOT_ASSIGN_OR_RETURN(auto entry, ctx.indexes.get(space, req.metric, req.index));
    SearchOptions so = options;
    so.ef_search = req.ef_search;
    so.nprobe = req.nprobe;
    if (entry->index->exact_distances())
        return entry->index->search(vector, so);
    // As search_vector: 2k candidates, exact distances from the catalog decide the final k.
    const std::size_t k = so.k;
    so.k = 2 * k;
    EARSHOT_ASSIGN_OR_RETURN(auto hits, entry->index->search(vector, so));
    EARSHOT_RETURN_IF_ERROR(rerank_exactly(ctx.catalog, space, req.metric, vector, hits, k));
    return hits;
}

}  // namespace earshot
