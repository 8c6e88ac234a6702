#include "cli/cmd_dedup.h"

#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "engine/dedup.h"
#include "engine/json_shapes.h"

namespace earshot::cli {
namespace {

struct DedupCliOptions {
    CommonOptions common;
    std::string space;
    double threshold = SameRecordingOptions{}.min_bit_agreement;
    bool json = false;
};

int run_dedup(const DedupCliOptions& o) {
    if (!(o.threshold > 0.5 && o.threshold <= 1.0)) {
        return report_error("dedup",
                            Error(ErrorCode::kInvalidArgument,
                                  fmt::format("--threshold {} is outside (0.5, 1]", o.threshold)));
    }
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("dedup", engine.error());
    DedupOptions options;
    options.space = o.space;
    options.thresholds.min_bit_agreement = o.threshold;
    options.threads = o.common.threads;
    auto r = find_duplicates(**engine, options);
    if (!r)
        return report_error("dedup", r.error());
    if (o.json) {
        nlohmann::json groups = nlohmann::json::array();
        for (const auto& g : r->groups) {
            nlohmann::json members = nlohmann::json::array();
            for (const auto& m : g.members) {
                nlohmann::json row = {{"id", m.id}};
                put_bytes_field(row, "path", m.path);
                put_bytes_field(row, "name", m.name);
                row["duration_s"] = m.duration_s;
                row["offset_s"] = m.offset_s;
                row["similarity"] = m.similarity;
                row["method"] = m.by_chromaprint ? "chromaprint" : "signature";
                members.push_back(std::move(row));
            }
            groups.push_back({{"members", std::move(members)}});
        }
        print_json({{"db", redact_uri(o.common.db)},
                    {"space", r->space},
                    {"items", r->items},
                    {"unfingerprinted", r->unfingerprinted},
                    {"candidate_pairs", r->candidate_pairs},
                    {"same_pairs", r->same_pairs},
                    {"elapsed_s", r->elapsed_s},
                    {"groups", std::move(groups)}});
        return 0;
    }
    for (std::size_t gi = 0; gi < r->groups.size(); ++gi) {
        const auto& g = r->groups[gi];
        fmt::print("group {} ({} items)\n", gi + 1, g.members.size());
        for (std::size_t i = 0; i < g.members.size(); ++i) {
            const auto& m = g.members[i];
            if (i == 0) {
                fmt::print("  {:>8}  {:>9}  {}\n", m.id, "reference", m.path);
            } else {
                fmt::print("  {:>8}  {:>+8.2f}s  {}  ({} {:.2f})\n", m.id, m.offset_s, m.path,
                           m.by_chromaprint ? "chromaprint" : "signature", m.similarity);
            }
        }
    }
    fmt::print("{} group(s) among {} fingerprinted item(s); {} candidate pair(s) compared in {}\n",
               r->groups.size(), r->items, r->candidate_pairs, format_duration(r->elapsed_s));
    if (r->unfingerprinted > 0) {
        fmt::print(stderr,
                   "earshot: {} item(s) have no fingerprint; `earshot reindex --fingerprints` "
                   "adds them\n",
                   r->unfingerprinted);
    }
    return 0;
}

}  // namespace

void setup_dedup(CLI::App& app) {
    auto opts = std::make_shared<DedupCliOptions>();
    auto* cmd = app.add_subcommand(
        "dedup", "Groups of items that are the same recording, with their time offsets");
    cmd->add_option("--space,--model", opts->space,
                    model_help("Space whose embeddings propose candidates"))
        ->envname("EARSHOT_MODEL");
    cmd->add_option("--threshold", opts->threshold,
                    "Share of equal Chromaprint bits that makes two recordings the same")
        ->capture_default_str();
    add_common_options(*cmd, opts->common);
    cmd->add_flag("--json", opts->json, "JSON output (format in docs/cli.md)");
    cmd->footer(
        "Compares the fingerprints stored at index time (docs/dedup.md); items indexed before "
        "fingerprints existed get theirs with `earshot reindex --fingerprints`. An offset of "
        "+2.00s "
        "means the item starts 2 s into the group's reference (its first line).");
    cmd->callback([opts] { throw CLI::RuntimeError(run_dedup(*opts)); });
}

}  // namespace earshot::cli
