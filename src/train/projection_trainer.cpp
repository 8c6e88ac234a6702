// train_projection (trainer.h): a linear head over pretrained whole-file vectors, trained with
// the supervised contrastive loss, full batch, early stopping on the validation groups' loss.
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "models/detail/trained_networks.h"
#include "models/torch_util.h"
#include "train/losses.h"
#include "train/train_util.h"
#include "train/trainer.h"

namespace earshot {

Result<TrainReport> train_projection(const Matrix& base_vectors,
                                     const std::vector<std::string>& labels,
                                     const std::vector<std::string>& groups,
                                     const std::string& base_model,
                                     const std::filesystem::path& out,
                                     const ProjectionTrainOptions& o) {
    const std::size_t n = base_vectors.n_rows;
    if (labels.size() != n || groups.size() != n) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("train projection: {} vectors but {} labels and {} groups", n,
                                      labels.size(), groups.size()));
    }
    if (n < 4 || o.dim <= 0 || o.epochs <= 0 || o.temperature <= 0.0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "train projection: need >= 4 labelled items, dim > 0, epochs > 0, "
                          "temperature > 0");
    }
    const auto start = std::chrono::steady_clock::now();
    try {
        detail::seed_everything(o.seed);
        std::map<std::string, std::int64_t> label_ids;
        for (const auto& l : labels) label_ids.emplace(l, 0);
        std::int64_t next = 0;
        for (auto& [l, id] : label_ids) id = next++;
        const auto is_val = split_by_group(groups, o.val_fraction, o.seed);
        std::vector<std::int64_t> tr_rows, va_rows, tr_y, va_y;
        for (std::size_t i = 0; i < n; ++i) {
            auto& rows = is_val[i] ? va_rows : tr_rows;
            auto& y = is_val[i] ? va_y : tr_y;
            rows.push_back(static_cast<std::int64_t>(i));
            y.push_back(label_ids.at(labels[i]));
        }
        auto x = detail::from_matrix(base_vectors);
        auto x_tr = x.index_select(0, torch::tensor(tr_rows));
        auto y_tr = torch::tensor(tr_y);
        const bool has_val = !va_rows.empty();
        auto x_va = has_val ? x.index_select(0, torch::tensor(va_rows)) : torch::Tensor();
        auto y_va = has_val ? torch::tensor(va_y) : torch::Tensor();

        const auto base_dim = static_cast<int>(base_vectors.n_cols);
        detail::ProjectionHead head(base_dim, o.dim);
        torch::optim::Adam opt(
            head->parameters(),
            torch::optim::AdamOptions(o.learning_rate).weight_decay(o.weight_decay));
        TrainReport report;
        report.n_train = tr_rows.size();
        report.n_val = va_rows.size();
        auto best_state = detail::snapshot(*head);
        detail::EarlyStopping stop;
        stop.watch_val = has_val;
        auto run_epoch = [&](int) -> Result<detail::EpochLosses> {
            head->train();
            opt.zero_grad();
            auto loss =
                detail::supervised_contrastive_loss(head->forward(x_tr), y_tr, o.temperature);
            loss.backward();
            opt.step();
            detail::EpochLosses losses{loss.item<double>()};
            if (has_val) {
                torch::NoGradGuard no_grad;
                losses.val =
                    detail::supervised_contrastive_loss(head->forward(x_va), y_va, o.temperature)
                        .item<double>();
            }
            return losses;
        };
        auto keep_best = [&](int) -> Status {
            best_state = detail::snapshot(*head);
            return {};
        };
        EARSHOT_RETURN_IF_ERROR(detail::run_epochs("projection", 1, o.epochs, o.patience, stop,
                                                   report, o.on_progress, start, run_epoch,
                                                   keep_best));
        detail::restore(*head, best_state);
        TrainedModelCard card;
        card.kind = "proj";
        card.name = detail::trained_model_name("proj", out, *head);
        card.description = fmt::format("linear projection {} -> {} of {} trained on {} labels",
                                       base_dim, o.dim, base_model, label_ids.size());
        card.dim = o.dim;
        card.base_model = base_model;
        card.base_dim = base_dim;
        card.training_json = o.training_json;
        EARSHOT_RETURN_IF_ERROR(detail::save_trained_module(out, card, *head));
        report.model_name = card.name;
        report.elapsed_s = detail::seconds_since(start);
        return report;
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal, std::string("train projection: ") + e.what());
    }
}

}  // namespace earshot
