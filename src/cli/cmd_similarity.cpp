#include "cli/cmd_similarity.h"

#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "models/model_registry.h"
#include "models/trained_models.h"

namespace earshot::cli {
namespace {

struct SimilarityOptions {
    CommonOptions common;
    std::string a;
    std::string b;
    std::string model;
    bool json = false;
};

int run_similarity(const SimilarityOptions& o) {
    ModelOptions mo;
    mo.models_dir = o.common.models_dir;
    mo.threads = o.common.threads;
    auto model = make_model(o.model, mo);
    if (!model)
        return report_error("similarity", model.error());
    auto ea = embed_audio_file(o.a, **model, 0);
    if (!ea)
        return report_error("similarity", ea.error());
    auto eb = embed_audio_file(o.b, **model, 0);
    if (!eb)
        return report_error("similarity", eb.error());
    auto score = learned_pair_score(**model, ea->embedding, eb->embedding);
    if (!score)
        return report_error("similarity", score.error());
    if (o.json)
        print_json({{"score", *score}});
    else
        fmt::print("{:.6f}\n", *score);
    return 0;
}

}  // namespace

void setup_similarity(CLI::App& app) {
    auto opts = std::make_shared<SimilarityOptions>();
    auto* cmd = app.add_subcommand(
        "similarity", "Learned similarity in [0, 1] of two audio files (siamese:MODEL)");
    cmd->add_option("a", opts->a, "First audio file")->required();
    cmd->add_option("b", opts->b, "Second audio file")->required();
    cmd->add_option("--model", opts->model,
                    "A siamese model from `earshot train siamese`: siamese:PATH")
        ->required();
    cmd->add_flag("--json", opts->json, "Print {\"score\": s}");
    add_common_options(*cmd, opts->common, /*with_db=*/false);
    cmd->callback([opts] { throw CLI::RuntimeError(run_similarity(*opts)); });
}

}  // namespace earshot::cli
