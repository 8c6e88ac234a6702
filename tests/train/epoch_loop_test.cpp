// The epoch loop the three trainers share (train/train_util.h run_epochs).
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "train/train_util.h"

namespace earshot {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Run {
    std::vector<int> improved_at, after_at, progress_epochs;
    TrainReport report;
    detail::EarlyStopping stop;
    Status status;
};

// Runs the loop over scripted (train, val) losses, recording the callbacks.
Run run(const std::vector<detail::EpochLosses>& losses,
        int first,
        int patience,
        bool watch_val,
        detail::EarlyStopping stop = {}) {
    Run r;
    r.stop = stop;
    r.stop.watch_val = watch_val;
    const int epochs = first - 1 + static_cast<int>(losses.size());
    r.status = detail::run_epochs(
        "test", first, epochs, patience, r.stop, r.report,
        [&](const TrainProgress& p) { r.progress_epochs.push_back(p.epoch); },
        std::chrono::steady_clock::now(),
        [&](int epoch) -> Result<detail::EpochLosses> {
            return losses.at(static_cast<std::size_t>(epoch - first));
        },
        [&](int epoch) -> Status {
            r.improved_at.push_back(epoch);
            return {};
        },
        [&](int epoch) -> Status {
            r.after_at.push_back(epoch);
            return {};
        });
    return r;
}

TEST(EpochLoopTest, WatchesValidationAndStopsAfterPatience) {
    // val: 5, 4, 4.5, 4.2, 3 — patience 2 stops before the fifth epoch.
    auto r = run({{9, 5}, {8, 4}, {7, 4.5}, {6, 4.2}, {5, 3}}, 1, 2, true);
    ASSERT_TRUE(r.status.has_value());
    EXPECT_EQ(r.improved_at, (std::vector<int>{1, 2}));
    EXPECT_EQ(r.after_at, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(r.progress_epochs, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(r.report.best_epoch, 2);
    EXPECT_TRUE(r.report.stopped_early);
    EXPECT_EQ(r.report.train_losses, (std::vector<double>{9, 8, 7, 6}));
    EXPECT_EQ(r.report.val_losses, (std::vector<double>{5, 4, 4.5, 4.2}));
    EXPECT_EQ(r.stop.best, 4.0);
    EXPECT_EQ(r.stop.since_best, 2);
}

TEST(EpochLoopTest, WatchesTrainingLossWithoutValidationAndRunsToTheEnd) {
    auto r = run({{3, kNaN}, {2, kNaN}, {2.5, kNaN}}, 1, 2, false);
    ASSERT_TRUE(r.status.has_value());
    EXPECT_EQ(r.improved_at, (std::vector<int>{1, 2}));
    EXPECT_EQ(r.report.best_epoch, 2);
    // Patience was not used up before the last epoch ran: not "stopped early".
    EXPECT_FALSE(r.report.stopped_early);
    EXPECT_TRUE(std::isnan(r.report.val_losses[0]));
}

TEST(EpochLoopTest, NaNNeverImprovesAndNoFiniteLossIsAnError) {
    auto r = run({{kNaN, kNaN}, {kNaN, kNaN}}, 1, 5, true);
    EXPECT_TRUE(r.improved_at.empty());
    ASSERT_FALSE(r.status.has_value());
    EXPECT_EQ(r.status.error().code(), ErrorCode::kInternal);
    EXPECT_NE(r.status.error().message().find("train test"), std::string::npos);
}

TEST(EpochLoopTest, ResumesFromTheCheckpointState) {
    // A resume at epoch 4 with best 2.0 seen at epoch 2 and one epoch since.
    detail::EarlyStopping state;
    state.best = 2.0;
    state.since_best = 1;
    auto r = run({{1, 2.5}, {1, 1.5}}, 4, 3, true, state);
    // best_epoch comes from the checkpoint in the trainer; here only this run's epochs count.
    ASSERT_TRUE(r.status.has_value());
    EXPECT_EQ(r.improved_at, (std::vector<int>{5}));
    EXPECT_EQ(r.report.best_epoch, 5);
    EXPECT_EQ(r.stop.since_best, 0);
    // Patience already used up at the resume: no epoch runs.
    detail::EarlyStopping spent;
    spent.best = 2.0;
    spent.since_best = 3;
    auto s = run({{1, 1.0}}, 4, 3, true, spent);
    EXPECT_TRUE(s.after_at.empty());
    EXPECT_TRUE(s.report.stopped_early);
}

TEST(EpochLoopTest, CallbackErrorsStopTheLoop) {
    detail::EarlyStopping stop;
    TrainReport report;
    int runs = 0;
    auto status = detail::run_epochs(
        "test", 1, 5, 3, stop, report, nullptr, std::chrono::steady_clock::now(),
        [&](int) -> Result<detail::EpochLosses> {
            ++runs;
            return detail::EpochLosses{1.0, 1.0};
        },
        [&](int) -> Status { return make_error(ErrorCode::kIoError, "disk full"); });
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::kIoError);
    EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace earshot
