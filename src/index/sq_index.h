// The SQ index kinds' defaults ("SQ8", "SQfp16", sq_index.cpp).
#pragma once

#include <algorithm>
#include <cstddef>

namespace earshot {

// Candidates re-ranked exactly per query when SearchOptions::ef_search is 0:
// kSqRerankFactor x k, at least kSqMinRerank (docs/performance.md).
inline constexpr std::size_t kSqRerankFactor = 10;
inline constexpr std::size_t kSqMinRerank = 64;
inline std::size_t sq_default_rerank(std::size_t k) {
    return std::max(kSqMinRerank, kSqRerankFactor * k);
}

}  // namespace earshot
