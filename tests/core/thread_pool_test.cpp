#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

namespace earshot {
namespace {

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnce) {
    for (int threads : {1, 2, 3, 8}) {
        std::vector<std::atomic<int>> hits(1001);
        parallel_for(hits.size(), threads, 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) hits[i]++;
        });
        for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "threads=" << threads;
    }
}

TEST(ThreadPoolTest, EmptyRangeCallsNothing) {
    int calls = 0;
    parallel_for(0, 4, 1, [&](std::size_t, std::size_t) { ++calls; });
    EXPECT_EQ(calls, 0);
}

TEST(ThreadPoolTest, OrderedChunksCoverEveryIndexOnceInAscendingStarts) {
    for (int threads : {2, 3, 8}) {  // one thread: one call over [0, n)
        for (std::size_t grain : {1u, 4u, 64u}) {
            std::vector<std::atomic<int>> hits(1001);
            std::mutex mu;
            std::vector<std::size_t> starts;  // in the order the chunks were claimed
            parallel_for_ordered(hits.size(), threads, grain, [&](std::size_t b, std::size_t e) {
                {
                    std::lock_guard lock(mu);
                    starts.push_back(b);
                }
                EXPECT_LE(e - b, grain);
                for (std::size_t i = b; i < e; ++i) hits[i]++;
            });
            for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "threads=" << threads;
            // Chunks are claimed from one counter: the k-th claim starts at k * grain (the log
            // order may differ only between claims racing for the mutex).
            std::sort(starts.begin(), starts.end());
            for (std::size_t k = 0; k < starts.size(); ++k) ASSERT_EQ(starts[k], k * grain);
        }
    }
    int calls = 0;
    parallel_for_ordered(0, 4, 4, [&](std::size_t, std::size_t) { ++calls; });
    EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace earshot
