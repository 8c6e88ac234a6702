#include "engine/catalog_check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_set>

#include <fmt/format.h>

#include "index/index_file.h"

namespace earshot {
namespace fs = std::filesystem;

namespace {

bool all_finite(std::span<const float> v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

void check_space(CatalogReader& catalog, const SpaceInfo& info, CatalogCheckReport& rep) {
    auto problem = [&](std::string what) {
        rep.problems.push_back(fmt::format("space '{}': {}", info.space, what));
    };
    auto set = catalog.load_embeddings(info.space);
    if (!set) {
        problem("cannot read its vectors: " + set.error().message());
        return;
    }
    if (set->dim != info.dim || set->vectors.n_cols != static_cast<std::size_t>(info.dim)) {
        problem(
            fmt::format("vectors have {} dims, the space says {}", set->vectors.n_cols, info.dim));
    }
    if (static_cast<std::int64_t>(set->ids.size()) != info.n_items) {
        problem(fmt::format("{} vectors read, the space counts {}", set->ids.size(), info.n_items));
    }
    std::unordered_set<std::int64_t> seen;
    for (std::size_t i = 0; i < set->ids.size(); ++i) {
        ++rep.vectors;
        if (!seen.insert(set->ids[i]).second)
            problem(fmt::format("item {} has two vectors", set->ids[i]));
        if (i < set->vectors.n_rows && !all_finite(set->vectors.row_span(i)))
            problem(fmt::format("item {}: the vector has a non-finite value", set->ids[i]));
    }
    if (info.n_segments == 0)
        return;
    for (auto id : set->ids) {
        auto seg = catalog.get_segments(id, info.space);
        if (!seg) {
            problem(
                fmt::format("item {}: cannot read its segments: {}", id, seg.error().message()));
            continue;
        }
        const auto& [m, times] = *seg;
        rep.segments += m.n_rows;
        if (m.n_rows > 0 && m.n_cols != static_cast<std::size_t>(info.dim))
            problem(fmt::format("item {}: segments have {} dims, not {}", id, m.n_cols, info.dim));
        if (m.n_rows != times.size())
            problem(fmt::format("item {}: {} segment vectors but {} segment times", id, m.n_rows,
                                times.size()));
        if (!all_finite(m.data))
            problem(fmt::format("item {}: a segment vector has a non-finite value", id));
        for (const auto& t : times) {
            if (!std::isfinite(t.start_s) || !std::isfinite(t.end_s) || t.end_s < t.start_s) {
                problem(fmt::format("item {}: bad segment time {}..{}", id, t.start_s, t.end_s));
                break;
            }
        }
    }
}

void check_index_files(CatalogReader& catalog, const fs::path& db_path, CatalogCheckReport& rep) {
    const fs::path dir = fs::path(db_path.string() + ".idx");
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".esix")
            files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        ++rep.index_files;
        auto problem = [&](std::string what) {
            rep.problems.push_back(fmt::format("index '{}': {}", f.string(), what));
        };
        auto loaded = load_index_file(f);
        if (!loaded) {
            problem(loaded.error().message() + " (searches rebuild it; `earshot reindex --force`)");
            continue;
        }
        const auto& h = loaded->header;
        auto st = catalog.space_state(h.space);
        if (!st) {
            problem(fmt::format("its space '{}' is not in the catalog ({})", h.space,
                                st.error().message()));
            continue;
        }
        if (st->dim != h.dim || loaded->index->dim() != h.dim)
            problem(fmt::format("{} dims, the space has {}", h.dim, st->dim));
        if (h.catalog_generation > st->generation) {
            problem(
                fmt::format("built at catalog generation {}, the catalog is at {} (the "
                            "catalog was replaced or rolled back)",
                            h.catalog_generation, st->generation));
            continue;
        }
        if (h.catalog_generation < st->generation) {
            rep.notes.push_back(
                fmt::format("index '{}' is behind the catalog (generation {} < "
                            "{}); the next search updates it",
                            f.string(), h.catalog_generation, st->generation));
            continue;
        }
        auto live = catalog.load_embeddings_since(h.space, -1, false);
        if (!live) {
            problem("cannot read the space's ids: " + live.error().message());
            continue;
        }
        auto ids = loaded->index->ids();
        std::sort(ids.begin(), ids.end());
        auto want = live->ids;
        std::sort(want.begin(), want.end());
        if (ids != want) {
            problem(
                fmt::format("holds {} ids, the space has {} (or different ones) at the same "
                            "generation",
                            ids.size(), want.size()));
        }
    }
}

}  // namespace

Result<CatalogCheckReport> check_catalog(CatalogReader& catalog, const fs::path& db_path) {
    CatalogCheckReport rep;
    if (auto integrity = catalog.check_integrity(); !integrity)
        rep.problems.push_back(integrity.error().message());

    auto items = catalog.list_items(0, -1);
    if (!items) {
        rep.problems.push_back("cannot read the items: " + items.error().message());
    } else {
        rep.items = items->size();
        for (const auto& it : *items) {
            if (it.path.empty())
                rep.problems.push_back(fmt::format("item {}: empty path", it.id));
            if (!std::isfinite(it.duration_s) || it.duration_s < 0.0) {
                rep.problems.push_back(
                    fmt::format("item {}: bad duration {}", it.id, it.duration_s));
            }
        }
    }
    auto spaces = catalog.spaces();
    if (!spaces) {
        rep.problems.push_back("cannot read the spaces: " + spaces.error().message());
    } else {
        rep.spaces = spaces->size();
        for (const auto& s : *spaces) check_space(catalog, s, rep);
    }
    check_index_files(catalog, db_path, rep);
    return rep;
}

}  // namespace earshot
