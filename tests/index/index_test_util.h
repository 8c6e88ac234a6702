// Synthetic clustered vectors and recall against FlatIndex for the index tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <vector>

#include "core/matrix.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"
#include "index/index_file.h"
#include "index/vector_index.h"

namespace earshot::testing_util {

// Saves index to path (header space "s") and loads the file back.
inline Result<LoadedIndex> save_and_load(const VectorIndex& index,
                                         const std::filesystem::path& path) {
    IndexFileHeader header;
    header.space = "s";
    EARSHOT_RETURN_IF_ERROR(save_index_file(path, index, header));
    return load_index_file(path);
}

// n points around n_clusters Gaussian centres in d dims (plus a positive offset so correlation
// and cosine differ), fixed seed.
inline Matrix clustered(std::size_t n,
                        std::size_t d,
                        std::uint32_t seed,
                        std::size_t n_clusters = 50) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    Matrix centres(n_clusters, d);
    for (auto& x : centres.data) x = g(rng);
    Matrix m(n, d);
    std::uniform_int_distribution<std::size_t> pick(0, n_clusters - 1);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = pick(rng);
        for (std::size_t j = 0; j < d; ++j) m.at(i, j) = centres.at(c, j) + 0.35f * g(rng) + 0.5f;
    }
    return m;
}

inline std::vector<std::int64_t> ids_from(std::int64_t first, std::size_t n) {
    std::vector<std::int64_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = first + static_cast<std::int64_t>(i);
    return ids;
}

// Element i's links on `level` in an HNSW graph view (hnswlib keeps the count in the low 16 bits
// of the list's first word).
inline std::vector<std::uint32_t> links_of(const detail::HnswGraphView& g,
                                           std::size_t i,
                                           int level) {
    const char* list = level == 0
                           ? g.level0 + i * g.level0_stride
                           : g.upper[i] + static_cast<std::size_t>(level - 1) * g.upper_stride;
    std::uint32_t header = 0;
    std::memcpy(&header, list, sizeof header);
    std::vector<std::uint32_t> links(header & 0xffffu);
    if (!links.empty())
        std::memcpy(links.data(), list + 4, links.size() * sizeof(std::uint32_t));
    return links;
}

// Layer-0 in-links per element (from every element's list).
inline std::vector<std::size_t> in_degrees(const detail::HnswGraphView& g) {
    std::vector<std::size_t> in(g.count, 0);
    for (std::size_t i = 0; i < g.count; ++i)
        for (std::uint32_t l : links_of(g, i, 0)) ++in[l];
    return in;
}

// Elements of an HNSW index with fewer than `min_in` layer-0 in-links (0 for another kind).
inline std::size_t weakly_linked(const VectorIndex& index, std::size_t min_in) {
    const auto g = detail::hnsw_graph_view(index);
    if (!g)
        return 0;
    const std::vector<std::size_t> in = in_degrees(*g);
    return static_cast<std::size_t>(
        std::count_if(in.begin(), in.end(), [&](std::size_t n) { return n < min_in; }));
}

// Mean fraction of the exact top-k ids found by the index, over the query rows.
inline double recall_at_k(const VectorIndex& index,
                          const FlatIndex& exact,
                          const Matrix& queries,
                          const SearchOptions& options) {
    double sum = 0.0;
    for (std::size_t q = 0; q < queries.n_rows; ++q) {
        auto truth = exact.search(queries.row_span(q), options);
        auto got = index.search(queries.row_span(q), options);
        if (!truth || !got || truth->empty())
            return -1.0;
        std::set<std::int64_t> want;
        for (const auto& h : *truth) want.insert(h.id);
        std::size_t found = 0;
        for (const auto& h : *got) found += want.count(h.id);
        sum += static_cast<double>(found) / static_cast<double>(truth->size());
    }
    return sum / static_cast<double>(queries.n_rows);
}

}  // namespace earshot::testing_util
