#include "engine/evaluation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "core/file_util.h"
#include "core/thread_pool.h"
#include "index/flat_index.h"

namespace earshot {
namespace fs = std::filesystem;

Result<EvalReport> evaluate_manifest(Engine& engine, const EvalOptions& options) {
    EARSHOT_ASSIGN_OR_RETURN(auto csv, read_csv(options.manifest));
    int path_col = csv.column("path");
    int label_col = csv.column(options.label_column);
    int excl_col = options.exclude_column.empty() ? -1 : csv.column(options.exclude_column);
    if (path_col < 0 || label_col < 0 || (!options.exclude_column.empty() && excl_col < 0)) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("'{}' needs the columns path, {}{} (it has: {})", options.manifest.string(),
                        options.label_column,
                        options.exclude_column.empty() ? "" : ", " + options.exclude_column,
                        fmt::join(csv.header, ", ")));
    }
    fs::path base = options.manifest.parent_path();
    struct Row {
        std::string key;
        std::string label;
        std::string group;
    };
    std::vector<Row> rows;
    IndexOptions io;
    io.model = options.model;
    io.on_progress = options.on_progress;
    for (const auto& r : csv.rows) {
        auto need = static_cast<std::size_t>(std::max({path_col, label_col, excl_col}));
        if (r.size() <= need)
            continue;
        fs::path p = base / r[path_col];
        std::error_code ec;
        auto abs = fs::absolute(p, ec).lexically_normal();
        rows.push_back({abs.string(), r[label_col], excl_col >= 0 ? r[excl_col] : ""});
        io.paths.push_back(abs);
    }
    if (rows.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' has no usable rows", options.manifest.string()));
    }
    // Missing files are reported by index() as failures; evaluation uses what is there.
    std::vector<fs::path> existing;
    for (const auto& p : io.paths) {
        std::error_code ec;
        if (fs::exists(p, ec))
            existing.push_back(p);
    }
    io.paths = existing;
    EARSHOT_ASSIGN_OR_RETURN(auto report, engine.index(io));
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* model, engine.model(options.model));
    const std::string space = model->info().name;

    EvalReport out;
    out.model = space;
    // Gather vectors of manifest items.
    std::vector<std::int64_t> ids;
    std::vector<std::size_t> row_of;  // index into rows
    Matrix vectors;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        auto item = engine.catalog().find_by_path(rows[i].key);
        if (!item || !item->has_value()) {
            out.missing++;
            continue;
        }
        auto vec = engine.catalog().get_embedding((*item)->id, space);
        if (!vec) {
            out.missing++;
            continue;
        }
        if (vectors.n_cols == 0)
            vectors.n_cols = vec->size();
        vectors.data.insert(vectors.data.end(), vec->begin(), vec->end());
        vectors.n_rows++;
        ids.push_back(static_cast<std::int64_t>(ids.size()));
        row_of.push_back(i);
    }
    out.items = ids.size();
    if (ids.size() < 2) {
        return make_error(ErrorCode::kInvalidArgument,
                          "fewer than 2 manifest items could be embedded");
    }
    const std::size_t n = ids.size();
    for (Metric metric : options.metrics) {
        FlatIndex index(static_cast<int>(vectors.n_cols), metric);
        EARSHOT_RETURN_IF_ERROR(index.add(ids, vectors));
        std::vector<double> p1(n, -1), p5(n, -1), p10(n, -1), ap(n, -1), nn(n, -1);
        Status status = ok_status();
        std::mutex status_mu;
        parallel_for(n, 0, 8, [&](std::size_t b, std::size_t e) {
            for (std::size_t q = b; q < e; ++q) {
                const Row& qr = rows[row_of[q]];
                SearchOptions so;
                so.k = n;
                so.threads = 1;
                so.filter = [&](std::int64_t id) {
                    if (static_cast<std::size_t>(id) == q)
                        return false;
                    return excl_col < 0 ||
                           rows[row_of[static_cast<std::size_t>(id)]].group != qr.group;
                };
                auto hits = index.search(vectors.row_span(q), so);
                if (!hits) {
                    std::lock_guard lock(status_mu);
                    status = tl::unexpected(hits.error());
                    return;
                }
                std::size_t relevant_total = 0;
                for (const auto& h : *hits) {
                    if (rows[row_of[static_cast<std::size_t>(h.id)]].label == qr.label)
                        relevant_total++;
                }
                if (relevant_total == 0)
                    continue;
                std::size_t rel = 0;
                double sum_prec = 0;
                for (std::size_t r = 0; r < hits->size(); ++r) {
                    bool is_rel =
                        rows[row_of[static_cast<std::size_t>((*hits)[r].id)]].label == qr.label;
                    if (is_rel) {
                        rel++;
                        sum_prec += static_cast<double>(rel) / static_cast<double>(r + 1);
                    }
                    if (r == 0)
                        p1[q] = static_cast<double>(rel);
                    if (r == 4)
                        p5[q] = static_cast<double>(rel) / 5.0;
                    if (r == 9)
                        p10[q] = static_cast<double>(rel) / 10.0;
                }
                nn[q] = p1[q];
                ap[q] = sum_prec / static_cast<double>(relevant_total);
            }
        });
        EARSHOT_RETURN_IF_ERROR(status);
        EvalMetrics m;
        m.metric = metric;
        auto mean = [](const std::vector<double>& v) {
            double s = 0;
            std::size_t c = 0;
            for (double x : v) {
                if (x >= 0) {
                    s += x;
                    c++;
                }
            }
            return c ? s / static_cast<double>(c) : 0.0;
        };
        m.p_at_1 = mean(p1);
        m.p_at_5 = mean(p5);
        m.p_at_10 = mean(p10);
        m.map = mean(ap);
        m.nn_accuracy = mean(nn);
        m.queries = static_cast<std::size_t>(
            std::count_if(ap.begin(), ap.end(), [](double x) { return x >= 0; }));
        out.results.push_back(m);
    }
    (void)report;
    return out;
}

