#include "engine/dedup.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "index/metric.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;

// A Chromaprint word shared by more items than this says nothing about any pair of them
// (silence, a steady tone): it makes no candidates.
constexpr std::size_t kMaxWordPosting = 32;
// Pairs sharing at least this many distinct words are candidates.
constexpr std::size_t kMinSharedWords = 2;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct UnionFind {
    std::vector<std::size_t> parent;
    explicit UnionFind(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
    std::size_t find(std::size_t x) {
        while (parent[x] != x) x = parent[x] = parent[parent[x]];
        return x;
    }
    void unite(std::size_t a, std::size_t b) { parent[find(a)] = find(b); }
};

}  // namespace

Result<DedupReport> find_duplicates(Engine& engine, const DedupOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    CatalogReader& catalog = engine.catalog();
    DedupReport report;
    report.space = options.space.empty() ? engine.default_space() : options.space;

    // Fingerprints of the current version, in item id order.
    EARSHOT_ASSIGN_OR_RETURN(auto records, catalog.load_fingerprints());
    std::vector<std::int64_t> ids;
    std::vector<Fingerprint> fps;
    for (auto& r : records) {
        if (r.version != kFingerprintVersion)
            continue;
        auto fp = decode_fingerprint(r.data);
        if (!fp) {
            log_warning("dedup: item {}: {}", r.item_id, fp.error().to_string());
            continue;
        }
        ids.push_back(r.item_id);
        fps.push_back(std::move(*fp));
    }
    records.clear();
    EARSHOT_ASSIGN_OR_RETURN(auto n_items, catalog.count_items());
    report.unfingerprinted = static_cast<std::size_t>(n_items) - ids.size();
    report.items = ids.size();
    std::unordered_map<std::int64_t, std::size_t> index_of;
    for (std::size_t i = 0; i < ids.size(); ++i) index_of.emplace(ids[i], i);

    // Vectors of the space (for neighbours and the short-sound check), by fingerprint index.
    std::vector<std::vector<float>> vectors(ids.size());
    auto set = catalog.load_embeddings(report.space);
    if (!set && set.error().code() != ErrorCode::kNotFound)
        return tl::unexpected(set.error());
    if (set) {
        for (std::size_t r = 0; r < set->ids.size(); ++r) {
            auto it = index_of.find(set->ids[r]);
            if (it != index_of.end()) {
                const auto row = set->vectors.row_span(r);
                vectors[it->second].assign(row.begin(), row.end());
            }
        }
    }

    // Candidate pairs (i < j, fingerprint indexes).
    std::vector<std::pair<std::size_t, std::size_t>> candidates;
    {
        std::mutex mu;
        if (set && !set->ids.empty()) {
            SearchRequest req;
            req.model = report.space;
            req.metric = Metric::kCosine;
            SearchOptions so;
            so.k = options.neighbours + 1;
            so.threads = 1;
            std::optional<Error> failed;
            parallel_for(ids.size(), options.threads, 16, [&](std::size_t begin, std::size_t end) {
                std::vector<std::pair<std::size_t, std::size_t>> local;
                for (std::size_t i = begin; i < end; ++i) {
                    if (vectors[i].empty())
                        continue;
                    auto hits = engine.nearest(vectors[i], req, so);
                    if (!hits) {
                        std::lock_guard<std::mutex> lock(mu);
                        failed = hits.error();
                        return;
                    }
                    for (const auto& h : *hits) {
                        auto it = index_of.find(h.id);
                        if (it == index_of.end() || it->second == i ||
                            h.distance > options.max_candidate_distance) {
                            continue;
                        }
                        local.emplace_back(std::min(i, it->second), std::max(i, it->second));
                    }
                }
                std::lock_guard<std::mutex> lock(mu);
                candidates.insert(candidates.end(), local.begin(), local.end());
            });
            if (failed)
                return tl::unexpected(failed->with_context("dedup: nearest neighbours"));
        }
        // Items sharing exact Chromaprint words (an inverted index of the words).
        std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> postings;
        for (std::size_t i = 0; i < fps.size(); ++i) {
            std::vector<std::uint32_t> words = fps[i].chromaprint;
            std::sort(words.begin(), words.end());
            words.erase(std::unique(words.begin(), words.end()), words.end());
            for (auto w : words) postings[w].push_back(static_cast<std::uint32_t>(i));
        }
        std::unordered_map<std::uint64_t, std::uint32_t> shared;
        for (const auto& [word, list] : postings) {
            if (list.size() < 2 || list.size() > kMaxWordPosting)
                continue;
            for (std::size_t a = 0; a < list.size(); ++a) {
                for (std::size_t b = a + 1; b < list.size(); ++b) {
                    ++shared[(std::uint64_t{list[a]} << 32) | list[b]];
                }
            }
        }
        for (const auto& [key, n] : shared) {
            if (n >= kMinSharedWords)
                candidates.emplace_back(key >> 32, key & 0xffffffffu);
        }
        std::sort(candidates.begin(), candidates.end());
        candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    }
    report.candidate_pairs = candidates.size();

    // Compare the candidates.
    struct Link {
        std::size_t a, b;
        SameRecording m;
    };
    std::vector<Link> links;
    {
        std::mutex mu;
        parallel_for(candidates.size(), options.threads, 64,
                     [&](std::size_t begin, std::size_t end) {
                         std::vector<Link> local;
                         for (std::size_t c = begin; c < end; ++c) {
                             const auto [a, b] = candidates[c];
                             double distance = -1.0;
                             if (!vectors[a].empty() && !vectors[b].empty())
                                 distance = naive_distance(Metric::kCosine, vectors[a], vectors[b]);
                             auto m = same_recording(fps[a], fps[b], distance, options.thresholds);
                             if (m.same)
                                 local.push_back({a, b, m});
                         }
                         std::lock_guard<std::mutex> lock(mu);
                         links.insert(links.end(), local.begin(), local.end());
                     });
    }
    report.same_pairs = links.size();
    std::sort(links.begin(), links.end(), [](const Link& x, const Link& y) {
        return std::pair(x.a, x.b) < std::pair(y.a, y.b);
    });

    // Groups: connected components; offsets along a breadth-first tree from the lowest id.
    UnionFind uf(ids.size());
    std::vector<std::vector<std::pair<std::size_t, const Link*>>> adjacent(ids.size());
    for (const auto& l : links) {
        uf.unite(l.a, l.b);
        adjacent[l.a].emplace_back(l.b, &l);
        adjacent[l.b].emplace_back(l.a, &l);
    }
    std::map<std::size_t, std::vector<std::size_t>> components;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (!adjacent[i].empty())
            components[uf.find(i)].push_back(i);
    }
    for (auto& [root, members] : components) {
        // The reference: the longest member (an untrimmed copy), ties to the lowest id.
        std::sort(members.begin(), members.end(), [&](std::size_t x, std::size_t y) {
            if (fps[x].duration_s != fps[y].duration_s)
                return fps[x].duration_s > fps[y].duration_s;
            return x < y;
        });
        std::unordered_map<std::size_t, DedupMember> placed;
        std::vector<std::size_t> queue{members.front()};
        placed[members.front()] = DedupMember{};
        for (std::size_t q = 0; q < queue.size(); ++q) {
            const std::size_t at = queue[q];
            for (const auto& [next, link] : adjacent[at]) {
                if (placed.contains(next))
                    continue;
                // link->m.offset_s: b's time t is a's time t + offset_s.
                const double step = link->a == at ? link->m.offset_s : -link->m.offset_s;
                DedupMember m;
                m.offset_s = placed[at].offset_s + step;
                m.similarity = link->m.similarity;
                m.by_chromaprint = link->m.by_chromaprint;
                placed[next] = m;
                queue.push_back(next);
            }
        }
        DedupGroup group;
        for (std::size_t i : members) {
            DedupMember m = placed[i];
            m.id = ids[i];
            EARSHOT_ASSIGN_OR_RETURN(auto item, catalog.get_item(m.id));
            m.path = item.path;
            m.name = item.name;
            m.duration_s = item.duration_s;
            group.members.push_back(std::move(m));
        }
        report.groups.push_back(std::move(group));
    }
    std::stable_sort(report.groups.begin(), report.groups.end(),
                     [](const DedupGroup& x, const DedupGroup& y) {
                         return x.members.size() > y.members.size();
                     });
    report.elapsed_s = seconds_since(t0);
    return report;
}

