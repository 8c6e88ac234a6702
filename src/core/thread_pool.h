// parallel_for: runs body(begin, end) over [0, n) split into contiguous chunks on up to n_threads
// std::threads (the calling thread takes one chunk). Blocks until all chunks are done. body must
// be safe to call concurrently on disjoint ranges.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace earshot {

// Number of hardware threads (at least 1).
inline int hardware_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

namespace detail {

// n_threads <= 0 means hardware_threads().
inline std::size_t thread_count(int n_threads) {
    return static_cast<std::size_t>(n_threads <= 0 ? hardware_threads() : n_threads);
}

// Runs task(i) for i in [0, t): i = 0 on the calling thread, the others on their own threads;
// returns when all are done.
inline void run_on_threads(std::size_t t, const std::function<void(std::size_t)>& task) {
    std::vector<std::thread> workers;
    workers.reserve(t - 1);
    for (std::size_t i = 1; i < t; ++i) workers.emplace_back([&task, i] { task(i); });
    task(0);
    for (auto& w : workers) w.join();
}

}  // namespace detail

// n_threads <= 0 means hardware_threads(). min_chunk bounds the smallest chunk so that tiny
// workloads stay on one thread.
inline void parallel_for(std::size_t n,
                         int n_threads,
                         std::size_t min_chunk,
                         const std::function<void(std::size_t, std::size_t)>& body) {
    if (n == 0)
        return;
    std::size_t max_by_chunk = std::max<std::size_t>(1, n / std::max<std::size_t>(1, min_chunk));
    std::size_t t = std::min(detail::thread_count(n_threads), max_by_chunk);
    if (t <= 1) {
        body(0, n);
        return;
    }
    const std::size_t chunk = (n + t - 1) / t;
    t = (n + chunk - 1) / chunk;  // no empty chunk
    detail::run_on_threads(t,
                           [&](std::size_t i) { body(i * chunk, std::min(n, (i + 1) * chunk)); });
}

// Like parallel_for, but the threads claim chunks of `grain` indices in ascending order from a
// shared counter, so [0, n) is processed nearly in order whatever the thread count. For work
// whose result depends on the order (an HNSW graph built from rows sorted by file: two
// concurrent sorted streams, one per half, built a measurably worse graph than one stream).
inline void parallel_for_ordered(std::size_t n,
                                 int n_threads,
                                 std::size_t grain,
                                 const std::function<void(std::size_t, std::size_t)>& body) {
    if (n == 0)
        return;
    grain = std::max<std::size_t>(1, grain);
    const std::size_t t = std::min(detail::thread_count(n_threads), (n + grain - 1) / grain);
    if (t <= 1) {
        body(0, n);
        return;
    }
    std::atomic<std::size_t> next{0};
    detail::run_on_threads(t, [&](std::size_t) {
        for (std::size_t b = next.fetch_add(grain); b < n; b = next.fetch_add(grain))
            body(b, std::min(n, b + grain));
    });
}

}  // namespace earshot
