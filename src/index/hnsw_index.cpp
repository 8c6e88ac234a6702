// HNSW through header-only hnswlib 0.6.2 (Debian libhnswlib-dev). hnswlib is the graph store
// and builder, with our distance kernels (KernelSpace below); search is ours because 0.6.2 has
// neither a filter functor nor a per-query ef: we walk the upper layers greedily like hnswlib's
// searchKnn and run the layer-0 best-first search with the filter applied to what enters the
// result set (the approach of hnswlib >= 0.7 `isIdAllowed`). Ref:
// https://github.com/nmslib/hnswlib/blob/v0.7.0/hnswlib/hnswalg.h#L263-L345
// Persistence is our own (validated) serialisation of hnswlib's buffers, not saveIndex.
#include "index/hnsw_index.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <new>
#include <numeric>
#include <optional>
#include <queue>
#include <stdexcept>
#include <sys/mman.h>
#include <type_traits>
#include <unordered_set>

#include <hnswlib/hnswlib.h>

#include "core/format.h"
#include "core/thread_pool.h"
#include "index/distance_kernels.h"
#include "index/filter_estimate.h"
#include "index/hnsw_layer0.h"
#include "index/index_file.h"
#include "index/index_kinds.h"
#include "index/sq_index.h"
#include "index/vector_index.h"
#include "index/vector_transform.h"

namespace earshot {
namespace {

using Hnsw = hnswlib::HierarchicalNSW<float>;
using hnswlib::tableint;

constexpr std::size_t kInitialCapacity = 1024;
constexpr int kMaxLevel = 64;

// hnswlib 0.6.2's insertion walk (searchBaseLayer) prefetches the slot after a link list's last
// entry; for a full list on a node's top layer that slot is past the end of the node's upper-layer
// block (its own malloc), a 4-byte heap read AddressSanitizer reports (docs/reliability.md). Each
// upper-layer list therefore gets one spare tableint after it: hnswlib computes every upper-layer
// address and allocation from size_links_per_element_, so widening that stride before the first
// insertion gives every list the slot. Index files keep hnswlib's unpadded per-level lists.
void pad_link_lists(Hnsw& h) {
    h.size_links_per_element_ += sizeof(tableint);
}
std::size_t file_links_per_level(const Hnsw& h) {
    return h.size_links_per_element_ - sizeof(tableint);
}

// Level-0 records on cache-line boundaries. hnswlib lays a record out as links (4 + 2M * 4 bytes),
// vector, label: 780 bytes at M 32 and d = 128, so most vectors straddle one more line than they
// fill (9 instead of 8) and the block itself starts 16 bytes into a page (malloc). Here the label
// follows the links, the vector starts at the next multiple of 64 and the record is padded to
// one (832 bytes at d = 128, 4,416 at d = 1024: +7 % and +1 % memory), in a block aligned to a
// page. hnswlib reads every field through offsetData_ / label_offset_ / size_data_per_element_,
// so setting them before the first insertion is enough; resizeIndex's realloc may return a block
// aligned to 16 bytes only, so it is aligned again after each. Index files keep hnswlib's unpadded
// records (save_payload / load_payload convert). Same graph against plain hnswlib: 200k x 128
// +5-10 % (medians of five runs each), 1M x 128 1.10-1.27x -> ~1.5x (docs/performance.md, eighth
// round).
constexpr std::size_t kRecordAlign = 64;
constexpr std::size_t kBlockAlign = 4096;
std::size_t round_up(std::size_t n, std::size_t a) {
    return (n + a - 1) / a * a;
}
char* aligned_block(std::size_t bytes) {
    void* p =
        std::aligned_alloc(kBlockAlign, round_up(std::max<std::size_t>(bytes, 1), kBlockAlign));
    if (p == nullptr)
        throw std::bad_alloc();
    return static_cast<char*>(p);
}
void align_level0(Hnsw& h) {
    const std::size_t data_offset =
        round_up(h.size_links_level0_ + sizeof(hnswlib::labeltype), kRecordAlign);
    std::free(h.data_level0_memory_);
    h.data_level0_memory_ = nullptr;
    h.label_offset_ = h.size_links_level0_;
    h.offsetData_ = data_offset;
    h.size_data_per_element_ = round_up(data_offset + h.data_size_, kRecordAlign);
    h.data_level0_memory_ = aligned_block(h.max_elements_ * h.size_data_per_element_);
}
void realign_level0(Hnsw& h) {
    if (reinterpret_cast<std::uintptr_t>(h.data_level0_memory_) % kBlockAlign == 0)
        return;
    const std::size_t bytes = h.max_elements_ * h.size_data_per_element_;
    char* block = aligned_block(bytes);
    std::memcpy(block, h.data_level0_memory_, bytes);
    std::free(h.data_level0_memory_);
    h.data_level0_memory_ = block;
}
// Bytes of a level-0 record in index files: hnswlib's own layout (links, vector, label).
std::size_t file_level0_bytes(const Hnsw& h) {
    return h.size_links_level0_ + h.data_size_ + sizeof(hnswlib::labeltype);
}

// hnswlib space whose distances are our kernels (distance_kernels.h): 1 - <a, b> for unit rows,
// squared L2 otherwise. hnswlib 0.6.2's own AVX-512 kernels run one FMA chain (latency-bound:
// ~2x slower at d = 1024); ours keep four accumulators. The same kernels give the exact
// distances we report, so graph distances need no re-computation after the walk.
float ip_distance(const void* a, const void* b, const void* dim) {
    return 1.0f - detail::dot_f32(static_cast<const float*>(a), static_cast<const float*>(b),
                                  *static_cast<const std::size_t*>(dim));
}
float l2_distance(const void* a, const void* b, const void* dim) {
    return detail::l2_squared_f32(static_cast<const float*>(a), static_cast<const float*>(b),
                                  *static_cast<const std::size_t*>(dim));
}

// `HNSW<M>,SQfp16`: the graph stores binary16 vectors (half the bytes per visited node).
float ip_distance_f16(const void* a, const void* b, const void* dim) {
    return 1.0f - detail::dot_f16_f16(static_cast<const std::uint16_t*>(a),
                                      static_cast<const std::uint16_t*>(b),
                                      *static_cast<const std::size_t*>(dim));
}
float l2_distance_f16(const void* a, const void* b, const void* dim) {
    return detail::l2_squared_f16_f16(static_cast<const std::uint16_t*>(a),
                                      static_cast<const std::uint16_t*>(b),
                                      *static_cast<const std::size_t*>(dim));
}

class KernelSpace final : public hnswlib::SpaceInterface<float> {
public:
    KernelSpace(std::size_t dim, bool inner_product, bool half)
        : dim_(dim),
          value_bytes_(half ? sizeof(std::uint16_t) : sizeof(float)),
          fn_(half ? (inner_product ? &ip_distance_f16 : &l2_distance_f16)
                   : (inner_product ? &ip_distance : &l2_distance)) {}
    std::size_t get_data_size() override { return dim_ * value_bytes_; }
    hnswlib::DISTFUNC<float> get_dist_func() override { return fn_; }
    void* get_dist_func_param() override { return &dim_; }

private:
    std::size_t dim_;
    std::size_t value_bytes_;
    hnswlib::DISTFUNC<float> fn_;
};

// Which distance the layer-0 walk computes (template parameter of graph_search).
enum class Walk { kDot, kL2, kL1 };

// Per-thread scratch for searches (reused capacity: no allocations per query once warm). A
// filter callback must not itself search an HNSW index on the same thread.
struct Scratch {
    std::vector<std::pair<float, tableint>> top;        // max-heap by distance (worst first)
    std::vector<std::pair<float, tableint>> frontier;   // min-heap by distance (best first)
    std::vector<tableint> fresh;                        // unvisited neighbours of one node
    std::vector<std::uint8_t> fresh_pass;               // filtered walk: fresh[j] accepted
    std::vector<float> query;                           // the query in stored form
    std::vector<std::pair<float, tableint>> estimates;  // exact_scan: 8-bit distance, element
};

// Asks for transparent huge pages on the level-0 block (vectors + links of every node): a
// layer-0 walk touches a few hundred random nodes per query, each a TLB miss with 4 KiB pages.
// Only the page-aligned interior can be advised; failure (THP off) is harmless.
void advise_huge_pages(const Hnsw& h) {
    const auto page = static_cast<std::uintptr_t>(4096);
    const auto begin = reinterpret_cast<std::uintptr_t>(h.data_level0_memory_);
    const std::uintptr_t end = begin + h.max_elements_ * h.size_data_per_element_;
    const std::uintptr_t first = (begin + page - 1) & ~(page - 1);
    const std::uintptr_t last = end & ~(page - 1);
    if (last > first)
        madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}
Scratch& scratch() {
    thread_local Scratch s;
    return s;
}

thread_local std::size_t t_filtered_walks = 0;        // detail::hnsw_filtered_walks()
thread_local std::size_t t_walks_given_up = 0;        // detail::hnsw_walks_given_up()
thread_local std::size_t t_walk_distances = 0;        // detail::hnsw_walk_distances()
thread_local std::size_t t_walk_expansions = 0;       // detail::hnsw_walk_expansions()
thread_local std::size_t t_walk_ef = 0;               // detail::hnsw_last_walk_ef()
std::atomic<bool> g_steering{true};                   // detail::set_hnsw_filter_steering()
std::atomic<bool> g_walk_budget{true};                // detail::set_hnsw_walk_budget()
std::atomic<bool> g_share_check{true};                // detail::set_hnsw_passing_share_check()
std::atomic<bool> g_reorder{true};                    // detail::set_hnsw_reorder()
std::atomic<bool> g_self_search{true};                // detail::set_hnsw_self_search_repair()
std::atomic<bool> g_in_degree{true};                  // detail::set_hnsw_in_degree_repair()
std::atomic<bool> g_own_insertion{true};              // detail::set_hnsw_own_insertion()
std::atomic<std::size_t> g_own_insertions{0};         // detail::hnsw_own_insertions()
std::atomic<std::size_t> g_self_searches{0};          // detail::hnsw_self_searches()
std::atomic<std::size_t> g_renumberings{0};           // detail::hnsw_renumberings()
thread_local detail::HnswBuildPhases t_build_phases;  // detail::hnsw_last_build_phases()

// A visited list from hnswlib's pool for one walk (its tag marks the nodes this walk has met),
// given back when the walk ends.
class VisitedLease {
public:
    explicit VisitedLease(hnswlib::VisitedListPool& pool)
        : pool_(pool), list_(pool.getFreeVisitedList()) {}
    ~VisitedLease() { pool_.releaseVisitedList(list_); }
    VisitedLease(const VisitedLease&) = delete;
    VisitedLease& operator=(const VisitedLease&) = delete;
    hnswlib::vl_type* mass() const { return list_->mass; }
    hnswlib::vl_type tag() const { return list_->curV; }

private:
    hnswlib::VisitedListPool& pool_;
    hnswlib::VisitedList* list_;
};

inline void prefetch(const void* p) {
    __builtin_prefetch(p, 0, 3);
}

// The walks' step over one expanded node's links: the ones not yet visited, in list order, go to
// `fresh` and are marked visited (all their visited tags requested first), then the first line of
// each one's vector is requested at once, so that their misses overlap before the distances are
// computed in list order. For the insertion's and the self-search's walks; the query walk
// (graph_search) interleaves its filter and steering copy with these steps.
void take_unvisited(const Hnsw& h,
                    const tableint* links,
                    std::size_t n,
                    hnswlib::vl_type* visited,
                    hnswlib::vl_type tag,
                    std::vector<tableint>& fresh) {
    fresh.clear();
    for (std::size_t j = 0; j < n; ++j) prefetch(visited + links[j]);
    for (std::size_t j = 0; j < n; ++j) {
        if (visited[links[j]] != tag) {
            visited[links[j]] = tag;
            fresh.push_back(links[j]);
        }
    }
    for (const tableint v : fresh) prefetch(h.getDataByInternalId(v));
}

class HnswIndex final : public VectorIndex {
public:
    HnswIndex(IndexSpec spec, HnswParams params, int dim, Metric metric)
        : spec_(std::move(spec)), params_(params), dim_(dim), metric_(metric), half_(params.half) {
        space_ = std::make_unique<KernelSpace>(static_cast<std::size_t>(dim),
                                               detail::uses_unit_rows(metric), half_);
    }

