#include "cli/cmd_index.h"

#include <memory>
#include <optional>

#include <fmt/format.h>

#include "catalog/ingest_queue.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "core/utf8.h"
#include "engine/json_shapes.h"

namespace earshot::cli {
namespace {

struct IndexCliOptions {
    CommonOptions common;
    std::vector<std::string> paths;
    std::string model;
    bool force = false;
    bool json = false;
    bool quiet = false;
    std::optional<double> segment_s;
    std::optional<double> segment_hop_s;
    std::string root;
    double lease_s = 60.0;
};

int run_index(const IndexCliOptions& o) {
    auto engine = open_engine(o.common, /*create=*/true);
    if (!engine)
        return report_error("index", engine.error());
    IndexOptions io;
    for (const auto& p : o.paths) io.paths.emplace_back(p);
    io.model = o.model;
    io.force = o.force;
    io.segment_s = o.segment_s;
    io.segment_hop_s = o.segment_hop_s;
    io.root = o.root;
    io.lease_s = o.lease_s;
    ProgressBar bar(!o.quiet && !o.json);
    io.on_progress = [&](const IndexProgress& p) {
        bar.update(p.done, p.total, std::filesystem::path(p.current).filename().string());
    };
    auto report = (*engine)->index(io);
    bar.finish();
    if (!report)
        return report_error("index", report.error());
    const auto& c = report->counts;
    if (o.json) {
        nlohmann::json fails = failures_json(report->failures);
        print_json({{"db", redact_uri(o.common.db)},
                    {"model", o.model.empty() ? default_model() : o.model},
                    {"found", c.total},
                    {"added", c.added},
                    {"unchanged", c.unchanged},
                    {"failed", c.failed},
                    {"audio_s", c.audio_s},
                    {"elapsed_s", report->elapsed_s},
                    {"failures", fails}});
    } else {
        for (const auto& f : report->failures) {
            fmt::print(stderr, "skipped {}: {}\n", f.path, f.reason);
        }
        fmt::print(
            "indexed {} file(s) into {}: {} embedded, {} unchanged, {} failed; {} of audio "
            "in {:.1f} s ({:.0f}x realtime)\n",
            c.total, redact_uri(o.common.db), c.added, c.unchanged, c.failed,
            format_duration(c.audio_s), report->elapsed_s,
            report->elapsed_s > 0 ? c.audio_s / report->elapsed_s : 0.0);
    }
    return c.failed > 0 && c.added == 0 && c.unchanged == 0 ? 1 : 0;
}

}  // namespace

void setup_index(CLI::App& app) {
    auto opts = std::make_shared<IndexCliOptions>();
    auto* cmd = app.add_subcommand(
        "index",
        "Embed audio files (folders are walked recursively) and store them in the catalog");
    cmd->add_option("paths", opts->paths, "Audio files and/or folders")->required();
    add_common_options(*cmd, opts->common);
    cmd->add_option("--model", opts->model, "Embedding model (see `earshot models`)")
        ->envname("EARSHOT_MODEL");
    cmd->add_flag("--force", opts->force, "Re-embed files even if unchanged since the last run");
    cmd->add_option("--segment-length", opts->segment_s,
                    "Stored segments (for search --by segments): windows of this many seconds, "
                    "each embedded on its own; 0 = the model's own segments (default: 4 for "
                    "models whose own segments are longer than 4 s, i.e. mn04; else 0)");
    cmd->add_option("--segment-hop", opts->segment_hop_s,
                    "Seconds between segment starts (default: half the segment length; mn04 2)");
    cmd->add_flag("--json", opts->json, "Print the summary as JSON");
    cmd->add_flag("-q,--quiet", opts->quiet, "No progress bar");
    add_shared_ingest_options(*cmd, opts->root, opts->lease_s);
    cmd->footer(
        "Unchanged files (same size and modification time, already embedded with the model) are "
        "skipped, so an interrupted run can simply be started again. Files that cannot be decoded "
        "are reported and skipped.\nWith a PostgreSQL --db, the files are queued in the database "
        "and every `index` or `worker` process on it claims a share (docs/scaling.md); each "
        "process returns when none is left.");
    cmd->callback([opts] { throw CLI::RuntimeError(run_index(*opts)); });
}

namespace {

struct WorkerCliOptions {
    CommonOptions common;
    std::string root;
    double lease_s = 60.0;
    bool json = false;
    bool quiet = false;
};

int run_worker(const WorkerCliOptions& o) {
    if (!is_postgres_uri(o.common.db)) {
        return report_error("worker", Error(ErrorCode::kInvalidArgument,
                                            "a worker needs a PostgreSQL catalog (--db "
                                            "postgresql://...); '" +
                                                o.common.db + "' is a file"));
    }
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("worker", engine.error());
    IngestQueue* queue = (*engine)->ingest_queue();
    nlohmann::json per_space = nlohmann::json::array();
    IndexProgress total;
    ProgressBar bar(!o.quiet && !o.json);
    for (;;) {
        auto spaces = queue->pending_spaces();
        if (!spaces)
            return report_error("worker", spaces.error());
        if (spaces->empty())
            break;
        for (const auto& space : *spaces) {
            IndexOptions io;
            io.model = space;
            io.root = o.root;
            io.lease_s = o.lease_s;
            io.on_progress = [&](const IndexProgress& p) {
                bar.update(p.done, p.done + 1,
                           std::filesystem::path(p.current).filename().string());
            };
            auto report = (*engine)->index_shared(io);
            bar.finish();
            if (!report)
                return report_error("worker", report.error());
            const auto& c = report->counts;
            total.added += c.added;
            total.failed += c.failed;
            total.audio_s += c.audio_s;
            for (const auto& f : report->failures) {
                if (!o.json)
                    fmt::print(stderr, "skipped {}: {}\n", f.path, f.reason);
            }
            per_space.push_back({{"model", space},
                                 {"embedded", c.added},
                                 {"failed", c.failed},
                                 {"audio_s", c.audio_s},
                                 {"elapsed_s", report->elapsed_s}});
        }
    }
    if (o.json) {
        print_json({{"db", redact_uri(o.common.db)}, {"spaces", per_space}});
    } else {
        fmt::print("worker finished: {} embedded, {} failed, {} of audio\n", total.added,
                   total.failed, format_duration(total.audio_s));
    }
    return 0;
}

}  // namespace

void add_shared_ingest_options(CLI::App& cmd, std::string& root, double& lease_s) {
    cmd.add_option("--root", root,
                   "Library root: items are keyed by their path relative to it, so machines "
                   "mounting the library at different paths share items (PostgreSQL catalogs)")
        ->envname("EARSHOT_ROOT");
    cmd.add_option("--lease", lease_s,
                   "PostgreSQL catalogs: seconds a claimed file stays reserved without a "
                   "heartbeat (a killed worker's files are taken over after this)")
        ->capture_default_str()
        ->check(CLI::Range(0.5, 86400.0));
}

void setup_worker(CLI::App& app) {
    auto opts = std::make_shared<WorkerCliOptions>();
    auto* cmd = app.add_subcommand(
        "worker",
        "Join the running ingest of a PostgreSQL catalog: embed queued files until none is left");
    add_common_options(*cmd, opts->common);
    add_shared_ingest_options(*cmd, opts->root, opts->lease_s);
    cmd->add_flag("--json", opts->json, "Print the summary as JSON");
    cmd->add_flag("-q,--quiet", opts->quiet, "No progress bar");
    cmd->footer(
        "Example:\n  earshot worker --db postgresql://earshot@db/lib --root /mnt/samples "
        "--threads 8\nFiles are found under --root by their keys (as queued by `earshot index "
        "--root`); without --root keys are absolute paths.");
    cmd->callback([opts] { throw CLI::RuntimeError(run_worker(*opts)); });
}

}  // namespace earshot::cli
