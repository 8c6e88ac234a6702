// The `flat` index kind: exact multi-threaded SIMD scan (FlatIndex) behind VectorIndex, and the
// flat payload that SQ and IVF-PQ reuse for their stored rows.
#include <cstdint>
#include <memory>
#include <string>

#include "index/index_file.h"
#include "index/index_kinds.h"
#include "index/vector_index.h"

namespace earshot {
namespace {

class FlatVectorIndex final : public VectorIndex {
public:
    FlatVectorIndex(IndexSpec spec, int dim, Metric metric)
        : spec_(std::move(spec)), flat_(dim, metric) {}

    const IndexSpec& spec() const override { return spec_; }
    int dim() const override { return flat_.dim(); }
    Metric metric() const override { return flat_.metric(); }
    std::size_t size() const override { return flat_.size(); }
    bool contains(std::int64_t id) const override { return flat_.contains(id); }
    std::vector<std::int64_t> ids() const override { return flat_.ids(); }
    Status add(std::span<const std::int64_t> ids, const Matrix& vectors) override {
        return flat_.add(ids, vectors);
    }
    std::size_t remove(std::span<const std::int64_t> ids) override { return flat_.remove(ids); }
    Result<std::vector<SearchHit>> search(std::span<const float> query,
                                          const SearchOptions& options) const override {
        SearchOptions o = options;
        if (o.threads == 0)
            o.threads = threads_;
        return flat_.search(query, o);
    }
    std::size_t memory_bytes() const override {
        return flat_.stored_rows().capacity() * sizeof(float) +
               flat_.stored_aux().capacity() * sizeof(float) +
               flat_.ids().capacity() * sizeof(std::int64_t) +
               flat_.size() * (sizeof(std::int64_t) + 2 * sizeof(std::size_t) + sizeof(void*));
    }
    void set_threads(int threads) override { threads_ = threads; }

    Status save_payload(detail::IndexWriter& out) const override {
        detail::write_flat_payload(flat_, out);
        return ok_status();
    }
    Status load_payload(detail::IndexReader& in) { return detail::read_flat_payload(flat_, in); }

private:
    IndexSpec spec_;
    FlatIndex flat_;
    int threads_ = 0;
};

Result<IndexSpec> parse_flat(std::string_view text) {
    if (detail::lower_spec(text) != "flat")
        return tl::unexpected(detail::bad_index_spec(text));
    return IndexSpec{"flat", "flat"};
}

}  // namespace

void detail::write_flat_payload(const FlatIndex& flat, IndexWriter& out) {
    const std::uint64_t n = flat.size();
    out.pod(n);
    out.bytes(flat.ids().data(), n * sizeof(std::int64_t));
    out.bytes(flat.stored_aux().data(), n * sizeof(float));
    out.bytes(flat.stored_rows().data(), flat.stored_rows().size() * sizeof(float));
}

Status detail::read_flat_payload(FlatIndex& flat, IndexReader& in) {
    std::uint64_t n = 0;
    EARSHOT_RETURN_IF_ERROR(in.pod(n));
    const auto d = static_cast<std::uint64_t>(flat.dim());
    const std::uint64_t per_row = sizeof(std::int64_t) + sizeof(float) + d * sizeof(float);
    if (n > in.remaining() / per_row)
        return make_error(ErrorCode::kCorruption, "flat payload: impossible row count");
    const auto rows = static_cast<std::size_t>(n);
    std::vector<std::int64_t> ids(rows);
    std::vector<float> aux(rows);
    std::vector<float> data(rows * static_cast<std::size_t>(d));
    EARSHOT_RETURN_IF_ERROR(in.bytes(ids.data(), ids.size() * sizeof(std::int64_t)));
    EARSHOT_RETURN_IF_ERROR(in.bytes(aux.data(), aux.size() * sizeof(float)));
    EARSHOT_RETURN_IF_ERROR(in.bytes(data.data(), data.size() * sizeof(float)));
    return flat.assign_stored(std::move(ids), std::move(data), std::move(aux));
}

const IndexKind kFlatIndexKind{
    .name = "flat",
    .prefix = "flat",
    .syntax = "flat",
    .description = "exact multi-threaded SIMD scan (the reference)",
    .examples = "flat",
    .parse = &parse_flat,
    .make = &make_index_of<FlatVectorIndex>,
    .load = &load_index_of<FlatVectorIndex>,
    .index_help = [] { return std::string("flat (exact)"); },
};

}  // namespace earshot
