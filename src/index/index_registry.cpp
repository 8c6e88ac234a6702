// The index registry (spec parsing and the table of kinds) and the `flat` adapter.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_set>

#include "index/index_file.h"
#include "index/vector_index.h"

namespace earshot {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Parses a positive decimal number that makes up all of s.
bool parse_positive(std::string_view s, int& out) {
    if (s.empty())
        return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out > 0;
}

Error bad_spec(std::string_view text) {
    std::string forms;
    for (const auto& k : index_kinds()) {
        if (!forms.empty())
            forms += ", ";
        forms += k.syntax;
    }
    return Error(ErrorCode::kInvalidArgument,
                 "unknown index spec '" + std::string(text) + "' (known: " + forms + ", auto)");
}

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

const std::vector<IndexKind>& index_kinds() {
    static const std::vector<IndexKind> kKinds = {
        {"flat", "flat", "exact multi-threaded SIMD scan (the reference)", &make_flat_vector_index,
         &load_flat_vector_index},
        {"hnsw", "HNSW<M>[,efC<N>][,SQfp16]",
         "hnswlib graph; per-query efSearch; tombstones for deletes, compacted past 20%; "
         ",SQfp16 keeps binary16 vectors in the graph (approximate distances, re-ranked "
         "exactly by the caller: 2 x k from the catalog)",
         &make_hnsw_index, &load_hnsw_index},
        {"sq", "SQ8|SQfp16",
         "exact search over a compact copy (8-bit per-row scalar quantisation or binary16), "
         "the best max(64, 10 x k) candidates (efSearch) re-ranked with the float32 rows",
         &make_sq_index, &load_sq_index},
        {"ivfpq", "IVF<nlist>,PQ<m>",
         "faiss inverted lists of m-byte PQ codes, half-precision re-ranking; per-query nprobe; "
         "exact until 16 x nlist items are there to train on",
         &make_ivfpq_index, &load_ivfpq_index},
    };
    return kKinds;
}

Result<IndexSpec> parse_index_spec(std::string_view text) {
    const std::string t = lower(text);
    IndexSpec spec;
    if (t == "flat") {
        spec.kind = "flat";
        spec.text = "flat";
        return spec;
    }
    if (t == "sq8" || t == "sqfp16") {
        spec.kind = "sq";
        spec.sq_bits = t == "sq8" ? 8 : 16;
        spec.text = t == "sq8" ? "SQ8" : "SQfp16";
        return spec;
    }
    if (t.rfind("hnsw", 0) == 0) {
        std::string_view rest = std::string_view(t).substr(4);
        std::string_view m_part = rest.substr(0, rest.find(','));
        int m = 0;
        if (!parse_positive(m_part, m) || m < 2 || m > 256)
            return tl::unexpected(bad_spec(text));
        spec.kind = "hnsw";
        spec.hnsw_m = m;
        spec.hnsw_ef_construction = kHnswDefaultEfConstruction;
        spec.text = "HNSW" + std::to_string(m);
        // Options in this order: ,efC<N> then ,SQfp16.
        if (t.back() == ',')
            return tl::unexpected(bad_spec(text));
        std::string_view opts =
            m_part.size() < rest.size() ? rest.substr(m_part.size() + 1) : std::string_view();
        std::string_view opt = opts.substr(0, opts.find(','));
        if (opt.rfind("efc", 0) == 0) {
            int efc = 0;
            if (!parse_positive(opt.substr(3), efc) || efc > 4096)
                return tl::unexpected(bad_spec(text));
            spec.hnsw_ef_construction = efc;
            if (efc != kHnswDefaultEfConstruction)
                spec.text += ",efC" + std::to_string(efc);
            opts = opt.size() < opts.size() ? opts.substr(opt.size() + 1) : std::string_view();
            opt = opts;
        }
        if (opt == "sqfp16" && opt.size() == opts.size()) {
            spec.sq_bits = 16;
            spec.text += ",SQfp16";
        } else if (!opts.empty()) {
            return tl::unexpected(bad_spec(text));
        }
        return spec;
    }
    if (t.rfind("ivf", 0) == 0) {
        // IVF<nlist>,PQ<m>[x8]: the faiss factory form; other IVF encodings are not built.
        std::string_view rest = std::string_view(t).substr(3);
        const auto comma = rest.find(',');
        int nlist = 0;
        int m = 0;
        if (comma == std::string_view::npos || !parse_positive(rest.substr(0, comma), nlist) ||
            nlist > 1 << 20)
            return tl::unexpected(bad_spec(text));
        std::string_view code = rest.substr(comma + 1);
        if (code.rfind("pq", 0) != 0) {
            return make_error(ErrorCode::kNotSupported,
                              "index spec '" + std::string(text) +
                                  "': only PQ codes are built for IVF (IVF<nlist>,PQ<m>, e.g. "
                                  "IVF4096,PQ32); use HNSW<M> or flat otherwise");
        }
        code.remove_prefix(2);
        if (code.size() > 2 && code.substr(code.size() - 2) == "x8")
            code.remove_suffix(2);
        if (!parse_positive(code, m) || m > 4096)
            return tl::unexpected(bad_spec(text));
        spec.kind = "ivfpq";
        spec.ivf_nlist = nlist;
        spec.pq_m = m;
        spec.text = "IVF" + std::to_string(nlist) + ",PQ" + std::to_string(m);
        return spec;
    }
    return tl::unexpected(bad_spec(text));
}

std::string auto_index_spec(std::size_t n_items) {
    return n_items < kAutoAnnThreshold ? std::string("flat")
                                       : "HNSW" + std::to_string(kHnswDefaultM);
}

Result<std::unique_ptr<VectorIndex>> make_index(std::string_view text, int dim, Metric metric) {
    EARSHOT_ASSIGN_OR_RETURN(auto spec, parse_index_spec(text));
    if (dim <= 0)
        return make_error(ErrorCode::kInvalidArgument, "index dim must be positive");
    for (const auto& k : index_kinds()) {
        if (spec.kind == k.name)
            return k.make(spec, dim, metric);
    }
    return tl::unexpected(bad_spec(text));
}

Status upsert(VectorIndex& index, std::span<const std::int64_t> ids, const Matrix& vectors) {
    if (ids.size() != vectors.n_rows) {
        return make_error(ErrorCode::kInvalidArgument,
                          "upsert: " + std::to_string(ids.size()) + " ids for " +
                              std::to_string(vectors.n_rows) + " vectors");
    }
    std::vector<std::int64_t> present;
    for (auto id : ids) {
        if (index.contains(id))
            present.push_back(id);
    }
    index.remove(present);
    return index.add(ids, vectors);
}

Result<std::unique_ptr<VectorIndex>> make_flat_vector_index(const IndexSpec& spec,
                                                            int dim,
                                                            Metric metric) {
    return std::make_unique<FlatVectorIndex>(spec, dim, metric);
}

Result<std::unique_ptr<VectorIndex>> load_flat_vector_index(const IndexSpec& spec,
                                                            int dim,
                                                            Metric metric,
                                                            detail::IndexReader& in) {
    auto index = std::make_unique<FlatVectorIndex>(spec, dim, metric);
    EARSHOT_RETURN_IF_ERROR(index->load_payload(in));
    return std::unique_ptr<VectorIndex>(std::move(index));
}

}  // namespace earshot
