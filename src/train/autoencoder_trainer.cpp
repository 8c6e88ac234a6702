// train_autoencoder (trainer.h): excerpt images -> normalise with training-set statistics ->
// mini-batch Adam on the MSE reconstruction loss; validation split, early stopping, a checkpoint
// after every epoch (weights + Adam state + epoch/best/patience counters) and resume.
// Determinism: one libtorch thread, torch::manual_seed(seed) before building the network, and
// the batch order of epoch e drawn from std::mt19937_64(seed + e), so a resumed run continues
// exactly as an uninterrupted one.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "models/detail/trained_networks.h"
#include "models/torch_util.h"
#include "train/losses.h"
#include "train/train_util.h"
#include "train/trainer.h"

namespace earshot {
namespace {

// libtorch messages carry a C++ backtrace after the first line.
std::string first_line(const char* what) {
    std::string s = what;
    return s.substr(0, s.find('\n'));
}

namespace fs = std::filesystem;
using nlohmann::json;

// [N, 1, F, M] normalised tensor of the selected images.
torch::Tensor stack_images(const std::vector<Matrix>& images,
                           const std::vector<std::size_t>& rows,
                           float mean,
                           float std) {
    if (rows.empty())
        return {};
    const auto f = static_cast<std::int64_t>(images[rows[0]].n_rows);
    const auto m = static_cast<std::int64_t>(images[rows[0]].n_cols);
    auto out = torch::empty({static_cast<std::int64_t>(rows.size()), 1, f, m});
    float* dst = out.data_ptr<float>();
    for (std::size_t k = 0; k < rows.size(); ++k) {
        const auto& src = images[rows[k]].data;
        for (std::size_t j = 0; j < src.size(); ++j)
            dst[k * src.size() + j] = (src[j] - mean) / std;
    }
    return out;
}

double evaluate(detail::ConvAutoencoder& net, const torch::Tensor& x, int batch_size) {
    torch::NoGradGuard no_grad;
    double sum = 0.0;
    const auto n = x.size(0);
    for (std::int64_t b = 0; b < n; b += batch_size) {
        const auto len = std::min<std::int64_t>(batch_size, n - b);
        auto xb = x.narrow(0, b, len);
        sum += detail::reconstruction_loss(net->forward(xb), xb).item<double>() *
               static_cast<double>(len);
    }
    return sum / static_cast<double>(n);
}

}  // namespace

Result<TrainReport> train_autoencoder(const std::vector<fs::path>& files,
                                      const fs::path& out,
                                      const AutoencoderTrainOptions& o) {
    if (o.n_frames % 8 != 0 || o.n_mels % 8 != 0 || o.n_frames < 8 || o.n_mels < 8 || o.dim <= 0 ||
        o.channels <= 0 || o.epochs <= 0 || o.batch_size <= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "train autoencoder: n_frames and n_mels must be multiples of 8 (>= 8); "
                          "dim, channels, epochs and batch size > 0");
    }
    if (files.size() < 2) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("train autoencoder: need at least 2 audio files, got {}", files.size()));
    }
    const fs::path ckpt = o.checkpoint.empty() ? fs::path(out.string() + ".ckpt") : o.checkpoint;
    const fs::path ckpt_optim = ckpt.string() + ".optim";
    std::error_code ec;
    if (o.resume && (!fs::is_regular_file(ckpt, ec) || !fs::is_regular_file(ckpt_optim, ec))) {
        return make_error(ErrorCode::kNotFound,
                          fmt::format("train autoencoder: no checkpoint to resume ({} and {})",
                                      ckpt.string(), ckpt_optim.string()));
    }
    const auto start = std::chrono::steady_clock::now();
    TrainReport report;
    ExcerptImageConfig input;
    EARSHOT_ASSIGN_OR_RETURN(ImageSet set, detail::excerpt_images_with_progress(
                                               files, o.excerpt, o.excerpt_s, o.n_frames, o.n_mels,
                                               o.threads, o.on_progress, start, input));
    report.n_failed = set.failures.size();
    report.features_s = detail::seconds_since(start);
    if (set.images.size() < 2) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("train autoencoder: fewer than 2 of {} files decoded{}", files.size(),
                        set.failures.empty() ? "" : " (" + set.failures[0] + ")"));
    }
    std::vector<std::string> names;
    for (auto i : set.sources) names.push_back(files[i].string());
    const auto is_val = split_by_group(names, o.val_fraction, o.seed);
    std::vector<std::size_t> tr_rows, va_rows;
    std::vector<Matrix> train_images;
    for (std::size_t i = 0; i < is_val.size(); ++i) {
        (is_val[i] ? va_rows : tr_rows).push_back(i);
        if (!is_val[i])
            train_images.push_back(set.images[i]);
    }
    std::tie(input.mean, input.std) = image_stats(train_images);
    report.n_train = tr_rows.size();
    report.n_val = va_rows.size();

    try {
        detail::seed_everything(o.seed);
        detail::ConvAutoencoder net(o.n_frames, o.n_mels, o.channels, o.dim);
        torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.learning_rate));
        auto x_tr = stack_images(set.images, tr_rows, input.mean, input.std);
        auto x_va = stack_images(set.images, va_rows, input.mean, input.std);
        const bool has_val = !va_rows.empty();

        TrainedModelCard card;
        card.kind = "ae";
        card.dim = o.dim;
        card.channels = o.channels;
        card.input = input;
        card.description = fmt::format(
            "conv autoencoder ({} ch, {}-d bottleneck) on {:.1f} s '{}' excerpts of {} files",
            o.channels, o.dim, o.excerpt_s, excerpt_kind_name(o.excerpt), set.images.size());
        card.training_json = o.training_json;

        int first_epoch = 1;
        detail::EarlyStopping stop;
        stop.watch_val = has_val;
        if (o.resume) {
            EARSHOT_ASSIGN_OR_RETURN(TrainedModelCard c, detail::load_trained_module(ckpt, *net));
            // A damaged optimiser file or checkpoint state is the file's fault, not ours.
            try {
                torch::load(opt, ckpt_optim.string());
                json state = json::parse(c.training_json);
                const json& s = state.at("checkpoint");
                first_epoch = s.at("epoch").get<int>() + 1;
                stop.best = s.at("best").get<double>();
                stop.since_best = s.at("since_best").get<int>();
                report.best_epoch = s.at("best_epoch").get<int>();
                report.train_losses = s.at("train_losses").get<std::vector<double>>();
                report.val_losses = s.at("val_losses").get<std::vector<double>>();
            } catch (const std::exception& e) {
                return make_error(
                    ErrorCode::kCorruption,
                    fmt::format("train autoencoder: checkpoint {} / {} is damaged "
                                "({}); delete them or train without --resume",
                                ckpt.string(), ckpt_optim.string(), first_line(e.what())));
            }
            if (c.input.mean != input.mean || c.input.std != input.std) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "train autoencoder: the checkpoint was made from other data "
                                  "(normalisation statistics differ)");
            }
            // The best weights so far are already in out (written when they were best).
            report.start_epoch = first_epoch;
        }

        auto run_epoch = [&](int epoch) -> Result<detail::EpochLosses> {
            net->train();
            std::vector<std::int64_t> order(tr_rows.size());
            std::iota(order.begin(), order.end(), 0);
            std::mt19937_64 rng(o.seed + static_cast<std::uint64_t>(epoch));
            std::shuffle(order.begin(), order.end(), rng);
            auto perm = torch::tensor(order);
            double sum = 0.0;
            const auto n = static_cast<std::int64_t>(order.size());
            for (std::int64_t b = 0; b < n; b += o.batch_size) {
                const auto len = std::min<std::int64_t>(o.batch_size, n - b);
                auto xb = x_tr.index_select(0, perm.narrow(0, b, len));
                opt.zero_grad();
                auto loss = detail::reconstruction_loss(net->forward(xb), xb);
                loss.backward();
                opt.step();
                sum += loss.item<double>() * static_cast<double>(len);
            }
            detail::EpochLosses losses{sum / static_cast<double>(n)};
            net->eval();
            if (has_val)
                losses.val = evaluate(net, x_va, o.batch_size);
            return losses;
        };
        auto save_best = [&](int) -> Status {
            card.name = detail::trained_model_name("ae", out, *net);
            return detail::save_trained_module(out, card, *net);
        };
        // Checkpoint: current weights + optimiser + counters.
        auto save_checkpoint = [&](int epoch) -> Status {
            TrainedModelCard c = card;
            c.name = "checkpoint";
            json state = json::parse(o.training_json, nullptr, false);
            if (!state.is_object())
                state = json::object();
            state["checkpoint"] = {{"epoch", epoch},
                                   {"best", stop.best},
                                   {"since_best", stop.since_best},
                                   {"best_epoch", report.best_epoch},
                                   {"train_losses", report.train_losses},
                                   {"val_losses", report.val_losses}};
            c.training_json = state.dump();
            EARSHOT_RETURN_IF_ERROR(detail::save_trained_module(ckpt, c, *net));
            torch::save(opt, ckpt_optim.string());
            return {};
        };
        EARSHOT_RETURN_IF_ERROR(detail::run_epochs("autoencoder", first_epoch, o.epochs, o.patience,
                                                   stop, report, o.on_progress, start, run_epoch,
                                                   save_best, save_checkpoint));
        EARSHOT_ASSIGN_OR_RETURN(TrainedModelCard final_card, read_trained_card(out));
        report.model_name = final_card.name;
        report.elapsed_s = detail::seconds_since(start);
        return report;
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal, std::string("train autoencoder: ") + e.what());
    }
}

}  // namespace earshot
