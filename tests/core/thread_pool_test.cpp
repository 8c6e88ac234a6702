#include "core/thread_pool.h"

#include <atomic>
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

}  // namespace
}  // namespace earshot
