// IVF-PQ through faiss 1.7.3 (Debian libfaiss-dev): an inverted file of `nlist` coarse k-means
// lists whose residuals are product-quantised to `m` bytes (8-bit codes), the memory-saving kind
// for millions of items. faiss stores our item ids directly (add_with_ids), scans the probed
// lists with the filter applied (IDSelector) and ranks by PQ distance; we then re-rank the best
// k * kRerankFactor candidates (or the query's ef_search) with half-precision copies of the stored
// rows under the requested metric (8-bit scalar copies measured recall@10 0.80-0.94 on clustered
// data: their rounding swaps close neighbours). So the returned distances are within ~1e-4 of
// exact and manhattan is ranked by L1 itself. A filter is applied inside the list scan; when it
// passes a small fraction of the items (estimated from a sample) more lists are probed, and when
// fewer than detail::kExactFilterFloor items are expected to pass, the passing items are scanned
// exactly (half-precision copies) instead. Until kMinTrainPerList * nlist items (at least
// kMinTrainItems) have been added the index has nothing to train on and answers exactly from a
// FlatIndex of the rows so far; the add that crosses the threshold trains on those rows (k-means
// sample capped per list) and encodes them. Later adds are encoded with the trained lists (no
// retraining; rebuild with `earshot reindex --force` after the library changed a lot). The coarse
// step (query to every centroid) uses our SIMD kernels, not faiss's non-SIMD build. Ref: Jégou et
// al., "Product quantization for nearest neighbor search", TPAMI 2011;
// https://github.com/facebookresearch/faiss/blob/v1.7.3/faiss/IndexIVFPQ.cpp
#include "index/ivfpq_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <omp.h>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include "core/file_util.h"
#include "index/distance_kernels.h"
#include "index/filter_estimate.h"
#include "index/index_file.h"
#include "index/index_kinds.h"
#include "index/vector_index.h"
#include "index/vector_transform.h"

namespace earshot {
namespace {

using faiss_idx = faiss::Index::idx_t;

constexpr std::size_t kMinTrainPerList = 16;
constexpr std::size_t kMinTrainItems = 2048;
// k-means sample: 64 rows per list, but at most ~128k rows (32 per list at IVF4096) so that
// training at 1M x 1024 stays in minutes; faiss's default 10 iterations.
constexpr int kMaxTrainPerList = 64;
constexpr int kMinSamplePerList = 16;
constexpr std::size_t kMaxTrainRows = 131072;
constexpr int kKmeansIterations = 10;
// Re-rank depth per wanted hit. On clustered 48-d test data 10 gave recall@10 0.84 for manhattan
// (ranked by L2 in the lists) and 30 gave >= 0.95; on 100k x 1024 synthetic vectors
// (IVF1024,PQ32, nprobe 32) 30 gave 0.715, 100 gave 0.9985 at p50 1.2 ms, 300 gave 0.999 at 2.9 ms.
constexpr std::size_t kRerankFactor = 100;
constexpr std::size_t kRerankMin = 100;
// faiss's OpenMP loops spin at barriers, and its training runs many short parallel regions: with
// two threads on a loaded 2-core machine, training on 4000 x 48 took 10-25 s instead of 0.3 s.
// So training uses one OpenMP thread (its big matrix products run in OpenBLAS's own threads) and
// adds use the index's threads only from this many rows on.
constexpr std::size_t kParallelAddRows = 100000;
constexpr std::uint8_t kStatePending = 0;
constexpr std::uint8_t kStateTrained = 1;

// Passes faiss's list scan only the ids our filter accepts.
struct FilterSelector final : faiss::IDSelector {
    const std::function<bool(std::int64_t)>* filter;
    explicit FilterSelector(const std::function<bool(std::int64_t)>* f) : filter(f) {}
    bool is_member(faiss_idx id) const override { return (*filter)(static_cast<std::int64_t>(id)); }
};

// Sets faiss's OpenMP thread count for the scope (0 = all cores).
class OmpThreads {
public:
    explicit OmpThreads(int threads) : previous_(omp_get_max_threads()) {
        const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        omp_set_num_threads(threads > 0 ? threads : hw);
    }
    ~OmpThreads() { omp_set_num_threads(previous_); }
    OmpThreads(const OmpThreads&) = delete;
    OmpThreads& operator=(const OmpThreads&) = delete;

private:
    int previous_;
};

class IvfPqIndex final : public VectorIndex {
public:
    IvfPqIndex(IndexSpec spec, IvfPqParams params, int dim, Metric metric)
        : spec_(std::move(spec)),
          params_(params),
          dim_(dim),
          metric_(metric),
          pending_(std::make_unique<FlatIndex>(dim, metric)) {}

