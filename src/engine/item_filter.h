// A search's item conditions (duration bounds, the ids a catalog filter passes, an excluded item)
// as one predicate on item ids. A filtered HNSW walk calls it for every node it reaches (about
// 1,000 per query on 100k items with 10 % passing), so a lookup is one array read when the ids
// are nearly contiguous, as catalog rowids are; a hash-map lookup per call cost about 19 % of such
// a query's time (docs/performance.md, ninth round of #14).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace earshot {

// Item durations by id: an array over [min id, max id] when that range is at most
// kDenseSlotsPerId slots per id (plus kDenseSlack), else a hash map.
class ItemDurations {
public:
    static constexpr std::uint64_t kDenseSlotsPerId = 4;
    static constexpr std::uint64_t kDenseSlack = 4096;

    ItemDurations() = default;
    // ids unique (a repeated id keeps its last duration), aligned with durations_s.
    ItemDurations(std::span<const std::int64_t> ids, std::span<const double> durations_s);

    // The item's duration in seconds; 0 for an id not in the table.
    double get(std::int64_t id) const {
        if (dense_mode_) {
            const std::uint64_t i =
                static_cast<std::uint64_t>(id) - static_cast<std::uint64_t>(base_);
            if (i >= dense_.size())
                return 0.0;
            const double d = dense_[i];
            return std::isnan(d) ? 0.0 : d;
        }
        const auto it = sparse_.find(id);
        return it == sparse_.end() ? 0.0 : it->second;
    }
    bool contains(std::int64_t id) const;
    std::size_t size() const { return size_; }
    bool dense() const { return dense_mode_; }
    // The ids, ascending.
    std::vector<std::int64_t> ids() const;

private:
    bool dense_mode_ = true;
    std::int64_t base_ = 0;
    std::vector<double> dense_;  // NaN: no item with that id
    std::unordered_map<std::int64_t, double> sparse_;
    std::size_t size_ = 0;
};

// A set of item ids: a bitmap over [min, max] when that takes no more bytes than the ids
// themselves (at most 64 bits per id, plus kBitmapSlack), else the sorted ids.
class IdSet {
public:
    static constexpr std::uint64_t kBitmapSlack = 4096 * 64;

    // Any order; duplicates are dropped.
    explicit IdSet(std::vector<std::int64_t> ids);
    bool contains(std::int64_t id) const {
        if (bitmap_mode_) {
            const std::uint64_t i =
                static_cast<std::uint64_t>(id) - static_cast<std::uint64_t>(base_);
            return i < n_bits_ && ((bits_[i / 64] >> (i % 64)) & 1u) != 0;
        }
        return std::binary_search(sorted_.begin(), sorted_.end(), id);
    }
    bool bitmap() const { return bitmap_mode_; }

private:
    bool bitmap_mode_ = false;
    std::int64_t base_ = 0;
    std::uint64_t n_bits_ = 0;
    std::vector<std::uint64_t> bits_;
    std::vector<std::int64_t> sorted_;
};

struct ItemConditions {
    std::optional<double> min_duration_s;  // items shorter fail
    std::optional<double> max_duration_s;  // items longer fail
    std::shared_ptr<const IdSet> allowed;  // null: no catalog filter
    std::optional<std::int64_t> exclude_id;

    bool none() const { return !min_duration_s && !max_duration_s && !allowed && !exclude_id; }
};

// The conditions as a predicate on item ids. `durations` must outlive it, and must not be null
// when a duration bound is set. Empty (no function) when there is no condition, so that an index
// searches unfiltered instead of asking a predicate that passes everything.
std::function<bool(std::int64_t)> item_predicate(const ItemDurations* durations,
                                                 ItemConditions conditions);

// The same conditions for a block of ids at once (SearchOptions::filter_block): pass[i] = 1 when
// ids[i] meets them, else 0, one condition at a time over the whole block. Empty when there is no
// condition; the same lifetime rule for `durations`.
std::function<void(std::span<const std::int64_t>, std::uint8_t*)> item_block_predicate(
    const ItemDurations* durations, ItemConditions conditions);

}  // namespace earshot
