// `SQ8` / `SQfp16`: exact search that reads a compact copy of the rows. The float32 rows live in
// a FlatIndex (ids, stored form per metric, persistence); beside them each row is kept as
//   SQfp16  binary16 values (2 bytes per dimension), or
//   SQ8     8-bit codes with a per-row range: x_i ~ lo + step * c_i, c_i = round((x_i - lo) /
//           step), lo = min_i x_i, step = (max_i x_i - lo) / 255, plus |decoded row|^2 for L2
//           (1 byte per dimension + 12 bytes).
// A search scans the compact copy for approximate distances, keeps the best R candidates
// (SearchOptions::ef_search, default sq_default_rerank(k)) and recomputes their distances from
// the float32 rows exactly as FlatIndex does, so the hits are flat's whenever the exact top k are
// among the R (tests/index/sq_index_test.cpp); the scan reads 1/2 (SQfp16) or ~1/4 (SQ8) of the
// bytes of a float32 scan. Per-row ranges need no training: rows are encoded as they are added.
#include "index/sq_index.h"

#include <algorithm>
#include <cmath>
#include <mutex>

#include "core/thread_pool.h"
#include "index/distance_kernels.h"
#include "index/index_file.h"
#include "index/index_kinds.h"
#include "index/vector_index.h"
#include "index/vector_transform.h"

namespace earshot {
namespace {

struct Candidate {
    float distance;
    std::int64_t id;
    std::size_t row;
};

bool better(const Candidate& a, const Candidate& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
}

class SqIndex final : public VectorIndex {
public:
    SqIndex(IndexSpec spec, int dim, Metric metric)
        : spec_(std::move(spec)), flat_(dim, metric), d_(static_cast<std::size_t>(dim)) {}

    const IndexSpec& spec() const override { return spec_; }
    int dim() const override { return flat_.dim(); }
    Metric metric() const override { return flat_.metric(); }
    std::size_t size() const override { return flat_.size(); }
    bool contains(std::int64_t id) const override { return flat_.contains(id); }
    std::vector<std::int64_t> ids() const override { return flat_.ids(); }
    void set_threads(int threads) override { threads_ = threads; }

    Status add(std::span<const std::int64_t> ids, const Matrix& vectors) override {
        const std::size_t before = flat_.size();
        EARSHOT_RETURN_IF_ERROR(flat_.add(ids, vectors));
        try {
            encode_from(before);
        } catch (const std::bad_alloc&) {
            // Keep the float rows and the codes in step: undo the add.
            flat_.remove(ids);
            resize_codes(before);
            return make_error(ErrorCode::kInternal, "sq index add: out of memory");
        }
        return ok_status();
    }

    std::size_t remove(std::span<const std::int64_t> ids) override {
        std::size_t removed = 0;
        for (auto id : ids) {
            const auto row = flat_.row_of(id);
            if (row < 0)
                continue;
            // FlatIndex moves its last row into the hole: mirror it on the codes.
            const std::size_t last = flat_.size() - 1;
            move_code(last, static_cast<std::size_t>(row));
            flat_.remove(std::span<const std::int64_t>(&id, 1));
            resize_codes(last);
            ++removed;
        }
        return removed;
    }

    Result<std::vector<SearchHit>> search(std::span<const float> query,
                                          const SearchOptions& options) const override;

    std::size_t memory_bytes() const override {
        return flat_.stored_rows().capacity() * sizeof(float) +
               flat_.stored_aux().capacity() * sizeof(float) +
               flat_.ids().capacity() * sizeof(std::int64_t) +
               flat_.size() * (sizeof(std::int64_t) + 2 * sizeof(std::size_t) + sizeof(void*)) +
               half_.capacity() * sizeof(std::uint16_t) + codes_.capacity() +
               row_params_.capacity() * sizeof(RowParams);
    }

    // Payload: the flat payload (docs/formats.md); the compact copy is re-encoded on load.
    Status save_payload(detail::IndexWriter& out) const override {
        detail::write_flat_payload(flat_, out);
        return ok_status();
    }
    Status load_payload(detail::IndexReader& in) {
        EARSHOT_RETURN_IF_ERROR(detail::read_flat_payload(flat_, in));
        try {
            resize_codes(0);
            encode_from(0);
        } catch (const std::bad_alloc&) {
            return make_error(ErrorCode::kInternal, "sq index load: out of memory");
        }
        return ok_status();
    }

private:
    using RowParams = detail::Sq8Row;
    bool eight_bit() const { return spec_.text == "SQ8"; }

    // Encodes rows [first, size()) of the float rows.
    void encode_from(std::size_t first) {
        const std::size_t n = flat_.size();
        const float* rows = flat_.stored_rows().data();
        if (!eight_bit()) {
            half_.resize(n * d_);
            detail::f32_to_f16(rows + first * d_, half_.data() + first * d_, (n - first) * d_);
            return;
        }
        codes_.resize(n * d_);
        row_params_.resize(n);
        for (std::size_t r = first; r < n; ++r)
            row_params_[r] = detail::encode_sq8(rows + r * d_, d_, codes_.data() + r * d_);
    }
    void resize_codes(std::size_t n) {
        if (eight_bit()) {
            codes_.resize(n * d_);
            row_params_.resize(n);
        } else {
            half_.resize(n * d_);
        }
    }
    void move_code(std::size_t from, std::size_t to) {
        if (from == to)
            return;
        if (eight_bit()) {
            std::copy_n(codes_.begin() + static_cast<std::ptrdiff_t>(from * d_), d_,
                        codes_.begin() + static_cast<std::ptrdiff_t>(to * d_));
            row_params_[to] = row_params_[from];
        } else {
            std::copy_n(half_.begin() + static_cast<std::ptrdiff_t>(from * d_), d_,
                        half_.begin() + static_cast<std::ptrdiff_t>(to * d_));
        }
    }