    const IndexSpec& spec() const override { return spec_; }
    int dim() const override { return dim_; }
    Metric metric() const override { return metric_; }
    std::size_t size() const override {
        return hnsw_ ? hnsw_->cur_element_count - hnsw_->num_deleted_ : 0;
    }
    bool contains(std::int64_t id) const override {
        if (!hnsw_)
            return false;
        auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(id));
        return it != hnsw_->label_lookup_.end() && !hnsw_->isMarkedDeleted(it->second);
    }
    std::vector<std::int64_t> ids() const override {
        std::vector<std::int64_t> out;
        if (!hnsw_)
            return out;
        out.reserve(size());
        for (const auto& [label, internal] : hnsw_->label_lookup_) {
            if (!hnsw_->isMarkedDeleted(internal))
                out.push_back(static_cast<std::int64_t>(label));
        }
        return out;
    }
    void set_threads(int threads) override { threads_ = threads; }

    Status add(std::span<const std::int64_t> ids, const Matrix& vectors) override {
        const auto d = static_cast<std::size_t>(dim_);
        if (ids.size() != vectors.n_rows) {
            return make_error(ErrorCode::kInvalidArgument,
                              "hnsw add: " + std::to_string(ids.size()) + " ids for " +
                                  std::to_string(vectors.n_rows) + " vectors");
        }
        if (ids.empty())
            return ok_status();
        if (vectors.n_cols != d || vectors.data.size() != vectors.n_rows * d) {
            return make_error(ErrorCode::kInvalidArgument,
                              "hnsw add: vectors have dim " + std::to_string(vectors.n_cols) +
                                  ", the index has dim " + std::to_string(dim_));
        }
        if (!detail::all_finite(vectors.data.data(), vectors.data.size())) {
            return make_error(ErrorCode::kInvalidArgument,
                              "hnsw add: vectors contain a non-finite value");
        }
        std::unordered_set<std::int64_t> batch;
        batch.reserve(ids.size());
        for (auto id : ids) {
            if (contains(id) || !batch.insert(id).second) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "hnsw add: duplicate id " + std::to_string(id));
            }
        }
        return add_rows(ids, [&](std::size_t i, float* out) {
            detail::transform_for_metric(metric_, vectors.row(i), d, out);
            return true;
        });
    }

    std::size_t remove(std::span<const std::int64_t> ids) override {
        std::size_t removed = 0;
        for (auto id : ids) {
            if (contains(id)) {
                hnsw_->markDelete(static_cast<hnswlib::labeltype>(id));
                ++removed;
            }
        }
        if (removed > 0 &&
            static_cast<double>(hnsw_->num_deleted_) >
                kTombstoneRebuildFraction * static_cast<double>(hnsw_->cur_element_count)) {
            compact();
        }
        return removed;
    }

    Result<std::vector<SearchHit>> search(std::span<const float> query,
                                          const SearchOptions& options) const override;

    // SQfp16: distances come from half-precision vectors; the caller re-ranks exactly (the
    // engine from the catalog's float32 vectors, bench index from its data).
    bool exact_distances() const override { return !half_; }

    std::size_t memory_bytes() const override {
        if (!hnsw_)
            return 0;
        std::size_t bytes = hnsw_->max_elements_ * hnsw_->size_data_per_element_;
        for (std::size_t i = 0; i < hnsw_->cur_element_count; ++i) {
            bytes += static_cast<std::size_t>(hnsw_->element_levels_[i]) *
                     hnsw_->size_links_per_element_;
        }
        // label map (node + bucket), per-element lock and level, visited list (u16 per element)
        bytes += hnsw_->label_lookup_.size() * 48 + labels_.capacity() * sizeof(std::int64_t) +
                 hnsw_->max_elements_ * (sizeof(std::mutex) + sizeof(int) + sizeof(void*) + 2);
        // The filtered walk's 8-bit steering copy, once a filtered search has built it.
        if (steer_ready_.load(std::memory_order_acquire))
            bytes += steer_.capacity * steer_.stride;
        return bytes;
    }

    // Payload (docs/formats.md): u32 M, u32 efConstruction, u64 n (elements incl. tombstones),
    // u64 bytes per level-0 element, i32 max level, u32 entry point, then n level-0 records as
    // hnswlib lays them out (links, vector in stored form, label), then per element u32 bytes of
    // upper-layer links followed by those bytes.
    Status save_payload(detail::IndexWriter& out) const override {
        const std::uint32_t m = static_cast<std::uint32_t>(params_.m);
        const std::uint32_t efc = static_cast<std::uint32_t>(params_.ef_construction);
        const std::uint64_t n = hnsw_ ? hnsw_->cur_element_count : 0;
        out.pod(m);
        out.pod(efc);
        out.pod(n);
        if (n == 0)
            return ok_status();
        const Hnsw& h = *hnsw_;
        out.pod(static_cast<std::uint64_t>(file_level0_bytes(h)));
        out.pod(static_cast<std::int32_t>(h.maxlevel_));
        out.pod(static_cast<std::uint32_t>(h.enterpoint_node_));
        for (std::size_t i = 0; i < n; ++i) {
            const auto t = static_cast<tableint>(i);
            out.bytes(h.get_linklist0(t), h.size_links_level0_);
            out.bytes(h.getDataByInternalId(t), h.data_size_);
            out.bytes(h.data_level0_memory_ + i * h.size_data_per_element_ + h.label_offset_,
                      sizeof(hnswlib::labeltype));
        }
        const std::size_t list_bytes = file_links_per_level(*hnsw_);
        for (std::size_t i = 0; i < n; ++i) {
            const int levels = hnsw_->element_levels_[i];
            out.pod(static_cast<std::uint32_t>(static_cast<std::size_t>(levels) * list_bytes));
            for (int l = 1; l <= levels; ++l)
                out.bytes(hnsw_->get_linklist(static_cast<tableint>(i), l), list_bytes);
        }
        return out.ok() ? ok_status() : make_error(ErrorCode::kIoError, "hnsw: write failed");
    }

    Status load_payload(detail::IndexReader& in);

    void reorder() {
        if (hnsw_)
            reorder_breadth_first();
    }

    std::size_t repair() { return hnsw_ ? repair_reachability() : 0; }
    std::size_t self_search_repair() { return hnsw_ ? repair_self_search(0) : 0; }
    std::size_t in_degree_repair() { return hnsw_ ? repair_in_degree() : 0; }
    // For detail::hnsw_layer0_candidates: layer 0's construction candidates for a stored-form
    // query, from where the greedy upper-layer descent lands, nearest first.
    std::vector<std::pair<float, std::uint32_t>> layer0_candidates(const float* q, bool own) {
        std::vector<std::pair<float, std::uint32_t>> out;
        if (!hnsw_ || hnsw_->cur_element_count == 0 || half_)
            return out;
        const tableint from = descend(q, [](tableint) { return true; }).second;
        Candidates found = own ? construction_search0(from, q) : hnsw_->searchBaseLayer(from, q, 0);
        for (; !found.empty(); found.pop()) out.push_back(found.top());
        std::reverse(out.begin(), out.end());
        return out;
    }

    std::optional<detail::HnswGraphView> graph_view() const {
        if (!hnsw_ || hnsw_->cur_element_count == 0)
            return std::nullopt;
        const Hnsw& h = *hnsw_;
        detail::HnswGraphView v;
        v.count = h.cur_element_count;
        v.m = h.M_;
        v.ef_construction = static_cast<std::size_t>(params_.ef_construction);
        v.max_level = h.maxlevel_;
        v.entry_point = h.enterpoint_node_;
        v.level0 = h.data_level0_memory_;
        v.level0_stride = h.size_data_per_element_;
        v.level0_links_bytes = h.size_links_level0_;
        v.label_offset = h.label_offset_;
        v.data_offset = h.offsetData_;
        v.levels = h.element_levels_.data();
        v.upper = h.linkLists_;
        v.upper_stride = h.size_links_per_element_;
        v.upper_list_bytes = file_links_per_level(h);
        return v;
    }

