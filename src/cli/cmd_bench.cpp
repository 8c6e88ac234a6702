#include "cli/cmd_bench.h"

#include <algorithm>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "benchmark/benchmark.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "core/file_util.h"

namespace earshot::cli {
namespace {

struct BenchCliOptions {
    CommonOptions common;
    std::string what = "all";
    std::string dataset;
    std::size_t files = 200;
    std::vector<std::string> models;
    std::size_t n = 100000;
    int dim = 1024;
    std::size_t queries = 50;
    std::string format = "md";
    // bench index
    std::vector<std::string> specs = {"flat", "HNSW32"};
    std::vector<std::size_t> ef_search = {32, 64, 96, 192};
    std::vector<std::size_t> nprobe = {0};
    std::vector<std::size_t> rerank = {0};
    std::string metric = "cosine";
    std::string space;
    std::string db;
    bool compare_hnswlib = false;
    double filter_keep = 0.0;
    std::string filter_folder;
    bool compare_steering = false;
    bool matched_recall = false;
    bool compare_layout = false;
    bool compare_self_search = false;
    bool compare_walk_budget = false;
    bool compare_share_check = false;
    bool compare_filter_block = false;
    bool compare_in_degree = false;
    bool compare_insertion = false;
    int build_threads = 0;
    int rounds = 3;
    // bench windows
    std::string folder;
    int offsets = 1;
    double min_shifted_s = 1.0;
    std::string out;
    bool quiet = false;
};

int run_bench_windows(const BenchCliOptions& o) {
    WindowsOptions wo;
    wo.folder = o.folder.empty() ? o.dataset : o.folder;
    if (wo.folder.empty()) {
        return report_error(
            "bench", Error(ErrorCode::kInvalidArgument, "bench windows needs a FOLDER of audio"));
    }
    if (o.models.size() > 1) {
        return report_error("bench",
                            Error(ErrorCode::kInvalidArgument, "bench windows takes one --model"));
    }
    wo.model = o.models.empty() ? default_model() : o.models[0];
    wo.models_dir = o.common.models_dir;
    wo.threads = o.common.threads;
    wo.offsets = o.offsets;
    wo.min_shifted_audio_s = o.min_shifted_s;
    wo.out = o.out.empty() ? fmt::format("windows-{}.npy", wo.model) : o.out;
    ProgressBar bar(!o.quiet && o.format != "json");
    wo.on_progress = [&](const WindowsProgress& p) {
        bar.update(p.done, p.total,
                   fmt::format("{} rows  {}", p.rows,
                               std::filesystem::path(p.current).filename().string()));
    };
    auto report = make_windows_corpus(wo);
    bar.finish();
    if (!report)
        return report_error("bench", report.error());
    const auto& r = *report;
    if (o.format == "json") {
        nlohmann::json fails = failures_json(r.failures);
        print_json({{"windows",
                     {{"folder", wo.folder.string()},
                      {"model", r.model},
                      {"dim", r.dim},
                      {"segment_hop_s", r.segment_hop_s},
                      {"offsets", r.offsets},
                      {"files", r.files},
                      {"failed", r.failures.size()},
                      {"rows", r.rows},
                      {"audio_s", r.audio_s},
                      {"elapsed_s", r.elapsed_s},
                      {"npy", r.npy_path.string()},
                      {"metadata", r.metadata_path.string()},
                      {"failures", fails}}}});
        return 0;
    }
    for (const auto& f : r.failures) fmt::print(stderr, "skipped {}: {}\n", f.path, f.reason);
    fmt::print(
        "wrote {} x {} matrix ({} file(s), {} of audio, {} offset(s) of the {:.2f} s hop, model "
        "{}) to {} and row metadata to {} in {:.1f} s\n",
        r.rows, r.dim, r.files, format_duration(r.audio_s), r.offsets, r.segment_hop_s, r.model,
        r.npy_path.string(), r.metadata_path.string(), r.elapsed_s);
    fmt::print("import with: earshot import {} --space {}-windows --db BENCH.earshot\n",
               r.npy_path.string(), r.model);
    return 0;
}

// "10 %" for a filtered row, "-" for an unfiltered one.
std::string filter_label(double keep) {
    if (keep >= 1.0)
        return "-";
    const double percent = 100 * keep;  // --filter-folder keeps any fraction: 12.4 %
    return std::abs(percent - std::round(percent)) < 0.05 ? fmt::format("{:.0f} %", percent)
                                                          : fmt::format("{:.1f} %", percent);
}

// Prints a table's header (its column line and separator) before the table's first row.
void header_once(bool& printed, std::string_view header) {
    if (!printed)
        fmt::print("{}", header);
    printed = true;
}

// Ratios at equal recall@10 (ties), the measure (docs/performance.md): each row of one
// curve against the other curve interpolated at that row's recall. Ours against plain hnswlib's
// own build, both ways (unfiltered), and ours filtered (steered and, with --compare-steering,
// unsteered) against ours unfiltered, as a time ratio.
void print_equal_recall_ratios(const std::vector<IndexBenchRow>& rows) {
    auto curve = [&](const IndexBenchRow& like, const std::string& engine, double keep) {
        std::vector<const IndexBenchRow*> c;
        for (const auto& r : rows) {
            if (r.engine == engine && r.spec == like.spec && r.threads == like.threads &&
                r.filter_keep == keep && r.ef_search > 0)
                c.push_back(&r);
        }
        std::sort(c.begin(), c.end(), [](const IndexBenchRow* a, const IndexBenchRow* b) {
            return a->ef_search < b->ef_search;
        });
        return c;
    };
    bool header = false;
    for (const auto& ref : rows) {
        // What `ref` is compared with, and how the ratio reads.
        std::string other;
        std::string what;
        bool ratio_is_ours_over_ref = false;  // else ref / other (ours over hnswlib, time)
        if (ref.engine == "hnswlib" && ref.filter_keep == 1.0) {
            other = "earshot";
            what = "hnswlib's row, ours interpolated: CPU QPS ours / hnswlib";
            ratio_is_ours_over_ref = true;
        } else if (ref.engine == "earshot" && ref.filter_keep == 1.0) {
            other = "hnswlib";
            what = "our row, hnswlib interpolated: CPU QPS ours / hnswlib";
        } else if ((ref.engine == "earshot" || ref.engine == "earshot-unsteered" ||
                    ref.engine == "earshot-no-walk-budget" ||
                    ref.engine == "earshot-no-share-check" ||
                    ref.engine == "earshot-per-id-filter") &&
                   ref.filter_keep < 1.0) {
            other = "earshot";
            what = fmt::format(
                "ours {}filtered {}, ours unfiltered interpolated: time "
                "filtered / unfiltered",
                ref.engine == "earshot"                  ? ""
                : ref.engine == "earshot-unsteered"      ? "unsteered "
                : ref.engine == "earshot-no-share-check" ? "unchecked "
                : ref.engine == "earshot-per-id-filter"  ? "per-id "
                                                         : "unbudgeted ",
                filter_label(ref.filter_keep));
            ratio_is_ours_over_ref = true;
        } else {
            continue;
        }
        const auto c = curve(ref, other, 1.0);
        if (c.size() < 2)
            continue;
        header_once(
            header,
            "\n| index | threads | compared | efSearch | recall@10 (ties) | CPU QPS | other at "
            "that recall: CPU QPS | ratio |\n"
            "|---|---|---|---|---|---|---|---|\n");
        const std::optional<QpsAtRecall> q = qps_at_recall(c, ref.recall_at_k_ties);
        std::string ratio = "other does not reach it";
        if (q) {
            // The other curve's QPS is a lower bound when it is below its range: ratios with it
            // in the numerator are lower bounds, in the denominator upper bounds.
            const double r = ratio_is_ours_over_ref ? q->qps / ref.cpu_qps : ref.cpu_qps / q->qps;
            const char* bound = !q->lower_bound ? "" : ratio_is_ours_over_ref ? ">= " : "<= ";
            ratio = fmt::format("{}{:.2f}", bound, r);
        }
        fmt::print("| {} | {} | {} | {} | {:.4f} | {:.0f} | {} | {} |\n", ref.spec, ref.threads,
                   what, ref.ef_search, ref.recall_at_k_ties, ref.cpu_qps,
                   q ? fmt::format("{:.0f}", q->qps) : "-", ratio);
    }
}

// --matched-recall: each of our rows against the other curve timed beside it at the two adjacent
// efSearch values around its recall (found by bisection), so that no ratio compares rows timed
// minutes apart.
void print_matched_recall_ratios(const std::vector<MatchedRecallRow>& matched) {
    bool header = false;
    for (const auto& m : matched) {
        header_once(header,
                    "\n| index | filter | efSearch | recall@10 (ties) | CPU QPS | compared with | "
                    "its efSearch below / at | its recall below / at | its CPU QPS below / at | "
                    "its CPU QPS at our recall | ratio |\n"
                    "|---|---|---|---|---|---|---|---|---|---|---|\n");
        const std::string what =
            m.filter_keep < 1.0 ? "time filtered / unfiltered" : "CPU QPS ours / hnswlib";
        if (!m.other_reaches) {
            fmt::print(
                "| {} | {} | {} | {:.4f} | {:.0f} | {} | - | - | - | - | {} below our "
                "recall up to efSearch {} |\n",
                m.spec, filter_label(m.filter_keep), m.ef_search, m.recall, m.cpu_qps, m.other,
                m.other, kMaxMatchedEf);
            continue;
        }
        const std::string below = m.other_ef_below == 0 ? "-" : std::to_string(m.other_ef_below);
        fmt::print(
            "| {} | {} | {} | {:.4f} | {:.0f} | {} | {} / {} | {} / {:.4f} | {} / {:.0f} | {:.0f} "
            "| {}: {}{:.2f} |\n",
            m.spec, filter_label(m.filter_keep), m.ef_search, m.recall, m.cpu_qps, m.other, below,
            m.other_ef_at,
            m.other_ef_below == 0 ? "-" : fmt::format("{:.4f}", m.other_recall_below),
            m.other_recall_at,
            m.other_ef_below == 0 ? "-" : fmt::format("{:.0f}", m.other_qps_below), m.other_qps_at,
            m.other_cpu_qps, what, m.bound.empty() ? "" : m.bound + " ", m.ratio);
    }
}

int run_bench_index(const BenchCliOptions& o) {
    IndexBenchOptions io;
    io.n = o.n;
    io.dim = o.dim;
    io.queries = o.queries;
    io.specs = o.specs;
    io.ef_search = o.ef_search;
    io.nprobe = o.nprobe;
    io.rerank = o.rerank;
    io.db = o.db;
    io.space = o.space;
    io.compare_hnswlib = o.compare_hnswlib;
    io.filter_keep = o.filter_keep;
    io.filter_folder = o.filter_folder;
    io.compare_steering = o.compare_steering;
    io.compare_walk_budget = o.compare_walk_budget;
    io.compare_share_check = o.compare_share_check;
    io.compare_filter_block = o.compare_filter_block;
    io.matched_recall = o.matched_recall;
    io.compare_layout = o.compare_layout;
    io.compare_self_search = o.compare_self_search;
    io.compare_in_degree = o.compare_in_degree;
    io.compare_insertion = o.compare_insertion;
    io.build_threads = o.build_threads;
    io.rounds = o.rounds;
    if (o.common.threads > 0)
        io.query_threads = {o.common.threads};
    auto m = parse_metric(o.metric);
    if (!m)
        return report_error("bench", m.error());
    io.metric = *m;
    std::vector<MatchedRecallRow> matched;
    auto rows = bench_index(io, &matched);
    if (!rows)
        return report_error("bench", rows.error());
    if (o.format == "json") {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& r : *rows) {
            arr.push_back({{"index", r.spec},
                           {"engine", r.engine},
                           {"filter_keep", r.filter_keep},
                           {"data", r.data},
                           {"n", r.n},
                           {"dim", r.dim},
                           {"metric", std::string(metric_name(r.metric))},
                           {"build_s", r.build_s},
                           {"build_phases_s",
                            {{"insertions", r.build_phases.insert_s},
                             {"in_degree_repair", r.build_phases.in_degree_s},
                             {"reachability_repair", r.build_phases.reachability_s},
                             {"self_search_repair", r.build_phases.self_search_s},
                             {"renumbering", r.build_phases.renumber_s}}},
                           {"bytes_per_item", r.bytes_per_item},
                           {"ef_search", r.ef_search},
                           {"nprobe", r.nprobe},
                           {"threads", r.threads},
                           {"p50_ms", r.p50_ms},
                           {"p99_ms", r.p99_ms},
                           {"qps", r.qps},
                           {"cpu_qps", r.cpu_qps},
                           {"build_cpu_s", r.build_cpu_s},
                           {"recall_at_10", r.recall_at_k},
                           {"recall_at_10_ties", r.recall_at_k_ties},
                           {"distances_per_query", r.distances_per_query},
                           {"expansions_per_query", r.expansions_per_query},
                           {"walks_given_up", r.walks_given_up},
                           {"walk_ef", r.walk_ef},
                           {"unreachable", r.unreachable}});
        }
        nlohmann::json marr = nlohmann::json::array();
        for (const auto& mr : matched) {
            marr.push_back({{"index", mr.spec},
                            {"other", mr.other},
                            {"filter_keep", mr.filter_keep},
                            {"ef_search", mr.ef_search},
                            {"recall_at_10_ties", mr.recall},
                            {"cpu_qps", mr.cpu_qps},
                            {"other_reaches", mr.other_reaches},
                            {"other_ef_below", mr.other_ef_below},
                            {"other_ef_at", mr.other_ef_at},
                            {"other_recall_below", mr.other_recall_below},
                            {"other_recall_at", mr.other_recall_at},
                            {"other_cpu_qps_below", mr.other_qps_below},
                            {"other_cpu_qps_at", mr.other_qps_at},
                            {"other_cpu_qps", mr.other_cpu_qps},
                            {"ratio", mr.ratio},
                            {"bound", mr.bound}});
        }
        print_json({{"index", arr}, {"matched_recall", marr}});
        return 0;
    }
    fmt::print(
        "| index | engine | data | n | dim | metric | build (s) | bytes/item | filter | efSearch "
        "| nprobe | threads | p50 (ms) | p99 (ms) | QPS | CPU QPS | recall@10 | recall@10 (ties) "
        "|\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& r : *rows) {
        fmt::print(
            "| {} | {} | {} | {} | {} | {} | {:.1f} | {:.0f} | {} | {} | {} | {} | {:.3f} | "
            "{:.3f} | {:.0f} | {:.0f} | {:.4f} | {:.4f} |\n",
            r.spec, r.engine, r.data, r.n, r.dim, metric_name(r.metric), r.build_s,
            r.bytes_per_item, filter_label(r.filter_keep),
            r.ef_search == 0 ? "-" : std::to_string(r.ef_search),
            r.nprobe == 0 ? "-" : std::to_string(r.nprobe), r.threads, r.p50_ms, r.p99_ms, r.qps,
            r.cpu_qps, r.recall_at_k, r.recall_at_k_ties);
    }
    // The graph walk's work per query (our HNSW rows): what a filtered walk costs is mostly how
    // many nodes it must expand to collect efSearch passing ones.
    bool walk_header = false;
    for (const auto& r : *rows) {
        if (r.distances_per_query <= 0 || r.engine.rfind("earshot", 0) != 0)
            continue;
        header_once(walk_header,
                    "\n| index | engine | filter | efSearch | walk efSearch | expansions/query | "
                    "distances/query | walks given up | recall@10 (ties) | CPU QPS |\n"
                    "|---|---|---|---|---|---|---|---|---|---|\n");
        fmt::print("| {} | {} | {} | {} | {} | {:.1f} | {:.0f} | {:.1f} % | {:.4f} | {:.0f} |\n",
                   r.spec, r.engine, filter_label(r.filter_keep), r.ef_search, r.walk_ef,
                   r.expansions_per_query, r.distances_per_query, 100 * r.walks_given_up,
                   r.recall_at_k_ties, r.cpu_qps);
    }
    // The row of `engine` with r's spec, efSearch and threads (plain hnswlib's rows are
    // unfiltered: any filter matches them unless same_filter).
    auto find = [&](const IndexBenchRow& r, const char* engine,
                    bool same_filter = false) -> const IndexBenchRow* {
        for (const auto& h : *rows) {
            if (h.engine == engine && h.spec == r.spec && h.ef_search == r.ef_search &&
                h.threads == r.threads && (!same_filter || h.filter_keep == r.filter_keep))
                return &h;
        }
        return nullptr;
    };
    // --compare-layout / --compare-self-search / --compare-in-degree: our graph against the copy
    // kept before one build step (the renumbering, a repair), both recalls (the repair is for
    // recall; a renumbering keeps it up to ties) and CPU QPS.
    auto copy_table = [&](const char* copy_engine, const char* ours_label, const char* copy_label) {
        bool copy_header = false;
        for (const auto& r : *rows) {
            const IndexBenchRow* u = r.engine == "earshot" ? find(r, copy_engine, true) : nullptr;
            if (u == nullptr)
                continue;
            header_once(
                copy_header,
                fmt::format("\n| index | filter | efSearch | threads | recall@10 (ties) {0} "
                            "| {1} | CPU QPS {0} | {1} | ratio |\n"
                            "|---|---|---|---|---|---|---|---|---|\n",
                            ours_label, copy_label));
            fmt::print("| {} | {} | {} | {} | {:.4f} | {:.4f} | {:.0f} | {:.0f} | {:.2f} |\n",
                       r.spec, filter_label(r.filter_keep), r.ef_search, r.threads,
                       r.recall_at_k_ties, u->recall_at_k_ties, r.cpu_qps, u->cpu_qps,
                       r.cpu_qps / u->cpu_qps);
        }
    };
    copy_table("earshot-insertion-order", "breadth-first", "insertion order");
    copy_table("earshot-no-self-search", "repaired", "without");
    copy_table("earshot-no-in-degree-repair", "repaired", "without");
    copy_table("earshot-hnswlib-insertion", "our insertion", "hnswlib's");
    // Ours / plain hnswlib, side by side from this run: on the same graph (walk against walk) and
    // on the graph hnswlib built itself (graph quality and walk).
    bool header = false;
    for (const auto& r : *rows) {
        const IndexBenchRow* h = r.engine == "earshot" ? find(r, "hnswlib") : nullptr;
        const IndexBenchRow* s = r.engine == "earshot" ? find(r, "hnswlib-same-graph") : nullptr;
        if (h == nullptr || s == nullptr)
            continue;
        header_once(
            header,
            "\n| index | efSearch | threads | filter | same graph: CPU QPS ours / hnswlib | "
            "recall@10 ours | hnswlib | distances/query ours | hnswlib | own builds: CPU QPS "
            "ours / hnswlib | (wall) | recall@10 hnswlib | distances/query hnswlib | build "
            "ours / hnswlib (wall) | (CPU) | unreachable ours | hnswlib |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        fmt::print(
            "| {} | {} | {} | {} | {:.3f} | {:.4f} | {:.4f} | {:.0f} | {:.0f} | {:.3f} | {:.2f} | "
            "{:.4f} | {:.0f} | {:.2f} | {:.2f} | {} | {} |\n",
            r.spec, r.ef_search, r.threads, filter_label(r.filter_keep), r.cpu_qps / s->cpu_qps,
            r.recall_at_k, s->recall_at_k, r.distances_per_query, s->distances_per_query,
            r.cpu_qps / h->cpu_qps, r.qps / h->qps, h->recall_at_k, h->distances_per_query,
            r.build_s / h->build_s, r.build_cpu_s / h->build_cpu_s, s->unreachable, h->unreachable);
    }
    // Where each of our HNSW builds spent its time (one row per build), beside plain hnswlib's
    // build from this run (insertions only) when there is one.
    bool phase_header = false;
    std::vector<std::string> shown;
    for (const auto& r : *rows) {
        const auto& p = r.build_phases;
        const std::string key = r.spec + "/" + r.engine;
        if (p.insert_s <= 0 || std::find(shown.begin(), shown.end(), key) != shown.end())
            continue;
        shown.push_back(key);
        const IndexBenchRow* h = find(r, "hnswlib");
        header_once(phase_header,
                    "\n| index | engine | build (s) | insertions | in-degree repair | "
                    "reachability repair | self-search repair | renumbering | hnswlib build (s) | "
                    "insertions / hnswlib |\n"
                    "|---|---|---|---|---|---|---|---|---|---|\n");
        fmt::print("| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {} | {} |\n",
                   r.spec, r.engine, r.build_s, p.insert_s, p.in_degree_s, p.reachability_s,
                   p.self_search_s, p.renumber_s,
                   h ? fmt::format("{:.2f}", h->build_s) : std::string("-"),
                   h ? fmt::format("{:.2f}", p.insert_s / h->build_s) : std::string("-"));
    }
    print_equal_recall_ratios(*rows);
    print_matched_recall_ratios(matched);
    return 0;
}

int run_bench(const BenchCliOptions& o) {
    if (o.what == "index")
        return run_bench_index(o);
    if (o.what == "windows")
        return run_bench_windows(o);
    if (o.what != "all" && o.what != "ingest" && o.what != "search") {
        return report_error("bench", Error(ErrorCode::kInvalidArgument,
                                           fmt::format("unknown benchmark '{}' (known: all, "
                                                       "ingest, search, index, windows)",
                                                       o.what)));
    }
    nlohmann::json out = nlohmann::json::object();
    if (o.what != "search") {
        IngestBenchOptions io;
        io.folder = o.dataset.empty() ? (shared_dir() / "datasets" / "gm_fluidr3")
                                      : std::filesystem::path(o.dataset);
        io.max_files = o.files;
        io.models = o.models;
        io.models_dir = o.common.models_dir;
        io.threads = o.common.threads;
        auto rows = bench_ingest(io);
        if (!rows)
            return report_error("bench", rows.error());
        if (o.format == "json") {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& r : *rows) {
                arr.push_back({{"model", r.model},
                               {"files", r.files},
                               {"audio_s", r.audio_s},
                               {"threads", r.threads},
                               {"decode_s", r.decode_s},
                               {"embed_s", r.embed_s},
                               {"decode_x_realtime", r.decode_x_realtime()},
                               {"embed_x_realtime", r.embed_x_realtime()},
                               {"total_x_realtime", r.total_x_realtime()}});
            }
            out["ingest"] = {{"folder", io.folder.string()}, {"rows", arr}};
        } else {
            fmt::print("### ingest: {} ({} files)\n\n", io.folder.string(), (*rows)[0].files);
            fmt::print(
                "| model | threads | audio (s) | decode+resample x realtime | front end+model "
                "x realtime | total x realtime |\n|---|---|---|---|---|---|\n");
            for (const auto& r : *rows) {
                fmt::print("| {} | {} | {:.0f} | {:.0f} | {:.0f} | {:.0f} |\n", r.model, r.threads,
                           r.audio_s, r.decode_x_realtime(), r.embed_x_realtime(),
                           r.total_x_realtime());
            }
            fmt::print("\n");
        }
    }
    if (o.what != "ingest") {
        SearchBenchOptions so;
        so.n = o.n;
        so.dim = o.dim;
        so.queries = o.queries;
        so.threads = o.common.threads;
        auto rows = bench_search(so);
        if (!rows)
            return report_error("bench", rows.error());
        if (o.format == "json") {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& r : *rows) {
                arr.push_back({{"metric", std::string(metric_name(r.metric))},
                               {"n", r.n},
                               {"dim", r.dim},
                               {"threads", r.threads},
                               {"build_s", r.build_s},
                               {"p50_ms", r.p50_ms},
                               {"p99_ms", r.p99_ms},
                               {"qps", r.qps}});
            }
            out["search"] = arr;
        } else {
            fmt::print("### exact search (flat), synthetic clustered data\n\n");
            fmt::print(
                "| metric | n | dim | threads | build (s) | p50 (ms) | p99 (ms) | QPS |\n"
                "|---|---|---|---|---|---|---|---|\n");
            for (const auto& r : *rows) {
                fmt::print("| {} | {} | {} | {} | {:.2f} | {:.1f} | {:.1f} | {:.1f} |\n",
                           metric_name(r.metric), r.n, r.dim, r.threads, r.build_s, r.p50_ms,
                           r.p99_ms, r.qps);
            }
        }
    }
    if (o.format == "json")
        print_json(out);
    return 0;
}

}  // namespace

