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
#include "index/vector_transform.h"

namespace earshot::detail {
namespace {

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

}  // namespace earshot::detail
