#include "engine/item_filter.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace earshot {

ItemDurations::ItemDurations(std::span<const std::int64_t> ids,
                             std::span<const double> durations_s) {
    const std::size_t n = std::min(ids.size(), durations_s.size());
    if (n == 0)
        return;
    const auto [lo, hi] =
        std::minmax_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
    const std::uint64_t span = static_cast<std::uint64_t>(*hi) - static_cast<std::uint64_t>(*lo);
    dense_mode_ = span < kDenseSlotsPerId * n + kDenseSlack;
    if (dense_mode_) {
        base_ = *lo;
        dense_.assign(span + 1, std::numeric_limits<double>::quiet_NaN());
        for (std::size_t i = 0; i < n; ++i) {
            double& slot =
                dense_[static_cast<std::uint64_t>(ids[i]) - static_cast<std::uint64_t>(base_)];
            size_ += std::isnan(slot) ? 1 : 0;
            // A NaN duration would read as "no item": stored as 0, what get() gives unknowns.
            slot = std::isnan(durations_s[i]) ? 0.0 : durations_s[i];
        }
    } else {
        sparse_.reserve(n);
        for (std::size_t i = 0; i < n; ++i) sparse_[ids[i]] = durations_s[i];
        size_ = sparse_.size();
    }
}

bool ItemDurations::contains(std::int64_t id) const {
    if (dense_mode_) {
        const std::uint64_t i = static_cast<std::uint64_t>(id) - static_cast<std::uint64_t>(base_);
        return i < dense_.size() && !std::isnan(dense_[i]);
    }
    return sparse_.count(id) > 0;
}

std::vector<std::int64_t> ItemDurations::ids() const {
    std::vector<std::int64_t> out;
    out.reserve(size_);
    if (dense_mode_) {
        for (std::size_t i = 0; i < dense_.size(); ++i) {
            if (!std::isnan(dense_[i]))
                out.push_back(static_cast<std::int64_t>(static_cast<std::uint64_t>(base_) + i));
        }
        return out;
    }
    for (const auto& [id, d] : sparse_) out.push_back(id);
    std::sort(out.begin(), out.end());
    return out;
}

IdSet::IdSet(std::vector<std::int64_t> ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (ids.empty()) {
        sorted_ = std::move(ids);
        return;
    }
    const std::uint64_t span =
        static_cast<std::uint64_t>(ids.back()) - static_cast<std::uint64_t>(ids.front());
    bitmap_mode_ = span < 64 * static_cast<std::uint64_t>(ids.size()) + kBitmapSlack;
    if (!bitmap_mode_) {
        sorted_ = std::move(ids);
        return;
    }
    base_ = ids.front();
    n_bits_ = span + 1;
    bits_.assign((n_bits_ + 63) / 64, 0);
    for (std::int64_t id : ids) {
        const std::uint64_t i = static_cast<std::uint64_t>(id) - static_cast<std::uint64_t>(base_);
        bits_[i / 64] |= std::uint64_t{1} << (i % 64);
    }
}

std::function<bool(std::int64_t)> item_predicate(const ItemDurations* durations, ItemConditions c) {
    if (c.none())
        return {};  // no condition: the index searches unfiltered
    return [durations, c = std::move(c)](std::int64_t id) {
        if (c.exclude_id && id == *c.exclude_id)
            return false;
        if (c.allowed && !c.allowed->contains(id))
            return false;
        if (c.min_duration_s || c.max_duration_s) {
            const double d = durations->get(id);
            if (c.min_duration_s && d < *c.min_duration_s)
                return false;
            if (c.max_duration_s && d > *c.max_duration_s)
                return false;
        }
        return true;
    };
}

std::function<void(std::span<const std::int64_t>, std::uint8_t*)> item_block_predicate(
    const ItemDurations* durations, ItemConditions c) {
    if (c.none())
        return {};
    return [durations, c = std::move(c)](std::span<const std::int64_t> ids, std::uint8_t* pass) {
        const std::size_t n = ids.size();
        if (c.allowed) {
            for (std::size_t i = 0; i < n; ++i) pass[i] = c.allowed->contains(ids[i]) ? 1 : 0;
        } else {
            std::fill_n(pass, n, std::uint8_t{1});
        }
        if (c.min_duration_s || c.max_duration_s) {
            // As item_predicate: an item fails below the minimum or above the maximum.
            const double lo = c.min_duration_s.value_or(-std::numeric_limits<double>::infinity());
            const double hi = c.max_duration_s.value_or(std::numeric_limits<double>::infinity());
            for (std::size_t i = 0; i < n; ++i) {
                const double d = durations->get(ids[i]);
                pass[i] &= static_cast<std::uint8_t>(!(d < lo) && !(d > hi));
            }
        }
        if (c.exclude_id) {
            const std::int64_t excluded = *c.exclude_id;
            for (std::size_t i = 0; i < n; ++i)
                pass[i] &= static_cast<std::uint8_t>(ids[i] != excluded);
        }
    };
}

}  // namespace earshot
