#include "benchmark/hnswlib_baseline.h"

#include <algorithm>
#include <atomic>
#include <thread>

// hnswlib 0.6.2 defines non-inline functions in its headers (cpuid, its SIMD kernels), which
// clash at link time with the copy our index module compiles. The reference copy here lives in
// a namespace of its own: every system header it includes is included first (include guards
// keep them out of the namespace).
#include <assert.h>
#include <cassert>
#include <cpuid.h>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <immintrin.h>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <x86intrin.h>

namespace earshot_plain_hnswlib {
#include <hnswlib/hnswlib.h>
}  // namespace earshot_plain_hnswlib
namespace hnswlib = earshot_plain_hnswlib::hnswlib;

#include "core/thread_pool.h"
#include "index/hnsw_index.h"
#include "index/hnsw_layer0.h"
#include "index/vector_transform.h"

namespace earshot::detail {
namespace {

// count_distances(): the wrapped distance function and the count, per thread.
thread_local hnswlib::DISTFUNC<float> t_counted_fn = nullptr;
thread_local std::size_t t_counted = 0;
float counting_distance(const void* a, const void* b, const void* param) {
    ++t_counted;
    return t_counted_fn(a, b, param);
}

class PlainHnswlibImpl final : public PlainHnswlib {
public:
    PlainHnswlibImpl(Metric metric, int dim)
        : metric_(metric), dim_(static_cast<std::size_t>(dim)) {
        if (uses_unit_rows(metric))
            space_ = std::make_unique<hnswlib::InnerProductSpace>(dim_);
        else
            space_ = std::make_unique<hnswlib::L2Space>(dim_);
    }

    void set_ef(std::size_t ef) override { hnsw_->setEf(ef); }

    std::vector<std::int64_t> search(const float* query, std::size_t k) const override {
        std::vector<float> q(dim_);
        transform_for_metric(metric_, query, dim_, q.data());
        auto top = hnsw_->searchKnn(q.data(), k);
        std::vector<std::int64_t> out(top.size());
        for (std::size_t i = out.size(); i-- > 0;) {
            out[i] = static_cast<std::int64_t>(top.top().second);
            top.pop();
        }
        return out;
    }

    std::size_t count_distances(const float* query, std::size_t k) override {
        std::vector<float> q(dim_);
        transform_for_metric(metric_, query, dim_, q.data());
        t_counted_fn = hnsw_->fstdistfunc_;
        t_counted = 0;
        hnsw_->fstdistfunc_ = &counting_distance;
        hnsw_->searchKnn(q.data(), k);
        hnsw_->fstdistfunc_ = t_counted_fn;
        return t_counted;
    }

    std::size_t unreachable() const override {
        const auto& h = *hnsw_;
        const std::size_t n = h.cur_element_count;
        if (n == 0)
            return 0;
        std::vector<char> seen(n, 0);
        std::vector<hnswlib::tableint> todo;
        return n - flood_layer0(h, h.enterpoint_node_, seen, todo);
    }

    Metric metric_;
    std::size_t dim_;
    std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_;
};

}  // namespace

Result<std::unique_ptr<PlainHnswlib>> build_plain_hnswlib(const Matrix& vectors,
                                                          const std::vector<std::int64_t>& ids,
                                                          Metric metric,
                                                          int m,
                                                          int ef_construction,
                                                          int threads) {
    if (metric == Metric::kManhattan) {
        return make_error(ErrorCode::kNotSupported,
                          "plain hnswlib has no manhattan space (compare with cosine, correlation "
                          "or euclidean)");
    }
    const std::size_t d = vectors.n_cols;
    auto impl = std::make_unique<PlainHnswlibImpl>(metric, static_cast<int>(d));
    try {
        impl->hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
            impl->space_.get(), std::max<std::size_t>(1, vectors.n_rows),
            static_cast<std::size_t>(m), static_cast<std::size_t>(ef_construction), 100);
        const int t = threads > 0 ? threads : hardware_threads();
        std::atomic<std::size_t> next{0};
        std::atomic<bool> failed{false};
        auto worker = [&] {
            std::vector<float> row(d);
            try {
                for (std::size_t i = next++; i < vectors.n_rows && !failed; i = next++) {
                    transform_for_metric(metric, vectors.row(i), d, row.data());
                    impl->hnsw_->addPoint(row.data(), static_cast<hnswlib::labeltype>(ids[i]));
                }
            } catch (const std::exception&) {
                failed = true;
            }
        };
        std::vector<std::thread> pool;
        for (int i = 1; i < t; ++i) pool.emplace_back(worker);
        worker();
        for (auto& th : pool) th.join();
        if (failed)
            return make_error(ErrorCode::kInternal, "plain hnswlib: addPoint failed");
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal, std::string("plain hnswlib: ") + e.what());
    }
    return std::unique_ptr<PlainHnswlib>(std::move(impl));
}