Result<std::optional<SameRecording>> same_recording_as_item(Engine& engine,
                                                            const Fingerprint& query,
                                                            std::span<const float> query_vector,
                                                            const std::string& space,
                                                            std::int64_t item_id,
                                                            const SameRecordingOptions& options) {
    EARSHOT_ASSIGN_OR_RETURN(auto record, engine.catalog().get_fingerprint(item_id));
    if (!record || record->version != kFingerprintVersion)
        return std::optional<SameRecording>{};
    auto fp = decode_fingerprint(record->data);
    if (!fp)
        return std::optional<SameRecording>{};
    double distance = -1.0;
    if (!query_vector.empty()) {
        auto v = engine.catalog().get_embedding(item_id, space);
        if (v && v->size() == query_vector.size())
            distance = naive_distance(Metric::kCosine, query_vector, *v);
    }
    return std::optional<SameRecording>(same_recording(query, *fp, distance, options));
}

Result<FingerprintFillReport> fill_fingerprints(Catalog& catalog,
                                                const FingerprintFillOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    FingerprintFillReport report;
    EARSHOT_ASSIGN_OR_RETURN(auto todo, catalog.items_without_fingerprint(kFingerprintVersion));
    report.total = todo.size();
    constexpr std::size_t kBatch = 64;
    for (std::size_t at = 0; at < todo.size(); at += kBatch) {
        const std::size_t n = std::min(kBatch, todo.size() - at);
        std::vector<std::optional<FingerprintRecord>> made(n);
        std::vector<std::optional<IndexFailure>> failed(n);
        parallel_for(n, options.threads, 1, [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin; i < end; ++i) {
                const std::int64_t id = todo[at + i];
                auto item = catalog.get_item(id);
                if (!item) {
                    continue;  // removed meanwhile
                }
                fs::path file = item->path;
                if (file.is_relative() && !options.root.empty())
                    file = options.root / file;
                DecodeOptions dopts;
                dopts.target_sample_rate_hz = kFingerprintRateHz;
                auto audio = decode_audio(file, dopts);
                Result<Fingerprint> fp =
                    audio ? compute_fingerprint(audio->samples, audio->sample_rate_hz)
                          : tl::unexpected(audio.error());
                if (!fp) {
                    failed[i] = IndexFailure{item->path, fp.error().to_string()};
                    continue;
                }
                made[i] = FingerprintRecord{id, kFingerprintVersion, encode_fingerprint(*fp)};
            }
        });
        std::vector<FingerprintRecord> batch;
        for (std::size_t i = 0; i < n; ++i) {
            if (made[i])
                batch.push_back(std::move(*made[i]));
            if (failed[i])
                report.failures.push_back(std::move(*failed[i]));
        }
        if (!batch.empty()) {
            auto stored = catalog.put_fingerprints(batch);
            if (!stored && stored.error().code() == ErrorCode::kNotFound) {
                // An item was removed meanwhile: store the others one by one.
                for (auto& r : batch) {
                    if (catalog.put_fingerprints({r}))
                        ++report.filled;
                }
            } else if (!stored) {
                return tl::unexpected(stored.error().with_context("store fingerprints"));
            } else {
                report.filled += batch.size();
            }
        }
        if (options.on_progress)
            options.on_progress(at + n, todo.size());
    }
    report.elapsed_s = seconds_since(t0);
    return report;
}

}  // namespace earshot
