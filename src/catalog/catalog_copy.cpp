#include "catalog/catalog_copy.h"

#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace earshot {

Result<CopyReport> copy_catalog(Catalog& from,
                                Catalog& to,
                                const std::function<void(std::int64_t, std::int64_t)>& progress,
                                bool keep_ids) {
    constexpr std::int64_t kPage = 256;
    CopyReport rep;
    EARSHOT_ASSIGN_OR_RETURN(auto spaces, from.spaces());
    EARSHOT_ASSIGN_OR_RETURN(const std::int64_t total, from.count_items());
    std::unordered_set<std::int64_t> copied;
    std::int64_t done = 0;
    for (const SpaceInfo& space : spaces) {
        rep.spaces.push_back(space.space);
        if (space.n_items == 0)
            continue;
        // Whole-item vectors of the space at once; segments per item (only if it has any).
        EARSHOT_ASSIGN_OR_RETURN(auto set, from.load_embeddings(space.space));
        std::unordered_map<std::int64_t, std::size_t> row_of;
        for (std::size_t r = 0; r < set.ids.size(); ++r) row_of.emplace(set.ids[r], r);
        for (std::int64_t offset = 0;; offset += kPage) {
            EARSHOT_ASSIGN_OR_RETURN(auto items, from.list_items(offset, kPage));
            if (items.empty())
                break;
            std::vector<Catalog::PutRequest> batch;
            for (const ItemRecord& item : items) {
                auto it = row_of.find(item.id);
                if (it == row_of.end())
                    continue;
                Catalog::PutRequest req;
                req.item = item;
                req.keep_id = keep_ids;
                const auto row = set.vectors.row_span(it->second);
                req.vector.assign(row.begin(), row.end());
                if (space.n_segments > 0) {
                    EARSHOT_ASSIGN_OR_RETURN(auto seg, from.get_segments(item.id, space.space));
                    rep.segments += static_cast<std::int64_t>(seg.first.n_rows);
                    req.segments = std::move(seg.first);
                    req.segment_times = std::move(seg.second);
                }
                if (!copied.contains(item.id)) {
                    EARSHOT_ASSIGN_OR_RETURN(auto fp, from.get_fingerprint(item.id));
                    if (fp) {
                        req.fingerprint = std::move(fp->data);
                        req.fingerprint_version = fp->version;
                    }
                    EARSHOT_ASSIGN_OR_RETURN(auto tags, from.tags_of(item.id));
                    if (!tags.empty())
                        req.tags = std::move(tags);
                }
                batch.push_back(std::move(req));
                if (copied.insert(item.id).second)
                    ++done;
            }
            if (!batch.empty()) {
                auto ids = to.put_items(space.space, batch);
                if (!ids) {
                    return tl::unexpected(ids.error().with_context(
                        fmt::format("copying space '{}' at item {}", space.space, offset)));
                }
                rep.vectors += static_cast<std::int64_t>(batch.size());
            }
            if (progress)
                progress(done, total);
        }
    }
    rep.items = static_cast<std::int64_t>(copied.size());
    rep.skipped = total - rep.items;

    // Check: the destination holds at least what the source had.
    EARSHOT_ASSIGN_OR_RETURN(auto after, to.spaces());
    for (const SpaceInfo& s : spaces) {
        bool found = false;
        for (const SpaceInfo& d : after) {
            if (d.space != s.space)
                continue;
            found = true;
            if (d.dim != s.dim || d.n_items < s.n_items || d.n_segments < s.n_segments) {
                return make_error(ErrorCode::kInternal,
                                  fmt::format("after copying, space '{}' has {} items / {} "
                                              "segments (dim {}), the source {} / {} (dim {})",
                                              s.space, d.n_items, d.n_segments, d.dim, s.n_items,
                                              s.n_segments, s.dim));
            }
        }
        if (!found && s.n_items > 0) {
            return make_error(ErrorCode::kInternal,
                              "after copying, space '" + s.space + "' is missing");
        }
    }
    return rep;
}

}  // namespace earshot