Result<std::unique_ptr<PlainHnswlib>> plain_hnswlib_on_graph(const VectorIndex& index,
                                                             const Matrix& vectors,
                                                             const std::vector<std::int64_t>& ids,
                                                             Metric metric) {
    if (metric == Metric::kManhattan) {
        return make_error(ErrorCode::kNotSupported,
                          "plain hnswlib has no manhattan space (compare with cosine, correlation "
                          "or euclidean)");
    }
    const auto g = hnsw_graph_view(index);
    if (!g)
        return make_error(ErrorCode::kInvalidArgument, "plain hnswlib: not a non-empty HNSW index");
    const std::size_t d = vectors.n_cols;
    if (ids.size() != vectors.n_rows || d != static_cast<std::size_t>(index.dim()))
        return make_error(ErrorCode::kInvalidArgument, "plain hnswlib: vectors do not match");
    std::unordered_map<std::int64_t, std::size_t> row_of;
    row_of.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) row_of.emplace(ids[i], i);
    auto impl = std::make_unique<PlainHnswlibImpl>(metric, static_cast<int>(d));
    try {
        impl->hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
            impl->space_.get(), g->count, g->m, g->ef_construction, 100);
        auto& h = *impl->hnsw_;
        if (h.size_links_level0_ != g->level0_links_bytes ||
            h.size_links_per_element_ != g->upper_list_bytes) {
            return make_error(ErrorCode::kInternal, "plain hnswlib: graph layout differs");
        }
        for (std::size_t i = 0; i < g->count; ++i) {
            const char* src = g->level0 + i * g->level0_stride;
            char* dst = h.data_level0_memory_ + i * h.size_data_per_element_;
            std::memcpy(dst, src, g->level0_links_bytes);  // count, tombstone flag, links
            hnswlib::labeltype label = 0;
            std::memcpy(&label, src + g->label_offset, sizeof label);
            const auto row = row_of.find(static_cast<std::int64_t>(label));
            if (row == row_of.end())
                return make_error(ErrorCode::kInvalidArgument, "plain hnswlib: unknown id");
            transform_for_metric(metric, vectors.row(row->second), d,
                                 reinterpret_cast<float*>(dst + h.offsetData_));
            std::memcpy(dst + h.label_offset_, &label, sizeof label);
            h.label_lookup_[label] = static_cast<hnswlib::tableint>(i);
            const int levels = g->levels[i];
            h.element_levels_[i] = levels;
            h.linkLists_[i] = nullptr;
            if (levels > 0) {
                const std::size_t bytes = static_cast<std::size_t>(levels) * g->upper_list_bytes;
                h.linkLists_[i] = static_cast<char*>(std::malloc(bytes));
                if (h.linkLists_[i] == nullptr)
                    throw std::bad_alloc();
                for (int l = 0; l < levels; ++l) {
                    std::memcpy(h.linkLists_[i] + static_cast<std::size_t>(l) * g->upper_list_bytes,
                                g->upper[i] + static_cast<std::size_t>(l) * g->upper_stride,
                                g->upper_list_bytes);
                }
            }
            h.cur_element_count = i + 1;  // the destructor frees the lists of [0, count)
            if (h.isMarkedDeleted(static_cast<hnswlib::tableint>(i)))
                h.num_deleted_ += 1;
        }
        h.maxlevel_ = g->max_level;
        h.enterpoint_node_ = g->entry_point;
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal, std::string("plain hnswlib: ") + e.what());
    }
    return std::unique_ptr<PlainHnswlib>(std::move(impl));
}

}  // namespace earshot::detail
