#include "cli/cmd_train.h"

#include <cmath>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "engine/audio_files.h"
#include "engine/evaluation.h"
#include "train/trainer.h"

namespace earshot::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct TrainCliOptions {
    CommonOptions common;
    std::string out;
    int epochs = 0;  // 0 = the trainer's default
    std::uint64_t seed = 1234;
    int dim = 0;
    double learning_rate = 0.0;
    double val_fraction = -1.0;
    int patience = 0;
    bool json = false;
    bool quiet = false;
    // autoencoder
    std::string input;
    std::string excerpt = "start";
    double excerpt_s = 2.0;
    std::string checkpoint;
    bool resume = false;
    // siamese / projection
    std::string pairs;
    std::string manifest;
    std::string label_column;
    std::string group_column;
    std::string listening;
    std::string artist_column;
    std::string model;
};

// Absolute, lexically normal path: the key the catalog stores (engine/audio_files.h catalog_path).
std::string catalog_key(const fs::path& p) {
    std::error_code ec;
    auto abs = fs::absolute(p, ec);
    return (ec ? p : abs).lexically_normal().string();
}

struct ManifestRows {
    std::vector<fs::path> files;
    std::vector<std::string> values;  // of the requested column
    std::vector<std::string> groups;  // of the group column (or the file path)
};

Result<ManifestRows> read_manifest(const fs::path& manifest,
                                   const std::string& column,
                                   const std::string& group_column) {
    EARSHOT_ASSIGN_OR_RETURN(CsvTable t, read_csv(manifest));
    const int path_col = t.column("path");
    const int value_col = t.column(column);
    const int group_col = group_column.empty() ? -1 : t.column(group_column);
    if (path_col < 0 || value_col < 0 || (!group_column.empty() && group_col < 0)) {
        std::string cols;
        for (const auto& h : t.header) cols += (cols.empty() ? "" : ", ") + h;
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("{}: needs columns 'path' and '{}'{} (has: {})", manifest.string(), column,
                        group_column.empty() ? "" : " and '" + group_column + "'", cols));
    }
    ManifestRows rows;
    const fs::path folder = manifest.parent_path();
    for (const auto& r : t.rows) {
        const auto width = static_cast<std::size_t>(std::max({path_col, value_col, group_col}));
        if (r.size() <= width || r[static_cast<std::size_t>(value_col)].empty())
            continue;
        rows.files.push_back(folder / r[static_cast<std::size_t>(path_col)]);
        rows.values.push_back(r[static_cast<std::size_t>(value_col)]);
        rows.groups.push_back(group_col >= 0 ? r[static_cast<std::size_t>(group_col)]
                                             : rows.files.back().string());
    }
    if (rows.files.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}: no rows with a '{}' value", manifest.string(), column));
    }
    return rows;
}

// Per-epoch lines on stderr, a progress bar while decoding.
TrainProgressFn progress_printer(const TrainCliOptions& o, std::shared_ptr<ProgressBar> bar) {
    if (o.quiet)
        return {};
    return [bar](const TrainProgress& p) {
        if (p.stage == "features") {
            bar->update(static_cast<std::size_t>(p.epoch), static_cast<std::size_t>(p.epochs),
                        "log-mel");
            return;
        }
        bar->finish();
        fmt::print(stderr, "epoch {:>3}/{}  train loss {:.5f}  val loss {}  {:.1f} s{}\n", p.epoch,
                   p.epochs, p.train_loss,
                   std::isnan(p.val_loss) ? std::string("-") : fmt::format("{:.5f}", p.val_loss),
                   p.elapsed_s, p.improved ? "  *" : "");
    };
}

// The command-line values every trainer shares (unset ones keep the trainer's defaults).
template <class TrainOptions>
void apply_loop_options(const TrainCliOptions& o, TrainOptions& t) {
    if (o.epochs > 0)
        t.epochs = o.epochs;
    if (o.dim > 0)
        t.dim = o.dim;
    if (o.learning_rate > 0)
        t.learning_rate = o.learning_rate;
    if (o.val_fraction >= 0)
        t.val_fraction = o.val_fraction;
    if (o.patience > 0)
        t.patience = o.patience;
    t.seed = o.seed;
}

