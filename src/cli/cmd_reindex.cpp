#include "cli/cmd_reindex.h"

#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "engine/dedup.h"

namespace earshot::cli {
namespace {

struct ReindexCliOptions {
    CommonOptions common;
    std::string space;
    std::string index = "auto";
    std::string metric = "cosine";
    bool force = false;
    bool segments = false;
    bool fingerprints = false;
    bool tags = false;
    std::string root;
    bool json = false;
};

// reindex --fingerprints: fingerprints for the items that have none (docs/dedup.md).
int run_fill_fingerprints(const ReindexCliOptions& o) {
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("reindex", engine.error());
    FingerprintFillOptions fo;
    fo.root = o.root;
    fo.threads = o.common.threads;
    ProgressBar bar(!o.json);
    fo.on_progress = [&](std::size_t done, std::size_t total) {
        bar.update(done, total, "fingerprints");
    };
    auto r = (*engine)->fill_fingerprints(fo);
    bar.finish();
    if (!r)
        return report_error("reindex", r.error());
    if (o.json) {
        print_json({{"db", redact_uri(o.common.db)},
                    {"fingerprints",
                     {{"missing", r->total},
                      {"added", r->filled},
                      {"failed", r->failures.size()},
                      {"failures", failures_json(r->failures)}}},
                    {"elapsed_s", r->elapsed_s}});
        return 0;
    }
    for (const auto& f : r->failures) fmt::print(stderr, "earshot: {}: {}\n", f.path, f.reason);
    fmt::print("fingerprints: {} added, {} failed, of {} missing, {}\n", r->filled,
               r->failures.size(), r->total, format_duration(r->elapsed_s));
    return r->failures.empty() ? 0 : exit_code_for(ErrorCode::kIoError);
}

// reindex --tags: tags for the items that have none (all with --force).
int run_fill_tags(const ReindexCliOptions& o) {
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("reindex", engine.error());
    ProgressBar bar(!o.json);
    auto r = (*engine)->fill_tags(
        o.space, o.force, o.root,
        [&](std::size_t done, std::size_t total) { bar.update(done, total, "tags"); });
    bar.finish();
    if (!r)
        return report_error("reindex", r.error());
    if (o.json) {
        print_json({{"db", redact_uri(o.common.db)},
                    {"tags",
                     {{"considered", r->total},
                      {"tagged", r->tagged},
                      {"failed", r->failed},
                      {"failures", failures_json(r->failures)}}},
                    {"elapsed_s", r->elapsed_s}});
        return 0;
    }
    for (const auto& f : r->failures) fmt::print(stderr, "earshot: {}: {}\n", f.path, f.reason);
    fmt::print("tags: {} items tagged, {} failed, of {} {}, {}\n", r->tagged, r->failed, r->total,
               o.force ? "items" : "without tags", format_duration(r->elapsed_s));
    return r->failures.empty() ? 0 : exit_code_for(ErrorCode::kIoError);
}

int run_reindex(const ReindexCliOptions& o) {
    if (o.fingerprints && o.tags) {
        return report_error("reindex", Error(ErrorCode::kInvalidArgument,
                                             "give --fingerprints or --tags, not both"));
    }
    if (o.fingerprints)
        return run_fill_fingerprints(o);
    if (o.tags)
        return run_fill_tags(o);
    auto metric = parse_metric(o.metric);
    if (!metric)
        return report_error("reindex", metric.error());
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("reindex", engine.error());
    ReindexOptions ro;
    ro.space = o.space;
    ro.metric = *metric;
    ro.index = o.index;
    ro.force = o.force;
    ro.segments = o.segments;
    auto r = (*engine)->reindex(ro);
    if (!r)
        return report_error("reindex", r.error());
    if (o.json) {
        print_json({{"db", redact_uri(o.common.db)},
                    {"space", r->space},
                    {"index", r->index},
                    {"metric", std::string(metric_name(r->metric))},
                    {"action", r->action},
                    {"items", r->items},
                    {"memory_bytes", r->memory_bytes},
                    {"elapsed_s", r->seconds},
                    {"file", r->file.string()}});
        return 0;
    }
    fmt::print(
        "{} index of space '{}' ({} metric): {} — {} {}, {:.1f} MiB, {}{}\n", r->index, r->space,
        metric_name(r->metric), r->action, r->items, o.segments ? "segments" : "items",
        static_cast<double>(r->memory_bytes) / (1024.0 * 1024.0), format_duration(r->seconds),
        r->file.empty() ? "" : fmt::format(", file {}", r->file.string()));
    return 0;
}

}  // namespace

void setup_reindex(CLI::App& app) {
    auto opts = std::make_shared<ReindexCliOptions>();
    auto* cmd = app.add_subcommand("reindex", "Build or rebuild the search index of a space");
    cmd->add_option("--space,--model", opts->space, model_help("Embedding space"))
        ->envname("EARSHOT_MODEL");
    cmd->add_option("--index", opts->index, index_spec_help())->capture_default_str();
    cmd->add_option("--metric", opts->metric, "Metric the index serves (each has its own file)")
        ->capture_default_str();
    cmd->add_flag("--force", opts->force, "Rebuild from scratch even if the index is current");
    cmd->add_flag("--segments", opts->segments,
                  "The index over the space's stored segments (search --by segments)");
    cmd->add_flag("--fingerprints", opts->fingerprints,
                  "Instead: fingerprint the items that have no fingerprint (earshot dedup)");
    cmd->add_flag("--tags", opts->tags,
                  "Instead: tag the items that have no tags (all with --force) with the model's "
                  "classifier labels (mn04, yamnet, musicnn)");
    cmd->add_option("--root", opts->root,
                    "With --fingerprints / --tags: folder that item keys indexed with --root are "
                    "relative to");
    add_common_options(*cmd, opts->common);
    cmd->add_flag("--json", opts->json, "JSON output");
    cmd->footer(
        "Index files live next to the catalog in <db>.idx/ (PostgreSQL: --index-dir or a local "
        "cache, docs/scaling.md). Searches bring a stale index up to "
        "date automatically; reindex does it ahead of time (or rebuilds with --force).");
    cmd->callback([opts] { throw CLI::RuntimeError(run_reindex(*opts)); });
}

}  // namespace earshot::cli
