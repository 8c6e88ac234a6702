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
};

// The fraction of n slots that pass, from `samples` slots: one per stride, at a pseudo-random
// place within it. A fixed place aliases with periodic ids (ids inserted in order and a filter
// id % 10 == 0: a stride of 390 sampled no passing item, docs/performance.md).
// passes(slot) returns whether the slot's item passes, or nullopt to leave the slot out (a
// deleted item).
template <class Passes>
PassingEstimate sample_passing_fraction(std::size_t n,
                                        std::size_t samples,
                                        Passes& passes,
                                        std::size_t& counted) {
    samples = std::min(n, samples);
    PassingEstimate e;
    e.samples = samples;
    counted = 0;
    if (samples == 0)
        return e;
    const std::size_t step = n / samples;
    std::size_t pass = 0;
    for (std::size_t j = 0; j < samples; ++j) {
        const std::optional<bool> p = passes(j * step + (j * 2654435761u) % step);
        if (!p)
            continue;
        ++counted;
        pass += *p ? 1 : 0;
    }
    e.fraction = counted == 0 ? 0.0 : static_cast<double>(pass) / static_cast<double>(counted);
    return e;
}

// The passing fraction of n slots, sampled until it decides whether at least `decide_at` items
// pass (the count at which the caller changes path): kSelectivitySamples slots first, doubled
// while the expected count n * f lies within kSelectivityMargin standard errors of `decide_at`,
// up to kMaxSelectivitySamples (or all n slots, which is exact). With a fixed 256 slots, a filter
// passing 3,000 of 30,000 items was judged below 2,048 about once in 20 indexes (and, the sample
// being fixed for an index, for every query on it): the CI run of stop 30. Far from the decision
// point (10 % of 100k items, 2,048) the first 256 decide. decide_at = 0: 256 slots, no doubling.
template <class Passes>
PassingEstimate estimate_passing_fraction(std::size_t n, std::size_t decide_at, Passes&& passes) {
    const double nd = static_cast<double>(n);
    const double target = static_cast<double>(decide_at);
    std::size_t samples = kSelectivitySamples;
    std::size_t asked = 0;
    for (;;) {
        std::size_t counted = 0;
        PassingEstimate e = sample_passing_fraction(n, samples, passes, counted);
        const std::size_t level = e.samples;
        asked += level;
        e.samples = asked;
        // Decided: every slot asked (exact), fewer slots than the decision point, no decision
        // wanted, or the largest sample taken.
        if (level >= n || n < decide_at || decide_at == 0 || samples >= kMaxSelectivitySamples)
            return e;
        // The standard error of n * f from `counted` independent draws (the strata make it
        // smaller), with f pulled off 0 and 1 so that a sample of all-pass or none still counts
        // as uncertain.
        const double c = static_cast<double>(counted);
        const double p = (e.fraction * c + 1.0) / (c + 2.0);
        const double se = nd * std::sqrt(p * (1.0 - p) / std::max(c, 1.0));
        if (std::abs(e.fraction * nd - target) >= kSelectivityMargin * se)
            return e;
        samples *= 2;
    }
}

}  // namespace earshot::detail
