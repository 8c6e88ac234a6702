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

// n_threads <= 0 means hardware_threads(). min_chunk bounds the smallest chunk so that tiny
// workloads stay on one thread.
inline void parallel_for(std::size_t n,
                         int n_threads,
                         std::size_t min_chunk,
                         const std::function<void(std::size_t, std::size_t)>& body) {
    if (n == 0)
        return;
    if (n_threads <= 0)
        n_threads = hardware_threads();
    std::size_t max_by_chunk = std::max<std::size_t>(1, n / std::max<std::size_t>(1, min_chunk));
    std::size_t t = std::min<std::size_t>(static_cast<std::size_t>(n_threads), max_by_chunk);
    if (t <= 1) {
        body(0, n);
        return;
    }
    std::size_t chunk = (n + t - 1) / t;
    std::vector<std::thread> workers;
    workers.reserve(t - 1);
    for (std::size_t i = 1; i < t; ++i) {
        std::size_t b = i * chunk;
        std::size_t e = std::min(n, b + chunk);
        if (b >= e)
            break;
        workers.emplace_back([&body, b, e] { body(b, e); });
    }
    body(0, std::min(n, chunk));
    for (auto& w : workers) w.join();
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
    if (n_threads <= 0)
        n_threads = hardware_threads();
    grain = std::max<std::size_t>(1, grain);
    const std::size_t chunks = (n + grain - 1) / grain;
    const std::size_t t = std::min<std::size_t>(static_cast<std::size_t>(n_threads), chunks);
    if (t <= 1) {
        body(0, n);
        return;
    }
    std::atomic<std::size_t> next{0};
    auto run = [&] {
        for (std::size_t b = next.fetch_add(grain); b < n; b = next.fetch_add(grain))
            body(b, std::min(n, b + grain));
    };
    std::vector<std::thread> workers;
    workers.reserve(t - 1);
    for (std::size_t i = 1; i < t; ++i) workers.emplace_back(run);
    run();
    for (auto& w : workers) w.join();
}

}  // namespace earshot
