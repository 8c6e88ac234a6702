#include "benchmark/benchmark.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "audio/decoder.h"
#include "audio/trim.h"
#include "benchmark/hnswlib_baseline.h"
#include "catalog/catalog.h"
#include "core/log.h"
#include "core/npy.h"
#include "core/thread_pool.h"
#include "engine/audio_files.h"
#include "engine/engine.h"
#include "engine/item_filter.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"
#include "index/index_file.h"
#include "index/ivfpq_index.h"
#include "index/metric.h"
#include "index/sq_index.h"
#include "index/vector_index.h"
#include "models/model_registry.h"
#include "models/pooling.h"

namespace earshot {
namespace fs = std::filesystem;

namespace {
// bench index: a hit within this (absolute) distance of the exact k-th neighbour counts as tied.
constexpr double kTieTolerance = 1e-6;

// CPU time of the calling thread / of the process: unlike wall time, not inflated when other
// processes take the cores (the machine the figures come from is shared with compilers).
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<std::vector<IngestBenchRow>> bench_ingest(const IngestBenchOptions& options) {
    EARSHOT_ASSIGN_OR_RETURN(auto collected, collect_audio_files({options.folder}));
    auto& files = collected.files;
    if (files.size() > options.max_files)
        files.resize(options.max_files);
    if (files.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("no audio files under '{}'", options.folder.string()));
    }
    std::vector<std::string> names = options.models;
    if (names.empty()) {
        for (const auto& k : model_kinds()) {
            if (!k.takes_path && (*k.folder == '\0' || find_model_dir(k, options.models_dir)))
                names.emplace_back(k.name);
        }
    }
    const int threads = options.threads > 0 ? options.threads : hardware_threads();
    std::vector<IngestBenchRow> rows;
    for (const auto& name : names) {
        ModelOptions mo;
        mo.models_dir = options.models_dir;
        mo.threads = 1;  // one file per worker thread, as `earshot index` does
        EARSHOT_ASSIGN_OR_RETURN(auto model, make_model(name, mo));
        set_inference_threads(1);
        const int rate = model->info().sample_rate_hz;
        // Decode all files first (timed), then embed (timed), both with `threads` workers.
        std::vector<AudioBuffer> audio(files.size());
        auto t0 = std::chrono::steady_clock::now();
        parallel_for(files.size(), threads, 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                DecodeOptions d;
                d.target_sample_rate_hz = rate;
                auto a = decode_audio(files[i], d);
                if (a)
                    audio[i] = std::move(*a);
            }
        });
        IngestBenchRow row;
        row.model = name;
        row.threads = threads;
        row.files = files.size();
        row.decode_s = seconds_since(t0);
        for (const auto& a : audio) row.audio_s += a.duration_s();
        t0 = std::chrono::steady_clock::now();
        parallel_for(files.size(), threads, 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                auto emb = model->embed(audio[i].samples);
                if (emb)
                    (void)pool_segments(*emb, audio[i].samples, rate);
            }
        });
        row.embed_s = seconds_since(t0);
        rows.push_back(row);
    }
    set_inference_threads(options.threads);
    return rows;
}

Result<std::vector<SearchBenchRow>> bench_search(const SearchBenchOptions& options) {
    // Synthetic clustered data: 100 Gaussian clusters, fixed seed.
    std::mt19937 rng(1234);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    const std::size_t n = options.n;
    const auto d = static_cast<std::size_t>(options.dim);
    constexpr std::size_t kClusters = 100;
    Matrix centres(kClusters, d);
    for (auto& v : centres.data) v = gauss(rng);
    Matrix data(n, d);
    std::vector<std::int64_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) {
        ids[i] = static_cast<std::int64_t>(i + 1);
        const float* c = centres.row(i % kClusters);
        float* r = data.row(i);
        for (std::size_t j = 0; j < d; ++j) r[j] = c[j] + 0.5f * gauss(rng);
    }
    std::vector<SearchBenchRow> rows;
    for (Metric metric : options.metrics) {
        SearchBenchRow row;
        row.metric = metric;
        row.n = n;
        row.dim = options.dim;
        row.threads = options.threads > 0 ? options.threads : hardware_threads();
        auto t0 = std::chrono::steady_clock::now();
        FlatIndex index(options.dim, metric);
        EARSHOT_RETURN_IF_ERROR(index.add(ids, data));
        row.build_s = seconds_since(t0);
        std::vector<double> lat;
        SearchOptions so;
        so.k = options.k;
        so.threads = options.threads;
        auto t_all = std::chrono::steady_clock::now();
        for (std::size_t q = 0; q < options.queries; ++q) {
            std::vector<float> query(data.row((q * 7919) % n), data.row((q * 7919) % n) + d);
            for (auto& v : query) v += 0.1f * gauss(rng);
            auto tq = std::chrono::steady_clock::now();
            EARSHOT_ASSIGN_OR_RETURN(auto hits, index.search(query, so));
            lat.push_back(seconds_since(tq) * 1000.0);
            (void)hits;
        }
        double total = seconds_since(t_all);
        std::sort(lat.begin(), lat.end());
        row.p50_ms = lat[lat.size() / 2];
        row.p99_ms = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
        row.qps = static_cast<double>(options.queries) / total;
        rows.push_back(row);
    }
    return rows;
}

