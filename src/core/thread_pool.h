// parallel_for: runs body(begin, end) over [0, n) split into contiguous chunks on up to n_threads
// std::threads (the calling thread takes one chunk). Blocks until all chunks are done. body must
// be safe to call concurrently on disjoint ranges.
#pragma once

#include <algorithm>
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

}  // namespace earshot