private:
    // Adds rows under ids, in parallel. fill(i, out) writes row i's stored form as dim floats
    // and returns true, or (compaction) copies the stored element bytes to out and returns false.
    template <typename Fill>
    Status add_rows(std::span<const std::int64_t> ids, Fill fill) {
        const auto d = static_cast<std::size_t>(dim_);
        try {
            reserve(ids.size());
            const std::size_t first_new = hnsw_->cur_element_count;
            detail::HnswBuildPhases phases;
            auto clock = std::chrono::steady_clock::now();
            // Seconds since the last lap (or the start), and a new lap.
            auto lap = [&clock] {
                const auto now = std::chrono::steady_clock::now();
                const double s = std::chrono::duration<double>(now - clock).count();
                clock = now;
                return s;
            };
            std::mutex error_mu;
            std::string error;
            // Rows are inserted nearly in their order (chunks of 4 claimed in turn), as plain
            // hnswlib's builder does, instead of one contiguous half per thread: rows often arrive
            // sorted by file, and two concurrent sorted streams are a different insertion order
            // from the one hnswlib is compared with (docs/performance.md).
            // A few rows (an incremental add) stay on this thread.
            const int threads = ids.size() < 128 ? 1 : threads_;
            parallel_for_ordered(ids.size(), threads, 4, [&](std::size_t begin, std::size_t end) {
                thread_local std::vector<float> row;
                thread_local std::vector<std::uint16_t> half_row;
                row.resize(d);
                half_row.resize(half_ ? d : 0);
                for (std::size_t i = begin; i < end; ++i) {
                    const void* point = row.data();
                    if (fill(i, row.data()) && half_) {
                        detail::f32_to_f16(row.data(), half_row.data(), d);
                        point = half_row.data();
                    }
                    try {
                        insert(point, static_cast<hnswlib::labeltype>(ids[i]));
                    } catch (const std::exception& e) {
                        std::lock_guard lock(error_mu);
                        error = e.what();
                        return;
                    }
                }
            });
            sync_labels();
            phases.insert_s = lap();
            if (ids.size() >= kRepairBatch) {
                if (g_in_degree.load(std::memory_order_relaxed)) {
                    repair_in_degree();
                    phases.in_degree_s = lap();
                }
                repair_reachability();
                phases.reachability_s = lap();
                if (g_self_search.load(std::memory_order_relaxed)) {
                    repair_self_search(first_new);
                    phases.self_search_s = lap();
                }
                if (g_reorder.load(std::memory_order_relaxed) &&
                    ids.size() * kReorderShare >= hnsw_->cur_element_count) {
                    reorder_breadth_first();
                    phases.renumber_s = lap();
                }
            }
            t_build_phases = phases;
            if (steer_ready_.load(std::memory_order_relaxed))
                steer_encode(steer_.count);
            if (!error.empty())
                return make_error(ErrorCode::kInternal, "hnsw add: " + error);
        } catch (const std::exception& e) {  // std::bad_alloc, hnswlib's runtime_error
            return make_error(ErrorCode::kInternal, std::string("hnsw add: ") + e.what());
        }
        return ok_status();
    }

    // Inserts one element (its label not live in the index: add() checks), as hnswlib 0.6.2's
    // addPoint does: the same random level, locks, upper-layer searches and neighbour heuristic,
    // so the same graph (HnswInsertionTest). On layer 0 the candidates come from
    // construction_search0 and the links from connect0, which wait on memory differently. Safe
    // from several threads at once, as addPoint is. A label that a tombstone still holds goes to
    // addPoint itself.
    void insert(const void* point, hnswlib::labeltype label) {
        if (!g_own_insertion.load(std::memory_order_relaxed)) {
            hnsw_->addPoint(point, label);
            return;
        }
        Hnsw& h = *hnsw_;
        tableint cur = 0;
        {
            std::unique_lock count_lock(h.cur_element_count_guard_);
            if (h.label_lookup_.count(label) > 0) {
                // A deleted id added again: hnswlib's addPoint revives its element with the new
                // vector (updatePoint), so that one element keeps the label, as before.
                count_lock.unlock();
                h.addPoint(point, label);
                return;
            }
            if (h.cur_element_count >= h.max_elements_)
                throw std::runtime_error("The number of elements exceeds the specified limit");
            cur = static_cast<tableint>(h.cur_element_count++);
            h.label_lookup_[label] = cur;
        }
        g_own_insertions.fetch_add(1, std::memory_order_relaxed);
        std::unique_lock own_lock(h.link_list_locks_[cur]);
        // hnswlib's addPoint draws the level from its shared generator without a lock, and reads
        // the entry point after releasing `global` while an insertion that raises the top level
        // writes it under `global` (tests/tsan.supp). Here both happen under `global`: the same
        // draws in the same order on one thread, and no race on two.
        std::unique_lock top_lock(h.global);
        const int level = h.getRandomLevel(h.mult_);
        h.element_levels_[cur] = level;
        const int max_level = h.maxlevel_;
        const tableint entry = h.enterpoint_node_;
        if (level <= max_level)
            top_lock.unlock();
        std::memset(h.data_level0_memory_ + cur * h.size_data_per_element_ + h.offsetLevel0_, 0,
                    h.size_data_per_element_);
        std::memcpy(h.getExternalLabeLp(cur), &label, sizeof(hnswlib::labeltype));
        std::memcpy(h.getDataByInternalId(cur), point, h.data_size_);
        if (level > 0) {
            const std::size_t bytes = h.size_links_per_element_ * level + 1;
            h.linkLists_[cur] = static_cast<char*>(std::malloc(bytes));
            if (h.linkLists_[cur] == nullptr)
                throw std::bad_alloc();
            std::memset(h.linkLists_[cur], 0, bytes);
        }
        tableint from = entry;
        if (static_cast<int>(entry) == -1) {  // the first element
            h.enterpoint_node_ = 0;
            h.maxlevel_ = level;
        } else {
            auto dist_to = [&](tableint v) {
                return h.fstdistfunc_(point, h.getDataByInternalId(v), h.dist_func_param_);
            };
            if (level < max_level) {
                float from_d = dist_to(from);
                for (int l = max_level; l > level; --l) {
                    for (bool moved = true; moved;) {
                        moved = false;
                        std::unique_lock lock(h.link_list_locks_[from]);
                        auto* data = h.get_linklist(from, l);
                        const auto* links = reinterpret_cast<const tableint*>(data + 1);
                        for (std::size_t j = 0, c = h.getListCount(data); j < c; ++j) {
                            const float d = dist_to(links[j]);
                            if (d < from_d) {
                                from_d = d;
                                from = links[j];
                                moved = true;
                            }
                        }
                    }
                }
            }
            const bool entry_deleted = h.isMarkedDeleted(entry);
            for (int l = std::min(level, max_level); l >= 0; --l) {
                auto found =
                    l > 0 ? h.searchBaseLayer(from, point, l) : construction_search0(from, point);
                if (entry_deleted) {
                    found.emplace(dist_to(entry), entry);
                    if (found.size() > h.ef_construction_)
                        found.pop();
                }
                from = l > 0 ? h.mutuallyConnectNewElement(point, cur, found, l, false)
                             : connect0(cur, found);
            }
        }
        if (level > max_level) {
            h.enterpoint_node_ = cur;
            h.maxlevel_ = level;
        }
    }

    using Candidates = std::priority_queue<std::pair<float, tableint>,
                                           std::vector<std::pair<float, tableint>>,
                                           Hnsw::CompareByFirst>;
    // hnswlib's mutuallyConnectNewElement(point, cur, found, 0, false) for a new element: the
    // same neighbours chosen by the same heuristic, the same links appended or lists shrunk, in
    // the same order under the same locks. What differs is memory: every chosen neighbour's lock
    // and list are requested at once, and before a full list is shrunk (the distances from the
    // neighbour to each of its 2M links, then the heuristic) all its links' vectors are. Returns
    // the nearest neighbour chosen (where the next layer's search would start).
    tableint connect0(tableint cur, Candidates& found) {
        Hnsw& h = *hnsw_;
        const std::size_t max_links = h.maxM0_;
        h.getNeighborsByHeuristic2(found, h.M_);
        thread_local std::vector<tableint> chosen;
        chosen.clear();
        for (; !found.empty(); found.pop()) chosen.push_back(found.top().second);  // farthest first
        auto* own = h.get_linklist0(cur);
        h.setListCount(own, static_cast<unsigned short>(chosen.size()));
        std::copy(chosen.begin(), chosen.end(), reinterpret_cast<tableint*>(own + 1));
        for (const tableint v : chosen) {
            prefetch(&h.link_list_locks_[v]);
            prefetch(h.get_linklist0(v));
        }
        const char* cur_data = h.getDataByInternalId(cur);
        for (const tableint v : chosen) {
            std::unique_lock lock(h.link_list_locks_[v]);
            auto* list = h.get_linklist0(v);
            const std::size_t count = h.getListCount(list);
            auto* links = reinterpret_cast<tableint*>(list + 1);
            if (count < max_links) {
                links[count] = cur;
                h.setListCount(list, static_cast<unsigned short>(count + 1));
                continue;
            }
            for (std::size_t j = 0; j < count; ++j) prefetch(h.getDataByInternalId(links[j]));
            const char* v_data = h.getDataByInternalId(v);
            Candidates kept;
            kept.emplace(h.fstdistfunc_(cur_data, v_data, h.dist_func_param_), cur);
            for (std::size_t j = 0; j < count; ++j) {
                kept.emplace(
                    h.fstdistfunc_(h.getDataByInternalId(links[j]), v_data, h.dist_func_param_),
                    links[j]);
            }
            h.getNeighborsByHeuristic2(kept, max_links);
            std::size_t written = 0;
            for (; !kept.empty(); kept.pop()) links[written++] = kept.top().second;
            h.setListCount(list, static_cast<unsigned short>(written));
        }
        return chosen.empty() ? cur : chosen.back();
    }

    // The efConstruction nearest elements to `point` that a best-first layer-0 walk from `from`
    // finds, as hnswlib's searchBaseLayer(from, point, 0) finds them (the same stopping rule and
    // admissions; tombstones walked through but not returned), while other threads insert. What
    // differs is how it waits on memory, as graph_search does for queries: each expanded node's
    // links are copied under its lock (hnswlib holds the lock while it computes every neighbour's
    // distance), the unvisited ones collected first and all their vectors requested at once, and
    // the heaps are reused vectors. perf of a 300k x 128 build, docs/performance.md nineteenth
    // round.
    Candidates construction_search0(tableint from, const void* point) {
        Hnsw& h = *hnsw_;
        thread_local std::vector<std::pair<float, tableint>> frontier;  // min-heap (greater)
        thread_local std::vector<tableint> links;
        thread_local std::vector<tableint> fresh;
        std::vector<std::pair<float, tableint>> top;  // max-heap; handed to the caller
        top.reserve(h.ef_construction_ + 1);
        frontier.clear();
        using Pair = std::pair<float, tableint>;
        auto dist_to = [&](tableint v) {
            return h.fstdistfunc_(point, h.getDataByInternalId(v), h.dist_func_param_);
        };
        const std::size_t ef = h.ef_construction_;
        const VisitedLease lease(*h.visited_list_pool_);
        hnswlib::vl_type* visited = lease.mass();
        const hnswlib::vl_type tag = lease.tag();
        // The tombstone flag sits in the first line of an element's record, not in its vector's:
        // read only when the index has tombstones (a build has none; searchBaseLayer reads it for
        // every candidate it admits, a miss each: perf, nineteenth round).
        const bool tombstones = h.num_deleted_ > 0;
        float bound = std::numeric_limits<float>::max();
        if (!tombstones || !h.isMarkedDeleted(from)) {
            bound = dist_to(from);
            top.emplace_back(bound, from);
        }
        frontier.emplace_back(bound, from);
        visited[from] = tag;
        links.resize(h.maxM0_);
        while (!frontier.empty()) {
            const auto [cd, c] = frontier.front();
            if (cd > bound && top.size() == ef)
                break;
            std::pop_heap(frontier.begin(), frontier.end(), std::greater<Pair>());
            frontier.pop_back();
            // The next node to expand is likely the frontier's new best: its lock and link list
            // are fetched while this one's neighbours are computed.
            if (!frontier.empty()) {
                prefetch(&h.link_list_locks_[frontier.front().second]);
                prefetch(h.get_linklist0(frontier.front().second));
            }
            std::size_t n = 0;
            {
                std::unique_lock lock(h.link_list_locks_[c]);
                auto* data = h.get_linklist0(c);
                n = h.getListCount(data);
                std::memcpy(links.data(), data + 1, n * sizeof(tableint));
            }
            take_unvisited(h, links.data(), n, visited, tag, fresh);
            for (const tableint v : fresh) {
                const float d = dist_to(v);
                if (top.size() < ef || d < bound) {
                    frontier.emplace_back(d, v);
                    std::push_heap(frontier.begin(), frontier.end(), std::greater<Pair>());
                    if (!tombstones || !h.isMarkedDeleted(v)) {
                        top.emplace_back(d, v);
                        std::push_heap(top.begin(), top.end());
                    }
                    if (top.size() > ef) {
                        std::pop_heap(top.begin(), top.end());
                        top.pop_back();
                    }
                    if (!top.empty())
                        bound = top.front().first;
                }
            }
        }
        return Candidates(Hnsw::CompareByFirst(), std::move(top));
    }

    // Greedy descent through the upper layers from the entry point toward q, stepping only on
    // elements `allowed` accepts: where it ends (a layer-0 search starts there) and its distance
    // to q.
    template <typename Allowed>
    std::pair<float, tableint> descend(const void* q, Allowed allowed) const {
        const Hnsw& h = *hnsw_;
        auto dist_to = [&](tableint v) {
            return h.fstdistfunc_(q, h.getDataByInternalId(v), h.dist_func_param_);
        };
        tableint cur = h.enterpoint_node_;
        float cur_d = dist_to(cur);
        for (int level = h.maxlevel_; level > 0; --level) {
            for (bool moved = true; moved;) {
                moved = false;
                auto* data = reinterpret_cast<unsigned int*>(h.get_linklist(cur, level));
                auto* links = reinterpret_cast<tableint*>(data + 1);
                for (std::size_t j = 0, c = h.getListCount(data); j < c; ++j) {
                    if (!allowed(links[j]))
                        continue;
                    const float d = dist_to(links[j]);
                    if (d < cur_d) {
                        cur_d = d;
                        cur = links[j];
                        moved = true;
                    }
                }
            }
        }
        return {cur_d, cur};
    }

    // The (up to) k elements nearest element u's vector that a walk from the entry point through
    // reached elements finds, nearest first: the upper layers greedily, stepping only on reached
    // elements, then hnswlib's own layer-0 search (searchBaseLayerST, as in searchKnn) from where
    // that lands, which meets only reached elements (`reached` is closed under layer-0 links).
    // For the reachability repair's last stage, and (everything reached) the in-degree repair.
    std::vector<tableint> nearest_reached(tableint u,
                                          std::size_t k,
                                          const std::vector<char>& reached) const {
        const Hnsw& h = *hnsw_;
        const void* q = h.getDataByInternalId(u);
        const tableint cur = descend(q, [&](tableint v) { return reached[v] != 0; }).second;
        auto top = h.searchBaseLayerST<false>(cur, q, k);
        std::vector<tableint> nearest_first(top.size());
        for (std::size_t j = nearest_first.size(); j-- > 0; top.pop())
            nearest_first[j] = top.top().second;
        return nearest_first;
    }

    // Element v's layer-0 list: its header word (hnswlib keeps the count in it) and its links.
    std::pair<unsigned int*, tableint*> layer0_list(tableint v) const {
        auto* data = reinterpret_cast<unsigned int*>(hnsw_->get_linklist0(v));
        return {data, reinterpret_cast<tableint*>(data + 1)};
    }

    // Elements that few layer-0 lists link to are found only by walks that pass through one of
    // those few. hnswlib's neighbour heuristic leaves such elements where one element is nearer
    // to all of a newcomer's candidates than the newcomer is (a hub): the newcomer keeps one
    // out-link, to the hub, and the hub's full list does not take it back. On the real corpus
    // (yamnet windows) one 2-thread build had 1,018 elements whose only out-link went to the same
    // element, and 2,165 with one in-link. Of its 1,000 held-out queries, 15 missed true
    // neighbours at efSearch 1,024; the first element each missed (rank 0-6 of its neighbours)
    // had 1-5 in-links (1 in 11 of them), and the 12 checked had one out-link, to that same
    // element. So after a build every live element with fewer than kMinInDegree in-links gets
    // them from the nearest elements a search for its own vector finds (efSearch kInDegreeEf),
    // nearest first, appended to lists with room. Only appended: a version that also swapped
    // a full list's link to its best-linked element for one to the weak element lowered recall in
    // two builds of nine (0.9846 -> 0.9749 at efSearch 16 in one); appending kept the gain on the
    // plateau build with half the links. Appending never cuts an element off. Searches run in
    // parallel on the build's threads; the links are appended afterwards, in id order. Same graph,
    // that build: recall@10 (ties) at efSearch 32 0.9863 -> 0.9965, at 1,024 0.9924 -> 1.0000,
    // 3,923 links in 0.12 s (docs/performance.md, seventeenth round). Returns the links added.
    static constexpr std::size_t kMinInDegree = 4;
    static constexpr std::size_t kInDegreeEf = 32;
    std::size_t repair_in_degree() {
        Hnsw& h = *hnsw_;
        const std::size_t n = h.cur_element_count;
        if (n < 2)
            return 0;
        std::vector<std::uint32_t> in_links(n, 0);
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = static_cast<tableint>(i);
            if (h.isMarkedDeleted(v))
                continue;
            const auto [data, links] = layer0_list(v);
            for (std::size_t j = 0, c = h.getListCount(data); j < c; ++j) ++in_links[links[j]];
        }
        std::vector<tableint> weak;
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = static_cast<tableint>(i);
            if (in_links[i] < kMinInDegree && !h.isMarkedDeleted(v))
                weak.push_back(v);
        }
        if (weak.empty())
            return 0;
        const std::vector<char> everything(n, 1);
        std::vector<std::vector<tableint>> nearest(weak.size());
        parallel_for_ordered(weak.size(), threads_, 16, [&](std::size_t begin, std::size_t end) {
            for (std::size_t j = begin; j < end; ++j)
                nearest[j] = nearest_reached(weak[j], kInDegreeEf, everything);
        });
        std::size_t added = 0;
        for (std::size_t j = 0; j < weak.size(); ++j) {
            const tableint m = weak[j];
            for (const tableint v : nearest[j]) {
                if (in_links[m] >= kMinInDegree)
                    break;
                if (v == m || h.isMarkedDeleted(v))
                    continue;
                const auto [data, links] = layer0_list(v);
                const std::size_t count = h.getListCount(data);
                if (count >= h.maxM0_ || std::find(links, links + count, m) != links + count)
                    continue;
                links[count] = m;
                h.setListCount(data, static_cast<unsigned short>(count + 1));
                ++in_links[m];
                ++added;
            }
        }
        return added;
    }

    // Elements that no layer-0 path from the entry point reaches can never be returned, at any
    // efSearch: on the real yamnet corpus (near-duplicate windows) 2-thread builds of plain
    // hnswlib 0.6.2 and of ours left 0.3-2.8 % of 100k elements so (`bench index
    // --compare-hnswlib`, column "unreachable"; the recall plateau seen there has another
    // cause: islands of near-duplicates, docs/performance.md, eighth round). After an add of at
    // least kRepairBatch rows (a build, not each small incremental add: this walks every link
    // list), each unreached element u gets an in-link appended to the nearest reached element with
    // room (fewer than 2M links) among u's layer-0 neighbours and theirs; everything reachable from
    // u then counts as reached. Appending never cuts another element off. A second pass takes the
    // elements whose neighbourhood was all unreached in the first; a walk for each element still
    // left, through reached elements only, links it from the nearest live element with room it
    // finds (among the nearest 64, then 1,024) (a 2-pass repair left 144 of 100k on the real
    // corpus once, docs/performance.md, eighth round; a third stage with hnswlib's searchKnn left
    // 266 once, tenth round). Returns the elements linked.
    static constexpr std::size_t kRepairBatch = 1024;
    static constexpr std::size_t kRepairSearch = 64;
    static constexpr std::size_t kRepairWideSearch = 1024;
    std::size_t repair_reachability() {
        Hnsw& h = *hnsw_;
        const std::size_t n = h.cur_element_count;
        if (n < 2)
            return 0;
        std::vector<char> reached(n, 0);
        std::vector<tableint> todo;
        auto flood = [&](tableint from) { detail::flood_layer0(h, from, reached, todo); };
        flood(h.enterpoint_node_);
        auto distance = [&](tableint a, tableint b) {
            return h.fstdistfunc_(h.getDataByInternalId(a), h.getDataByInternalId(b),
                                  h.dist_func_param_);
        };
        std::size_t linked = 0;
        // Appends u to v's list (v has room) and floods from u.
        auto link = [&](tableint v, tableint u) {
            const auto [vdata, vlinks] = layer0_list(v);
            const std::size_t c = h.getListCount(vdata);
            vlinks[c] = u;
            h.setListCount(vdata, static_cast<unsigned short>(c + 1));
            ++linked;
            flood(u);
        };
        for (int pass = 0; pass < 2; ++pass) {
            for (std::size_t ui = 0; ui < n; ++ui) {
                const auto u = static_cast<tableint>(ui);
                if (reached[u])
                    continue;
                const auto [udata, ulinks] = layer0_list(u);
                float best_d = std::numeric_limits<float>::max();
                tableint best = u;
                auto consider = [&](tableint v) {
                    if (!reached[v] || v == u || h.getListCount(layer0_list(v).first) >= h.maxM0_)
                        return;
                    const float d = distance(u, v);
                    if (d < best_d) {
                        best_d = d;
                        best = v;
                    }
                };
                for (std::size_t j = 0, c = h.getListCount(udata); j < c; ++j) {
                    const tableint v = ulinks[j];
                    consider(v);
                    const auto [vdata, vlinks] = layer0_list(v);
                    for (std::size_t k = 0, cv = h.getListCount(vdata); k < cv; ++k)
                        consider(vlinks[k]);
                }
                if (best != u)
                    link(best, u);
            }
        }
        // Left: elements with no reached element with room within two hops (a whole unreached
        // cluster). A walk for u's own vector through reached elements only (nearest_reached)
        // finds the region of the reached graph nearest u; the nearest element it returns with room
        // gets the in-link. hnswlib's searchKnn would not do: its upper layers still lead into the
        // unreached cluster (only layer 0 is cut off), and its layer-0 search then returns the
        // cluster's own elements.
        // Links u from the nearest live element with room (fewer than 2M links) among the k
        // nearest reached elements; false if they all have full lists.
        auto link_from_nearest = [&](tableint u, std::size_t k) {
            for (const tableint v : nearest_reached(u, k, reached)) {
                if (!h.isMarkedDeleted(v) && h.getListCount(layer0_list(v).first) < h.maxM0_) {
                    link(v, u);
                    return true;
                }
            }
            return false;
        };
        for (std::size_t ui = 0; ui < n; ++ui) {
            const auto u = static_cast<tableint>(ui);
            if (reached[u] || h.isMarkedDeleted(u))
                continue;
            if (!link_from_nearest(u, kRepairSearch))
                link_from_nearest(u, kRepairWideSearch);
        }
        return linked;
    }

    // Islands: on near-duplicate audio windows, HNSW's pruning heuristic keeps few links, and
    // the insertion searches of a group of near-duplicates can land in the wrong basin, so the
    // group links only to itself and to elements the greedy walk never leads through. Those
    // elements are reachable (the repair above) but a walk for a query among them ends in the
    // neighbouring basin: recall stops at 0.94-0.99 on the real corpus at any efSearch, and where
    // it stops changed with every build (docs/performance.md, eighth and fifteenth rounds). After
    // a build, every new element is searched for with its own vector (walk_finds_itself); one
    // that the walk finds neither itself nor a twin of (the same vector) gets an in-link appended
    // to the nearest live element the walk found whose list has room (fewer than 2M links), which
    // opens its island to the basin that walks end in. The searches run in parallel on the
    // build's threads and only read the graph; the links are appended afterwards in id order.
    // Appending never cuts another element off, and elements found keep their lists.
    // Then a second walk for each element the first pass linked, not for every element: each
    // in-link comes from an element the walk expanded, but the other links the pass appends change
    // where walks go, and some walks for the linked elements then miss them again. Real corpus,
    // 100k x 1024, four builds: the second walks re-linked 40-168 of the 1,186-3,988 elements
    // linked first, in 0.01-0.03 s, and in the one build with a plateau they lifted recall@10
    // (ties) at efSearch 1024 from 0.9967 to 0.9999 on the same graph. 1M x 128: 961 of 68,614, in
    // 1.6 s after a 16 s first pass, in a 249 s build. A second pass over every element (their
    // links change where other walks go) linked 9-1,361 more and lifted the median recall@10 at
    // efSearch 64 from 0.9964 to 0.9988, but it costs a whole pass again (1M x 128: our build
    // at 1.13x plain hnswlib's time in one run, against a goal of at most 1x). docs/performance.md,
    // fifteenth and sixteenth rounds. Real corpus, same graph, one pass: recall@10 at efSearch 1024
    // 0.957-0.991 without, 0.9959-1.000 with; ~1.1 s after a 21-25 s build.
    static constexpr std::size_t kSelfSearchEf = 10;
    // Over the elements [first, cur_element_count); returns the in-links added.
    std::size_t repair_self_search(std::size_t first) {
        Hnsw& h = *hnsw_;
        const std::size_t n = h.cur_element_count;
        if (first >= n || n < 2)  // nothing new, or no other element to walk through
            return 0;
        // Elements not found (a few per cent), each with the elements its walk found,
        // nearest first: the candidates for its in-link.
        struct Lost {
            tableint u;
            std::vector<tableint> found;
        };
        // The elements of `todo` (ascending) that their walks do not find.
        auto find_lost = [&](const std::vector<tableint>& todo) {
            std::vector<Lost> lost;
            std::mutex lost_mu;
            parallel_for_ordered(
                todo.size(), threads_, 64, [&](std::size_t begin, std::size_t end) {
                    std::vector<Lost> mine;
                    std::vector<tableint> found;
                    SelfWalk walk;
                    for (std::size_t i = begin; i < end; ++i) {
                        const tableint u = todo[i];
                        if (h.isMarkedDeleted(u) || walk_finds_itself(u, walk, found))
                            continue;
                        std::erase_if(found, [&](tableint v) { return h.isMarkedDeleted(v); });
                        mine.push_back({u, found});
                    }
                    std::lock_guard lock(lost_mu);
                    for (auto& l : mine) lost.push_back(std::move(l));
                });
            g_self_searches.fetch_add(todo.size(), std::memory_order_relaxed);
            std::sort(lost.begin(), lost.end(),
                      [](const Lost& a, const Lost& b) { return a.u < b.u; });
            return lost;
        };
        // Appends each lost element to the first list among its walk's results with room;
        // returns the elements linked.
        auto link = [&](const std::vector<Lost>& lost) {
            std::vector<tableint> linked;
            for (const auto& [u, found] : lost) {
                for (const tableint v : found) {
                    auto* data = reinterpret_cast<unsigned int*>(h.get_linklist0(v));
                    const std::size_t count = h.getListCount(data);
                    if (count >= h.maxM0_)
                        continue;
                    reinterpret_cast<tableint*>(data + 1)[count] = u;
                    h.setListCount(data, static_cast<unsigned short>(count + 1));
                    linked.push_back(u);
                    break;
                }
            }
            return linked;
        };
        std::vector<tableint> all(n - first);
        std::iota(all.begin(), all.end(), static_cast<tableint>(first));
        const std::vector<tableint> linked = link(find_lost(all));
        // A second walk for each element just linked; the ones it misses again (3-8 % on the real
        // corpus) get an in-link from an element their new walk found.
        return linked.size() + link(find_lost(linked)).size();
    }

    // Whether a walk for element u's own vector finds u, or a twin (an element at u's distance
    // from itself, i.e. the same vector): upper layers greedily, then layer 0 best-first at
    // efSearch kSelfSearchEf, as a search. It stops as soon as u or a twin is met (an expanded
    // node links to it: it would be visited next at distance 0, the best there is), which is
    // early for most elements. Otherwise `found` gets the walk's results, nearest first. `walk`
    // holds the heaps, kept by the caller across elements (one allocation per thread, not two per
    // element).
    using SelfWalkPair = std::pair<float, tableint>;
    struct SelfWalk {
        std::vector<SelfWalkPair> top;       // max-heap: worst result first
        std::vector<SelfWalkPair> frontier;  // min-heap via std::greater
        std::vector<tableint> fresh;         // unvisited neighbours of one node
    };
    bool walk_finds_itself(tableint u, SelfWalk& walk, std::vector<tableint>& found) const {
        const Hnsw& h = *hnsw_;
        const void* q = h.getDataByInternalId(u);
        auto dist_to = [&](tableint v) {
            return h.fstdistfunc_(q, h.getDataByInternalId(v), h.dist_func_param_);
        };
        const float self = dist_to(u);
        const auto [cur_d, cur] = descend(q, [](tableint) { return true; });
        if (cur == u || cur_d <= self)
            return true;
        using Pair = SelfWalkPair;
        auto& top = walk.top;
        auto& frontier = walk.frontier;
        top.assign(1, {cur_d, cur});
        frontier.assign(1, {cur_d, cur});
        const VisitedLease lease(*h.visited_list_pool_);
        hnswlib::vl_type* visited = lease.mass();
        const hnswlib::vl_type tag = lease.tag();
        visited[cur] = tag;
        while (!frontier.empty()) {
            const auto [cd, c] = frontier.front();
            if (cd > top.front().first && top.size() >= kSelfSearchEf)
                break;
            std::pop_heap(frontier.begin(), frontier.end(), std::greater<Pair>());
            frontier.pop_back();
            auto* data = reinterpret_cast<unsigned int*>(h.get_linklist0(c));
            auto* links = reinterpret_cast<tableint*>(data + 1);
            // The same walk, and the same answer, as one neighbour at a time.
            const std::size_t n = h.getListCount(data);
            if (std::find(links, links + n, u) != links + n)
                return true;
            auto& fresh = walk.fresh;
            take_unvisited(h, links, n, visited, tag, fresh);
            for (const tableint v : fresh) {
                const float d = dist_to(v);
                if (d <= self)
                    return true;
                if (top.size() < kSelfSearchEf || d < top.front().first) {
                    frontier.emplace_back(d, v);
                    std::push_heap(frontier.begin(), frontier.end(), std::greater<Pair>());
                    top.emplace_back(d, v);
                    std::push_heap(top.begin(), top.end());
                    if (top.size() > kSelfSearchEf) {
                        std::pop_heap(top.begin(), top.end());
                        top.pop_back();
                    }
                }
            }
        }
        std::sort(top.begin(), top.end());
        found.clear();
        for (const auto& [d, v] : top) found.push_back(v);
        return false;
    }

    // Renumbers the elements in breadth-first order of layer 0 from the entry point, so that an
    // element's neighbours sit near each other and near it in the level-0 block (graph reordering,
    // Coleman et al., NeurIPS 2022). Rows arrive in whatever order the user's files give, and
    // on random order a walk's reads land anywhere in the block; in BFS order the walk's
    // neighbourhood is a few stretches of it. Same graph, same results (up to ties between equal
    // distances, broken by internal id); 1M x 128: 1.08-1.43x the QPS of the same graph in
    // insertion order, 1.1 s after a 220 s build (docs/performance.md, tenth round). Run after a
    // build or compaction, or an add of at least a quarter of the index (kReorderShare); smaller
    // adds append their elements in insertion order. In place: links are rewritten first, then
    // records move along the permutation's cycles (one record of scratch), so the level-0 block is
    // not copied. labels_ is permuted with it and the filtered walk's steering copy re-encoded.
    static constexpr std::size_t kReorderShare = 4;
    void reorder_breadth_first() {
        Hnsw& h = *hnsw_;
        const std::size_t n = h.cur_element_count;
        if (n < 2)
            return;
        g_renumberings.fetch_add(1, std::memory_order_relaxed);
        constexpr auto kUnset = std::numeric_limits<tableint>::max();
        std::vector<tableint> new_id(n, kUnset);
        std::vector<tableint> order;
        order.reserve(n);
        auto bfs_from = [&](tableint seed) {
            if (new_id[seed] != kUnset)
                return;
            new_id[seed] = static_cast<tableint>(order.size());
            std::size_t head = order.size();
            order.push_back(seed);
            for (; head < order.size(); ++head) {
                auto* data = reinterpret_cast<unsigned int*>(h.get_linklist0(order[head]));
                auto* links = reinterpret_cast<tableint*>(data + 1);
                for (std::size_t j = 0, c = h.getListCount(data); j < c; ++j) {
                    if (new_id[links[j]] == kUnset) {
                        new_id[links[j]] = static_cast<tableint>(order.size());
                        order.push_back(links[j]);
                    }
                }
            }
        };
        bfs_from(h.enterpoint_node_);
        for (std::size_t i = 0; i < n; ++i) bfs_from(static_cast<tableint>(i));
        // Everything that allocates comes before the first change, so that std::bad_alloc
        // leaves the graph as it was.
        const std::size_t stride = h.size_data_per_element_;
        std::vector<char> saved(stride);
        std::vector<char> done(n, 0);
        std::vector<std::int64_t> labels(n);
        // Links to new ids, every layer.
        for (std::size_t i = 0; i < n; ++i) {
            const auto t = static_cast<tableint>(i);
            auto remap = [&](unsigned int* data) {
                auto* links = reinterpret_cast<tableint*>(data + 1);
                for (std::size_t j = 0, c = h.getListCount(data); j < c; ++j)
                    links[j] = new_id[links[j]];
            };
            remap(reinterpret_cast<unsigned int*>(h.get_linklist0(t)));
            for (int l = 1; l <= h.element_levels_[i]; ++l)
                remap(reinterpret_cast<unsigned int*>(h.get_linklist(t, l)));
        }
        // Records: new position p takes old element order[p].
        auto record = [&](std::size_t i) { return h.data_level0_memory_ + i * stride; };
        for (std::size_t s = 0; s < n; ++s) {
            if (done[s] || order[s] == s) {
                done[s] = 1;
                continue;
            }
            std::memcpy(saved.data(), record(s), stride);
            char* saved_upper = h.linkLists_[s];
            const int saved_level = h.element_levels_[s];
            std::size_t p = s;
            while (true) {
                done[p] = 1;
                const std::size_t q = order[p];
                if (q == s) {
                    std::memcpy(record(p), saved.data(), stride);
                    h.linkLists_[p] = saved_upper;
                    h.element_levels_[p] = saved_level;
                    break;
                }
                std::memcpy(record(p), record(q), stride);
                h.linkLists_[p] = h.linkLists_[q];
                h.element_levels_[p] = h.element_levels_[q];
                p = q;
            }
        }
        for (auto& [label, internal] : h.label_lookup_) internal = new_id[internal];
        h.enterpoint_node_ = new_id[h.enterpoint_node_];
        for (std::size_t p = 0; p < n; ++p) labels[p] = labels_[order[p]];
        labels_ = std::move(labels);
        // The steering copy is re-encoded in the new order (or stays dropped if that fails: the
        // next filtered search builds it).
        if (steer_ready_.load(std::memory_order_relaxed)) {
            drop_steering();
            steer_encode(0);
            steer_ready_.store(true, std::memory_order_release);
        }
    }

    // Makes room for n_new more elements (grows geometrically).
    void reserve(std::size_t n_new) {
        if (!hnsw_) {
            hnsw_ = std::make_unique<Hnsw>(space_.get(), std::max(kInitialCapacity, n_new),
                                           static_cast<std::size_t>(params_.m),
                                           static_cast<std::size_t>(params_.ef_construction),
                                           /*random_seed=*/100);
            align_level0(*hnsw_);
            pad_link_lists(*hnsw_);
            advise_huge_pages(*hnsw_);
            return;
        }
        const std::size_t need = hnsw_->cur_element_count + n_new;
        if (need > hnsw_->max_elements_) {
            hnsw_->resizeIndex(std::max(need, hnsw_->max_elements_ * 2));
            realign_level0(*hnsw_);
            advise_huge_pages(*hnsw_);
        }
    }

    // Rebuilds the graph from the live elements (drops tombstones).
    void compact() {
        std::vector<std::int64_t> live_ids;
        std::vector<tableint> live;
        for (const auto& [label, internal] : hnsw_->label_lookup_) {
            if (!hnsw_->isMarkedDeleted(internal)) {
                live_ids.push_back(static_cast<std::int64_t>(label));
                live.push_back(internal);
            }
        }
        std::unique_ptr<Hnsw> old = std::move(hnsw_);
        labels_.clear();
        drop_steering();
        const std::size_t bytes = value_bytes() * static_cast<std::size_t>(dim_);
        auto st = add_rows(live_ids, [&](std::size_t i, float* out) {
            std::memcpy(out, old->getDataByInternalId(live[i]), bytes);
            return false;  // already in stored form
        });
        if (!st) {
            hnsw_ = std::move(old);  // out of memory: keep the tombstoned graph
            labels_.clear();
            sync_labels();
            drop_steering();
        }
    }

    // labels_[internal] = item id for internal ids [labels_.size(), cur_element_count): new
    // elements get the next internal ids, so only those are read.
    void sync_labels() {
        const std::size_t n = hnsw_ ? hnsw_->cur_element_count : 0;
        const std::size_t from = std::min(labels_.size(), n);
        labels_.resize(n);
        for (std::size_t i = from; i < n; ++i)
            labels_[i] =
                static_cast<std::int64_t>(hnsw_->getExternalLabel(static_cast<tableint>(i)));
    }

    struct Candidate {
        float distance;
        tableint internal;
    };
    std::size_t value_bytes() const { return half_ ? sizeof(std::uint16_t) : sizeof(float); }
    float exact_distance(const float* q, tableint internal) const;
    // How a filtered walk may end early, and what it reads; search() sets them from the filter's
    // sample. A walk gives up past `max_distances` distances (0: no bound), or once it has reached
    // kPassingShareCheckAt layer-0 nodes of which a share below `min_pass_share` passed (0: no
    // check). `steer`: rejected nodes' distances come from the 8-bit steering copy.
    struct WalkLimits {
        std::size_t max_distances = 0;
        double min_pass_share = 0.0;
        bool steer = true;
    };
    // Layer-0 best-first search: fills `out` with up to ef accepted candidates (unsorted), graph
    // distances (1 - ip, squared L2 or L1 per Walk) over stored values of type T (float, or
    // binary16 as uint16_t). A walk that goes past `limits` stops and returns false, `out` empty.
    template <Walk kWalk, bool kDeletions, bool kFiltered, typename T>
    bool graph_search(const float* q,
                      std::size_t ef,
                      const SearchOptions& options,
                      std::vector<Candidate>& out,
                      const WalkLimits& limits) const;
    // The passing items' distances, exactly. rerank > 0 (a walk that gave up: many pass): their
    // 8-bit steering estimates first, and exact distances for the `rerank` best estimates.
    std::vector<Candidate> exact_scan(const float* q,
                                      const SearchOptions& options,
                                      std::size_t rerank = 0) const;

    // The filtered walk's steering copy: every row as 8-bit codes with a per-row range
    // (detail::encode_sq8, as the SQ8 kind), d + 12 bytes per item. A filtered walk reaches
    // about 1 / f times as many nodes as it returns (f = passing fraction); the ones the filter
    // rejects only steer the walk and are never returned, so their distance is taken from this
    // copy (a quarter of float32's bytes fetched, the whole record prefetched) and only accepted
    // nodes read their stored vector. Built on the first filtered walk (not every user filters:
    // 1,088 more bytes per item at d = 1024, a quarter of the graph's; ~0.4 s at 100k x 1024),
    // then kept in step by add_rows and dropped by compact().
    // Element i's record at records + i * stride: its detail::Sq8Row (16 bytes with padding)
    // then dim codes, stride rounded up to a cache line; one block with transparent huge pages
    // (as the level-0 block: a walk reaches records all over it).
    struct Steering {
        static constexpr std::size_t kHeader = 16;
        static constexpr std::size_t kHugePage = std::size_t{2} << 20;
        static_assert(sizeof(detail::Sq8Row) <= kHeader);
        std::size_t stride = 0;
        std::size_t count = 0;
        std::size_t capacity = 0;  // records
        struct Free {
            void operator()(char* p) const { std::free(p); }
        };
        std::unique_ptr<char, Free> records;
        const detail::Sq8Row& row(std::size_t i) const {
            return *reinterpret_cast<const detail::Sq8Row*>(records.get() + i * stride);
        }
        const std::uint8_t* codes(std::size_t i) const {
            return reinterpret_cast<const std::uint8_t*>(records.get() + i * stride + kHeader);
        }
        // Room for n records (keeps the first `count`; grows geometrically).
        void reserve(std::size_t n, std::size_t dim) {
            stride = (kHeader + dim + 63) / 64 * 64;
            if (n <= capacity)
                return;
            const std::size_t want = std::max(n, capacity + capacity / 2);
            const std::size_t bytes = (want * stride + kHugePage - 1) / kHugePage * kHugePage;
            auto* p = static_cast<char*>(std::aligned_alloc(kHugePage, bytes));
            if (p == nullptr)
                throw std::bad_alloc();
            madvise(p, bytes, MADV_HUGEPAGE);
            if (count > 0)
                std::memcpy(p, records.get(), count * stride);
            records.reset(p);
            capacity = bytes / stride;
        }
    };
    const Steering& steering() const {
        if (!steer_ready_.load(std::memory_order_acquire)) {
            std::lock_guard lock(steer_mu_);
            if (!steer_ready_.load(std::memory_order_relaxed)) {
                steer_encode(0);
                steer_ready_.store(true, std::memory_order_release);
            }
        }
        return steer_;
    }
    // Encodes elements [first, cur_element_count) (callers exclude other writers).
    void steer_encode(std::size_t first) const {
        const auto d = static_cast<std::size_t>(dim_);
        const std::size_t n = hnsw_->cur_element_count;
        steer_.reserve(n, d);
        std::vector<float> decoded(half_ ? d : 0);
        for (std::size_t i = first; i < n; ++i) {
            const char* data = hnsw_->getDataByInternalId(static_cast<tableint>(i));
            const float* x = reinterpret_cast<const float*>(data);
            if (half_) {
                detail::f16_to_f32(reinterpret_cast<const std::uint16_t*>(data), decoded.data(), d);
                x = decoded.data();
            }
            char* record = steer_.records.get() + i * steer_.stride;
            const detail::Sq8Row row = detail::encode_sq8(
                x, d, reinterpret_cast<std::uint8_t*>(record + Steering::kHeader));
            std::memcpy(record, &row, sizeof(row));
        }
        steer_.count = n;
    }
    void drop_steering() {
        steer_ready_.store(false, std::memory_order_release);
        steer_ = Steering{};
    }

    IndexSpec spec_;
    HnswParams params_;
    int dim_;
    Metric metric_;
    bool half_;  // HNSW<M>,SQfp16
    int threads_ = 0;
    std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
    std::unique_ptr<Hnsw> hnsw_;
    // Item id per internal id, contiguous: a filter reads these instead of the label at the end of
    // each level-0 element (one cache miss per item in a scan of the passing items).
    std::vector<std::int64_t> labels_;
    mutable std::mutex steer_mu_;
    mutable std::atomic<bool> steer_ready_{false};
    mutable Steering steer_;
};

}  // namespace

