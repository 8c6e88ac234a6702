// Export of whole-item vectors (docs/cli.md, docs/formats.md):
//   jsonl: one object per item {id, path, name, duration_s, labels, model, embedding}
//   npy:   OUT (float32 n×d, C order, NumPy format 1.0) + OUT with ".jsonl" metadata, one line per
//          row in the same order (ascending item id) without the embedding.
#include "cli/cmd_export.h"

#include <fstream>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "core/npy.h"
#include "engine/json_shapes.h"

namespace earshot::cli {
namespace {

struct ExportCliOptions {
    CommonOptions common;
    std::string model;
    std::string format = "jsonl";
    std::string out;
};

int run_export(const ExportCliOptions& o) {
    if (o.format != "npy" && o.format != "jsonl") {
        return report_error(
            "export", Error(ErrorCode::kInvalidArgument,
                            fmt::format("unknown format '{}' (known: npy, jsonl)", o.format)));
    }
    auto engine = open_engine(o.common, false);
    if (!engine)
        return report_error("export", engine.error());
    auto& cat = (*engine)->catalog();
    std::string space = o.model.empty() ? (*engine)->default_space() : o.model;
    auto set = cat.load_embeddings(space);
    if (!set)
        return report_error("export", set.error());
    // Rows ordered by ascending item id.
    std::vector<std::size_t> order(set->ids.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return set->ids[a] < set->ids[b]; });

    auto meta_line = [&](std::size_t row, bool with_vec) -> Result<std::string> {
        EARSHOT_ASSIGN_OR_RETURN(auto it, cat.get_item(set->ids[row]));
        nlohmann::json j = {{"id", it.id}};
        put_bytes_field(j, "path", it.path);  // + path_b64 if not UTF-8 (formats.md)
        put_bytes_field(j, "name", it.name);
        j["duration_s"] = it.duration_s;
        put_bytes_field(j, "labels", it.labels);
        j["model"] = space;
        if (with_vec) {
            const float* v = set->vectors.row(row);
            j["embedding"] = std::vector<float>(v, v + set->vectors.n_cols);
        }
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };

    if (o.format == "jsonl") {
        std::ofstream file;
        if (!o.out.empty()) {
            file.open(o.out, std::ios::trunc);
            if (!file) {
                return report_error(
                    "export", Error(ErrorCode::kIoError, fmt::format("cannot write '{}'", o.out)));
            }
        }
        std::ostream& out = o.out.empty() ? std::cout : file;
        for (auto row : order) {
            auto line = meta_line(row, true);
            if (!line)
                return report_error("export", line.error());
            out << *line << "\n";
        }
        if (!out)
            return report_error("export", Error(ErrorCode::kIoError, "write failed"));
        if (!o.out.empty()) {
            fmt::print(stderr, "wrote {} item(s) to {}\n", order.size(), o.out);
        }
        return 0;
    }
    std::string out_path = o.out.empty() ? fmt::format("earshot-{}.npy", space) : o.out;
    std::string meta_path = std::filesystem::path(out_path).replace_extension(".jsonl").string();
    std::ofstream npy(out_path, std::ios::binary | std::ios::trunc);
    std::ofstream meta(meta_path, std::ios::trunc);
    if (!npy || !meta) {
        return report_error("export",
                            Error(ErrorCode::kIoError, fmt::format("cannot write '{}'", out_path)));
    }
    npy << npy_f32_header(order.size(), set->vectors.n_cols);
    for (auto row : order) {
        npy.write(reinterpret_cast<const char*>(set->vectors.row(row)),
                  static_cast<std::streamsize>(set->vectors.n_cols * sizeof(float)));
        auto line = meta_line(row, false);
        if (!line)
            return report_error("export", line.error());
        meta << *line << "\n";
    }
    if (!npy || !meta)
        return report_error("export", Error(ErrorCode::kIoError, "write failed"));
    fmt::print(stderr, "wrote {} x {} matrix to {} and row metadata to {}\n", order.size(),
               set->vectors.n_cols, out_path, meta_path);
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