// The audio trainers' shared values: the loop's, threads and the excerpt.
template <class TrainOptions>
Status apply_audio_options(const TrainCliOptions& o, TrainOptions& t) {
    apply_loop_options(o, t);
    t.threads = o.common.threads;
    EARSHOT_ASSIGN_OR_RETURN(t.excerpt, parse_excerpt_kind(o.excerpt));
    t.excerpt_s = o.excerpt_s;
    return {};
}

int print_report(const TrainCliOptions& o, const std::string& kind, const Result<TrainReport>& r) {
    if (!r)  // the trainers' messages start with "train <kind>:"
        return report_error("train", r.error());
    const std::string use = fmt::format("{}:{}", kind, o.out);
    if (o.json) {
        print_json({{"out", o.out},
                    {"model", use},
                    {"name", r->model_name},
                    {"n_train", r->n_train},
                    {"n_val", r->n_val},
                    {"n_failed", r->n_failed},
                    {"epochs_run", r->train_losses.size()},
                    {"start_epoch", r->start_epoch},
                    {"best_epoch", r->best_epoch},
                    {"stopped_early", r->stopped_early},
                    {"train_losses", r->train_losses},
                    {"val_losses", r->val_losses},
                    {"elapsed_s", r->elapsed_s},
                    {"features_s", r->features_s}});
        return 0;
    }
    fmt::print(
        "wrote {} (name {}): {} train / {} validation items{}, best epoch {} of {}{}, "
        "{:.1f} s ({:.1f} s features)\nuse it as --model {}\n",
        o.out, r->model_name, r->n_train, r->n_val,
        r->n_failed ? fmt::format(", {} unreadable files skipped", r->n_failed) : "", r->best_epoch,
        r->train_losses.size(), r->stopped_early ? " (stopped early)" : "", r->elapsed_s,
        r->features_s, use);
    return 0;
}

json facts(const TrainCliOptions& o, const std::string& source) {
    return {{"source", source}, {"seed", o.seed}, {"tool", "earshot train"}};
}

int run_projection(const TrainCliOptions& o) {
    auto rows = read_manifest(o.manifest, o.label_column, o.group_column);
    if (!rows)
        return report_error("train projection", rows.error());
    auto engine = open_engine(o.common, /*create=*/true);
    if (!engine)
        return report_error("train projection", engine.error());
    IndexOptions io;
    io.model = o.model;
    for (const auto& f : rows->files) {
        std::error_code ec;
        if (fs::exists(f, ec))
            io.paths.push_back(f);
    }
    auto bar = std::make_shared<ProgressBar>(!o.quiet && !o.json);
    io.on_progress = [&](const IndexProgress& p) {
        bar->update(p.done, p.total, fs::path(p.current).filename().string());
    };
    auto indexed = (*engine)->index(io);
    bar->finish();
    if (!indexed)
        return report_error("train projection", indexed.error());
    auto model = (*engine)->model(o.model);
    if (!model)
        return report_error("train projection", model.error());
    const std::string space = (*model)->info().name;
    Matrix vectors;
    std::vector<std::string> labels, groups;
    std::size_t missing = 0;
    for (std::size_t i = 0; i < rows->files.size(); ++i) {
        auto item = (*engine)->catalog().find_by_path(catalog_key(rows->files[i]));
        if (!item || !item->has_value()) {
            ++missing;
            continue;
        }
        auto vec = (*engine)->catalog().get_embedding((*item)->id, space);
        if (!vec) {
            ++missing;
            continue;
        }
        vectors.n_cols = vec->size();
        vectors.data.insert(vectors.data.end(), vec->begin(), vec->end());
        ++vectors.n_rows;
        labels.push_back(rows->values[i]);
        groups.push_back(rows->groups[i]);
    }
    ProjectionTrainOptions po;
    apply_loop_options(o, po);
    json f = facts(o, o.manifest);
    f["label_column"] = o.label_column;
    f["group_column"] = o.group_column;
    f["items"] = vectors.n_rows;
    f["loss"] = "supervised contrastive";
    po.training_json = f.dump();
    po.on_progress = progress_printer(o, bar);
    auto r = train_projection(vectors, labels, groups, space, o.out, po);
    if (r)
        r->n_failed = missing;
    return print_report(o, "proj", r);
}