namespace detail {
std::size_t hnsw_filtered_walks() {
    return t_filtered_walks;
}
std::size_t hnsw_walks_given_up() {
    return t_walks_given_up;
}
void set_hnsw_walk_budget(bool on) {
    g_walk_budget.store(on, std::memory_order_relaxed);
}
void set_hnsw_passing_share_check(bool on) {
    g_share_check.store(on, std::memory_order_relaxed);
}
std::size_t hnsw_walk_distances() {
    return t_walk_distances;
}
std::size_t hnsw_walk_expansions() {
    return t_walk_expansions;
}
std::size_t hnsw_last_walk_ef() {
    return t_walk_ef;
}
void set_hnsw_filter_steering(bool on) {
    g_steering.store(on, std::memory_order_relaxed);
}
void set_hnsw_self_search_repair(bool on) {
    g_self_search.store(on, std::memory_order_relaxed);
}
void set_hnsw_in_degree_repair(bool on) {
    g_in_degree.store(on, std::memory_order_relaxed);
}
void set_hnsw_own_insertion(bool on) {
    g_own_insertion.store(on, std::memory_order_relaxed);
}
std::size_t hnsw_own_insertions() {
    return g_own_insertions.load(std::memory_order_relaxed);
}
std::vector<std::pair<float, std::uint32_t>> hnsw_layer0_candidates(VectorIndex& index,
                                                                    std::span<const float> query,
                                                                    bool own) {
    auto* hnsw = dynamic_cast<HnswIndex*>(&index);
    if (hnsw == nullptr || static_cast<int>(query.size()) != index.dim())
        return {};
    return hnsw->layer0_candidates(query.data(), own);
}
std::optional<std::size_t> hnsw_repair_in_degree(VectorIndex& index) {
    auto* hnsw = dynamic_cast<HnswIndex*>(&index);
    if (hnsw == nullptr)
        return std::nullopt;
    return hnsw->in_degree_repair();
}
std::size_t hnsw_self_searches() {
    return g_self_searches.load(std::memory_order_relaxed);
}
std::size_t hnsw_renumberings() {
    return g_renumberings.load(std::memory_order_relaxed);
}
HnswBuildPhases hnsw_last_build_phases() {
    return t_build_phases;
}
void set_hnsw_reorder(bool on) {
    g_reorder.store(on, std::memory_order_relaxed);
}
std::optional<HnswGraphView> hnsw_graph_view(const VectorIndex& index) {
    const auto* hnsw = dynamic_cast<const HnswIndex*>(&index);
    return hnsw ? hnsw->graph_view() : std::nullopt;
}
std::optional<std::size_t> hnsw_repair_reachability(VectorIndex& index) {
    auto* hnsw = dynamic_cast<HnswIndex*>(&index);
    if (hnsw == nullptr)
        return std::nullopt;
    return hnsw->repair();
}
std::optional<std::size_t> hnsw_repair_self_search(VectorIndex& index) {
    auto* hnsw = dynamic_cast<HnswIndex*>(&index);
    if (hnsw == nullptr)
        return std::nullopt;
    return hnsw->self_search_repair();
}
bool hnsw_reorder(VectorIndex& index) {
    auto* hnsw = dynamic_cast<HnswIndex*>(&index);
    if (hnsw == nullptr)
        return false;
    hnsw->reorder();
    return true;
}
}  // namespace detail