    const IndexSpec& spec() const override { return spec_; }
    int dim() const override { return dim_; }
    Metric metric() const override { return metric_; }
    std::size_t size() const override { return pending_ ? pending_->size() : slot_ids_.size(); }
    bool contains(std::int64_t id) const override {
        return pending_ ? pending_->contains(id) : slot_of_.count(id) != 0;
    }
    std::vector<std::int64_t> ids() const override {
        return pending_ ? pending_->ids() : slot_ids_;
    }
    void set_threads(int threads) override { threads_ = threads; }
    bool exact_distances() const override { return pending_ != nullptr; }

    // Items needed before the lists are trained.
    std::size_t train_threshold() const {
        return std::max(kMinTrainItems, kMinTrainPerList * static_cast<std::size_t>(params_.nlist));
    }

    Status add(std::span<const std::int64_t> ids, const Matrix& vectors) override {
        const auto d = static_cast<std::size_t>(dim_);
        if (ids.size() != vectors.n_rows) {
            return make_error(ErrorCode::kInvalidArgument,
                              "ivfpq add: " + std::to_string(ids.size()) + " ids for " +
                                  std::to_string(vectors.n_rows) + " vectors");
        }
        if (ids.empty())
            return ok_status();
        if (vectors.n_cols != d || vectors.data.size() != vectors.n_rows * d) {
            return make_error(ErrorCode::kInvalidArgument,
                              "ivfpq add: vectors have dim " + std::to_string(vectors.n_cols) +
                                  ", the index has dim " + std::to_string(dim_));
        }
        if (pending_) {
            EARSHOT_RETURN_IF_ERROR(pending_->add(ids, vectors));
            if (pending_->size() >= train_threshold())
                return train_from_pending();
            return ok_status();
        }
        if (!detail::all_finite(vectors.data.data(), vectors.data.size())) {
            return make_error(ErrorCode::kInvalidArgument,
                              "ivfpq add: vectors contain a non-finite value");
        }
        std::unordered_set<std::int64_t> batch;
        batch.reserve(ids.size());
        for (auto id : ids) {
            if (contains(id) || !batch.insert(id).second) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "ivfpq add: duplicate id " + std::to_string(id));
            }
        }
        try {
            std::vector<float> rows(ids.size() * d);
            for (std::size_t i = 0; i < ids.size(); ++i)
                detail::transform_for_metric(metric_, vectors.row(i), d, rows.data() + i * d);
            return encode(ids, rows);
        } catch (const std::exception& e) {  // std::bad_alloc
            return make_error(ErrorCode::kInternal, std::string("ivfpq add: ") + e.what());
        }
    }

    std::size_t remove(std::span<const std::int64_t> ids) override {
        if (pending_)
            return pending_->remove(ids);
        std::vector<faiss_idx> present;
        for (auto id : ids) {
            if (slot_of_.count(id) != 0)
                present.push_back(static_cast<faiss_idx>(id));
        }
        std::sort(present.begin(), present.end());
        present.erase(std::unique(present.begin(), present.end()), present.end());
        if (present.empty())
            return 0;
        faiss::IDSelectorBatch sel(present.size(), present.data());
        ivf_->remove_ids(sel);
        const auto d = static_cast<std::size_t>(dim_);
        for (auto id : present) {
            const std::size_t slot = slot_of_.at(id);
            const std::size_t last = slot_ids_.size() - 1;
            if (slot != last) {
                std::memcpy(codes_.data() + slot * d, codes_.data() + last * d,
                            d * sizeof(std::uint16_t));
                slot_ids_[slot] = slot_ids_[last];
                slot_of_[slot_ids_[slot]] = slot;
            }
            slot_ids_.pop_back();
            codes_.resize(last * d);
            slot_of_.erase(id);
        }
        return present.size();
    }

