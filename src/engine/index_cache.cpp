#include "engine/index_cache.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/file_util.h"
#include "core/log.h"
#include "index/index_file.h"

namespace earshot {
namespace fs = std::filesystem;

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

std::string file_name_part(const std::string& in) {
    // File-name-safe text; a hash of the original keeps distinct names distinct.
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
        out += fmt::format("-{:08x}", static_cast<std::uint32_t>(hash_bytes(in.data(), in.size())));
    }
    return out;
}

fs::path index_file_path(const fs::path& db_path,
                         const std::string& space,
                         Metric metric,
                         const std::string& canonical_spec) {
    return default_index_dir(db_path.string()) / fmt::format("{}.{}.{}.esix", file_name_part(space),
                                                             metric_name(metric),
                                                             file_name_part(canonical_spec));
}

// One cached index: what search_entry hands out. Immutable once installed (searches of the index

struct IndexCache::Impl {
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
    // - Stale entries are safe to search: search_by_vector (engine/search.cpp) resolves every hit
    // in the catalog
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
    using EntryResult = Result<std::shared_ptr<const CachedIndex>>;
    struct PendingBuild {
        bool force = false;
        std::int64_t generation = 0;  // G of the request that started it
        std::shared_future<EntryResult> done;
    };
    struct CacheSlot {
        std::shared_ptr<const CachedIndex> entry;  // installed entry, may be null
        std::shared_ptr<PendingBuild> building;    // build in flight, may be null
    };

    CatalogReader* catalog = nullptr;  // thread-safe (serialises its calls)
    IndexCacheOptions options;

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

    // Median stored segment length and hop over the first kSamplePerItem segments of (up to)
    // the first kSample items that have segments; items with one segment count for the length
    // only. The items' segments are read kSample items at a time (one catalog read each, instead
    // of one per item).
    void measure_segments(CachedIndex& entry, const std::string& space) {
        constexpr std::size_t kSample = 64;
        constexpr std::int64_t kSamplePerItem = 64;
        const std::vector<std::int64_t> items = entry.durations.ids();
        std::vector<double> lengths, hops;
        std::size_t used = 0;
        for (std::size_t next = 0; next < items.size() && used < kSample;) {
            const std::size_t n = std::min(items.size() - next, kSample - used);
            std::vector<std::int64_t> chunk(items.begin() + static_cast<std::ptrdiff_t>(next),
                                            items.begin() + static_cast<std::ptrdiff_t>(next + n));
            next += n;
            auto batch = catalog->load_segments(space, chunk, kSamplePerItem);
            if (!batch)
                break;
            // Rows are ordered by item, then seq: one run per item that has segments.
            for (std::size_t r = 0; r < batch->item_ids.size();) {
                std::size_t end = r + 1;
                while (end < batch->item_ids.size() && batch->item_ids[end] == batch->item_ids[r])
                    ++end;
                ++used;
                const auto& t = batch->times;
                for (std::size_t i = r; i + 1 < end; ++i) {
                    lengths.push_back(t[i].end_s - t[i].start_s);
                    hops.push_back(t[i + 1].start_s - t[i].start_s);
                }
                if (end - r == 1)
                    lengths.push_back(t[r].end_s - t[r].start_s);
                r = end;
            }
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
    Result<std::shared_ptr<CachedIndex>> build_entry(
        const std::string& space, Metric metric, const IndexSpec& spec, bool force, bool segments) {
        auto t0 = std::chrono::steady_clock::now();
        auto entry = std::make_shared<CachedIndex>();
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
                    log_info("index '{}' loaded ({})", file.string(), rep.action);
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
                        entry->durations = ItemDurations(now.live.ids, now.live.durations_s);
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
                entry->durations = ItemDurations(set->ids, set->durations_s);
                set->dim = st.dim;
                set->ids = std::move(rows.ids);  // from here on segment ids
                set->vectors = std::move(rows.vectors);
            }
            if (persisted) {
                log_info("building {} index of space '{}' ({} {}, {} metric)", spec.text, label,
                         set->ids.size(), segments ? "segments" : "items", metric_name(metric));
                if (options.on_build)
                    options.on_build(space);
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
                entry->durations = ItemDurations(set->ids, set->durations_s);
            }
        }
        if (segments)
            measure_segments(*entry, space);
        rep.items = entry->index->size();
        rep.memory_bytes = entry->index->memory_bytes();
        rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return entry;
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
        std::shared_ptr<const CachedIndex> replaced;  // freed outside the lock
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
                r = std::shared_ptr<const CachedIndex>(std::move(*built));
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

IndexCache::IndexCache(CatalogReader& catalog, IndexCacheOptions options)
    : impl_(std::make_unique<Impl>()) {
    impl_->catalog = &catalog;
    impl_->options = std::move(options);
}

IndexCache::~IndexCache() = default;

IndexCache::EntryResult IndexCache::get(const std::string& space,
                                        Metric metric,
                                        const std::string& requested,
                                        bool force,
                                        bool segments) {
    return impl_->search_entry(space, metric, requested, force, segments);
}

void IndexCache::invalidate() {
    impl_->invalidate();
}

fs::path IndexCache::index_file(const std::string& space,
                                Metric metric,
                                const std::string& spec) const {
    return impl_->index_file_in(space, metric, spec);
}

Result<std::size_t> IndexCache::refresh() {
    std::vector<Impl::ResolvedKey> keys;
    {
        std::shared_lock lock(impl_->search_mu);
        for (const auto& [asked, key] : impl_->resolved) {
            // Flat indexes are rebuilt from the catalog whenever it moves: left to the next
            // search, so that a stream of writes does not reload them over and over.
            auto it = impl_->cache.find(key);
            if (it != impl_->cache.end() && it->second.entry &&
                it->second.entry->report.action != "in-memory")
                keys.push_back(asked);
        }
    }
    std::size_t refreshed = 0;
    Status first_error = ok_status();
    for (const auto& [space, metric, spec, segments] : keys) {
        auto entry = impl_->search_entry(space, metric, spec, false, segments);
        if (entry)
            ++refreshed;
        else if (first_error)
            first_error = tl::unexpected(entry.error());
    }
    if (!first_error)
        return tl::unexpected(first_error.error());
    return refreshed;
}

}  // namespace earshot
