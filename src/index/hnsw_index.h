// The HNSW index kind's parameters and defaults ("HNSW<M>[,efC<N>][,SQfp16]", hnsw_index.cpp).
#pragma once

#include <cstddef>
#include <string_view>

#include "core/status.h"
#include "index/vector_index.h"

namespace earshot {

inline constexpr int kHnswDefaultM = 32;
inline constexpr int kHnswDefaultEfConstruction = 128;
inline constexpr std::size_t kHnswDefaultEfSearch = 96;
// From this many items on the default efSearch is kHnswLargeEfSearch: at 1M x 1024 ef 96 gave
// recall@10 0.875 and ef 192 gave 0.953 at p50 2.96 ms (docs/performance.md).
inline constexpr std::size_t kHnswLargeIndexItems = 300000;
inline constexpr std::size_t kHnswLargeEfSearch = 192;
// A filtered query expecting fewer than max(detail::kExactFilterFloor, 8 * efSearch) passing
// items (index/filter_estimate.h) scans the passing items exactly instead of walking the graph.

struct HnswParams {
    int m = kHnswDefaultM;                             // graph degree (layer 0 has 2M links)
    int ef_construction = kHnswDefaultEfConstruction;  // ",efC<N>"
    bool half = false;                                 // ",SQfp16": binary16 vectors
};

// The parameters of an "hnsw" spec (kInvalidArgument for another kind or a bad spec).
Result<HnswParams> hnsw_params(const IndexSpec& spec);

namespace detail {
// Filtered searches this thread has answered by walking the graph (not by the exact scan of the
// passing items): lets tests check which path they exercise.
std::size_t hnsw_filtered_walks();
}  // namespace detail

}  // namespace earshot