namespace {

float HnswIndex::exact_distance(const float* q, tableint internal) const {
    const auto d = static_cast<std::size_t>(dim_);
    if (half_) {
        const auto* x =
            reinterpret_cast<const std::uint16_t*>(hnsw_->getDataByInternalId(internal));
        switch (metric_) {
            case Metric::kCosine:
            case Metric::kCorrelation:
                return std::clamp(1.0f - detail::dot_f16(q, x, d), 0.0f, 2.0f);
            case Metric::kEuclidean:
                return std::sqrt(detail::l2_squared_f16(q, x, d));
            case Metric::kManhattan:
                return detail::l1_f16(q, x, d);
        }
        return 0.0f;
    }
    const auto* x = reinterpret_cast<const float*>(hnsw_->getDataByInternalId(internal));
    switch (metric_) {
        case Metric::kCosine:
        case Metric::kCorrelation:
            return std::clamp(1.0f - detail::dot_f32(q, x, d), 0.0f, 2.0f);
        case Metric::kEuclidean:
            return std::sqrt(detail::l2_squared_f32(q, x, d));
        case Metric::kManhattan:
            return detail::l1_f32(q, x, d);
    }
    return 0.0f;
}

template <Walk kWalk, bool kDeletions, bool kFiltered, typename T>
bool HnswIndex::graph_search(const float* q,
                             std::size_t ef,
                             const SearchOptions& options,
                             std::vector<Candidate>& out,
                             const WalkLimits& limits) const {
    const Hnsw& h = *hnsw_;
    const auto dim = static_cast<std::size_t>(dim_);
    const char* level0 = h.data_level0_memory_;
    const std::size_t stride = h.size_data_per_element_;
    const std::size_t data_offset = h.offsetData_;
    auto vector_of = [&](tableint i) {
        return reinterpret_cast<const T*>(level0 + i * stride + data_offset);
    };
    // Manhattan walks the L2-built graph with L1 distances (navigating with L2 and re-ranking
    // the candidates by L1 measured recall@10 0.87 at ef 96; walking with L1 > 0.95).
    std::size_t computed = 0;  // distances, for detail::hnsw_walk_distances()
    std::size_t expanded = 0;  // layer-0 nodes whose links were read, for hnsw_walk_expansions()
    auto dist = [&](tableint i) {
        ++computed;
        const T* x = vector_of(i);
        if constexpr (std::is_same_v<T, float>) {
            if constexpr (kWalk == Walk::kDot)
                return 1.0f - detail::dot_f32(q, x, dim);
            else if constexpr (kWalk == Walk::kL2)
                return detail::l2_squared_f32(q, x, dim);
            else
                return detail::l1_f32(q, x, dim);
        } else {
            if constexpr (kWalk == Walk::kDot)
                return 1.0f - detail::dot_f16(q, x, dim);
            else if constexpr (kWalk == Walk::kL2)
                return detail::l2_squared_f16(q, x, dim);
            else
                return detail::l1_f16(q, x, dim);
        }
    };
    // Only the first line of a vector is prefetched (the hardware prefetcher does not follow the
    // random jumps between nodes, but it streams the rest of a vector once the kernel reads it):
    // the next one in the upper layers, every unvisited neighbour's at once on layer 0 (their
    // misses overlap). Prefetching every line of the vector (or of the next 2-3 vectors) was ~9 %
    // slower at d = 1024 on the same graph, and no faster at d = 128 (docs/performance.md, sixth
    // and seventh rounds).
    auto prefetch_vector = [&](tableint i) { prefetch(level0 + i * stride + data_offset); };
    // Filtered walks take a rejected node's distance from the 8-bit steering copy.
    const Steering* steer = nullptr;
    detail::Sq8Query qs;
    if (kFiltered && limits.steer && g_steering.load(std::memory_order_relaxed)) {
        steer = &steering();
        qs = detail::sq8_query(q, dim);
    }
    auto steer_dist = [&](tableint i) {
        ++computed;
        const std::uint8_t* c = steer->codes(i);
        const detail::Sq8Row& p = steer->row(i);
        if constexpr (kWalk == Walk::kDot)
            return 1.0f - detail::sq8_dot(q, qs.sum, c, p, dim);
        else if constexpr (kWalk == Walk::kL2)
            return qs.sqnorm - 2.0f * detail::sq8_dot(q, qs.sum, c, p, dim) + p.sqnorm;
        else
            return detail::l1_u8(q, c, p.lo, p.step, dim);
    };
    auto steer_record = [&](tableint i) {
        return steer->records.get() + static_cast<std::size_t>(i) * steer->stride;
    };
    // Upper layers: greedy descent (hnswlib searchKnn).
    tableint cur = h.enterpoint_node_;
    float cur_d = dist(cur);
    for (int level = h.maxlevel_; level > 0; --level) {
        bool changed = true;
        while (changed) {
            changed = false;
            auto* data = reinterpret_cast<unsigned int*>(h.get_linklist(cur, level));
            const int n = h.getListCount(data);
            auto* links = reinterpret_cast<tableint*>(data + 1);
            for (int i = 0; i < n; ++i) {
                if (i + 1 < n)
                    prefetch_vector(links[i + 1]);
                const float d = dist(links[i]);
                if (d < cur_d) {
                    cur_d = d;
                    cur = links[i];
                    changed = true;
                }
            }
        }
    }
    // Layer 0: best-first search; only accepted nodes (live, passing the filter) enter `top`.
    // The deletion flag and the label sit in other cache lines than the vector: they are read
    // only when there are tombstones / a filter (template parameters).
    const auto& filter = options.filter;
    auto accepted = [&](tableint i) {
        if constexpr (kDeletions) {
            if (h.isMarkedDeleted(i))
                return false;
        }
        if constexpr (kFiltered)
            return filter(labels_[i]);
        return true;
    };
    Scratch& sc = scratch();
    auto& top = sc.top;            // max-heap: worst accepted candidate first
    auto& frontier = sc.frontier;  // min-heap via std::greater
    auto& fresh = sc.fresh;
    auto& fresh_pass = sc.fresh_pass;
    top.clear();
    frontier.clear();
    using Pair = std::pair<float, tableint>;
    auto top_push = [&](float d, tableint i) {
        top.emplace_back(d, i);
        std::push_heap(top.begin(), top.end());
    };
    auto frontier_push = [&](float d, tableint i) {
        frontier.emplace_back(d, i);
        std::push_heap(frontier.begin(), frontier.end(), std::greater<Pair>());
    };
    const VisitedLease lease(*h.visited_list_pool_);
    hnswlib::vl_type* visited = lease.mass();
    const hnswlib::vl_type tag = lease.tag();

    float bound = std::numeric_limits<float>::max();
    if (accepted(cur)) {
        top_push(cur_d, cur);
        bound = cur_d;
    }
    frontier_push(cur_d, cur);
    visited[cur] = tag;
    // The passing-share check: layer-0 nodes reached and how many of them passed. A walk among
    // items the filter rejects far more often than the sample says is in a neighbourhood without
    // passing items, and gives up as one past its budget does.
    std::size_t reached = 0;
    std::size_t reached_pass = 0;
    while (!frontier.empty()) {
        const auto [cd, c] = frontier.front();
        if (cd > bound && top.size() >= ef)
            break;
        const bool sparse = kFiltered && reached >= kPassingShareCheckAt &&
                            static_cast<double>(reached_pass) <
                                limits.min_pass_share * static_cast<double>(reached);
        if ((limits.max_distances > 0 && computed > limits.max_distances) || sparse) {
            out.clear();
            t_walk_distances += computed;
            t_walk_expansions += expanded;
            t_walk_ef = ef;
            return false;
        }
        std::pop_heap(frontier.begin(), frontier.end(), std::greater<Pair>());
        frontier.pop_back();
        // The next node to expand is likely the frontier's new best: its link list is fetched
        // while this one's neighbours are computed.
        if (!frontier.empty())
            prefetch(h.get_linklist0(frontier.front().second));
        auto* data = reinterpret_cast<unsigned int*>(h.get_linklist0(c));
        const std::size_t n = h.getListCount(data);
        ++expanded;
        auto* links = reinterpret_cast<tableint*>(data + 1);
        // Unvisited neighbours first (the visited tags are one array), then their distances
        // with the next vector prefetched while the current one is computed.
        fresh.clear();
        for (std::size_t j = 0; j < n; ++j) prefetch(visited + links[j]);
        for (std::size_t j = 0; j < n; ++j) {
            const tableint nb = links[j];
            if (visited[nb] != tag) {
                visited[nb] = tag;
                fresh.push_back(nb);
                if constexpr (kFiltered)
                    prefetch(&labels_[nb]);
            }
        }
        // Filtered: the filter first (contiguous ids), so that each fresh node's distance is
        // read from the stored vector (accepted) or from the steering copy (rejected, when
        // steered). The first line of every fresh node's record is requested at once (a walk
        // waits on these misses one after another otherwise: perf, docs/performance.md).
        auto steered = [&](std::size_t j) {
            if constexpr (kFiltered)
                return steer != nullptr && !fresh_pass[j];
            return false;
        };
        if constexpr (kFiltered) {
            fresh_pass.resize(fresh.size());
            for (std::size_t j = 0; j < fresh.size(); ++j) {
                fresh_pass[j] = accepted(fresh[j]) ? 1 : 0;
                reached_pass += fresh_pass[j];
            }
            reached += fresh.size();
        }
        for (std::size_t j = 0; j < fresh.size(); ++j) {
            if (steered(j))
                prefetch(steer_record(fresh[j]));
            else
                prefetch_vector(fresh[j]);
        }
        for (std::size_t j = 0; j < fresh.size(); ++j) {
            // A steering record is short (d + 16 bytes): the rest of the next one is requested
            // too. A stored vector's rest is streamed by the hardware prefetcher once read.
            if (j + 1 < fresh.size() && steered(j + 1)) {
                const char* r = steer_record(fresh[j + 1]);
                for (std::size_t off = 64; off < steer->stride; off += 64) prefetch(r + off);
            }
            const tableint nb = fresh[j];
            bool pass = true;
            if constexpr (kFiltered)
                pass = fresh_pass[j] != 0;
            const float d = steered(j) ? steer_dist(nb) : dist(nb);
            if (top.size() < ef || d < bound) {
                frontier_push(d, nb);
                if (pass && (kFiltered || accepted(nb))) {
                    top_push(d, nb);
                    if (top.size() > ef) {
                        std::pop_heap(top.begin(), top.end());
                        top.pop_back();
                    }
                    bound = top.front().first;
                }
            }
        }
    }
    out.clear();
    for (const auto& [d, i] : top) out.push_back({d, i});
    t_walk_distances += computed;
    t_walk_expansions += expanded;
    t_walk_ef = ef;
    return true;
}

std::vector<HnswIndex::Candidate> HnswIndex::exact_scan(const float* q,
                                                        const SearchOptions& options,
                                                        std::size_t rerank) const {
    // The filter first, over the contiguous labels; then the distances of the passing items.
    std::vector<Candidate> out;
    const Hnsw& h = *hnsw_;
    const bool deletions = h.num_deleted_ > 0;
    std::vector<tableint>& pass = scratch().fresh;
    pass.clear();
    // The filter's decisions a block at a time when it has a block form (one call per block
    // instead of one std::function call per item).
    detail::for_each_passing(options, labels_.data(), 0, labels_.size(), [&](std::size_t r) {
        const auto i = static_cast<tableint>(r);
        if (!(deletions && h.isMarkedDeleted(i)))
            pass.push_back(i);
    });
    if (rerank > 0 && 2 * rerank < pass.size()) {
        // A quarter of the bytes per passing item (1,088 against 4,096 at d = 1024), then the
        // exact distance of the best `rerank` estimates. On the real corpus with the sound
        // effects' folder as the filter (12,400 passing items) a float32 scan of them after the
        // walks that gave up answered 337 queries/s against the walk's 469; this one 541
        // (different builds).
        const Steering& st = steering();
        const auto d = static_cast<std::size_t>(dim_);
        const detail::Sq8Query qs = detail::sq8_query(q, d);
        auto prefetch_record = [&](tableint i) {
            const char* r = st.records.get() + static_cast<std::size_t>(i) * st.stride;
            for (std::size_t off = 0; off < st.stride; off += 64) prefetch(r + off);
        };
        constexpr std::size_t kAheadSteer = 4;
        auto& estimates = scratch().estimates;
        estimates.resize(pass.size());
        for (std::size_t j = 0; j < std::min(kAheadSteer, pass.size()); ++j)
            prefetch_record(pass[j]);
        for (std::size_t j = 0; j < pass.size(); ++j) {
            if (j + kAheadSteer < pass.size())
                prefetch_record(pass[j + kAheadSteer]);
            const tableint i = pass[j];
            estimates[j] = {detail::sq8_distance(metric_, q, qs, st.codes(i), st.row(i), d), i};
        }
        std::nth_element(estimates.begin(),
                         estimates.begin() + static_cast<std::ptrdiff_t>(rerank - 1),
                         estimates.end());
        out.reserve(rerank);
        for (std::size_t j = 0; j < rerank; ++j)
            out.push_back({exact_distance(q, estimates[j].second), estimates[j].second});
        return out;
    }
    out.reserve(pass.size());
    const std::size_t lines = (static_cast<std::size_t>(dim_) * value_bytes() + 63) / 64;
    constexpr std::size_t kAhead = 4;
    auto prefetch_row = [&](tableint i) {
        const char* p = h.getDataByInternalId(i);
        for (std::size_t l = 0; l < lines; ++l) prefetch(p + 64 * l);
    };
    for (std::size_t j = 0; j < std::min(kAhead, pass.size()); ++j) prefetch_row(pass[j]);
    for (std::size_t j = 0; j < pass.size(); ++j) {
        if (j + kAhead < pass.size())
            prefetch_row(pass[j + kAhead]);
        out.push_back({exact_distance(q, pass[j]), pass[j]});
    }
    return out;
}

Result<std::vector<SearchHit>> HnswIndex::search(std::span<const float> query,
                                                 const SearchOptions& options) const {
    const auto d = static_cast<std::size_t>(dim_);
    if (query.size() != d) {
        return make_error(ErrorCode::kInvalidArgument,
                          "hnsw search: query has dim " + std::to_string(query.size()) +
                              ", the index has dim " + std::to_string(dim_));
    }
    if (!detail::all_finite(query.data(), d)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "hnsw search: the query contains a non-finite value");
    }
    const std::size_t n = size();
    const std::size_t k = std::min(options.k, n);
    if (k == 0)
        return std::vector<SearchHit>{};
    Scratch& sc = scratch();
    sc.query.resize(d);
    const float* q = sc.query.data();
    detail::transform_for_metric(metric_, query.data(), d, sc.query.data());
    const std::size_t default_ef =
        n >= kHnswLargeIndexItems ? kHnswLargeEfSearch : kHnswDefaultEfSearch;
    std::size_t ef = std::max(options.ef_search > 0 ? options.ef_search : default_ef, k);
    const Hnsw& h = *hnsw_;

