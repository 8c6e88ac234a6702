#include "cli/cmd_import.h"

#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "engine/importer.h"

namespace earshot::cli {
namespace {

struct ImportCliOptions {
    CommonOptions common;
    std::string file;
    std::string space;
    std::string format;
    std::string quantized = "auto";
    std::string metadata;
    bool json = false;
};

int run_import(const ImportCliOptions& o) {
    auto engine = open_engine(o.common, /*create=*/true);
    if (!engine)
        return report_error("import", engine.error());
    ImportOptions io;
    io.file = o.file;
    io.space = o.space;
    io.format = o.format;
    io.quantized = o.quantized;
    io.metadata = o.metadata;
    auto r = (*engine)->import_embeddings(io);
    (*engine)->invalidate_cache();
    if (!r)
        return report_error("import", r.error());
    if (o.json) {
        print_json({{"db", redact_uri(o.common.db)},
                    {"space", r->space},
                    {"format", r->format},
                    {"dim", r->dim},
                    {"rows", r->rows},
                    {"added", r->added},
                    {"updated", r->updated},
                    {"segments", r->segments},
                    {"dequantized", r->dequantized},
                    {"elapsed_s", r->seconds}});
        return 0;
    }
    fmt::print("imported {} record(s) into space '{}' (dim {}): {} new, {} updated{}{} in {}\n",
               r->rows, r->space, r->dim, r->added, r->updated,
               r->segments > 0 ? fmt::format(", {} segment vectors", r->segments) : "",
               r->dequantized ? ", 8-bit data dequantised" : "", format_duration(r->seconds));
    return 0;
}

}  // namespace

void setup_import(CLI::App& app) {
    auto opts = std::make_shared<ImportCliOptions>();
    auto* cmd =
        app.add_subcommand("import", "Import precomputed embeddings (CSV, JSON lines, .npy)");
    cmd->add_option("file", opts->file, "File to import")->required();
    cmd->add_option("--space", opts->space,
                    "Embedding space to import into (a model name such as mn04 makes the items "
                    "searchable by audio too)")
        ->required();
    cmd->add_option("--format", opts->format, "csv, jsonl or npy (default: from the extension)");
    cmd->add_option("--quantized", opts->quantized,
                    "AudioSet-style data: auto (integers 0..255 are dequantised), yes or no")
        ->capture_default_str();
    cmd->add_option("--metadata", opts->metadata,
                    "npy: row metadata as JSON lines (default: FILE with the extension .jsonl)");
    add_common_options(*cmd, opts->common);
    cmd->add_flag("--json", opts->json, "JSON output");
    cmd->footer(
        "Examples:\n  earshot import vggish.csv --space vggish --db lib.earshot\n"
        "  earshot import bal_train.jsonl --space audioset --db lib.earshot\n"
        "  earshot import vectors.npy --space mn04 --db lib.earshot   # + vectors.jsonl");
    cmd->callback([opts] { throw CLI::RuntimeError(run_import(*opts)); });
}

}  // namespace earshot::cli
