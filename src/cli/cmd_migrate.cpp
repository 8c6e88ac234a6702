#include "cli/cmd_migrate.h"

#include <memory>

#include <fmt/format.h>

#include "catalog/catalog_copy.h"
#include "cli/common.h"
#include "cli/exit_codes.h"

namespace earshot::cli {
namespace {

struct MigrateCliOptions {
    std::string from;
    std::string to;
    bool merge = false;
    bool json = false;
    bool quiet = false;
};

int run_migrate(const MigrateCliOptions& o) {
    if (o.from == o.to) {
        return report_error(
            "migrate", Error(ErrorCode::kInvalidArgument, "--from and --to are the same catalog"));
    }
    CatalogOptions ro;
    ro.create_if_missing = false;
    ro.read_only = !is_postgres_uri(o.from);  // PostgreSQL: read-write to migrate an old schema
    auto from = open_catalog(o.from, ro);
    if (!from)
        return report_error("migrate", from.error());
    auto to = open_catalog(o.to, CatalogOptions{});
    if (!to)
        return report_error("migrate", to.error());
    auto existing = (*to)->count_items();
    if (!existing)
        return report_error("migrate", existing.error());
    if (*existing > 0 && !o.merge) {
        return report_error(
            "migrate",
            Error(ErrorCode::kAlreadyExists,
                  fmt::format("'{}' already has {} item(s); use an empty catalog, or --merge to "
                              "add (and update by path) into it",
                              redact_uri(o.to), *existing)));
    }
    ProgressBar bar(!o.quiet && !o.json);
    // Into an empty catalog items keep their ids (exports and links stay valid); --merge into a
    // non-empty one lets the destination assign them.
    auto rep = copy_catalog(
        **from, **to,
        [&](std::int64_t done, std::int64_t total) {
            bar.update(static_cast<std::size_t>(done), static_cast<std::size_t>(total), "");
        },
        /*keep_ids=*/*existing == 0);
    bar.finish();
    if (!rep)
        return report_error("migrate", rep.error());
    if (o.json) {
        print_json({{"from", redact_uri(o.from)},
                    {"to", redact_uri(o.to)},
                    {"items", rep->items},
                    {"vectors", rep->vectors},
                    {"segments", rep->segments},
                    {"skipped", rep->skipped},
                    {"models", rep->spaces}});
    } else {
        fmt::print("copied {} item(s) ({} vectors, {} segment vectors) from {} to {}\n", rep->items,
                   rep->vectors, rep->segments, redact_uri(o.from), redact_uri(o.to));
        if (rep->skipped > 0)
            fmt::print(stderr, "earshot migrate: {} item(s) had no vector and were not copied\n",
                       rep->skipped);
    }
    return 0;
}

}  // namespace

void setup_migrate(CLI::App& app) {
    auto opts = std::make_shared<MigrateCliOptions>();
    auto* cmd = app.add_subcommand(
        "migrate", "Copy a catalog into another: SQLite file -> PostgreSQL and back");
    cmd->add_option("--from", opts->from, "Source catalog (file or postgresql:// URI)")->required();
    cmd->add_option("--to", opts->to, "Destination catalog (created if missing; must be empty)")
        ->required();
    cmd->add_flag("--merge", opts->merge,
                  "Allow a non-empty destination (items with the same path are updated)");
    cmd->add_flag("--json", opts->json, "Print the summary as JSON");
    cmd->add_flag("-q,--quiet", opts->quiet, "No progress bar");
    cmd->footer(
        "Example:\n  earshot migrate --from lib.earshot --to postgresql://earshot@db/lib\n"
        "Vectors and segments are copied bit for bit; item ids are kept (with --merge into a "
        "non-empty catalog they are assigned by the destination). "
        "ANN index files are not copied (the destination builds its own).");
    cmd->callback([opts] { throw CLI::RuntimeError(run_migrate(*opts)); });
}

}  // namespace earshot::cli
