// Exact (brute-force) top-k search over n × d float32 vectors, row-major, each row with a 64-bit
// item id. Vectorised distance kernels (AVX2/AVX-512 via -march=native, with a scalar fallback)
// and a multi-threaded scan; the reference that approximate indexes are tested against.
// Thread-safety: search() is const and may run concurrently; add/remove need exclusive access.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"
#include "index/metric.h"

namespace earshot {

struct SearchHit {
    std::int64_t id = 0;
    float distance = 0.0f;
    float score = 0.0f;
};

struct SearchOptions {
    std::size_t k = 10;
    // Optional filter applied during the scan: only ids for which it returns true are candidates
    // (e.g. duration range, excluding the query item). Must be thread-safe.
    std::function<bool(std::int64_t id)> filter;
    // Optional, and only beside `filter`: the same decisions for a block of ids at once,
    // pass[i] = filter(ids[i]) ? 1 : 0. Scans that ask about every item (flat, SQ, HNSW's exact
    // scan of the passing items) call it once per block instead of `filter` once per id: on 100k
    // items the per-id calls through std::function took about half of a scanned HNSW query's
    // time (docs/performance.md, twentieth round; the block form gained 1.04-1.40x in the
    // twenty-first). Must be thread-safe and agree with `filter`.
    std::function<void(std::span<const std::int64_t> ids, std::uint8_t* pass)> filter_block;
    int threads = 0;  // 0 = all cores
    // Approximate indexes only (0 = the index's default): candidate list size (HNSW efSearch;
    // IVF-PQ: PQ candidates re-ranked with exact-ish distances, default 100 x k), raised to at
    // least k, and IVF lists probed (nprobe). Exact indexes ignore them.
    std::size_t ef_search = 0;
    std::size_t nprobe = 0;
};

namespace detail {

// Calls fn(r) for every r in [begin, end) whose id ids[r] passes options.filter (every r without
// a filter), asking options.filter_block for blocks of up to kFilterBlock ids when it is given.
inline constexpr std::size_t kFilterBlock = 1024;
template <typename Fn>
void for_each_passing(const SearchOptions& options,
                      const std::int64_t* ids,
                      std::size_t begin,
                      std::size_t end,
                      Fn&& fn) {
    if (!options.filter) {
        for (std::size_t r = begin; r < end; ++r) fn(r);
        return;
    }
    if (!options.filter_block) {
        for (std::size_t r = begin; r < end; ++r) {
            if (options.filter(ids[r]))
                fn(r);
        }
        return;
    }
    std::uint8_t pass[kFilterBlock];
    for (std::size_t at = begin; at < end; at += kFilterBlock) {
        const std::size_t m = std::min(kFilterBlock, end - at);
        options.filter_block({ids + at, m}, pass);
        for (std::size_t j = 0; j < m; ++j) {
            if (pass[j] != 0)
                fn(at + j);
        }
    }
}

}  // namespace detail

class FlatIndex {
public:
    // REQUIRES: dim > 0.
    FlatIndex(int dim, Metric metric);

    int dim() const { return dim_; }
    Metric metric() const { return metric_; }
    std::size_t size() const { return ids_.size(); }
    bool contains(std::int64_t id) const { return row_of_id_.count(id) != 0; }
    // The row holding id (rows are 0 .. size()-1 in the order of ids()), or -1 when absent.
    // remove() moves the last row into the hole of each removed one.
    std::ptrdiff_t row_of(std::int64_t id) const {
        auto it = row_of_id_.find(id);
        return it == row_of_id_.end() ? -1 : static_cast<std::ptrdiff_t>(it->second);
    }

    // Adds vectors.n_rows rows; ids.size() must equal n_rows and vectors.n_cols == dim.
    // kInvalidArgument on shape mismatch, duplicate ids (within the batch or already present)
    // or a non-finite value; nothing is added then.
    Status add(std::span<const std::int64_t> ids, const Matrix& vectors);
    // Removes ids that are present; returns how many were removed.
    std::size_t remove(std::span<const std::int64_t> ids);

    // Top-k hits sorted by ascending distance (ties by ascending id). Fewer than k when fewer
    // candidates pass the filter. kInvalidArgument if query.size() != dim or the query has a
    // non-finite value. k == 0 gives no hits.
    Result<std::vector<SearchHit>> search(std::span<const float> query,
                                          const SearchOptions& options) const;

    // Persistence (index_file.h): the ids, the stored (per-metric transformed) rows, row-major
    // size() × dim, and their aux values, in row order.
    const std::vector<std::int64_t>& ids() const { return ids_; }
    const std::vector<float>& stored_rows() const { return data_; }
    const std::vector<float>& stored_aux() const { return aux_; }
    // Replaces the contents with rows in stored form as returned above. kCorruption on a shape
    // mismatch, a duplicate id or a non-finite value; the index is unchanged then.
    Status assign_stored(std::vector<std::int64_t> ids,
                         std::vector<float> rows,
                         std::vector<float> aux);

private:
    int dim_;
    Metric metric_;
    std::vector<std::int64_t> ids_;
    std::vector<float> data_;  // size() × dim, as stored (transformed per metric, see .cpp)
    std::vector<float> aux_;   // per-row precomputed value (norm/mean) per metric
    std::unordered_map<std::int64_t, std::size_t> row_of_id_;  // id -> row in ids_/data_
};

}  // namespace earshot