    Result<std::vector<SearchHit>> search(std::span<const float> query,
                                          const SearchOptions& options) const override;

    std::size_t memory_bytes() const override {
        if (pending_) {
            return pending_->stored_rows().capacity() * sizeof(float) +
                   pending_->size() * (2 * sizeof(std::int64_t) + 2 * sizeof(std::size_t) +
                                       sizeof(float) + sizeof(void*));
        }
        const auto d = static_cast<std::size_t>(dim_);
        std::size_t bytes = codes_.capacity() * sizeof(std::uint16_t) +
                            slot_ids_.capacity() * sizeof(std::int64_t) + slot_of_.size() * 48;
        // Inverted lists: codes + ids; centroids; PQ codebooks; precomputed tables.
        bytes += static_cast<std::size_t>(ivf_->ntotal) * (ivf_->code_size + sizeof(faiss_idx));
        bytes += static_cast<std::size_t>(ivf_->nlist) * (d * sizeof(float) + 64);
        bytes += ivf_->pq.centroids.size() * sizeof(float);
        bytes += ivf_->precomputed_table.size() * sizeof(float);
        return bytes;
    }

    // Payload (docs/formats.md): u8 state. 0 (untrained): u64 n, n × i64 ids, n × f32 aux,
    // n × dim × f32 stored rows (as flat). 1 (trained): u64 faiss blob bytes, u64 XXH64 of the
    // blob, the blob (faiss::write_index of the IndexIVFPQ), u64 n, n × i64 ids, n × dim
    // binary16 copies of the stored rows (row i belongs to ids[i]).
    Status save_payload(detail::IndexWriter& out) const override {
        if (pending_) {
            out.pod(kStatePending);
            detail::write_flat_payload(*pending_, out);
        } else {
            out.pod(kStateTrained);
            faiss::VectorIOWriter blob;
            try {
                faiss::write_index(ivf_.get(), &blob);
            } catch (const std::exception& e) {
                return make_error(ErrorCode::kInternal, std::string("ivfpq save: ") + e.what());
            }
            out.pod(static_cast<std::uint64_t>(blob.data.size()));
            out.pod(hash_bytes(blob.data.data(), blob.data.size()));
            out.bytes(blob.data.data(), blob.data.size());
            const std::uint64_t n = slot_ids_.size();
            out.pod(n);
            out.bytes(slot_ids_.data(), n * sizeof(std::int64_t));
            out.bytes(codes_.data(), codes_.size() * sizeof(std::uint16_t));
        }
        return out.ok() ? ok_status() : make_error(ErrorCode::kIoError, "ivfpq: write failed");
    }

    Status load_payload(detail::IndexReader& in);

private:
    // Trains the coarse lists, the PQ codebooks and the 8-bit ranges on the pending rows, then
    // encodes them. On failure the index stays untrained (and exact).
    Status train_from_pending() {
        const auto& rows = pending_->stored_rows();
        const std::size_t n = pending_->size();
        try {
            auto quantizer = std::make_unique<faiss::IndexFlatL2>(dim_);
            auto ivf = std::make_unique<faiss::IndexIVFPQ>(
                quantizer.get(), dim_, static_cast<std::size_t>(params_.nlist),
                static_cast<std::size_t>(params_.pq_m), 8);
            ivf->own_fields = true;
            quantizer.release();
            ivf->cp.niter = kKmeansIterations;
            ivf->cp.max_points_per_centroid = std::clamp(
                static_cast<int>(kMaxTrainRows / static_cast<std::size_t>(params_.nlist)),
                kMinSamplePerList, kMaxTrainPerList);
            ivf->cp.min_points_per_centroid = 1;  // we guarantee kMinTrainPerList; no warning
            ivf->cp.seed = 1234;
            ivf->pq.cp.min_points_per_centroid = 1;
            ivf->pq.cp.seed = 1234;
            {
                OmpThreads omp(1);
                ivf->train(static_cast<faiss_idx>(n), rows.data());
            }
            ivf_ = std::move(ivf);
            std::vector<std::int64_t> ids = pending_->ids();
            auto status = encode(ids, rows);
            if (!status) {
                reset_trained();
                return status;
            }
        } catch (const std::exception& e) {
            reset_trained();
            return make_error(ErrorCode::kInternal, std::string("ivfpq train: ") + e.what());
        }
        pending_.reset();
        return ok_status();
    }