int run_autoencoder(const TrainCliOptions& o) {
    std::vector<fs::path> files;
    std::string source;
    if (!o.input.empty()) {
        source = o.input;
        std::error_code ec;
        if (fs::is_regular_file(o.input, ec)) {
            files.push_back(o.input);
        } else if (!fs::is_directory(o.input, ec)) {
            return report_error("train autoencoder",
                                Error(ErrorCode::kNotFound, "no such folder: " + o.input));
        } else {
            auto collected = collect_audio_files({fs::path(o.input)});
            if (!collected)
                return report_error("train autoencoder", collected.error());
            files = std::move(collected->files);
        }
    } else {
        source = o.common.db;
        auto engine = open_engine(o.common, /*create=*/false);
        if (!engine)
            return report_error("train autoencoder", engine.error());
        auto items = (*engine)->catalog().list_items(0, -1);
        if (!items)
            return report_error("train autoencoder", items.error());
        for (const auto& it : *items) files.emplace_back(it.path);
    }
    std::sort(files.begin(), files.end());
    AutoencoderTrainOptions ao;
    if (auto applied = apply_audio_options(o, ao); !applied)
        return report_error("train autoencoder", applied.error());
    ao.checkpoint = o.checkpoint;
    ao.resume = o.resume;
    json f = facts(o, source);
    f["files"] = files.size();
    f["loss"] = "mse reconstruction";
    ao.training_json = f.dump();
    auto bar = std::make_shared<ProgressBar>(!o.quiet && !o.json);
    ao.on_progress = progress_printer(o, bar);
    return print_report(o, "ae", train_autoencoder(files, o.out, ao));
}

int run_siamese(const TrainCliOptions& o) {
    SiameseTargets t;
    std::string source;
    if (!o.pairs.empty()) {
        source = o.pairs;
        auto pairs = read_pairs_file(o.pairs);
        if (!pairs)
            return report_error("train siamese", pairs.error());
        std::map<std::string, std::size_t> index;
        auto id = [&](const fs::path& p) {
            auto [it, added] = index.emplace(p.lexically_normal().string(), t.files.size());
            if (added)
                t.files.push_back(p.lexically_normal());
            return it->second;
        };
        for (const auto& p : *pairs) t.pairs.push_back({id(p.a), id(p.b), p.score});
    } else if (!o.listening.empty()) {
        source = o.listening;
        if (o.manifest.empty() || o.artist_column.empty()) {
            return report_error("train siamese",
                                Error(ErrorCode::kInvalidArgument,
                                      "--listening needs --manifest M --artist-column C (which "
                                      "artist each audio file belongs to)"));
        }
        auto rows = read_manifest(o.manifest, o.artist_column, "");
        if (!rows)
            return report_error("train siamese", rows.error());
        auto log = read_listening_log(o.listening);
        if (!log)
            return report_error("train siamese", log.error());
        t.files = rows->files;
        t.keys = rows->values;
        t.key_scores = artist_pair_scores(*log, t.keys);
    } else if (!o.manifest.empty() && !o.label_column.empty()) {
        source = o.manifest;
        auto rows = read_manifest(o.manifest, o.label_column, "");
        if (!rows)
            return report_error("train siamese", rows.error());
        t.files = rows->files;
        t.keys = rows->values;
    } else {
        return report_error("train siamese",
                            Error(ErrorCode::kInvalidArgument,
                                  "give --pairs P, or --manifest M --label-column C, or "
                                  "--listening L --manifest M --artist-column C"));
    }
    SiameseTrainOptions so;
    if (auto applied = apply_audio_options(o, so); !applied)
        return report_error("train siamese", applied.error());
    json f = facts(o, source);
    f["files"] = t.files.size();
    f["targets"] = !o.pairs.empty() ? "pairs" : !o.listening.empty() ? "listening" : "labels";
    f["loss"] = "binary cross-entropy";
    so.training_json = f.dump();
    auto bar = std::make_shared<ProgressBar>(!o.quiet && !o.json);
    so.on_progress = progress_printer(o, bar);
    return print_report(o, "siamese", train_siamese(t, o.out, so));
}