    IndexSpec spec_;
    FlatIndex flat_;
    std::size_t d_;
    int threads_ = 0;
    std::vector<std::uint16_t> half_;    // SQfp16: size() x dim
    std::vector<std::uint8_t> codes_;    // SQ8: size() x dim
    std::vector<RowParams> row_params_;  // SQ8: per row
};

Result<std::vector<SearchHit>> SqIndex::search(std::span<const float> query,
                                               const SearchOptions& options) const {
    const std::size_t d = d_;
    if (query.size() != d) {
        return make_error(ErrorCode::kInvalidArgument,
                          "sq index search: query has dim " + std::to_string(query.size()) +
                              ", the index has dim " + std::to_string(d));
    }
    if (!detail::all_finite(query.data(), d)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "sq index search: the query contains a non-finite value");
    }
    const std::size_t n = size();
    const std::size_t k = std::min(options.k, n);
    if (k == 0)
        return std::vector<SearchHit>{};
    const Metric metric = flat_.metric();
    SearchOptions o = options;
    if (o.threads == 0)
        o.threads = threads_;
    std::vector<float> q(d);
    const bool degenerate =
        detail::transform_for_metric(metric, query.data(), d, q.data()) == 0.0f &&
        detail::uses_unit_rows(metric);
    if (degenerate)
        return flat_.search(query, o);  // every distance is 1: nothing to rank approximately
    const std::size_t depth =
        std::max(k, options.ef_search > 0 ? options.ef_search : sq_default_rerank(k));

    const float* qp = q.data();
    const detail::Sq8Query qs = detail::sq8_query(qp, q.size());
    const bool sq8 = eight_bit();
    const std::uint16_t* half = half_.data();
    const std::uint8_t* codes = codes_.data();
    const RowParams* params = row_params_.data();
    // Approximate distance, monotone in the metric's distance (squared for euclidean).
    auto approx = [&](std::size_t r) -> float {
        if (!sq8) {
            const std::uint16_t* x = half + r * d;
            switch (metric) {
                case Metric::kCosine:
                case Metric::kCorrelation:
                    return 1.0f - detail::dot_f16(qp, x, d);
                case Metric::kEuclidean:
                    return detail::l2_squared_f16(qp, x, d);
                case Metric::kManhattan:
                    return detail::l1_f16(qp, x, d);
            }
            return 0.0f;
        }
        return detail::sq8_distance(metric, qp, qs, codes + r * d, params[r], d);
    };

    const std::int64_t* ids = flat_.ids().data();
    std::mutex merge_mu;
    std::vector<Candidate> all;
    auto scan = [&](std::size_t begin, std::size_t end) {
        std::vector<Candidate> heap;
        heap.reserve(depth + 1);
        detail::for_each_passing(o, ids, begin, end, [&](std::size_t r) {
            const Candidate c{approx(r), ids[r], r};
            if (heap.size() < depth) {
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
    // Chunks of at least ~1 MiB of float32-equivalent rows, as in FlatIndex.
    const std::size_t min_chunk = std::max<std::size_t>(64, (std::size_t{1} << 18) / d);
    parallel_for(n, o.threads, min_chunk, scan);

    // Exact re-ranking of the best `depth` with the float32 rows (FlatIndex's formulas).
    const std::size_t keep = std::min(depth, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                      better);
    all.resize(keep);
    const float* rows = flat_.stored_rows().data();
    const float* aux = flat_.stored_aux().data();
    for (auto& c : all) {
        const float* x = rows + c.row * d;
        switch (metric) {
            case Metric::kCosine:
            case Metric::kCorrelation:
                c.distance = aux[c.row] == 0.0f
                                 ? 1.0f
                                 : std::clamp(1.0f - detail::dot_f32(qp, x, d), 0.0f, 2.0f);
                break;
            case Metric::kEuclidean:
                c.distance = std::sqrt(detail::l2_squared_f32(qp, x, d));
                break;
            case Metric::kManhattan:
                c.distance = detail::l1_f32(qp, x, d);
                break;
        }
    }
    const std::size_t n_out = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n_out), all.end(),
                      better);
    std::vector<SearchHit> hits;
    hits.reserve(n_out);
    for (std::size_t i = 0; i < n_out; ++i) {
        hits.push_back({all[i].id, all[i].distance, score_from_distance(metric, all[i].distance)});
    }
    return hits;
}

}  // namespace

namespace {

Result<IndexSpec> parse_sq(std::string_view text) {
    const std::string t = detail::lower_spec(text);
    if (t == "sq8")
        return IndexSpec{"sq", "SQ8"};
    if (t == "sqfp16")
        return IndexSpec{"sq", "SQfp16"};
    return tl::unexpected(detail::bad_index_spec(text));
}

}  // namespace

const IndexKind kSqIndexKind{
    .name = "sq",
    .prefix = "sq",
    .syntax = "SQ8|SQfp16",
    .description =
        "exact search over a compact copy (8-bit per-row scalar quantisation or binary16), "
        "the best max(64, 10 x k) candidates (efSearch) re-ranked with the float32 rows",
    .examples = "SQ8|SQfp16",
    .parse = &parse_sq,
    .make = &make_index_of<SqIndex>,
    .load = &load_index_of<SqIndex>,
    .index_help = [] { return std::string("SQ8 / SQfp16 (exact, scanning a compact copy)"); },
    .ef_search_help =
        [] {
            return "SQ8/SQfp16: candidates re-ranked exactly (default max(" +
                   std::to_string(kSqMinRerank) + ", " + std::to_string(kSqRerankFactor) + "*k))";
        },
};

}  // namespace earshot
