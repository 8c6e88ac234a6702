#include "cli/cmd_eval.h"

#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "engine/evaluation.h"

namespace earshot::cli {
namespace {

struct EvalCliOptions {
    CommonOptions common;
    std::string manifest;
    std::string label_column = "label";
    std::string exclude_column;
    std::string model;
    std::string metric = "all";
    bool json = false;
    bool quiet = false;
    // --ann: recall of an index against exact search on the stored vectors.
    bool ann = false;
    std::string index = "auto";
    std::size_t k = 10;
    std::size_t queries = 200;
    std::size_t ef_search = 0;
    std::size_t nprobe = 0;
};

int run_eval_ann(const EvalCliOptions& o) {
    AnnEvalOptions ao;
    ao.space = o.model;
    ao.index = o.index;
    ao.k = o.k;
    ao.queries = o.queries;
    ao.ef_search = o.ef_search;
    ao.nprobe = o.nprobe;
    if (o.metric != "all") {
        auto m = parse_metric(o.metric);
        if (!m)
            return report_error("eval", m.error());
        ao.metric = *m;
    }
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("eval", engine.error());
    auto r = evaluate_ann(**engine, ao);
    if (!r)
        return report_error("eval", r.error());
    if (o.json) {
        print_json({{"index", r->index},
                    {"k", r->k},
                    {"queries", r->queries},
                    {"recall_at_k", r->recall_at_k},
                    {"p50_ms", r->p50_ms},
                    {"p99_ms", r->p99_ms},
                    {"space", r->space},
                    {"metric", std::string(metric_name(r->metric))},
                    {"items", r->items},
                    {"exact_p50_ms", r->exact_p50_ms}});
        return 0;
    }
    fmt::print(
        "space {} ({} items, {} metric), index {}: recall@{} = {:.4f} over {} queries; "
        "p50 {:.3f} ms, p99 {:.3f} ms (exact p50 {:.3f} ms)\n",
        r->space, r->items, metric_name(r->metric), r->index, r->k, r->recall_at_k, r->queries,
        r->p50_ms, r->p99_ms, r->exact_p50_ms);
    return 0;
}

int run_eval(const EvalCliOptions& o) {
    if (o.ann)
        return run_eval_ann(o);
    if (o.manifest.empty()) {
        return report_error("eval", Error(ErrorCode::kInvalidArgument,
                                          "give --manifest M.csv (retrieval quality) or --ann "
                                          "(index recall)"));
    }
    EvalOptions eo;
    eo.manifest = o.manifest;
    eo.label_column = o.label_column;
    eo.exclude_column = o.exclude_column;
    eo.model = o.model;
    if (o.metric != "all") {
        auto m = parse_metric(o.metric);
        if (!m)
            return report_error("eval", m.error());
        eo.metrics = {*m};
    }
    auto engine = open_engine(o.common, /*create=*/true);
    if (!engine)
        return report_error("eval", engine.error());
    ProgressBar bar(!o.quiet && !o.json);
    eo.on_progress = [&](const IndexProgress& p) {
        bar.update(p.done, p.total, std::filesystem::path(p.current).filename().string());
    };
    auto r = evaluate_manifest(**engine, eo);
    bar.finish();
    if (!r)
        return report_error("eval", r.error());
    if (o.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& m : r->results) {
            arr.push_back({{"metric", std::string(metric_name(m.metric))},
                           {"p_at_1", m.p_at_1},
                           {"p_at_5", m.p_at_5},
                           {"p_at_10", m.p_at_10},
                           {"map", m.map},
                           {"nn_accuracy", m.nn_accuracy},
                           {"queries", m.queries}});
        }
        print_json({{"manifest", o.manifest},
                    {"model", r->model},
                    {"label_column", o.label_column},
                    {"exclude_column", o.exclude_column},
                    {"items", r->items},
                    {"missing", r->missing},
                    {"results", arr}});
        return 0;
    }
    fmt::print(
        "{} ({} items, {} missing), model {}, label '{}'{}\n", o.manifest, r->items, r->missing,
        r->model, o.label_column,
        o.exclude_column.empty() ? "" : fmt::format(", excluding same '{}'", o.exclude_column));
    fmt::print("| metric | P@1 | P@5 | P@10 | mAP | 1-NN acc |\n|---|---|---|---|---|---|\n");
    for (const auto& m : r->results) {
        fmt::print("| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |\n", metric_name(m.metric),
                   m.p_at_1, m.p_at_5, m.p_at_10, m.map, m.nn_accuracy);
    }
    return 0;
}

}  // namespace

void setup_eval(CLI::App& app) {
    auto opts = std::make_shared<EvalCliOptions>();
    auto* cmd = app.add_subcommand(
        "eval", "Leave-one-out retrieval quality (P@k, mAP, 1-NN) on a labelled manifest");
    cmd->add_option("--manifest", opts->manifest,
                    "CSV with a header, a `path` column relative to the CSV's folder, and labels");
    cmd->add_option("--label-column", opts->label_column, "Column holding the relevance label")
        ->capture_default_str();
    cmd->add_option("--exclude-column", opts->exclude_column,
                    "Items sharing the query's value in this column are ignored (e.g. group_id)");
    cmd->add_option("--model,--space", opts->model, model_help());
    cmd->add_option("--metric", opts->metric, "all, or one metric name (--ann: default cosine)")
        ->capture_default_str();
    cmd->add_flag("--ann", opts->ann,
                  "Report recall@k of --index against exact search on the stored vectors");
    cmd->add_option("--index", opts->index, "--ann: " + index_spec_help())->capture_default_str();
    cmd->add_option("-k", opts->k, "--ann: neighbours per query")->capture_default_str();
    cmd->add_option("--queries", opts->queries,
                    "--ann: stored vectors used as queries (fixed seed)")
        ->capture_default_str();
    cmd->add_option("--ef-search", opts->ef_search, "--ann: " + index_ef_search_help());
    cmd->add_option("--nprobe", opts->nprobe, "--ann: " + index_nprobe_help());
    add_common_options(*cmd, opts->common);
    cmd->add_flag("--json", opts->json, "JSON output");
    cmd->add_flag("-q,--quiet", opts->quiet, "No progress bar");
    cmd->footer(
        "Files not yet in the catalog are embedded and added first (use a scratch --db "
        "if you do not want them in your library).");
    cmd->callback([opts] { throw CLI::RuntimeError(run_eval(*opts)); });
}

}  // namespace earshot::cli