    void reset_trained() {
        ivf_.reset();
        codes_.clear();
        slot_ids_.clear();
        slot_of_.clear();
    }

    // Adds rows in stored form to the lists and the 8-bit copies. REQUIRES: trained.
    Status encode(std::span<const std::int64_t> ids, const std::vector<float>& rows) {
        const auto d = static_cast<std::size_t>(dim_);
        const std::size_t n = ids.size();
        codes_.reserve(codes_.size() + n * d);
        slot_ids_.reserve(slot_ids_.size() + n);
        slot_of_.reserve(slot_ids_.size() + n);
        std::vector<faiss_idx> fids(ids.begin(), ids.end());
        {
            OmpThreads omp(n >= kParallelAddRows ? threads_ : 1);
            ivf_->add_with_ids(static_cast<faiss_idx>(n), rows.data(), fids.data());
        }
        const std::size_t base = codes_.size();
        codes_.resize(base + n * d);
        detail::f32_to_f16(rows.data(), codes_.data() + base, n * d);
        for (std::size_t i = 0; i < n; ++i) {
            slot_of_.emplace(ids[i], slot_ids_.size());
            slot_ids_.push_back(ids[i]);
        }
        return ok_status();
    }

    std::size_t default_nprobe() const { return ivf_default_nprobe(params_.nlist); }

    // Distance under metric_ between a stored-form query and the half copy in `slot`.
    float rerank_distance(const float* q, std::size_t slot, float* buffer) const {
        const auto d = static_cast<std::size_t>(dim_);
        detail::f16_to_f32(codes_.data() + slot * d, buffer, d);
        switch (metric_) {
            case Metric::kCosine:
            case Metric::kCorrelation:
                return std::clamp(1.0f - detail::dot_f32(q, buffer, d), 0.0f, 2.0f);
            case Metric::kEuclidean:
                return std::sqrt(detail::l2_squared_f32(q, buffer, d));
            case Metric::kManhattan:
                return detail::l1_f32(q, buffer, d);
        }
        return 0.0f;
    }

    IndexSpec spec_;
    IvfPqParams params_;
    int dim_;
    Metric metric_;
    int threads_ = 0;
    std::unique_ptr<FlatIndex> pending_;  // non-null until trained
    std::unique_ptr<faiss::IndexIVFPQ> ivf_;
    std::vector<std::uint16_t> codes_;  // slots × dim, half precision, stored form
    std::vector<std::int64_t> slot_ids_;
    std::unordered_map<std::int64_t, std::size_t> slot_of_;
};

