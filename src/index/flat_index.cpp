#include "index/flat_index.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>

#include "core/check.h"
#include "core/thread_pool.h"
#include "index/distance_kernels.h"
#include "index/vector_transform.h"

// Storage per metric (rows of data_, aux_ one float per row):
//   cosine       row / |row|                        aux 1, or 0 for a zero row (stored as zeros)
//   correlation  (row - mean) / |row - mean|        aux 1, or 0 for a constant row (zeros)
//   euclidean    row as given                       aux unused (0)
//   manhattan    row as given                       aux unused (0)
// so cosine/correlation distances are 1 - dot(q', row') with the query transformed the same
// way, and euclidean/manhattan are computed directly from differences (no |q|^2 + |x|^2 - 2q.x
// cancellation for near neighbours).

namespace earshot {
namespace {

struct Candidate {
    float distance;
    std::int64_t id;
};

// Strict total order: smaller distance first, ties by smaller id.
bool better(const Candidate& a, const Candidate& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
}

bool is_finite(std::span<const float> v) {
    return detail::all_finite(v.data(), v.size());
}

}  // namespace

FlatIndex::FlatIndex(int dim, Metric metric) : dim_(dim), metric_(metric) {
    EARSHOT_CHECK(dim > 0);
}

Status FlatIndex::add(std::span<const std::int64_t> ids, const Matrix& vectors) {
    const auto d = static_cast<std::size_t>(dim_);
    if (ids.size() != vectors.n_rows) {
        return make_error(ErrorCode::kInvalidArgument,
                          "flat index add: " + std::to_string(ids.size()) + " ids for " +
                              std::to_string(vectors.n_rows) + " vectors");
    }
    if (vectors.n_rows == 0)
        return ok_status();
    if (vectors.n_cols != d || vectors.data.size() != vectors.n_rows * vectors.n_cols) {
        return make_error(ErrorCode::kInvalidArgument,
                          "flat index add: vectors have dim " + std::to_string(vectors.n_cols) +
                              ", the index has dim " + std::to_string(dim_));
    }
    if (!is_finite(vectors.data)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "flat index add: vectors contain a non-finite value");
    }
    try {
        std::unordered_set<std::int64_t> batch;
        batch.reserve(ids.size());
        for (std::int64_t id : ids) {
            if (row_of_id_.count(id) != 0 || !batch.insert(id).second) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "flat index add: duplicate id " + std::to_string(id));
            }
        }
        // Reserve everything first so that a bad_alloc leaves the index unchanged.
        const std::size_t n_new = size() + ids.size();
        ids_.reserve(n_new);
        aux_.reserve(n_new);
        data_.reserve(n_new * d);
        row_of_id_.reserve(n_new);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::kInternal, "flat index add: out of memory for " +
                                                    std::to_string(ids.size()) +
                                                    " vectors of dim " + std::to_string(dim_));
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::size_t row = ids_.size();
        data_.resize(data_.size() + d);
        aux_.push_back(
            detail::transform_for_metric(metric_, vectors.row(i), d, data_.data() + row * d));
        ids_.push_back(ids[i]);
        row_of_id_.emplace(ids[i], row);
    }
    return ok_status();
}

Status FlatIndex::assign_stored(std::vector<std::int64_t> ids,
                                std::vector<float> rows,
                                std::vector<float> aux) {
    const auto d = static_cast<std::size_t>(dim_);
    if (rows.size() != ids.size() * d || aux.size() != ids.size()) {
        return make_error(ErrorCode::kCorruption, "flat index: stored rows do not match the ids");
    }
    if (!is_finite(rows) || !is_finite(aux)) {
        return make_error(ErrorCode::kCorruption, "flat index: a stored value is not finite");
    }
    std::unordered_map<std::int64_t, std::size_t> row_of_id;
    row_of_id.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (!row_of_id.emplace(ids[i], i).second) {
            return make_error(ErrorCode::kCorruption,
                              "flat index: duplicate stored id " + std::to_string(ids[i]));
        }
    }
    ids_ = std::move(ids);
    data_ = std::move(rows);
    aux_ = std::move(aux);
    row_of_id_ = std::move(row_of_id);
    return ok_status();
}