    // A selective filter: if few items are expected to pass, scanning them exactly is both
    // cheaper and exact.
    bool exact = false;
    WalkLimits limits;          // filtered: when the walk gives up for the scan, what it reads
    bool steered_scan = false;  // a walk gave up: the scan starts from the steering copy
    if (options.filter) {
        // The tombstone flag sits in the element's level-0 record, a cache line of its own for
        // every sampled slot (a filter near the decision point samples up to 8,192): read only
        // when there are tombstones, as the scan does.
        const bool tombstones = h.num_deleted_ > 0;
        const auto estimate = detail::estimate_passing_fraction(
            h.cur_element_count, n, std::max(detail::kExactFilterFloor, 8 * ef),
            [&](std::size_t i) -> std::optional<bool> {
                if (tombstones && h.isMarkedDeleted(static_cast<tableint>(i)))
                    return std::nullopt;
                return options.filter(labels_[i]);
            });
        exact = estimate.below;
        // A filter that rejects few items (one excluded item, a loose duration bound) leaves the
        // walk few rejected nodes to read from the steering copy: the copy (a quarter of the
        // graph's bytes at d = 1024) is neither built nor read for it.
        limits.steer = estimate.fraction < kSteeringMaxShare;
        // The walk admits only passing items to its ef best, so with a fraction f passing it
        // explores about as far as an unfiltered walk with ef / f: recall above the unfiltered
        // one at several times its cost (10 %: recall@10 0.9999 vs 0.986 at 3.5x the time,
        // docs/performance.md). ef * sqrt(f) brings both back near the unfiltered walk's.
        if (!exact && estimate.fraction < 1.0) {
            ef = std::max(k, static_cast<std::size_t>(std::ceil(static_cast<double>(ef) *
                                                                std::sqrt(estimate.fraction))));
        }
        // The walk must reach every node nearer than the ef-th passing one. When the passing
        // items lie away from the query (a folder or tag of other sounds than the query's) that
        // is the whole neighbourhood in between. On the real corpus (yamnet windows) a filter
        // keeping the voice pack's 3.8 % of items made walks expand 19,200-20,400 nodes and
        // compute 37,000-38,600 distances per query, at recall@10 0.915-0.929 and 70-74 queries/s;
        // one keeping the sound effects' 12.4 %, 7,900-9,800 distances at 0.974-0.990
        // (docs/performance.md, eighteenth round). So a walk that has computed more distances
        // than kWalkBudgetShare of the passing items expected (at least kWalkBudgetFloor) gives
        // up for a scan of them, from the 8-bit steering copy with the best
        // max(sq_default_rerank(k), ef) re-ranked exactly: a query then costs at most the scan
        // plus a walk of that many distances. Same graphs: voices 682-772
        // queries/s at recall 0.997-0.998, sound effects 0.95-1.19x the queries/s at 0.005-0.009
        // more recall; the 10 % filter that passes every 10th id gave up no walk.
        if (g_walk_budget.load(std::memory_order_relaxed)) {
            limits.max_distances = std::max<std::size_t>(
                kWalkBudgetFloor, static_cast<std::size_t>(kWalkBudgetShare * estimate.fraction *
                                                           static_cast<double>(n)));
            // A walk that starts among items the filter rejects need not spend its budget to
            // learn that: the passing-share check gives up as soon as it has reached
            // kPassingShareCheckAt layer-0 nodes of which fewer than kPassingShareFactor times
            // the sampled share passed.
            if (g_share_check.load(std::memory_order_relaxed))
                limits.min_pass_share = kPassingShareFactor * estimate.fraction;
        }
    }
    std::vector<Candidate> cands;
    if (!exact) {
        const bool deletions = h.num_deleted_ > 0;
        const bool filtered = static_cast<bool>(options.filter);
        bool walked = true;
        auto walk_typed = [&]<Walk kWalk, typename T>() {
            if (deletions && filtered)
                walked = graph_search<kWalk, true, true, T>(q, ef, options, cands, limits);
            else if (deletions)
                walked = graph_search<kWalk, true, false, T>(q, ef, options, cands, WalkLimits{});
            else if (filtered)
                walked = graph_search<kWalk, false, true, T>(q, ef, options, cands, limits);
            else
                walked = graph_search<kWalk, false, false, T>(q, ef, options, cands, WalkLimits{});
        };
        auto walk = [&]<Walk kWalk>() {
            if (half_)
                walk_typed.template operator()<kWalk, std::uint16_t>();
            else
                walk_typed.template operator()<kWalk, float>();
        };
        switch (metric_) {
            case Metric::kCosine:
            case Metric::kCorrelation:
                walk.operator()<Walk::kDot>();
                break;
            case Metric::kEuclidean:
                walk.operator()<Walk::kL2>();
                break;
            case Metric::kManhattan:
                walk.operator()<Walk::kL1>();
                break;
        }
        if (!walked) {
            ++t_walks_given_up;
            steered_scan = g_steering.load(std::memory_order_relaxed);
        }
        if (options.filter && cands.size() < k)
            exact = true;  // the walk gave up, or the filter rejected more than the sample said
        else if (options.filter)
            ++t_filtered_walks;
    }
    if (exact) {
        cands = exact_scan(q, options, steered_scan ? std::max(sq_default_rerank(k), ef) : 0);
    } else {
        // The walk's distances are our kernels' (1 - ip, squared L2, L1): report them in the
        // metric's form, which is what exact_distance() computes (no second pass over vectors).
        for (auto& c : cands) {
            switch (metric_) {
                case Metric::kCosine:
                case Metric::kCorrelation:
                    c.distance = std::clamp(c.distance, 0.0f, 2.0f);
                    break;
                case Metric::kEuclidean:
                    c.distance = std::sqrt(c.distance);
                    break;
                case Metric::kManhattan:
                    break;
            }
        }
    }
    // Top k by distance; labels (a cache line apart from the vectors) are read only for the k
    // best and for candidates tied with the k-th, which the id breaks.
    auto by_distance = [](const Candidate& a, const Candidate& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.internal < b.internal);
    };
    std::size_t n_take = std::min(k, cands.size());
    std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(n_take),
                      cands.end(), by_distance);
    if (n_take > 0 && n_take < cands.size()) {
        const float kth = cands[n_take - 1].distance;
        auto tail = std::partition(cands.begin() + static_cast<std::ptrdiff_t>(n_take), cands.end(),
                                   [kth](const Candidate& c) { return c.distance == kth; });
        n_take = static_cast<std::size_t>(tail - cands.begin());
    }
    std::vector<SearchHit> hits;
    hits.reserve(n_take);
    for (std::size_t i = 0; i < n_take; ++i) {
        hits.push_back({static_cast<std::int64_t>(h.getExternalLabel(cands[i].internal)),
                        cands[i].distance, 0.0f});
    }
    auto better = [](const SearchHit& a, const SearchHit& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    };
    std::sort(hits.begin(), hits.end(), better);
    hits.resize(std::min(k, hits.size()));
    for (auto& hit : hits) hit.score = score_from_distance(metric_, hit.distance);
    return hits;
}