Result<std::vector<SearchHit>> IvfPqIndex::search(std::span<const float> query,
                                                  const SearchOptions& options) const {
    const auto d = static_cast<std::size_t>(dim_);
    if (query.size() != d) {
        return make_error(ErrorCode::kInvalidArgument,
                          "ivfpq search: query has dim " + std::to_string(query.size()) +
                              ", the index has dim " + std::to_string(dim_));
    }
    if (!detail::all_finite(query.data(), d))
        return make_error(ErrorCode::kInvalidArgument, "ivfpq search: query is not finite");
    if (pending_) {
        SearchOptions o = options;
        if (o.threads == 0)
            o.threads = threads_;
        return pending_->search(query, o);
    }
    std::vector<SearchHit> hits;
    if (options.k == 0 || slot_ids_.empty())
        return hits;
    std::vector<float> q(d), buffer(d);
    detail::transform_for_metric(metric_, query.data(), d, q.data());

    // Coarse step: squared L2 from the query to every centroid (our kernels).
    const auto nlist = static_cast<std::size_t>(ivf_->nlist);
    const auto* flat = dynamic_cast<const faiss::IndexFlat*>(ivf_->quantizer);
    if (flat == nullptr)
        return make_error(ErrorCode::kInternal, "ivfpq search: unexpected coarse quantizer");
    const float* centroids = flat->get_xb();
    std::vector<std::pair<float, faiss_idx>> coarse(nlist);
    for (std::size_t l = 0; l < nlist; ++l) {
        coarse[l] = {detail::l2_squared_f32(q.data(), centroids + l * d, d),
                     static_cast<faiss_idx>(l)};
    }
    std::sort(coarse.begin(), coarse.end());

    // PQ candidates re-ranked: options.ef_search ("candidate list size", as for HNSW), else
    // kRerankFactor per wanted hit.
    const std::size_t wanted = options.ef_search > 0
                                   ? std::max(options.ef_search, options.k)
                                   : std::max(options.k * kRerankFactor, kRerankMin);
    const std::size_t depth = std::min(slot_ids_.size(), wanted);
    FilterSelector selector(&options.filter);
    std::size_t nprobe = std::min(nlist, options.nprobe > 0 ? options.nprobe : default_nprobe());
    auto better = [](const SearchHit& a, const SearchHit& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    };
    if (options.filter) {
        const std::size_t n = slot_ids_.size();
        const auto estimate = detail::estimate_passing_fraction(
            n, n, detail::kExactFilterFloor, [&](std::size_t slot) -> std::optional<bool> {
                return options.filter(slot_ids_[slot]);
            });
        if (estimate.below) {
            for (std::size_t slot = 0; slot < n; ++slot) {
                if (options.filter(slot_ids_[slot]))
                    hits.push_back(
                        {slot_ids_[slot], rerank_distance(q.data(), slot, buffer.data()), 0.0f});
            }
            nprobe = 0;  // done: skip the list scan
        } else {
            nprobe = std::min(nlist, static_cast<std::size_t>(std::ceil(
                                         static_cast<double>(nprobe) / estimate.fraction)));
        }
    }
    try {
        while (nprobe > 0) {
            std::vector<faiss_idx> keys(nprobe);
            std::vector<float> keys_dis(nprobe);
            for (std::size_t i = 0; i < nprobe; ++i) {
                keys[i] = coarse[i].second;
                keys_dis[i] = coarse[i].first;
            }
            faiss::SearchParametersIVF params;
            params.nprobe = nprobe;
            params.sel = options.filter ? &selector : nullptr;
            std::vector<float> dis(depth);
            std::vector<faiss_idx> labels(depth);
            ivf_->search_preassigned(1, q.data(), static_cast<faiss_idx>(depth), keys.data(),
                                     keys_dis.data(), dis.data(), labels.data(), false, &params);
            hits.clear();
            for (std::size_t i = 0; i < depth; ++i) {
                if (labels[i] < 0)
                    continue;
                auto it = slot_of_.find(static_cast<std::int64_t>(labels[i]));
                if (it == slot_of_.end())
                    continue;
                hits.push_back(
                    {it->first, rerank_distance(q.data(), it->second, buffer.data()), 0.0f});
            }
            // A selective filter may leave fewer than k candidates in the probed lists: probe
            // more lists (x4) until k are found or every list was scanned.
            if (hits.size() >= std::min(options.k, slot_ids_.size()) || nprobe >= nlist)
                break;
            nprobe = std::min(nlist, nprobe * 4);
        }
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal, std::string("ivfpq search: ") + e.what());
    }
    const std::size_t k = std::min(options.k, hits.size());
    std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k), hits.end(),
                      better);
    hits.resize(k);
    for (auto& hit : hits) hit.score = score_from_distance(metric_, hit.distance);
    return hits;
}