void add_shared(CLI::App* cmd, TrainCliOptions& o, bool with_db) {
    cmd->add_option("--out", o.out, "Model file to write")->required();
    cmd->add_option("--epochs", o.epochs, "Epochs (default per model)");
    cmd->add_option("--seed", o.seed, "Random seed (same seed, same data: same model)")
        ->capture_default_str();
    cmd->add_option("--dim", o.dim, "Embedding size (default per model)");
    cmd->add_option("--lr", o.learning_rate, "Adam learning rate (default per model)");
    cmd->add_option("--val-fraction", o.val_fraction,
                    "Share held out for validation / early stopping (default per model)");
    cmd->add_option("--patience", o.patience, "Stop after this many epochs without improvement");
    cmd->add_flag("--json", o.json, "JSON report on stdout");
    cmd->add_flag("-q,--quiet", o.quiet, "No progress output");
    add_common_options(*cmd, o.common, with_db);
}

}  // namespace

void setup_train(CLI::App& app) {
    auto* train = app.add_subcommand("train",
                                     "Train your own model (autoencoder, siamese, "
                                     "projection) on your library, on CPU");
    train->require_subcommand(1);

    auto ae = std::make_shared<TrainCliOptions>();
    auto* cmd = train->add_subcommand(
        "autoencoder", "Conv autoencoder on log-mel images of a fixed excerpt per file");
    cmd->add_option("--input", ae->input, "Folder of audio (recursive)");
    add_shared(cmd, *ae, /*with_db=*/true);
    cmd->add_option("--excerpt", ae->excerpt, "Excerpt per file: start, middle or energy")
        ->capture_default_str();
    cmd->add_option("--excerpt-s", ae->excerpt_s, "Excerpt length, seconds")->capture_default_str();
    cmd->add_option("--checkpoint", ae->checkpoint, "Checkpoint file (default: OUT.ckpt)");
    cmd->add_flag("--resume", ae->resume, "Continue from the checkpoint");
    cmd->footer("Without --input, the files of the catalog --db are used.");
    cmd->callback([ae] { throw CLI::RuntimeError(run_autoencoder(*ae)); });

    auto si = std::make_shared<TrainCliOptions>();
    cmd =
        train->add_subcommand("siamese", "Siamese network that learns a pair similarity in [0, 1]");
    cmd->add_option("--pairs", si->pairs, "CSV a,b,score (paths relative to the file)");
    cmd->add_option("--manifest", si->manifest, "CSV with path + label/artist columns");
    cmd->add_option("--label-column", si->label_column, "Same label = similar");
    cmd->add_option("--listening", si->listening, "Listening log user,artist,plays");
    cmd->add_option("--artist-column", si->artist_column, "Manifest column naming the artist");
    cmd->add_option("--excerpt", si->excerpt, "Excerpt per file: start, middle or energy")
        ->capture_default_str();
    cmd->add_option("--excerpt-s", si->excerpt_s, "Excerpt length, seconds")->capture_default_str();
    add_shared(cmd, *si, /*with_db=*/false);
    cmd->callback([si] { throw CLI::RuntimeError(run_siamese(*si)); });

    auto pr = std::make_shared<TrainCliOptions>();
    cmd = train->add_subcommand("projection",
                                "Linear head over a pretrained model, trained on your labels");
    cmd->add_option("--model", pr->model, "Pretrained base model (default: mn04)");
    cmd->add_option("--manifest", pr->manifest, "CSV with a path column and labels")->required();
    cmd->add_option("--label-column", pr->label_column, "Label column")->required();
    cmd->add_option("--group-column", pr->group_column,
                    "Validation split by this column's groups (default: by file)");
    add_shared(cmd, *pr, /*with_db=*/true);
    cmd->footer("Manifest files not yet in the catalog are embedded with --model and added.");
    cmd->callback([pr] { throw CLI::RuntimeError(run_projection(*pr)); });
}

}  // namespace earshot::cli