Status HnswIndex::load_payload(detail::IndexReader& in) {
    std::uint32_t m = 0;
    std::uint32_t efc = 0;
    std::uint64_t n = 0;
    EARSHOT_RETURN_IF_ERROR(in.pod(m));
    EARSHOT_RETURN_IF_ERROR(in.pod(efc));
    EARSHOT_RETURN_IF_ERROR(in.pod(n));
    if (m != static_cast<std::uint32_t>(params_.m) ||
        efc != static_cast<std::uint32_t>(params_.ef_construction)) {
        return make_error(ErrorCode::kCorruption, "hnsw payload: parameters differ from the spec");
    }
    if (n == 0)
        return ok_status();
    std::uint64_t per_element = 0;
    std::int32_t max_level = 0;
    std::uint32_t entry = 0;
    EARSHOT_RETURN_IF_ERROR(in.pod(per_element));
    EARSHOT_RETURN_IF_ERROR(in.pod(max_level));
    EARSHOT_RETURN_IF_ERROR(in.pod(entry));
    const std::uint64_t max_m0 = 2 * std::uint64_t{m};
    const std::uint64_t expected_per_element =
        max_m0 * sizeof(tableint) + sizeof(hnswlib::linklistsizeint) +
        static_cast<std::uint64_t>(dim_) * value_bytes() + sizeof(hnswlib::labeltype);
    if (per_element != expected_per_element)
        return make_error(ErrorCode::kCorruption, "hnsw payload: element size does not match dim");
    if (n > in.remaining() / per_element || n >= std::numeric_limits<tableint>::max())
        return make_error(ErrorCode::kCorruption, "hnsw payload: impossible element count");
    if (max_level < 0 || max_level > kMaxLevel || entry >= n)
        return make_error(ErrorCode::kCorruption, "hnsw payload: bad entry point or level");
    try {
        reserve(static_cast<std::size_t>(n));
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal, std::string("hnsw load: ") + e.what());
    }
    Hnsw& h = *hnsw_;
    if (file_level0_bytes(h) != per_element)
        return make_error(ErrorCode::kCorruption, "hnsw payload: element layout mismatch");
    for (std::size_t i = 0; i < n; ++i) {
        char* record = h.data_level0_memory_ + i * h.size_data_per_element_;
        EARSHOT_RETURN_IF_ERROR(in.bytes(record, h.size_links_level0_));
        EARSHOT_RETURN_IF_ERROR(in.bytes(record + h.offsetData_, h.data_size_));
        EARSHOT_RETURN_IF_ERROR(in.bytes(record + h.label_offset_, sizeof(hnswlib::labeltype)));
    }
    // From here on the destructor frees link lists of elements [0, cur_element_count) whose level
    // is > 0, so levels are only set once their list is allocated.
    h.cur_element_count = static_cast<std::size_t>(n);
    auto links_ok = [&](unsigned int* data, std::size_t max_links) {
        const std::size_t count = h.getListCount(data);
        if (count > max_links)
            return false;
        const auto* links = reinterpret_cast<const tableint*>(data + 1);
        for (std::size_t j = 0; j < count; ++j) {
            if (links[j] >= n)
                return false;
        }
        return true;
    };
    std::vector<float> decoded(half_ ? static_cast<std::size_t>(dim_) : 0);
    for (std::size_t i = 0; i < n; ++i) {
        const auto t = static_cast<tableint>(i);
        if (!links_ok(reinterpret_cast<unsigned int*>(h.get_linklist0(t)), h.maxM0_))
            return make_error(ErrorCode::kCorruption, "hnsw payload: bad level-0 links");
        const float* v = reinterpret_cast<const float*>(h.getDataByInternalId(t));
        if (half_) {
            detail::f16_to_f32(reinterpret_cast<const std::uint16_t*>(v), decoded.data(),
                               decoded.size());
            v = decoded.data();
        }
        if (!detail::all_finite(v, static_cast<std::size_t>(dim_)))
            return make_error(ErrorCode::kCorruption, "hnsw payload: non-finite vector");
        const auto label = h.getExternalLabel(t);
        if (!h.label_lookup_.emplace(label, t).second)
            return make_error(ErrorCode::kCorruption, "hnsw payload: duplicate label");
        if (h.isMarkedDeleted(t))
            h.num_deleted_ += 1;
    }
    int top_level = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t bytes = 0;
        EARSHOT_RETURN_IF_ERROR(in.pod(bytes));
        if (bytes == 0) {
            h.linkLists_[i] = nullptr;
            continue;
        }
        const std::size_t list_bytes = file_links_per_level(h);
        if (bytes % list_bytes != 0 || bytes / list_bytes > static_cast<std::size_t>(max_level) ||
            bytes > in.remaining()) {
            return make_error(ErrorCode::kCorruption, "hnsw payload: bad upper-layer links");
        }
        const int levels = static_cast<int>(bytes / list_bytes);
        const std::size_t padded = static_cast<std::size_t>(levels) * h.size_links_per_element_;
        h.linkLists_[i] = static_cast<char*>(std::calloc(1, padded));
        if (h.linkLists_[i] == nullptr)
            return make_error(ErrorCode::kInternal, "hnsw load: out of memory");
        h.element_levels_[i] = levels;
        for (int l = 1; l <= levels; ++l)
            EARSHOT_RETURN_IF_ERROR(
                in.bytes(h.get_linklist(static_cast<tableint>(i), l), list_bytes));
        for (int l = 1; l <= levels; ++l) {
            if (!links_ok(
                    reinterpret_cast<unsigned int*>(h.get_linklist(static_cast<tableint>(i), l)),
                    h.maxM_)) {
                return make_error(ErrorCode::kCorruption, "hnsw payload: bad upper-layer links");
            }
        }
        top_level = std::max(top_level, levels);
    }
    if (top_level != max_level || h.element_levels_[entry] != max_level)
        return make_error(ErrorCode::kCorruption, "hnsw payload: entry point is not on top level");
    h.maxlevel_ = max_level;
    h.enterpoint_node_ = entry;
    labels_.clear();
    sync_labels();
    return ok_status();
}

}  // namespace