Status IvfPqIndex::load_payload(detail::IndexReader& in) {
    const auto d = static_cast<std::size_t>(dim_);
    std::uint8_t state = 0;
    EARSHOT_RETURN_IF_ERROR(in.pod(state));
    if (state == kStatePending)
        return detail::read_flat_payload(*pending_, in);
    if (state != kStateTrained)
        return make_error(ErrorCode::kCorruption, "ivfpq payload: unknown state");
    std::uint64_t blob_size = 0, blob_hash = 0;
    EARSHOT_RETURN_IF_ERROR(in.pod(blob_size));
    EARSHOT_RETURN_IF_ERROR(in.pod(blob_hash));
    if (blob_size > in.remaining())
        return make_error(ErrorCode::kCorruption, "ivfpq payload: impossible faiss blob size");
    faiss::VectorIOReader blob;
    blob.data.resize(static_cast<std::size_t>(blob_size));
    EARSHOT_RETURN_IF_ERROR(in.bytes(blob.data.data(), blob.data.size()));
    if (hash_bytes(blob.data.data(), blob.data.size()) != blob_hash)
        return make_error(ErrorCode::kCorruption, "ivfpq payload: faiss blob checksum mismatch");
    std::unique_ptr<faiss::IndexIVFPQ> ivf;
    try {
        std::unique_ptr<faiss::Index> any(faiss::read_index(&blob));
        ivf.reset(dynamic_cast<faiss::IndexIVFPQ*>(any.get()));
        if (ivf)
            any.release();
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kCorruption, std::string("ivfpq payload: ") + e.what());
    }
    if (!ivf || ivf->d != dim_ || ivf->nlist != static_cast<std::size_t>(params_.nlist) ||
        ivf->pq.M != static_cast<std::size_t>(params_.pq_m) || ivf->pq.nbits != 8 ||
        ivf->metric_type != faiss::METRIC_L2 || !ivf->is_trained ||
        dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer) == nullptr) {
        return make_error(ErrorCode::kCorruption,
                          "ivfpq payload: faiss index does not match the spec " + spec_.text);
    }
    std::uint64_t n = 0;
    EARSHOT_RETURN_IF_ERROR(in.pod(n));
    if (n > in.remaining() / (sizeof(std::int64_t) + d * sizeof(std::uint16_t)) ||
        n != static_cast<std::uint64_t>(ivf->ntotal)) {
        return make_error(ErrorCode::kCorruption, "ivfpq payload: item count mismatch");
    }
    std::vector<std::int64_t> ids(static_cast<std::size_t>(n));
    std::vector<std::uint16_t> codes(static_cast<std::size_t>(n) * d);
    EARSHOT_RETURN_IF_ERROR(in.bytes(ids.data(), ids.size() * sizeof(std::int64_t)));
    EARSHOT_RETURN_IF_ERROR(in.bytes(codes.data(), codes.size() * sizeof(std::uint16_t)));
    std::unordered_map<std::int64_t, std::size_t> slot_of;
    slot_of.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (!slot_of.emplace(ids[i], i).second)
            return make_error(ErrorCode::kCorruption, "ivfpq payload: duplicate id");
    }
    // The lists must hold exactly the same ids.
    std::size_t listed = 0;
    for (std::size_t l = 0; l < ivf->nlist; ++l) {
        const std::size_t len = ivf->invlists->list_size(l);
        const faiss_idx* list_ids = ivf->invlists->get_ids(l);
        for (std::size_t i = 0; i < len; ++i) {
            if (slot_of.count(static_cast<std::int64_t>(list_ids[i])) == 0) {
                ivf->invlists->release_ids(l, list_ids);
                return make_error(ErrorCode::kCorruption, "ivfpq payload: lists and ids differ");
            }
        }
        ivf->invlists->release_ids(l, list_ids);
        listed += len;
    }
    if (listed != ids.size())
        return make_error(ErrorCode::kCorruption, "ivfpq payload: lists and ids differ");
    ivf_ = std::move(ivf);
    codes_ = std::move(codes);
    slot_ids_ = std::move(ids);
    slot_of_ = std::move(slot_of);
    pending_.reset();
    return ok_status();
}

}  // namespace

