// A whole index kind defined outside src/index: a brute-force scan in double precision, its
// payload and its registry row (docs/adding-an-index.md). index_registry_test.cpp registers it
// before the every-kind tests are instantiated, so it runs every check a built-in kind runs.
#include "toy_index.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_map>

#include "index/index_file.h"

namespace earshot::testing_util {
namespace {

class ToyScanIndex final : public VectorIndex {
public:
    ToyScanIndex(IndexSpec spec, int dim, Metric metric)
        : spec_(std::move(spec)), dim_(dim), metric_(metric) {}

    const IndexSpec& spec() const override { return spec_; }
    int dim() const override { return dim_; }
    Metric metric() const override { return metric_; }
    std::size_t size() const override { return ids_.size(); }
    bool contains(std::int64_t id) const override { return row_of_.contains(id); }
    std::vector<std::int64_t> ids() const override { return ids_; }

    Status add(std::span<const std::int64_t> ids, const Matrix& vectors) override {
        const auto d = static_cast<std::size_t>(dim_);
        if (ids.size() != vectors.n_rows || vectors.n_cols != d)
            return make_error(ErrorCode::kInvalidArgument, "toy: shape mismatch");
        std::unordered_map<std::int64_t, std::size_t> batch;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if (contains(ids[i]) || !batch.emplace(ids[i], i).second)
                return make_error(ErrorCode::kInvalidArgument, "toy: duplicate id");
        }
        for (float v : vectors.data) {
            if (!std::isfinite(v))
                return make_error(ErrorCode::kInvalidArgument, "toy: non-finite value");
        }
        for (std::size_t i = 0; i < ids.size(); ++i) {
            row_of_[ids[i]] = ids_.size();
            ids_.push_back(ids[i]);
            rows_.insert(rows_.end(), vectors.row(i), vectors.row(i) + d);
        }
        return ok_status();
    }

    std::size_t remove(std::span<const std::int64_t> ids) override {
        const auto d = static_cast<std::size_t>(dim_);
        std::size_t removed = 0;
        for (auto id : ids) {
            auto it = row_of_.find(id);
            if (it == row_of_.end())
                continue;
            const std::size_t r = it->second;
            const std::size_t last = ids_.size() - 1;
            // Move the last row into the hole.
            std::copy_n(rows_.begin() + static_cast<std::ptrdiff_t>(last * d), d,
                        rows_.begin() + static_cast<std::ptrdiff_t>(r * d));
            ids_[r] = ids_[last];
            row_of_[ids_[r]] = r;
            ids_.pop_back();
            rows_.resize(last * d);
            row_of_.erase(id);
            ++removed;
        }
        return removed;
    }

    Result<std::vector<SearchHit>> search(std::span<const float> query,
                                          const SearchOptions& options) const override {
        const auto d = static_cast<std::size_t>(dim_);
        if (query.size() != d)
            return make_error(ErrorCode::kInvalidArgument, "toy: query has the wrong size");
        for (float v : query) {
            if (!std::isfinite(v))
                return make_error(ErrorCode::kInvalidArgument, "toy: non-finite query");
        }
        std::vector<SearchHit> hits;
        for (std::size_t r = 0; r < ids_.size(); ++r) {
            if (options.filter && !options.filter(ids_[r]))
                continue;
            const auto dist = static_cast<float>(
                naive_distance(metric_, query, std::span(rows_).subspan(r * d, d)));
            hits.push_back({ids_[r], dist, score_from_distance(metric_, dist)});
        }
        const auto by_distance = [](const SearchHit& a, const SearchHit& b) {
            return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
        };
        const std::size_t k = std::min(options.k, hits.size());
        std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k), hits.end(),
                          by_distance);
        hits.resize(k);
        return hits;
    }

    std::size_t memory_bytes() const override {
        return rows_.capacity() * sizeof(float) + ids_.capacity() * sizeof(std::int64_t);
    }
    void set_threads(int) override {}

    // Payload: u64 n, n x i64 ids, n x dim x f32 rows.
    Status save_payload(detail::IndexWriter& out) const override {
        const std::uint64_t n = ids_.size();
        out.pod(n);
        out.bytes(ids_.data(), ids_.size() * sizeof(std::int64_t));
        out.bytes(rows_.data(), rows_.size() * sizeof(float));
        return ok_status();
    }
    Status load_payload(detail::IndexReader& in) {
        std::uint64_t n = 0;
        EARSHOT_RETURN_IF_ERROR(in.pod(n));
        const auto d = static_cast<std::uint64_t>(dim_);
        if (n > in.remaining() / (sizeof(std::int64_t) + d * sizeof(float)))
            return make_error(ErrorCode::kCorruption, "toy payload: impossible row count");
        ids_.resize(static_cast<std::size_t>(n));
        rows_.resize(static_cast<std::size_t>(n * d));
        EARSHOT_RETURN_IF_ERROR(in.bytes(ids_.data(), ids_.size() * sizeof(std::int64_t)));
        EARSHOT_RETURN_IF_ERROR(in.bytes(rows_.data(), rows_.size() * sizeof(float)));
        for (std::size_t r = 0; r < ids_.size(); ++r) row_of_[ids_[r]] = r;
        return ok_status();
    }

private:
    IndexSpec spec_;
    int dim_;
    Metric metric_;
    std::vector<std::int64_t> ids_;
    std::vector<float> rows_;
    std::unordered_map<std::int64_t, std::size_t> row_of_;
};

}  // namespace

// The whole registration: one row.
const IndexKind kToyScanIndexKind{
    .name = "toyscan",
    .prefix = "toyscan",
    .syntax = "ToyScan",
    .description = "brute-force double-precision scan (a test kind)",
    .examples = "ToyScan",
    .parse = [](std::string_view text) -> Result<IndexSpec> {
        std::string t(text);
        std::transform(t.begin(), t.end(), t.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (t != "toyscan")
            return make_error(ErrorCode::kInvalidArgument, "not a toyscan spec");
        return IndexSpec{"toyscan", "ToyScan"};
    },
    .make = &make_index_of<ToyScanIndex>,
    .load = &load_index_of<ToyScanIndex>,
    .index_help = [] { return std::string("ToyScan (a test kind)"); },
};

}  // namespace earshot::testing_util