Result<AnnEvalReport> evaluate_ann(Engine& engine, const AnnEvalOptions& options) {
    if (options.k == 0 || options.queries == 0)
        return make_error(ErrorCode::kInvalidArgument, "eval --ann: -k and --queries must be > 0");
    const std::string space = options.space.empty() ? default_model() : options.space;
    SearchRequest ann;
    ann.model = space;
    ann.metric = options.metric;
    ann.index = options.index;
    ann.ef_search = options.ef_search;
    ann.nprobe = options.nprobe;
    SearchRequest exact = ann;
    exact.index = "flat";
    ReindexOptions ro;
    ro.space = space;
    ro.metric = options.metric;
    ro.index = options.index;
    EARSHOT_ASSIGN_OR_RETURN(auto built, engine.reindex(ro));
    ro.index = "flat";
    EARSHOT_RETURN_IF_ERROR(engine.reindex(ro));

    EARSHOT_ASSIGN_OR_RETURN(auto set, engine.catalog().load_embeddings_since(space, -1, false));
    std::vector<std::int64_t> ids = set.ids;
    std::mt19937 rng(options.seed);
    const std::size_t n_queries = std::min(options.queries, ids.size());
    for (std::size_t i = 0; i < n_queries; ++i) {
        std::uniform_int_distribution<std::size_t> pick(i, ids.size() - 1);
        std::swap(ids[i], ids[pick(rng)]);
    }
    AnnEvalReport rep;
    rep.space = space;
    rep.index = built.index;
    rep.metric = options.metric;
    rep.k = options.k;
    rep.items = set.ids.size();
    std::vector<double> ann_ms;
    std::vector<double> exact_ms;
    double recall_sum = 0.0;
    std::size_t counted = 0;
    for (std::size_t i = 0; i < n_queries; ++i) {
        const std::int64_t qid = ids[i];
        EARSHOT_ASSIGN_OR_RETURN(auto vec, engine.catalog().get_embedding(qid, space));
        SearchOptions so;
        so.k = options.k;
        so.filter = [qid](std::int64_t id) { return id != qid; };
        auto t0 = std::chrono::steady_clock::now();
        EARSHOT_ASSIGN_OR_RETURN(auto truth, engine.nearest(vec, exact, so));
        auto t1 = std::chrono::steady_clock::now();
        EARSHOT_ASSIGN_OR_RETURN(auto got, engine.nearest(vec, ann, so));
        auto t2 = std::chrono::steady_clock::now();
        exact_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        ann_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
        if (truth.empty())
            continue;
        std::unordered_set<std::int64_t> want;
        for (const auto& h : truth) want.insert(h.id);
        std::size_t found = 0;
        for (const auto& h : got) found += want.count(h.id);
        recall_sum += static_cast<double>(found) / static_cast<double>(truth.size());
        ++counted;
    }
    auto percentile = [](std::vector<double> v, double p) {
        if (v.empty())
            return 0.0;
        std::sort(v.begin(), v.end());
        const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
        return v[std::min(i, v.size() - 1)];
    };
    rep.queries = n_queries;
    rep.recall_at_k = counted == 0 ? 0.0 : recall_sum / static_cast<double>(counted);
    rep.p50_ms = percentile(ann_ms, 0.5);
    rep.p99_ms = percentile(ann_ms, 0.99);
    rep.exact_p50_ms = percentile(exact_ms, 0.5);
    return rep;
}

}  // namespace earshot