Result<IvfPqParams> ivfpq_params(const IndexSpec& spec) {
    // IVF<nlist>,PQ<m>[x8]: the faiss factory form; other IVF encodings are not built.
    const std::string t = detail::lower_spec(spec.text);
    if (!t.starts_with("ivf"))
        return tl::unexpected(detail::bad_index_spec(spec.text));
    std::string_view rest = std::string_view(t).substr(3);
    const auto comma = rest.find(',');
    IvfPqParams p;
    if (comma == std::string_view::npos ||
        !detail::parse_positive(rest.substr(0, comma), p.nlist) || p.nlist > 1 << 20)
        return tl::unexpected(detail::bad_index_spec(spec.text));
    std::string_view code = rest.substr(comma + 1);
    if (!code.starts_with("pq")) {
        return make_error(ErrorCode::kNotSupported,
                          "index spec '" + spec.text +
                              "': only PQ codes are built for IVF (IVF<nlist>,PQ<m>, e.g. "
                              "IVF4096,PQ32); use HNSW<M> or flat otherwise");
    }
    code.remove_prefix(2);
    if (code.size() > 2 && code.substr(code.size() - 2) == "x8")
        code.remove_suffix(2);
    if (!detail::parse_positive(code, p.pq_m) || p.pq_m > 4096)
        return tl::unexpected(detail::bad_index_spec(spec.text));
    return p;
}

namespace {

Result<IndexSpec> parse_ivfpq(std::string_view text) {
    EARSHOT_ASSIGN_OR_RETURN(IvfPqParams p, ivfpq_params(IndexSpec{"ivfpq", std::string(text)}));
    return IndexSpec{"ivfpq", "IVF" + std::to_string(p.nlist) + ",PQ" + std::to_string(p.pq_m)};
}

Result<std::unique_ptr<IvfPqIndex>> make_ivfpq(const IndexSpec& spec, int dim, Metric metric) {
    EARSHOT_ASSIGN_OR_RETURN(IvfPqParams p, ivfpq_params(spec));
    if (dim % p.pq_m != 0) {
        std::string options;  // the divisors from 4 to 128, largest first, at most six
        int shown = 0;
        for (int m = std::min(dim, 128); m >= 4 && shown < 6; --m) {
            if (dim % m == 0) {
                options += (options.empty() ? "" : ", ") + ("PQ" + std::to_string(m));
                ++shown;
            }
        }
        return make_error(ErrorCode::kInvalidArgument,
                          "index spec '" + spec.text + "': PQ" + std::to_string(p.pq_m) +
                              " needs a dimension divisible by " + std::to_string(p.pq_m) +
                              " (this space is " + std::to_string(dim) + "-d" +
                              (options.empty() ? std::string(")") : "; try " + options + ")"));
    }
    return std::make_unique<IvfPqIndex>(spec, p, dim, metric);
}

Result<std::unique_ptr<VectorIndex>> load_ivfpq(const IndexSpec& spec,
                                                int dim,
                                                Metric metric,
                                                detail::IndexReader& in) {
    auto made = make_ivfpq(spec, dim, metric);
    if (!made)  // a header whose dim does not fit the spec
        return make_error(ErrorCode::kCorruption, made.error().message());
    auto status = (*made)->load_payload(in);
    if (!status) {
        if (status.error().code() == ErrorCode::kInvalidArgument)
            return make_error(ErrorCode::kCorruption, status.error().message());
        return tl::unexpected(status.error());
    }
    return std::unique_ptr<VectorIndex>(std::move(*made));
}

}  // namespace

const IndexKind kIvfPqIndexKind{
    .name = "ivfpq",
    .prefix = "ivf",
    .syntax = "IVF<nlist>,PQ<m>",
    .description =
        "faiss inverted lists of m-byte PQ codes, half-precision re-ranking; per-query nprobe; "
        "exact until 16 x nlist items are there to train on",
    .examples = "IVF32,PQ12|IVF8,PQ4",
    .parse = &parse_ivfpq,
    .make =
        [](const IndexSpec& spec, int dim, Metric metric) -> Result<std::unique_ptr<VectorIndex>> {
        EARSHOT_ASSIGN_OR_RETURN(auto index, make_ivfpq(spec, dim, metric));
        return std::unique_ptr<VectorIndex>(std::move(index));
    },
    .load = &load_ivfpq,
    .index_help = [] { return std::string("IVF<nlist>,PQ<m> (e.g. IVF4096,PQ64)"); },
    .ef_search_help =
        [] {
            return "IVF-PQ: PQ candidates re-ranked (default " + std::to_string(kRerankFactor) +
                   "*k)";
        },
    .nprobe_help =
        [] {
            return "IVF lists probed per query (default max(" +
                   std::to_string(kIvfMinDefaultNprobe) + ", nlist/16))";
        },
};

}  // namespace earshot