Result<std::vector<IndexBenchRow>> bench_index(const IndexBenchOptions& options,
                                               std::vector<MatchedRecallRow>* matched) {
    if (int{options.compare_steering} + int{options.compare_walk_budget} +
            int{options.compare_share_check} + int{options.compare_filter_block} >
        1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench index: --compare-steering, --compare-walk-budget, "
                          "--compare-share-check and --compare-filter-block each time the "
                          "filtered walk a second way; give one of them");
    }
    if (!options.filter_folder.empty() && (options.db.empty() || options.filter_keep > 0.0)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench index: --filter-folder filters a catalog's items (--space, --db) "
                          "and replaces --filter-keep");
    }
    if (options.matched_recall && !options.compare_hnswlib && options.filter_keep <= 0.0 &&
        options.filter_folder.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench index: --matched-recall compares with plain hnswlib "
                          "(--compare-hnswlib) or filtered with unfiltered rows (--filter-keep, "
                          "--filter-folder); give at least one");
    }
    if (int{options.compare_layout} + int{options.compare_self_search} +
            int{options.compare_in_degree} + int{options.compare_insertion} >
        1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench index: --compare-layout, --compare-self-search, "
                          "--compare-in-degree and --compare-insertion each keep a second graph "
                          "to time beside ours; give one of them");
    }
    Matrix data;
    Matrix queries;
    std::string data_name = "synthetic";
    const std::size_t nq = options.queries;
    std::vector<char> in_folder;  // filter_folder: data row i lies under it
    if (!options.db.empty()) {
        CatalogOptions co;
        co.create_if_missing = false;
        co.read_only = true;
        EARSHOT_ASSIGN_OR_RETURN(auto cat, open_catalog(options.db.string(), co));
        EARSHOT_ASSIGN_OR_RETURN(auto set, cat->load_embeddings(options.space));
        if (set.ids.size() <= nq) {
            return make_error(ErrorCode::kInvalidArgument,
                              "bench index: the space has too few vectors for the queries");
        }
        // Hold out nq rows (fixed seed) as queries.
        std::vector<std::size_t> order(set.ids.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::mt19937 rng(1234);
        std::shuffle(order.begin(), order.end(), rng);
        const std::size_t n = std::min(options.n, order.size() - nq);
        const auto d = set.vectors.n_cols;
        data = Matrix(n, d);
        queries = Matrix(nq, d);
        for (std::size_t i = 0; i < nq; ++i)
            std::copy_n(set.vectors.row(order[i]), d, queries.row(i));
        for (std::size_t i = 0; i < n; ++i)
            std::copy_n(set.vectors.row(order[nq + i]), d, data.row(i));
        data_name = options.space + "@" + options.db.filename().string();
        if (!options.filter_folder.empty()) {
            ItemFilter under;
            under.folder = options.filter_folder;
            EARSHOT_ASSIGN_OR_RETURN(auto kept, cat->filter_ids(under));
            const IdSet kept_ids(std::move(kept));
            in_folder.resize(n);
            for (std::size_t i = 0; i < n; ++i)
                in_folder[i] = kept_ids.contains(set.ids[order[nq + i]]) ? 1 : 0;
        }
    } else {
        std::mt19937 rng(1234);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        const auto d = static_cast<std::size_t>(options.dim);
        constexpr std::size_t kClusters = 100;
        Matrix centres(kClusters, d);
        for (auto& v : centres.data) v = gauss(rng);
        Matrix all(options.n + nq, d);
        std::uniform_int_distribution<std::size_t> pick(0, kClusters - 1);
        for (std::size_t i = 0; i < all.n_rows; ++i) {
            const float* c = centres.row(pick(rng));
            for (std::size_t j = 0; j < d; ++j) all.at(i, j) = c[j] + 0.5f * gauss(rng);
        }
        data = Matrix(options.n, d);
        std::copy_n(all.data.begin(), options.n * d, data.data.begin());
        queries = Matrix(nq, d);
        std::copy_n(all.data.begin() + static_cast<std::ptrdiff_t>(options.n * d), nq * d,
                    queries.data.begin());
    }
    const int dim = static_cast<int>(data.n_cols);
    std::vector<std::int64_t> ids(data.n_rows);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i + 1);

    // Ground truth: exact top-k, unfiltered and (filter_keep > 0) with the filter.
    const std::int64_t keep_every =
        options.filter_keep > 0.0
            ? std::max<std::int64_t>(1, std::llround(1.0 / options.filter_keep))
            : 0;
    // filter_keep: a duration filter through the engine's predicate, as `search --max-duration`
    // runs it: every keep_every-th id is given 1 s, the others 5 s, and items up to 2 s pass.
    // filter_folder: the ids under the folder as a set, as `search --folder` runs it (the
    // catalog's filter_ids into the predicate's IdSet).
    std::vector<double> bench_durations(ids.size());
    std::vector<std::int64_t> folder_ids;
    std::size_t passing = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const bool pass =
            in_folder.empty() ? keep_every > 0 && ids[i] % keep_every == 0 : in_folder[i] != 0;
        bench_durations[i] = pass ? 1.0 : 5.0;  // read by the filter_keep predicate only
        if (pass && !in_folder.empty())
            folder_ids.push_back(ids[i]);
        passing += pass ? 1 : 0;
    }
    const bool filtering = keep_every > 0 || !in_folder.empty();
    if (!in_folder.empty() && passing == 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench index: no item of space '" + options.space +
                              "' lies under --filter-folder " + options.filter_folder);
    }
    const ItemDurations durations(ids, bench_durations);
    ItemConditions keep_conditions;
    if (in_folder.empty())
        keep_conditions.max_duration_s = 2.0;
    else
        keep_conditions.allowed = std::make_shared<const IdSet>(std::move(folder_ids));
    const std::function<bool(std::int64_t)> keep_filter =
        item_predicate(&durations, keep_conditions);
    // The block form the engine hands the index beside it (SearchOptions::filter_block); not
    // with per_id_filter (compare_filter_block's other rows).
    const auto keep_block = item_block_predicate(&durations, keep_conditions);
    bool per_id_filter = false;
    FlatIndex exact(dim, options.metric);
    EARSHOT_RETURN_IF_ERROR(exact.add(ids, data));
    struct Truth {
        std::vector<std::vector<std::int64_t>> ids;
        std::vector<double> kth_distance;
    };
    // Exact (double) distance of a data row to a query, and of each query's k-th true neighbour:
    // for recall with ties (IndexBenchRow::recall_at_k_ties).
    auto exact_distance = [&](std::size_t q, std::int64_t id) {
        return naive_distance(options.metric, queries.row_span(q),
                              data.row_span(static_cast<std::size_t>(id - 1)));
    };
    auto make_truth = [&](bool filtered) -> Result<Truth> {
        Truth t;
        t.ids.resize(nq);
        t.kth_distance.assign(nq, 0.0);
        for (std::size_t q = 0; q < nq; ++q) {
            SearchOptions so;
            so.k = options.k;
            if (filtered)
                so.filter = keep_filter;
            EARSHOT_ASSIGN_OR_RETURN(auto hits, exact.search(queries.row_span(q), so));
            for (const auto& h : hits) t.ids[q].push_back(h.id);
            if (!t.ids[q].empty())
                t.kth_distance[q] = exact_distance(q, t.ids[q].back());
        }
        return t;
    };
    std::vector<double> keeps = {1.0};
    std::vector<Truth> truths;
    {
        EARSHOT_ASSIGN_OR_RETURN(auto t, make_truth(false));
        truths.push_back(std::move(t));
    }
    if (filtering) {
        EARSHOT_ASSIGN_OR_RETURN(auto t, make_truth(true));
        truths.push_back(std::move(t));
        keeps.push_back(in_folder.empty()
                            ? 1.0 / static_cast<double>(keep_every)
                            : static_cast<double>(passing) / static_cast<double>(ids.size()));
    }

    // Runs the nq queries on `threads` concurrent streams through search(q) -> ids and fills the
    // timing and recall fields of `row`.
    auto measure = [&](int threads, const Truth& truth, IndexBenchRow& row,
                       const std::function<std::vector<std::int64_t>(std::size_t)>& search) {
        std::vector<double> lat(nq);
        std::vector<double> cpu(nq);
        std::vector<std::vector<std::int64_t>> found_ids(nq);
        auto t_all = std::chrono::steady_clock::now();
        parallel_for(nq, threads, 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t q = b; q < e; ++q) {
                const double c0 = thread_cpu_seconds();
                auto tq = std::chrono::steady_clock::now();
                found_ids[q] = search(q);
                lat[q] = seconds_since(tq) * 1000.0;
                cpu[q] = thread_cpu_seconds() - c0;
            }
        });
        const double total = seconds_since(t_all);
        double cpu_total = 0.0;
        for (double c : cpu) cpu_total += c;
        row.cpu_qps = cpu_total > 0.0 ? static_cast<double>(nq) / cpu_total : 0.0;
        // Scored after the timed loop, so that it does not count in QPS.
        double recall_sum = 0.0;
        double recall_ties_sum = 0.0;
        for (std::size_t q = 0; q < nq; ++q) {
            if (truth.ids[q].empty()) {
                recall_sum += 1.0;
                recall_ties_sum += 1.0;
                continue;
            }
            std::size_t found = 0;
            std::size_t within = 0;
            for (std::int64_t id : found_ids[q]) {
                found += static_cast<std::size_t>(
                    std::count(truth.ids[q].begin(), truth.ids[q].end(), id));
                if (exact_distance(q, id) <= truth.kth_distance[q] + kTieTolerance)
                    ++within;
            }
            const auto want = static_cast<double>(truth.ids[q].size());
            recall_sum += static_cast<double>(found) / want;
            recall_ties_sum += static_cast<double>(std::min(within, truth.ids[q].size())) / want;
        }
        row.threads = threads;
        std::sort(lat.begin(), lat.end());
        row.p50_ms = lat[lat.size() / 2];
        row.p99_ms = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
        row.qps = static_cast<double>(nq) / total;
        row.recall_at_k = recall_sum / static_cast<double>(nq);
        row.recall_at_k_ties = recall_ties_sum / static_cast<double>(nq);
    };

    std::vector<IndexBenchRow> rows;
    for (const auto& spec : options.specs) {
        const double cpu0 = process_cpu_seconds();
        auto t0 = std::chrono::steady_clock::now();
        EARSHOT_ASSIGN_OR_RETURN(auto index, make_index(spec, dim, options.metric));
        index->set_threads(options.build_threads);
        if (options.compare_layout)
            detail::set_hnsw_reorder(false);
        if (options.compare_self_search)
            detail::set_hnsw_self_search_repair(false);
        if (options.compare_in_degree)
            detail::set_hnsw_in_degree_repair(false);
        Status added = index->add(ids, data);
        detail::set_hnsw_reorder(true);
        detail::set_hnsw_self_search_repair(true);
        detail::set_hnsw_in_degree_repair(true);
        EARSHOT_RETURN_IF_ERROR(added);
        double build_s = seconds_since(t0);
        double build_cpu_s = process_cpu_seconds() - cpu0;
        detail::HnswBuildPhases phases;
        if (index->spec().kind == "hnsw")
            phases = detail::hnsw_last_build_phases();
        // compare_layout: the graph in insertion order (a copy through an index file, untimed),
        // then ours renumbered as a build does (timed, part of the build). compare_self_search:
        // likewise, the graph before the self-search repair, then ours repaired (after the
        // renumbering here, before it in a build: the same walks up to ties). compare_in_degree:
        // likewise with the in-degree repair (first in a build; it only appends, so running it
        // after the other repairs cuts nothing off). After either repair ours is renumbered
        // again (untimed).
        std::unique_ptr<VectorIndex> graph_copy;
        double copy_build_s = 0.0;  // the copy's build: without the step it leaves out
        double copy_build_cpu_s = 0.0;
        detail::HnswBuildPhases copy_phases;
        const char* copy_engine = options.compare_self_search ? "earshot-no-self-search"
                                  : options.compare_in_degree ? "earshot-no-in-degree-repair"
                                  : options.compare_insertion ? "earshot-hnswlib-insertion"
                                                              : "earshot-insertion-order";
        // compare_insertion: a second build of the same rows through hnswlib's own addPoint
        // (timed as ours is; another graph, built after ours).
        if (options.compare_insertion && index->spec().kind == "hnsw") {
            const double ccpu0 = process_cpu_seconds();
            const auto ct0 = std::chrono::steady_clock::now();
            EARSHOT_ASSIGN_OR_RETURN(graph_copy, make_index(spec, dim, options.metric));
            graph_copy->set_threads(options.build_threads);
            detail::set_hnsw_own_insertion(false);
            Status copied = graph_copy->add(ids, data);
            detail::set_hnsw_own_insertion(true);
            EARSHOT_RETURN_IF_ERROR(copied);
            copy_build_s = seconds_since(ct0);
            copy_build_cpu_s = process_cpu_seconds() - ccpu0;
            copy_phases = detail::hnsw_last_build_phases();
        }
        if ((options.compare_layout || options.compare_self_search || options.compare_in_degree) &&
            index->spec().kind == "hnsw") {
            const fs::path copy =
                fs::temp_directory_path() / fmt::format("earshot-bench-copy-{}.esix", ::getpid());
            EARSHOT_RETURN_IF_ERROR(save_index_file(copy, *index, IndexFileHeader{}));
            auto loaded = load_index_file(copy);
            std::error_code ec;
            fs::remove(copy, ec);
            EARSHOT_ASSIGN_OR_RETURN(LoadedIndex copied, std::move(loaded));
            graph_copy = std::move(copied.index);
            copy_build_s = build_s;
            copy_build_cpu_s = build_cpu_s;
            copy_phases = phases;
            const double rcpu0 = process_cpu_seconds();
            const auto rt0 = std::chrono::steady_clock::now();
            if (options.compare_self_search) {
                detail::hnsw_repair_self_search(*index);
                phases.self_search_s = seconds_since(rt0);
            } else if (options.compare_in_degree) {
                detail::hnsw_repair_in_degree(*index);
                phases.in_degree_s = seconds_since(rt0);
            } else {
                detail::hnsw_reorder(*index);
                phases.renumber_s = seconds_since(rt0);
            }
            build_s += seconds_since(rt0);
            build_cpu_s += process_cpu_seconds() - rcpu0;
            // The repaired graph renumbered again (untimed: a build renumbers once, after its
            // repairs), so that its links sit in breadth-first order as the copy's do.
            if (options.compare_in_degree || options.compare_self_search)
                detail::hnsw_reorder(*index);
        }
        const double per_item =
            static_cast<double>(index->memory_bytes()) / static_cast<double>(data.n_rows);
        const bool is_hnsw = index->spec().kind == "hnsw";
        const bool is_ivf = index->spec().kind == "ivfpq";
        const bool has_ef = is_hnsw || index->spec().kind == "sq";
        const int nlist = is_ivf ? ivfpq_params(index->spec()).value_or(IvfPqParams{}).nlist : 0;
        std::vector<std::size_t> efs = has_ef   ? options.ef_search
                                       : is_ivf ? options.rerank
                                                : std::vector<std::size_t>{0};
        std::vector<std::size_t> probes = is_ivf ? options.nprobe : std::vector<std::size_t>{0};
        std::vector<std::pair<std::size_t, std::size_t>> knobs;
        for (std::size_t ef : efs) {
            for (std::size_t np : probes) knobs.emplace_back(ef, np);
        }
        IndexBenchRow base;
        base.spec = index->spec().text;
        base.data = data_name;
        base.n = data.n_rows;
        base.dim = dim;
        base.metric = options.metric;
        base.build_s = build_s;
        base.build_cpu_s = build_cpu_s;
        base.build_phases = phases;
        base.bytes_per_item = per_item;
        // Plain hnswlib on the same vectors and parameters (unfiltered rows only), built by itself
        // and on our graph. Its queries are timed in rounds alternating with ours (best of
        // options.rounds each), so that all see the same load on a shared machine.
        std::unique_ptr<detail::PlainHnswlib> plain;
        std::unique_ptr<detail::PlainHnswlib> same_graph;
        IndexBenchRow prow = base;
        IndexBenchRow srow = base;
        prow.build_phases = {};
        srow.build_phases = {};
        const bool compare = options.compare_hnswlib && is_hnsw;
        if (compare) {
            // Its "build" is the copy of our graph.
            const double scpu0 = process_cpu_seconds();
            const auto st0 = std::chrono::steady_clock::now();
            EARSHOT_ASSIGN_OR_RETURN(
                same_graph, detail::plain_hnswlib_on_graph(*index, data, ids, options.metric));
            srow.engine = "hnswlib-same-graph";
            srow.unreachable = same_graph->unreachable();
            srow.build_s = seconds_since(st0);
            srow.build_cpu_s = process_cpu_seconds() - scpu0;
            srow.bytes_per_item = 0;
            const double pcpu0 = process_cpu_seconds();
            const auto pt0 = std::chrono::steady_clock::now();
            EARSHOT_ASSIGN_OR_RETURN(HnswParams hp, hnsw_params(index->spec()));
            EARSHOT_ASSIGN_OR_RETURN(
                plain, detail::build_plain_hnswlib(data, ids, options.metric, hp.m,
                                                   hp.ef_construction, options.build_threads));
            prow.engine = "hnswlib";
            prow.unreachable = plain->unreachable();
            prow.build_s = seconds_since(pt0);
            prow.build_cpu_s = process_cpu_seconds() - pcpu0;
            prow.bytes_per_item = 0;
        }
        std::vector<IndexBenchRow> plain_rows;
        std::vector<IndexBenchRow> same_rows;
        std::vector<IndexBenchRow> other_walk_rows;
        std::vector<IndexBenchRow> copy_rows;
        // Keeps the faster of two measurements of the same setting.
        auto keep_best = [](IndexBenchRow& best, const IndexBenchRow& r, bool first) {
            if (first || r.cpu_qps > best.cpu_qps)
                best = r;
        };
        // Our index's hits for query q at one setting (f: index into truths, 0 = unfiltered).
        auto search_ours = [&](std::size_t q, std::size_t ef, std::size_t nprobe, std::size_t f) {
            SearchOptions so;
            so.k = options.k;
            so.ef_search = ef;
            so.nprobe = nprobe;
            so.threads = 1;
            if (f > 0) {
                so.filter = keep_filter;
                if (!per_id_filter)
                    so.filter_block = keep_block;
            }
            std::vector<std::int64_t> out;
            // Approximate distances (HNSW<M>,SQfp16, trained IVF-PQ): 2k candidates
            // re-ranked with exact float distances, as Engine::search_vector does
            // from the catalog (timed here; the catalog reads are not).
            const bool rerank = !index->exact_distances();
            if (rerank)
                so.k = 2 * options.k;
            auto hits = index->search(queries.row_span(q), so);
            if (hits) {
                if (rerank) {
                    for (auto& h : *hits) h.distance = static_cast<float>(exact_distance(q, h.id));
                    std::sort(hits->begin(), hits->end(),
                              [](const SearchHit& a, const SearchHit& b) {
                                  return a.distance < b.distance ||
                                         (a.distance == b.distance && a.id < b.id);
                              });
                    if (hits->size() > options.k)
                        hits->resize(options.k);
                }
                for (const auto& h : *hits) out.push_back(h.id);
            }
            return out;
        };
        // Each efSearch's unfiltered and filtered settings are timed one after the other, so
        // that their ratio does not carry the machine's drift over the run (the rows are put
        // back in filter order below).
        const std::size_t first_row = rows.size();
        for (const auto& [ef, nprobe] : knobs) {
            for (std::size_t f = 0; f < truths.size(); ++f) {
                for (int threads : options.query_threads) {
                    IndexBenchRow row = base;
                    row.filter_keep = keeps[f];
                    row.ef_search = !is_hnsw && has_ef && ef == 0 ? sq_default_rerank(options.k)
                                    : has_ef                      ? std::max(ef, options.k)
                                    : is_ivf ? (ef > 0 ? std::max(ef, options.k) : 100 * options.k)
                                             : 0;
                    row.nprobe = is_ivf ? (nprobe > 0 ? std::min<std::size_t>(
                                                            nprobe, static_cast<std::size_t>(nlist))
                                                      : ivf_default_nprobe(nlist))
                                        : 0;
                    auto ours = [&, ef = ef, nprobe = nprobe, f = f](std::size_t q) {
                        return search_ours(q, ef, nprobe, f);
                    };
                    const bool with_plain = compare && f == 0;
                    const bool with_other_walk =
                        (options.compare_steering || options.compare_walk_budget ||
                         options.compare_share_check || options.compare_filter_block) &&
                        is_hnsw && f > 0;
                    const bool with_copy = graph_copy != nullptr;
                    const int rounds = with_plain || with_other_walk || with_copy
                                           ? std::max(1, options.rounds)
                                           : 1;
                    IndexBenchRow best = row;
                    IndexBenchRow best_copy = row;
                    best_copy.engine = copy_engine;
                    best_copy.build_s = copy_build_s;
                    best_copy.build_cpu_s = copy_build_cpu_s;
                    best_copy.build_phases = copy_phases;
                    IndexBenchRow best_other_walk = row;
                    best_other_walk.engine =
                        options.compare_walk_budget    ? "earshot-no-walk-budget"
                        : options.compare_share_check  ? "earshot-no-share-check"
                        : options.compare_filter_block ? "earshot-per-id-filter"
                                                       : "earshot-unsteered";
                    IndexBenchRow best_plain = prow;
                    IndexBenchRow best_same = srow;
                    best_plain.ef_search = std::max(ef, options.k);
                    best_same.ef_search = best_plain.ef_search;
                    auto time_plain = [&](detail::PlainHnswlib& lib, IndexBenchRow& best_row,
                                          bool first) {
                        lib.set_ef(std::max(ef, options.k));
                        IndexBenchRow p = best_row;
                        measure(threads, truths[0], p, [&](std::size_t q) {
                            return lib.search(queries.row(q), options.k);
                        });
                        keep_best(best_row, p, first);
                    };
                    // One untimed query first: the first filtered HNSW search builds the walk's
                    // steering copy (once per index, ~0.4 s at 100k x 1024), which is not what
                    // the rows measure.
                    ours(0);
                    // fn() with `ours` searching the copy of the graph (before the renumbering or
                    // the self-search repair).
                    auto on_graph_copy = [&](const auto& fn) {
                        std::swap(index, graph_copy);
                        fn();
                        std::swap(index, graph_copy);
                    };
                    if (with_copy)
                        on_graph_copy([&] { ours(0); });
                    // fn() with the filtered walk's steering copy switched off
                    // (compare_steering), its walk budget (compare_walk_budget) or its
                    // passing-share check (compare_share_check), or with the filter asked
                    // one id at a time (compare_filter_block).
                    auto other_walk = [&](const auto& fn) {
                        if (options.compare_filter_block) {
                            per_id_filter = true;
                            fn();
                            per_id_filter = false;
                            return;
                        }
                        void (*const set)(bool) =
                            options.compare_walk_budget   ? &detail::set_hnsw_walk_budget
                            : options.compare_share_check ? &detail::set_hnsw_passing_share_check
                                                          : &detail::set_hnsw_filter_steering;
                        set(false);
                        fn();
                        set(true);
                    };
                    // Distances and expansions our walk makes per query, untimed, on this
                    // thread, the efSearch it used and the share of walks that gave up.
                    auto count_walk = [&](IndexBenchRow& r) {
                        const std::size_t d0 = detail::hnsw_walk_distances();
                        const std::size_t e0 = detail::hnsw_walk_expansions();
                        const std::size_t g0 = detail::hnsw_walks_given_up();
                        for (std::size_t q = 0; q < nq; ++q) ours(q);
                        r.walks_given_up = static_cast<double>(detail::hnsw_walks_given_up() - g0) /
                                           static_cast<double>(nq);
                        r.distances_per_query =
                            static_cast<double>(detail::hnsw_walk_distances() - d0) /
                            static_cast<double>(nq);
                        r.expansions_per_query =
                            static_cast<double>(detail::hnsw_walk_expansions() - e0) /
                            static_cast<double>(nq);
                        r.walk_ef = r.distances_per_query > 0 ? detail::hnsw_last_walk_ef() : 0;
                    };
                    for (int round = 0; round < rounds; ++round) {
                        IndexBenchRow r = row;
                        measure(threads, truths[f], r, ours);
                        keep_best(best, r, round == 0);
                        if (with_plain) {
                            time_plain(*plain, best_plain, round == 0);
                            time_plain(*same_graph, best_same, round == 0);
                        }
                        if (with_other_walk) {
                            IndexBenchRow u = best_other_walk;
                            other_walk([&] { measure(threads, truths[f], u, ours); });
                            keep_best(best_other_walk, u, round == 0);
                        }
                        if (with_copy) {
                            IndexBenchRow u = best_copy;
                            on_graph_copy([&] { measure(threads, truths[f], u, ours); });
                            keep_best(best_copy, u, round == 0);
                        }
                    }
                    if (is_hnsw)
                        count_walk(best);
                    auto count_plain = [&](detail::PlainHnswlib& lib, IndexBenchRow& r) {
                        std::size_t total = 0;
                        for (std::size_t q = 0; q < nq; ++q)
                            total += lib.count_distances(queries.row(q), options.k);
                        r.distances_per_query =
                            static_cast<double>(total) / static_cast<double>(nq);
                    };
                    rows.push_back(best);
                    if (with_other_walk) {
                        other_walk([&] { count_walk(best_other_walk); });
                        other_walk_rows.push_back(best_other_walk);
                    }
                    if (with_copy) {
                        on_graph_copy([&] { count_walk(best_copy); });
                        copy_rows.push_back(best_copy);
                    }
                    if (with_plain) {
                        count_plain(*plain, best_plain);
                        count_plain(*same_graph, best_same);
                        plain_rows.push_back(best_plain);
                        same_rows.push_back(best_same);
                    }
                }
            }
        }
        // matched_recall: each of our single-thread rows against the other curve at its recall.
        if (options.matched_recall && is_hnsw && matched != nullptr) {
            using Searcher = std::function<std::vector<std::int64_t>(std::size_t)>;
            using SearcherAt = std::function<Searcher(std::size_t)>;
            // Recall@k (ties) of one setting over the queries (its timing is not used).
            auto recall_of = [&](const Truth& truth, const Searcher& search) {
                IndexBenchRow r = base;
                measure(1, truth, r, search);
                return r.recall_at_k_ties;
            };
            struct Bracket {
                std::size_t below = 0;  // 0: efSearch = k already reaches the recall
                std::size_t at = 0;
            };
            // One curve to match against, and the recall of each efSearch already measured on it
            // (rows with equal recall, e.g. filtered rows that all walk at efSearch k, share the
            // bisection's passes).
            struct Other {
                std::string name;
                SearcherAt at;
                std::map<std::size_t, double> seen;
            };
            // The smallest efSearch in [k, kMaxMatchedEf] whose recall reaches `recall`, by
            // bisection (recall need not rise strictly with efSearch: this finds an adjacent pair
            // around it, which is what the interpolation needs); nullopt if none does.
            // Every other curve is unfiltered: its recall is against the unfiltered truth.
            const Truth& other_truth = truths[0];
            auto bracket = [&](Other& other, double recall) -> std::optional<Bracket> {
                auto& seen = other.seen;
                const SearcherAt& at = other.at;
                auto recall_at = [&](std::size_t ef) {
                    const auto it = seen.find(ef);
                    if (it != seen.end())
                        return it->second;
                    return seen[ef] = recall_of(other_truth, at(ef));
                };
                std::size_t lo = options.k;
                std::size_t hi = std::max(kMaxMatchedEf, options.k);
                if (recall_at(hi) < recall)
                    return std::nullopt;
                if (recall_at(lo) >= recall)
                    return Bracket{0, lo};
                while (hi - lo > 1) {  // recall_at(lo) < recall <= recall_at(hi)
                    const std::size_t mid = lo + (hi - lo) / 2;
                    (recall_at(mid) >= recall ? hi : lo) = mid;
                }
                return Bracket{lo, hi};
            };
            auto match = [&](const IndexBenchRow& row, std::size_t f, Other& other) {
                const SearcherAt& other_at = other.at;
                MatchedRecallRow m;
                m.spec = row.spec;
                m.other = other.name;
                m.filter_keep = row.filter_keep;
                m.ef_search = row.ef_search;
                m.recall = row.recall_at_k_ties;
                m.cpu_qps = row.cpu_qps;
                const auto b = bracket(other, m.recall);
                if (!b) {
                    m.other_reaches = false;
                    matched->push_back(std::move(m));
                    return;
                }
                m.other_ef_below = b->below;
                m.other_ef_at = b->at;
                const Searcher own = [&, ef = row.ef_search](std::size_t q) {
                    return search_ours(q, ef, 0, f);
                };
                const Searcher at = other_at(b->at);
                const Searcher below = b->below > 0 ? other_at(b->below) : Searcher{};
                IndexBenchRow best_own = row;
                IndexBenchRow best_at = row;
                IndexBenchRow best_below = row;
                for (int round = 0; round < std::max(1, options.rounds); ++round) {
                    IndexBenchRow r = row;
                    measure(1, truths[f], r, own);
                    keep_best(best_own, r, round == 0);
                    measure(1, other_truth, r, at);
                    keep_best(best_at, r, round == 0);
                    if (below) {
                        measure(1, other_truth, r, below);
                        keep_best(best_below, r, round == 0);
                    }
                }
                m.recall = best_own.recall_at_k_ties;
                m.cpu_qps = best_own.cpu_qps;
                m.other_recall_at = best_at.recall_at_k_ties;
                m.other_qps_at = best_at.cpu_qps;
                m.other_cpu_qps = best_at.cpu_qps;
                if (below) {
                    m.other_recall_below = best_below.recall_at_k_ties;
                    m.other_qps_below = best_below.cpu_qps;
                    const double span = m.other_recall_at - m.other_recall_below;
                    const double t =
                        span > 0 ? std::clamp((m.recall - m.other_recall_below) / span, 0.0, 1.0)
                                 : 1.0;
                    m.other_cpu_qps =
                        std::exp(std::log(m.other_qps_below) +
                                 t * (std::log(m.other_qps_at) - std::log(m.other_qps_below)));
                }
                const bool filtered = row.filter_keep < 1.0;
                m.ratio = filtered ? m.other_cpu_qps / m.cpu_qps : m.cpu_qps / m.other_cpu_qps;
                if (!below)
                    m.bound = filtered ? ">=" : "<=";
                matched->push_back(std::move(m));
            };
            Other unfiltered{"earshot unfiltered",
                             [&](std::size_t ef) -> Searcher {
                                 return [&, ef](std::size_t q) { return search_ours(q, ef, 0, 0); };
                             },
                             {}};
            Other plain_own{"hnswlib",
                            [&](std::size_t ef) -> Searcher {
                                return [&, ef](std::size_t q) {
                                    plain->set_ef(std::max(ef, options.k));
                                    return plain->search(queries.row(q), options.k);
                                };
                            },
                            {}};
            for (std::size_t i = first_row; i < rows.size(); ++i) {
                const IndexBenchRow& row = rows[i];
                if (row.engine != "earshot" || row.threads != 1)
                    continue;
                if (row.filter_keep < 1.0)
                    match(row, 1, unfiltered);  // truths[1]: the one filter
                else if (plain)
                    match(row, 0, plain_own);
            }
        }
        auto unfiltered_first = [](const IndexBenchRow& a, const IndexBenchRow& b) {
            return a.filter_keep > b.filter_keep;
        };
        std::stable_sort(rows.begin() + static_cast<std::ptrdiff_t>(first_row), rows.end(),
                         unfiltered_first);
        std::stable_sort(other_walk_rows.begin(), other_walk_rows.end(), unfiltered_first);
        std::stable_sort(copy_rows.begin(), copy_rows.end(), unfiltered_first);
        rows.insert(rows.end(), plain_rows.begin(), plain_rows.end());
        rows.insert(rows.end(), same_rows.begin(), same_rows.end());
        rows.insert(rows.end(), other_walk_rows.begin(), other_walk_rows.end());
        rows.insert(rows.end(), copy_rows.begin(), copy_rows.end());
    }
    return rows;
}