std::size_t FlatIndex::remove(std::span<const std::int64_t> ids) {
    const auto d = static_cast<std::size_t>(dim_);
    std::size_t removed = 0;
    for (std::int64_t id : ids) {
        auto it = row_of_id_.find(id);
        if (it == row_of_id_.end())
            continue;
        const std::size_t row = it->second;
        const std::size_t last = ids_.size() - 1;
        row_of_id_.erase(it);
        if (row != last) {
            // Move the last row into the hole.
            std::copy(data_.begin() + static_cast<std::ptrdiff_t>(last * d),
                      data_.begin() + static_cast<std::ptrdiff_t>((last + 1) * d),
                      data_.begin() + static_cast<std::ptrdiff_t>(row * d));
            aux_[row] = aux_[last];
            ids_[row] = ids_[last];
            row_of_id_[ids_[row]] = row;
        }
        ids_.pop_back();
        aux_.pop_back();
        data_.resize(last * d);
        ++removed;
    }
    return removed;
}

Result<std::vector<SearchHit>> FlatIndex::search(std::span<const float> query,
                                                 const SearchOptions& options) const {
    const auto d = static_cast<std::size_t>(dim_);
    if (query.size() != d) {
        return make_error(ErrorCode::kInvalidArgument,
                          "flat index search: query has dim " + std::to_string(query.size()) +
                              ", the index has dim " + std::to_string(dim_));
    }
    if (!is_finite(query)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "flat index search: the query contains a non-finite value");
    }
    const std::size_t n = size();
    const std::size_t k = std::min(options.k, n);
    if (k == 0)
        return std::vector<SearchHit>{};

    std::vector<float> q(d);
    const bool query_degenerate =
        detail::transform_for_metric(metric_, query.data(), d, q.data()) == 0.0f &&
        detail::uses_unit_rows(metric_);
    const Metric metric = metric_;
    const float* data = data_.data();
    const float* aux = aux_.data();
    const std::int64_t* ids = ids_.data();
    const float* qp = q.data();

    auto distance_of = [&](std::size_t r) -> float {
        const float* x = data + r * d;
        switch (metric) {
            case Metric::kCosine:
            case Metric::kCorrelation: {
                if (query_degenerate || aux[r] == 0.0f)
                    return 1.0f;
                return std::clamp(1.0f - detail::dot_f32(qp, x, d), 0.0f, 2.0f);
            }
            case Metric::kEuclidean:
                return std::sqrt(detail::l2_squared_f32(qp, x, d));
            case Metric::kManhattan:
                return detail::l1_f32(qp, x, d);
        }
        return 0.0f;
    };

    // Each chunk keeps a bounded max-heap (worst on top) of its best k, then appends it to all.
    std::mutex merge_mu;
    std::vector<Candidate> all;
    auto scan = [&](std::size_t begin, std::size_t end) {
        std::vector<Candidate> heap;
        heap.reserve(k + 1);
        detail::for_each_passing(options, ids, begin, end, [&](std::size_t r) {
            const Candidate c{distance_of(r), ids[r]};
            if (heap.size() < k) {
                heap.push_back(c);
                std::push_heap(heap.begin(), heap.end(), better);
            } else if (better(c, heap.front())) {
                std::pop_heap(heap.begin(), heap.end(), better);
                heap.back() = c;
                std::push_heap(heap.begin(), heap.end(), better);
            }
        });
        std::lock_guard<std::mutex> lock(merge_mu);
        all.insert(all.end(), heap.begin(), heap.end());
    };
    // Chunks of at least ~1 MiB of vectors, so that small indexes stay on one thread.
    const std::size_t min_chunk = std::max<std::size_t>(64, (std::size_t{1} << 18) / d);
    parallel_for(n, options.threads, min_chunk, scan);

    const std::size_t n_out = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n_out), all.end(),
                      better);
    std::vector<SearchHit> hits;
    hits.reserve(n_out);
    for (std::size_t i = 0; i < n_out; ++i) {
        hits.push_back({all[i].id, all[i].distance, score_from_distance(metric_, all[i].distance)});
    }
    return hits;
}

}  // namespace earshot
