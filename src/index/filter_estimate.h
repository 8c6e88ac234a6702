// How many items a filter lets through, estimated before a filtered search chooses its path
// (HNSW: walk the graph or scan the passing items; IVF-PQ: probe more lists or scan). Shared by
// the index kinds so that they sample the same way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

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
    std::size_t samples = 0;  // slots asked in all (a doubling keeps the slots already asked)
    bool below = false;       // fewer than decide_at of the live items are expected to pass
};

// Stratum j of m over n slots is [stratum_begin(j), stratum_begin(j + 1)). With 2m strata,
// strata 2j and 2j + 1 are the two halves of stratum j of m (floor(2j n / 2m) = floor(j n / m)).
inline std::size_t stratum_begin(std::size_t j, std::size_t m, std::size_t n) {
    return j * n / m;
}

// A pseudo-random slot in [lo, hi), hi > lo, for `key`. A fixed place in each stratum aliases with
// periodic ids (ids inserted in order and a filter id % 10 == 0: a stride of 390 sampled no
// passing item, docs/performance.md).
inline std::size_t slot_in(std::size_t lo, std::size_t hi, std::size_t key) {
    return lo + (key * 2654435761u) % (hi - lo);
}

// The passing fraction of n slots holding `live` items (the other slots are left out by
// `passes`), sampled until it decides whether at least `decide_at` of the live items pass (the
// count at which the caller changes path). passes(slot) returns whether the slot's item passes,
// or nullopt to leave the slot out (a deleted item).
// The sample is stratified: one slot at a pseudo-random place in each of m equal strata,
// m = kSelectivitySamples first. While the expected count live * f lies within
// kSelectivityMargin standard errors of `decide_at`, m is doubled up to kMaxSelectivitySamples:
// each stratum splits in two, the half that holds its slot keeps it, and the other half gets a
// new one, so a doubling asks only m new slots and never one twice. Once 2m would exceed n,
// every slot is asked (exact). Far from the decision point (10 % of 100k items against 2,048)
// the first 256 decide; near it a fixed 256 chose the wrong path for several per cent of indexes
// (docs/performance.md, twelfth round).
// decide_at = 0: one sample of kSelectivitySamples slots, never `below`.
template <class Passes>
PassingEstimate estimate_passing_fraction(std::size_t n,
                                          std::size_t live,
                                          std::size_t decide_at,
                                          Passes&& passes) {
    const double scale = static_cast<double>(live);
    const double target = static_cast<double>(decide_at);
    PassingEstimate e;
    std::size_t counted = 0;  // asked slots not left out
    std::size_t passed = 0;   // of those, slots that passed
    auto ask = [&](std::size_t slot) {
        ++e.samples;
        const std::optional<bool> p = passes(slot);
        if (!p)
            return;
        ++counted;
        passed += *p ? 1 : 0;
    };
    std::size_t m = std::min(n, kSelectivitySamples);
    // The first sample's slot in stratum j (recomputed, not stored, unless the sample doubles).
    const std::size_t m0 = m;
    auto first_slot = [&](std::size_t j) {
        return slot_in(stratum_begin(j, m0, n), stratum_begin(j + 1, m0, n), j);
    };
    for (std::size_t j = 0; j < m; ++j) ask(first_slot(j));
    std::vector<std::size_t> slots;  // the sample's slots in stratum order, once it is doubled
    for (;;) {
        const double c = static_cast<double>(counted);
        e.fraction = counted == 0 ? 0.0 : static_cast<double>(passed) / c;
        e.below = e.fraction * scale < target;
        // Decided: every slot asked (exact), fewer live items than the decision point, no
        // decision wanted, or the largest sample taken.
        if (m >= n || live < decide_at || decide_at == 0 || m >= kMaxSelectivitySamples)
            return e;
        // The standard error of live * f from `counted` independent draws (the strata make it
        // smaller), with f pulled off 0 and 1 so that a sample of all-pass or none still counts
        // as uncertain.
        const double p = (static_cast<double>(passed) + 1.0) / (c + 2.0);
        const double se = scale * std::sqrt(p * (1.0 - p) / std::max(c, 1.0));
        if (std::abs(e.fraction * scale - target) >= kSelectivityMargin * se)
            return e;
        if (2 * m > n) {  // halves of one slot or none: ask every slot instead
            counted = 0;
            passed = 0;
            for (std::size_t i = 0; i < n; ++i) ask(i);
            m = n;
            continue;
        }
        if (slots.empty()) {
            slots.resize(m);
            for (std::size_t j = 0; j < m; ++j) slots[j] = first_slot(j);
        }
        std::vector<std::size_t> next(2 * m);
        for (std::size_t j = 0; j < m; ++j) {
            const std::size_t lo = stratum_begin(2 * j, 2 * m, n);
            const std::size_t mid = stratum_begin(2 * j + 1, 2 * m, n);
            const std::size_t hi = stratum_begin(2 * j + 2, 2 * m, n);
            const std::size_t old = slots[j];
            const bool first_half = old < mid;
            const std::size_t fresh =
                first_half ? slot_in(mid, hi, m + j) : slot_in(lo, mid, m + j);
            next[2 * j] = first_half ? old : fresh;
            next[2 * j + 1] = first_half ? fresh : old;
            ask(fresh);
        }
        slots.swap(next);
        m *= 2;
    }
}

}  // namespace earshot::detail