std::optional<QpsAtRecall> qps_at_recall(const std::vector<const IndexBenchRow*>& curve,
                                         double recall) {
    if (curve.empty())
        return std::nullopt;
    double best_recall = 0.0;
    for (const auto* r : curve) best_recall = std::max(best_recall, r->recall_at_k_ties);
    if (recall > best_recall)
        return std::nullopt;
    if (recall < curve.front()->recall_at_k_ties)
        return QpsAtRecall{curve.front()->cpu_qps, true};
    for (std::size_t i = 0; i + 1 < curve.size(); ++i) {
        const IndexBenchRow& a = *curve[i];
        const IndexBenchRow& b = *curve[i + 1];
        if (recall < a.recall_at_k_ties || recall > b.recall_at_k_ties)
            continue;
        if (b.recall_at_k_ties <= a.recall_at_k_ties)
            return QpsAtRecall{std::max(a.cpu_qps, b.cpu_qps), false};
        const double t = (recall - a.recall_at_k_ties) / (b.recall_at_k_ties - a.recall_at_k_ties);
        return QpsAtRecall{
            std::exp(std::log(a.cpu_qps) + t * (std::log(b.cpu_qps) - std::log(a.cpu_qps))), false};
    }
    // Recall not monotonic in efSearch: the fastest row that reaches it.
    double best = 0.0;
    for (const auto* r : curve) {
        if (r->recall_at_k_ties >= recall)
            best = std::max(best, r->cpu_qps);
    }
    return QpsAtRecall{best, false};
}