void setup_bench(CLI::App& app) {
    auto opts = std::make_shared<BenchCliOptions>();
    auto* cmd = app.add_subcommand("bench", "Measure ingest speed (x realtime) and search latency");
    cmd->add_option("what", opts->what,
                    "all, ingest, search (exact, per metric), index (ANN specs: build, "
                    "memory, latency, QPS, recall@10) or windows (write a corpus of real "
                    "per-segment embeddings as .npy for `import`)")
        ->capture_default_str();
    cmd->add_option("folder", opts->folder, "bench windows: folder of audio (walked recursively)");
    cmd->add_option("--offsets", opts->offsets,
                    "bench windows: embed each file this many times, shifted by j * hop / N")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    cmd->add_option("--min-shifted", opts->min_shifted_s,
                    "bench windows: seconds of audio that must remain after a shift for it to be "
                    "used")
        ->capture_default_str();
    cmd->add_option("--out", opts->out,
                    "bench windows: output .npy (row metadata next to it as .jsonl; default "
                    "windows-MODEL.npy)");
    cmd->add_flag("-q,--quiet", opts->quiet, "bench windows: no progress bar");
    cmd->add_option("--index", opts->specs, "bench index: specs to compare")->capture_default_str();
    cmd->add_option("--ef-search", opts->ef_search, "bench index: HNSW efSearch values")
        ->capture_default_str();
    cmd->add_option("--nprobe", opts->nprobe,
                    "bench index: IVF lists probed per query, several values (0 = the default, "
                    "max(32, nlist/16))")
        ->capture_default_str();
    cmd->add_option("--rerank", opts->rerank,
                    "bench index: IVF PQ candidates re-ranked per query (`search --ef-search`), "
                    "several values (0 = 100 x k); the table's efSearch column shows it")
        ->capture_default_str();
    cmd->add_option("--metric", opts->metric, "bench index: metric")->capture_default_str();
    cmd->add_option("--space", opts->space,
                    "bench index: use this space's stored vectors from --db instead of "
                    "synthetic data");
    cmd->add_option("--db", opts->db, "bench index: catalog for --space");
    cmd->add_flag("--compare-hnswlib", opts->compare_hnswlib,
                  "bench index: also time plain hnswlib 0.6.2's searchKnn for each HNSW spec, "
                  "on the graph our index built and on a graph it builds itself (same vectors, "
                  "M, efConstruction, build threads), and print QPS, distances per query and "
                  "build-time ratios");
    cmd->add_option("--filter-keep", opts->filter_keep,
                    "bench index: also run every setting with a filter keeping this fraction of "
                    "the items (e.g. 0.1; recall against the exact filtered top-k)")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--filter-folder", opts->filter_folder,
                    "bench index --space/--db: filter by content instead: keep the items under "
                    "this folder, as search --folder does (not with --filter-keep; the rows give "
                    "the fraction kept)");
    cmd->add_flag("--compare-steering", opts->compare_steering,
                  "bench index --filter-keep/--filter-folder: also time each filtered HNSW "
                  "setting without the filtered walk's 8-bit steering copy (engine "
                  "earshot-unsteered), alternating with the default walk");
    cmd->add_flag("--matched-recall", opts->matched_recall,
                  "bench index: compare each of our single-thread HNSW rows with plain hnswlib's "
                  "own graph (--compare-hnswlib; unfiltered rows) or our unfiltered walk "
                  "(--filter-keep; filtered rows) at the same recall@10: the two adjacent "
                  "efSearch values around that recall are found by bisection (up to 1024) and "
                  "timed in rounds alternating with the row, instead of interpolating between "
                  "rows timed at other moments");
    cmd->add_flag("--compare-walk-budget", opts->compare_walk_budget,
                  "bench index --filter-keep/--filter-folder: also time each filtered HNSW "
                  "setting with the walk budget off (engine earshot-no-walk-budget: walks never "
                  "give up for the scan of the passing items), alternating with the default");
    cmd->add_flag("--compare-share-check", opts->compare_share_check,
                  "bench index --filter-keep/--filter-folder: also time each filtered HNSW "
                  "setting with the walk's passing-share check off (engine "
                  "earshot-no-share-check: walks give up only past their budget), alternating "
                  "with the default");
    cmd->add_flag("--compare-filter-block", opts->compare_filter_block,
                  "bench index --filter-keep/--filter-folder: also time each filtered HNSW "
                  "setting with the filter asked one id at a time instead of a block of ids at "
                  "once (engine earshot-per-id-filter), alternating with the default");
    cmd->add_flag("--compare-layout", opts->compare_layout,
                  "bench index: also time each HNSW setting on the same graph in insertion order "
                  "(engine earshot-insertion-order), alternating with the default breadth-first "
                  "order a build leaves (the build row includes that renumbering)");
    cmd->add_flag("--compare-self-search", opts->compare_self_search,
                  "bench index: also time each HNSW setting on the same graph before the "
                  "self-search repair a build ends with (engine earshot-no-self-search), "
                  "alternating with the repaired graph (the build row includes the repair)");
    cmd->add_flag("--compare-in-degree", opts->compare_in_degree,
                  "bench index: also time each HNSW setting on the same graph before the "
                  "in-degree repair a build starts its repairs with (engine "
                  "earshot-no-in-degree-repair), alternating with the repaired graph (the build "
                  "row includes the repair)");
    cmd->add_flag("--compare-insertion", opts->compare_insertion,
                  "bench index: also build each HNSW spec a second time through hnswlib's own "
                  "addPoint instead of our insertion (engine earshot-hnswlib-insertion, built "
                  "after ours) and time each setting on both graphs, alternating");
    cmd->add_option("--rounds", opts->rounds,
                    "bench index --compare-hnswlib / --compare-steering / --compare-walk-budget / "
                    "--compare-share-check / --compare-filter-block / "
                    "--compare-layout / --compare-self-search / --compare-in-degree / "
                    "--compare-insertion / --matched-recall: time each "
                    "setting this many times, alternating with the setting it is compared with, "
                    "and keep the best of each")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    cmd->add_option("--build-threads", opts->build_threads,
                    "bench index: threads building each index (0 = all cores)")
        ->capture_default_str();
    cmd->add_option(
        "--dataset", opts->dataset,
        "Folder of audio for the ingest benchmark (default ../shared/datasets/gm_fluidr3)");
    cmd->add_option("--files", opts->files, "Files to use from the folder")->capture_default_str();
    cmd->add_option("--model", opts->models, "Model(s) to benchmark (default: all available)");
    cmd->add_option("--n", opts->n, "Vectors for the search benchmark")->capture_default_str();
    cmd->add_option("--dim", opts->dim, "Dimension for the search benchmark")
        ->capture_default_str();
    cmd->add_option("--queries", opts->queries, "Queries per metric")->capture_default_str();
    cmd->add_option("--format", opts->format, "md or json")->capture_default_str();
    add_common_options(*cmd, opts->common, /*with_db=*/false);
    cmd->footer(
        "bench windows FOLDER [--model M] [--offsets N] [--out F.npy]: per-segment embeddings of "
        "every file, each file embedded N times with its start shifted by j * hop / N (j < N); "
        "import the result with `earshot import F.npy --space NAME --db BENCH` and benchmark it "
        "with `bench index --db BENCH --space NAME`.");
    cmd->callback([opts] { throw CLI::RuntimeError(run_bench(*opts)); });
}

}  // namespace earshot::cli
