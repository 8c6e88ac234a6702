#include "cli/cmd_index.h"

#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "core/utf8.h"
#include "server/json_codec.h"

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
        nlohmann::json fails = nlohmann::json::array();
        for (const auto& f : report->failures) {
            nlohmann::json fail = nlohmann::json::object();
            server::put_bytes_field(fail, "path", f.path);
            fail["reason"] = utf8_lossy(f.reason);
            fails.push_back(std::move(fail));
        }
        print_json({{"db", o.common.db},
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
            c.total, o.common.db, c.added, c.unchanged, c.failed, format_duration(c.audio_s),
            report->elapsed_s, report->elapsed_s > 0 ? c.audio_s / report->elapsed_s : 0.0);
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
    cmd->footer(
        "Unchanged files (same size and modification time, already embedded with the model) are "
        "skipped, so an interrupted run can simply be started again. Files that cannot be decoded "
        "are reported and skipped.");
    cmd->callback([opts] { throw CLI::RuntimeError(run_index(*opts)); });
}

}  // namespace earshot::cli
