// `earshot export`: the command line of engine/exporter.h (formats there and in docs/formats.md).
#include "cli/cmd_export.h"

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "engine/exporter.h"

namespace earshot::cli {
namespace {

struct ExportCliOptions {
    CommonOptions common;
    std::string model;
    std::string format = "jsonl";
    std::string out;
};

int run_export(const ExportCliOptions& o) {
    auto format = parse_export_format(o.format);
    if (!format)
        return report_error("export", format.error());
    auto engine = open_engine(o.common, false);
    if (!engine)
        return report_error("export", engine.error());
    ExportOptions eo;
    eo.space = o.model.empty() ? (*engine)->default_space() : o.model;
    eo.format = *format;
    eo.out = o.out;
    auto r = export_embeddings((*engine)->catalog(), eo, &std::cout);
    if (!r)
        return report_error("export", r.error());
    if (*format == ExportFormat::kNpy) {
        fmt::print(stderr, "wrote {} x {} matrix to {} and row metadata to {}\n", r->items, r->dim,
                   r->path.string(), r->metadata_path.string());
    } else if (!r->path.empty()) {
        fmt::print(stderr, "wrote {} item(s) to {}\n", r->items, r->path.string());
    }
    return 0;
}

}  // namespace

void setup_export(CLI::App& app) {
    auto opts = std::make_shared<ExportCliOptions>();
    auto* cmd = app.add_subcommand("export", "Export whole-item embeddings as .npy or JSON lines");
    add_common_options(*cmd, opts->common);
    cmd->add_option("--model,--space", opts->model, model_help());
    cmd->add_option("--format", opts->format, "npy or jsonl")->capture_default_str();
    cmd->add_option("--out", opts->out,
                    "Output file (jsonl: default stdout; npy: default earshot-MODEL.npy, with "
                    "row metadata next to it as .jsonl)");
    cmd->callback([opts] { throw CLI::RuntimeError(run_export(*opts)); });
}

}  // namespace earshot::cli
