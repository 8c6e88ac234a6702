#include "train/train_util.h"

#include <fmt/format.h>

#include "core/file_util.h"

extern "C" void openblas_set_num_threads(int num_threads) __attribute__((weak));

namespace earshot::detail {

std::vector<torch::Tensor> snapshot(const torch::nn::Module& module) {
    std::vector<torch::Tensor> state;
    for (const auto& p : module.parameters(true)) state.push_back(p.detach().clone());
    for (const auto& b : module.buffers(true)) state.push_back(b.detach().clone());
    return state;
}

void restore(torch::nn::Module& module, const std::vector<torch::Tensor>& state) {
    torch::NoGradGuard no_grad;
    std::size_t i = 0;
    for (auto& p : module.parameters(true)) p.copy_(state.at(i++));
    for (auto& b : module.buffers(true)) b.copy_(state.at(i++));
}

std::string trained_model_name(const std::string& kind,
                               const std::filesystem::path& out,
                               const torch::nn::Module& module) {
    std::uint64_t h = 0;
    for (const auto& t : snapshot(module)) {
        auto c = t.to(torch::kFloat32).contiguous();
        h = hash_bytes(c.data_ptr<float>(), static_cast<std::size_t>(c.numel()) * sizeof(float), h);
    }
    return fmt::format("{}-{}-{:08x}", kind, out.stem().string(),
                       static_cast<std::uint32_t>(h >> 32));
}

void seed_everything(std::uint64_t seed) {
    if (openblas_set_num_threads != nullptr)
        openblas_set_num_threads(1);
    torch::set_num_threads(1);
    torch::manual_seed(seed);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Result<ImageSet> excerpt_images_with_progress(const std::vector<std::filesystem::path>& files,
                                              ExcerptKind excerpt,
                                              double excerpt_s,
                                              int n_frames,
                                              int n_mels,
                                              int threads,
                                              const TrainProgressFn& on_progress,
                                              std::chrono::steady_clock::time_point start,
                                              ExcerptImageConfig& config) {
    config.excerpt = excerpt;
    config.excerpt_s = excerpt_s;
    config.n_frames = n_frames;
    config.frontend = make_excerpt_frontend(excerpt_s, n_frames, n_mels);
    auto on_file = [&](std::size_t done, std::size_t total) {
        if (on_progress && (done % 16 == 0 || done == total)) {
            on_progress({"features", static_cast<int>(done), static_cast<int>(total), 0.0, 0.0,
                         seconds_since(start), false});
        }
    };
    return compute_excerpt_images(files, config, threads, on_file);
}

Status run_epochs(const std::string& what,
                  int first_epoch,
                  int epochs,
                  int patience,
                  EarlyStopping& state,
                  TrainReport& report,
                  const TrainProgressFn& on_progress,
                  std::chrono::steady_clock::time_point start,
                  const std::function<Result<EpochLosses>(int)>& run_epoch,
                  const std::function<Status(int)>& on_improved,
                  const std::function<Status(int)>& after_epoch) {
    for (int epoch = first_epoch; epoch <= epochs; ++epoch) {
        if (state.since_best >= patience) {
            report.stopped_early = true;
            break;
        }
        EARSHOT_ASSIGN_OR_RETURN(EpochLosses losses, run_epoch(epoch));
        report.train_losses.push_back(losses.train);
        report.val_losses.push_back(losses.val);
        const double watched = state.watch_val ? losses.val : losses.train;
        const bool improved = watched < state.best;  // false for NaN
        if (improved) {
            state.best = watched;
            state.since_best = 0;
            report.best_epoch = epoch;
            EARSHOT_RETURN_IF_ERROR(on_improved(epoch));
        } else {
            ++state.since_best;
        }
        if (after_epoch)
            EARSHOT_RETURN_IF_ERROR(after_epoch(epoch));
        if (on_progress) {
            on_progress(
                {"train", epoch, epochs, losses.train, losses.val, seconds_since(start), improved});
        }
    }
    if (report.best_epoch == 0) {
        return make_error(ErrorCode::kInternal,
                          fmt::format("train {}: no epoch finished with a finite loss", what));
    }
    return {};
}

}  // namespace earshot::detail
