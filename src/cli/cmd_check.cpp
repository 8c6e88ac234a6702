// earshot check: SQLite integrity + catalog/index consistency (engine/catalog_check.h).
#include "cli/cmd_check.h"

#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "core/utf8.h"
#include "engine/catalog_check.h"

namespace earshot::cli {
namespace {

struct CheckCliOptions {
    CommonOptions common;
    bool json = false;
};

int run_check(const CheckCliOptions& o) {
    auto engine = open_engine(o.common, false);
    if (!engine)
        return report_error("check", engine.error());
    auto rep = check_catalog((*engine)->catalog(), o.common.db);
    if (!rep)
        return report_error("check", rep.error());
    const int code = rep->ok() ? 0 : exit_code_for(ErrorCode::kCorruption);
    if (o.json) {
        nlohmann::json problems = nlohmann::json::array();
        for (const auto& p : rep->problems) problems.push_back(utf8_lossy(p));
        nlohmann::json notes = nlohmann::json::array();
        for (const auto& n : rep->notes) notes.push_back(utf8_lossy(n));
        print_json({{"db", utf8_lossy(o.common.db)},
                    {"ok", rep->ok()},
                    {"items", rep->items},
                    {"spaces", rep->spaces},
                    {"vectors", rep->vectors},
                    {"segments", rep->segments},
                    {"index_files", rep->index_files},
                    {"problems", problems},
                    {"notes", notes}});
        return code;
    }
    for (const auto& n : rep->notes) fmt::print("note: {}\n", n);
    for (const auto& p : rep->problems) fmt::print(stderr, "problem: {}\n", p);
    fmt::print(
        "{}: {} item(s), {} space(s), {} vector(s), {} segment vector(s), {} index "
        "file(s): {}\n",
        o.common.db, rep->items, rep->spaces, rep->vectors, rep->segments, rep->index_files,
        rep->ok() ? "ok" : fmt::format("{} problem(s)", rep->problems.size()));
    return code;
}

}  // namespace

void setup_check(CLI::App& app) {
    auto opts = std::make_shared<CheckCliOptions>();
    auto* cmd = app.add_subcommand(
        "check", "Check the catalog: SQLite integrity, every row and vector, the index files");
    add_common_options(*cmd, opts->common);
    cmd->add_flag("--json", opts->json, "Print the report as JSON");
    cmd->footer(
        "Reads everything once and changes nothing. Exit 0 if consistent, 4 if a problem was "
        "found (each is printed), other codes if the catalog cannot be opened (docs/cli.md).");
    cmd->callback([opts] { throw CLI::RuntimeError(run_check(*opts)); });
}

}  // namespace earshot::cli