namespace {

// The rows (and their metadata lines) of one file, over all offsets.
struct FileWindows {
    std::vector<float> vectors;  // rows × dim, row-major
    std::vector<std::string> metadata;
    double audio_s = 0.0;
};

Result<FileWindows> embed_file_windows(const fs::path& file,
                                       const EmbeddingModel& model,
                                       const WindowsOptions& options) {
    const auto& info = model.info();
    const int rate = info.sample_rate_hz;
    DecodeOptions d;
    d.target_sample_rate_hz = rate;
    EARSHOT_ASSIGN_OR_RETURN(auto audio, decode_audio(file, d));
    const std::size_t begin = non_silent_range(audio.samples).begin;
    const std::size_t n = audio.samples.size() - begin;
    const double hop_s = info.segment_hop_s;
    const auto min_shifted =
        static_cast<std::size_t>(std::llround(options.min_shifted_audio_s * rate));
    std::error_code ec;
    auto key = fs::absolute(file, ec);
    if (ec)
        key = file;
    const std::string file_key = key.lexically_normal().string();
    const std::string file_name = file.filename().string();
    FileWindows out;
    out.audio_s = static_cast<double>(n) / rate;
    for (int j = 0; j < options.offsets; ++j) {
        const auto shift = static_cast<std::size_t>(
            std::llround(static_cast<double>(j) * hop_s * rate / options.offsets));
        if (j > 0 && (shift >= n || n - shift < min_shifted))
            continue;
        std::span<const float> part(audio.samples.data() + begin + shift, n - shift);
        auto emb = model.embed(part);
        if (!emb) {
            return tl::unexpected(
                emb.error().with_context(fmt::format("embed '{}' at offset {:.3f} s", file.string(),
                                                     static_cast<double>(shift) / rate)));
        }
        const double offset_s = static_cast<double>(begin + shift) / rate;
        const auto& seg = emb->segments;
        if (seg.n_cols != static_cast<std::size_t>(info.dim) || emb->start_s.size() != seg.n_rows) {
            return make_error(
                ErrorCode::kInternal,
                fmt::format("model '{}' returned {} x {} segments for '{}' (dim {})", info.name,
                            seg.n_rows, seg.n_cols, file.string(), info.dim));
        }
        out.vectors.insert(out.vectors.end(), seg.data.begin(),
                           seg.data.begin() + static_cast<std::ptrdiff_t>(seg.n_rows * seg.n_cols));
        for (std::size_t i = 0; i < seg.n_rows; ++i) {
            const double start_s = offset_s + emb->start_s[i];
            const double end_s = offset_s + emb->end_s[i];
            nlohmann::json line = {
                {"path", fmt::format("{}#{}.o{}.s{}", file_key, info.name, j, i)},
                {"name", fmt::format("{} [{:.2f}-{:.2f} s]", file_name, start_s, end_s)},
                {"duration_s", end_s - start_s},
                {"file", file_key},
                {"offset_s", static_cast<double>(shift) / rate},
                {"start_s", start_s},
                {"end_s", end_s}};
            out.metadata.push_back(line.dump());
        }
    }
    return out;
}

}  // namespace

