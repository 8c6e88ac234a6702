// How many items a filter lets through, estimated before a filtered search chooses its path
// (HNSW: walk the graph or scan the passing items; IVF-PQ: probe more lists or scan). Shared by
// the index kinds so that they sample the same way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>

namespace earshot::detail {

// Below this many expected passing items a filtered search scans the passing items exactly.
inline constexpr std::size_t kExactFilterFloor = 2048;
// The first sample's size and the largest's: a sample is doubled only while its estimate is too
// close to the caller's decision point to decide (estimate_passing_fraction).
inline constexpr std::size_t kSelectivitySamples = 256;
inline constexpr std::size_t kMaxSelectivitySamples = 8192;
// How many standard errors from the decision point an estimate must be to stop sampling.
inline constexpr double kSelectivityMargin = 4.0;

struct PassingEstimate {
    double fraction = 0.0;    // of the counted slots, the share that passed (0 if none counted)
    std::size_t samples = 0;  // slots asked in all (every doubling asks afresh)
    bool below = false;       // fewer than decide_at of the live items are expected to pass
};

struct SampleCount {
    std::size_t asked = 0;    // slots asked
    std::size_t counted = 0;  // of those, slots not left out
    std::size_t passed = 0;   // of those, slots that passed
};

// Asks `samples` of n slots (all of them if samples >= n): one per stride, at a pseudo-random
// place within it. A fixed place aliases with periodic ids (ids inserted in order and a filter
// id % 10 == 0: a stride of 390 sampled no passing item, docs/performance.md).
// passes(slot) returns whether the slot's item passes, or nullopt to leave the slot out (a
// deleted item).
template <class Passes>
SampleCount count_sample(std::size_t n, std::size_t samples, Passes& passes) {
    SampleCount c;
    c.asked = std::min(n, samples);
    if (c.asked == 0)
        return c;
    const std::size_t step = n / c.asked;
    for (std::size_t j = 0; j < c.asked; ++j) {
        const std::optional<bool> p = passes(j * step + (j * 2654435761u) % step);
        if (!p)
            continue;
        ++c.counted;
        c.passed += *p ? 1 : 0;
    }
    return c;
}

// The passing fraction of n slots holding `live` items (the other slots are left out by
// `passes`), sampled until it decides whether at least `decide_at` of the live items pass (the
// count at which the caller changes path): kSelectivitySamples slots first, doubled while the
// expected count live * f lies within kSelectivityMargin standard errors of `decide_at`, up to
// kMaxSelectivitySamples (or all n slots, which is exact). Far from the decision point (10 % of
// 100k items against 2,048) the first 256 decide; near it a fixed 256 chose the wrong path for
// several per cent of indexes (docs/performance.md, twelfth round).
// decide_at = 0: one sample of kSelectivitySamples slots, never `below`.
template <class Passes>
PassingEstimate estimate_passing_fraction(std::size_t n,
                                          std::size_t live,
                                          std::size_t decide_at,
                                          Passes&& passes) {
    const double scale = static_cast<double>(live);
    const double target = static_cast<double>(decide_at);
    PassingEstimate e;
    for (std::size_t samples = kSelectivitySamples;; samples *= 2) {
        const SampleCount c = count_sample(n, samples, passes);
        e.samples += c.asked;
        const double counted = static_cast<double>(c.counted);
        e.fraction = c.counted == 0 ? 0.0 : static_cast<double>(c.passed) / counted;
        e.below = e.fraction * scale < target;
        // Decided: every slot asked (exact), fewer live items than the decision point, no
        // decision wanted, or the largest sample taken.
        if (c.asked >= n || live < decide_at || decide_at == 0 || samples >= kMaxSelectivitySamples)
            return e;
        // The standard error of live * f from `counted` independent draws (the strata make it
        // smaller), with f pulled off 0 and 1 so that a sample of all-pass or none still counts
        // as uncertain.
        const double p = (static_cast<double>(c.passed) + 1.0) / (counted + 2.0);
        const double se = scale * std::sqrt(p * (1.0 - p) / std::max(counted, 1.0));
        if (std::abs(e.fraction * scale - target) >= kSelectivityMargin * se)
            return e;
    }
}

}  // namespace earshot::detail