Result<HnswParams> hnsw_params(const IndexSpec& spec) {
    const std::string t = detail::lower_spec(spec.text);
    if (!t.starts_with("hnsw"))
        return tl::unexpected(detail::bad_index_spec(spec.text));
    HnswParams p;
    std::string_view rest = std::string_view(t).substr(4);
    std::string_view m_part = rest.substr(0, rest.find(','));
    if (!detail::parse_positive(m_part, p.m) || p.m < 2 || p.m > 256 || t.back() == ',')
        return tl::unexpected(detail::bad_index_spec(spec.text));
    // Options in this order: ,efC<N> then ,SQfp16.
    std::string_view opts =
        m_part.size() < rest.size() ? rest.substr(m_part.size() + 1) : std::string_view();
    std::string_view opt = opts.substr(0, opts.find(','));
    if (opt.starts_with("efc")) {
        if (!detail::parse_positive(opt.substr(3), p.ef_construction) || p.ef_construction > 4096)
            return tl::unexpected(detail::bad_index_spec(spec.text));
        opts = opt.size() < opts.size() ? opts.substr(opt.size() + 1) : std::string_view();
        opt = opts;
    }
    if (opt == "sqfp16" && opt.size() == opts.size())
        p.half = true;
    else if (!opts.empty())
        return tl::unexpected(detail::bad_index_spec(spec.text));
    return p;
}

namespace {

Result<IndexSpec> parse_hnsw(std::string_view text) {
    EARSHOT_ASSIGN_OR_RETURN(HnswParams p, hnsw_params(IndexSpec{"hnsw", std::string(text)}));
    IndexSpec spec{"hnsw", "HNSW" + std::to_string(p.m)};
    if (p.ef_construction != kHnswDefaultEfConstruction)
        spec.text += ",efC" + std::to_string(p.ef_construction);
    if (p.half)
        spec.text += ",SQfp16";
    return spec;
}

Result<std::unique_ptr<HnswIndex>> make_hnsw(const IndexSpec& spec, int dim, Metric metric) {
    EARSHOT_ASSIGN_OR_RETURN(HnswParams p, hnsw_params(spec));
    return std::make_unique<HnswIndex>(spec, p, dim, metric);
}

}  // namespace

const IndexKind kHnswIndexKind{
    .name = "hnsw",
    .prefix = "hnsw",
    .syntax = "HNSW<M>[,efC<N>][,SQfp16]",
    .description =
        "hnswlib graph; per-query efSearch; tombstones for deletes, compacted past 20%; "
        ",SQfp16 keeps binary16 vectors in the graph (approximate distances, re-ranked "
        "exactly by the caller: 2 x k from the catalog)",
    .examples = "HNSW32|HNSW16|HNSW32,SQfp16",
    .parse = &parse_hnsw,
    .make =
        [](const IndexSpec& spec, int dim, Metric metric) -> Result<std::unique_ptr<VectorIndex>> {
        EARSHOT_ASSIGN_OR_RETURN(auto index, make_hnsw(spec, dim, metric));
        return std::unique_ptr<VectorIndex>(std::move(index));
    },
    .load = [](const IndexSpec& spec, int dim, Metric metric, detail::IndexReader& in)
        -> Result<std::unique_ptr<VectorIndex>> {
        auto index = make_hnsw(spec, dim, metric);
        if (!index)
            return make_error(ErrorCode::kCorruption, index.error().message());
        EARSHOT_RETURN_IF_ERROR((*index)->load_payload(in));
        return std::unique_ptr<VectorIndex>(std::move(*index));
    },
    .index_help =
        [] { return "HNSW<M>[,efC<N>][,SQfp16] (e.g. HNSW" + std::to_string(kHnswDefaultM) + ")"; },
    .ef_search_help =
        [] {
            return "HNSW: candidate list size per query, >= k (default " +
                   std::to_string(kHnswDefaultEfSearch) + ", " +
                   std::to_string(kHnswLargeEfSearch) + " from " + thousands(kHnswLargeIndexItems) +
                   " items on; higher = better recall)";
        },
};

}  // namespace earshot