Result<WindowsReport> make_windows_corpus(const WindowsOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    if (options.offsets < 1) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("--offsets must be >= 1, got {}", options.offsets));
    }
    if (options.out.empty())
        return make_error(ErrorCode::kInvalidArgument, "windows: no output file (--out)");
    std::error_code ec;
    if (!fs::is_directory(options.folder, ec)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' is not a folder", options.folder.string()));
    }
    EARSHOT_ASSIGN_OR_RETURN(auto collected, collect_audio_files({options.folder}));
    auto& files = collected.files;
    if (files.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("no audio files under '{}'", options.folder.string()));
    }
    ModelOptions mo;
    mo.models_dir = options.models_dir;
    mo.threads = 1;  // one file per worker thread, as `earshot index` does
    const std::string name = options.model.empty() ? default_model() : options.model;
    EARSHOT_ASSIGN_OR_RETURN(auto model, make_model(name, mo));
    const auto& info = model->info();
    if (options.offsets > 1 && !(info.segment_hop_s > 0)) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("model '{}' has no segment hop, so --offsets must be 1", name));
    }

    WindowsReport report;
    report.model = info.name;
    report.dim = info.dim;
    report.segment_hop_s = info.segment_hop_s;
    report.offsets = options.offsets;
    report.npy_path = options.out;
    report.metadata_path = fs::path(options.out).replace_extension(".jsonl");
    const fs::path npy_part = report.npy_path.string() + ".part";
    const fs::path meta_part = report.metadata_path.string() + ".part";
    std::ofstream npy(npy_part, std::ios::binary | std::ios::trunc);
    std::ofstream meta(meta_part, std::ios::trunc);
    if (!npy || !meta) {
        return make_error(
            ErrorCode::kIoError,
            fmt::format("cannot write '{}'", npy ? meta_part.string() : npy_part.string()));
    }
    const auto dim = static_cast<std::size_t>(info.dim);
    npy << npy_f32_header(0, dim);

    WindowsProgress progress;
    progress.total = files.size();
    if (options.on_progress)
        options.on_progress(progress);

    // Workers embed files; this thread writes them in file order (a reorder buffer of slots).
    const int n_workers =
        std::max(1, std::min<int>(options.threads > 0 ? options.threads : hardware_threads(),
                                  static_cast<int>(files.size())));
    set_inference_threads(1);
    std::vector<std::optional<Result<FileWindows>>> slots(files.size());
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int w = 0; w < n_workers; ++w) {
        workers.emplace_back([&] {
            for (;;) {
                if (stop.load())
                    return;
                const std::size_t i = next.fetch_add(1);
                if (i >= files.size())
                    return;
                auto r = embed_file_windows(files[i], *model, options);
                {
                    std::lock_guard lock(mu);
                    slots[i] = std::move(r);
                }
                cv.notify_one();
            }
        });
    }
    Status write_status = ok_status();
    for (std::size_t i = 0; i < files.size(); ++i) {
        std::optional<Result<FileWindows>> r;
        {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return slots[i].has_value(); });
            r = std::move(slots[i]);
            slots[i].reset();
        }
        progress.done++;
        progress.current = files[i].string();
        if (!*r) {
            progress.failed++;
            report.failures.push_back({files[i].string(), (*r).error().message()});
            log_warning("skipped '{}': {}", files[i].string(), (*r).error().message());
        } else {
            const auto& fw = **r;
            npy.write(reinterpret_cast<const char*>(fw.vectors.data()),
                      static_cast<std::streamsize>(fw.vectors.size() * sizeof(float)));
            for (const auto& line : fw.metadata) meta << line << '\n';
            if (!npy || !meta) {
                write_status = make_error(ErrorCode::kIoError,
                                          fmt::format("writing '{}' failed", npy_part.string()));
                stop = true;
                break;
            }
            report.files++;
            report.rows += fw.metadata.size();
            report.audio_s += fw.audio_s;
            progress.rows = report.rows;
        }
        if (options.on_progress)
            options.on_progress(progress);
    }
    for (auto& w : workers) w.join();
    set_inference_threads(options.threads);

    auto discard = [&] {
        npy.close();
        meta.close();
        std::error_code ignored;
        fs::remove(npy_part, ignored);
        fs::remove(meta_part, ignored);
    };
    if (!write_status) {
        discard();
        return tl::unexpected(write_status.error());
    }
    if (report.rows == 0) {
        discard();
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("none of the {} audio file(s) under '{}' could be embedded",
                                      files.size(), options.folder.string()));
    }
    npy.seekp(0);
    npy << npy_f32_header(report.rows, dim);
    npy.close();
    meta.close();
    if (!npy || !meta) {
        discard();
        return make_error(ErrorCode::kIoError,
                          fmt::format("writing '{}' failed", npy_part.string()));
    }
    fs::rename(npy_part, report.npy_path, ec);
    if (!ec)
        fs::rename(meta_part, report.metadata_path, ec);
    if (ec) {
        discard();
        return make_error(ErrorCode::kIoError, fmt::format("cannot rename to '{}': {}",
                                                           report.npy_path.string(), ec.message()));
    }
    report.elapsed_s = seconds_since(t0);
    return report;
}

}  // namespace earshot
