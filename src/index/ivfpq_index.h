// The IVF-PQ index kind's parameters and defaults ("IVF<nlist>,PQ<m>", ivfpq_index.cpp).
#pragma once

#include <algorithm>
#include <cstddef>

#include "core/status.h"
#include "index/vector_index.h"

namespace earshot {

// Default nprobe: nlist / 16, at least this many (docs/performance.md).
inline constexpr std::size_t kIvfMinDefaultNprobe = 32;
inline std::size_t ivf_default_nprobe(int nlist) {
    const auto n = static_cast<std::size_t>(nlist);
    return n < kIvfMinDefaultNprobe ? n : std::max(kIvfMinDefaultNprobe, n / 16);
}

struct IvfPqParams {
    int nlist = 0;  // IVF<nlist>: coarse k-means lists
    int pq_m = 0;   // PQ<m>: bytes per PQ code (8-bit sub-quantisers)
};

// The parameters of an "ivfpq" spec (kInvalidArgument for another kind or a bad spec).
Result<IvfPqParams> ivfpq_params(const IndexSpec& spec);

}  // namespace earshot
