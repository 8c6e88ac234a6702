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
};

int run_eval(const EvalCliOptions& o) {
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
                    "CSV with a header, a `path` column relative to the CSV's folder, and labels")
        ->required();
    cmd->add_option("--label-column", opts->label_column, "Column holding the relevance label")
        ->capture_default_str();
    cmd->add_option("--exclude-column", opts->exclude_column,
                    "Items sharing the query's value in this column are ignored (e.g. group_id)");
    cmd->add_option("--model", opts->model, "Embedding model (default: yamnet)");
    cmd->add_option("--metric", opts->metric, "all, or one metric name")->capture_default_str();
    add_common_options(*cmd, opts->common);
    cmd->add_flag("--json", opts->json, "JSON output");
    cmd->add_flag("-q,--quiet", opts->quiet, "No progress bar");
    cmd->footer(
        "Files not yet in the catalog are embedded and added first (use a scratch --db "
        "if you do not want them in your library).");
    cmd->callback([opts] { throw CLI::RuntimeError(run_eval(*opts)); });
}

}  // namespace earshot::cli
