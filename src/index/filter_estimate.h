// How many items a filter lets through, estimated before a filtered search chooses its path
// (HNSW: walk the graph or scan the passing items; IVF-PQ: probe more lists or scan). Shared by
// the index kinds so that they sample the same way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>

namespace earshot::detail {

// Below this many expected passing items a filtered search scans the passing items exactly.
inline constexpr std::size_t kExactFilterFloor = 2048;
inline constexpr std::size_t kSelectivitySamples = 256;

// The fraction of n slots that pass, from up to kSelectivitySamples slots: one per stride, at a
// pseudo-random place within it. A fixed place aliases with periodic ids (ids inserted in order
// and a filter id % 10 == 0: a stride of 390 sampled no passing item, docs/performance.md).
// passes(slot) returns whether the slot's item passes, or nullopt to leave the slot out (a
// deleted item). 0 when no slot was counted.
template <class Passes>
double estimate_passing_fraction(std::size_t n, Passes&& passes) {
    const std::size_t samples = std::min(n, kSelectivitySamples);
    if (samples == 0)
        return 0.0;
    const std::size_t step = n / samples;
    std::size_t seen = 0;
    std::size_t pass = 0;
    for (std::size_t j = 0; j < samples; ++j) {
        const std::optional<bool> p = passes(j * step + (j * 2654435761u) % step);
        if (!p)
            continue;
        ++seen;
        pass += *p ? 1 : 0;
    }
    return seen == 0 ? 0.0 : static_cast<double>(pass) / static_cast<double>(seen);
}

}  // namespace earshot::detail
