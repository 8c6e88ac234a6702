#include "cli/cmd_embed.h"

#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"

namespace earshot::cli {
namespace {

struct EmbedCliOptions {
    CommonOptions common;
    std::string file;
    std::string model;
    std::size_t top_labels = 10;
    bool json = false;
    bool no_trim = false;
};

nlohmann::json vec_json(const float* v, std::size_t n) {
    return nlohmann::json(std::vector<float>(v, v + n));
}

int run_embed(const EmbedCliOptions& o) {
    EmbedOptions eo;
    eo.model = o.model;
    eo.models_dir = o.common.models_dir;
    eo.threads = o.common.threads;
    eo.top_labels = o.top_labels;
    eo.trim_leading_silence = !o.no_trim;
    auto r = embed_file(o.file, eo);
    if (!r)
        return report_error("embed", r.error());
    if (o.json) {
        nlohmann::json segs = nlohmann::json::array();
        const auto& s = r->segments;
        for (std::size_t i = 0; i < s.segments.n_rows; ++i) {
            segs.push_back({{"start_s", s.start_s[i]},
                            {"end_s", s.end_s[i]},
                            {"embedding", vec_json(s.segments.row(i), s.segments.n_cols)}});
        }
        nlohmann::json j = {{"file", o.file},
                            {"model", r->model},
                            {"dim", r->dim},
                            {"duration_s", r->info.duration_s},
                            {"embedding", r->embedding},
                            {"segments", segs}};
        if (!r->labels.empty()) {
            nlohmann::json labels = nlohmann::json::array();
            for (const auto& l : r->labels)
                labels.push_back({{"name", l.name}, {"score", l.score}});
            j["labels"] = labels;
        }
        print_json(j);
        return 0;
    }
    fmt::print("{}: {:.2f} s, {} Hz, {} ch, {}\n", o.file, r->info.duration_s,
               r->info.sample_rate_hz, r->info.channels, r->info.codec);
    fmt::print("model {}: {}-d vector from {} segment(s)\n", r->model, r->dim,
               r->segments.segments.n_rows);
    for (const auto& l : r->labels) fmt::print("  {:6.3f}  {}\n", l.score, l.name);
    return 0;
}

}  // namespace

void setup_embed(CLI::App& app) {
    auto opts = std::make_shared<EmbedCliOptions>();
    auto* cmd = app.add_subcommand("embed", "Compute a file's embedding (and class labels)");
    cmd->add_option("file", opts->file, "Audio file")->required();
    add_common_options(*cmd, opts->common, /*with_db=*/false);
    cmd->add_option("--model", opts->model, "Embedding model (see `earshot models`)")
        ->envname("EARSHOT_MODEL");
    cmd->add_option("--top-labels", opts->top_labels,
                    "How many class labels to print, best first (0 = all)")
        ->capture_default_str();
    cmd->add_flag("--no-trim", opts->no_trim,
                  "Embed from the first sample (the models' reference framing) instead of "
                  "dropping leading silence as index/search do");
    cmd->add_flag("--json", opts->json,
                  "JSON: {model, dim, embedding, segments:[{start_s,end_s,embedding}], labels}");
    cmd->callback([opts] { throw CLI::RuntimeError(run_embed(*opts)); });
}

}  // namespace earshot::cli
