#include "engine/map_coords.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/file_util.h"
#include "core/log.h"
#include "engine/index_cache.h"
#include "engine/map_layout.h"
#include "engine/projection.h"

namespace earshot {
namespace fs = std::filesystem;

namespace {

// File layout (little-endian; docs/formats.md "Map files"): a 56-byte header, the space and layout
// names, ids (int64) and xy (float32 pairs), then XXH64 (hash_bytes) of everything before it.
constexpr char kMagic[4] = {'E', 'S', 'M', 'P'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 56;
constexpr std::uint32_t kMaxNameBytes = 4096;

template <typename T>
void put(std::string& out, const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T get(const std::uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

}  // namespace

const std::vector<std::string>& map_layouts() {
    static const std::vector<std::string> kLayouts = {"pca", "umap"};
    return kLayouts;
}

Status check_map_layout(const std::string& layout) {
    const auto& all = map_layouts();
    if (std::find(all.begin(), all.end(), layout) != all.end())
        return ok_status();
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("layout must be one of: {}; got '{}'", fmt::join(all, ", "),
                                  layout.substr(0, 64)));
}

Result<MapCoords> compute_map_coords(CatalogReader& catalog,
                                     const std::string& space,
                                     const std::string& layout) {
    EARSHOT_RETURN_IF_ERROR(check_map_layout(layout));
    const auto start = std::chrono::steady_clock::now();
    MapCoords out;
    out.space = space;
    out.layout = layout;
    // Read before the vectors: a write in between makes the next request recompute.
    EARSHOT_ASSIGN_OR_RETURN(out.generation, catalog.space_generation(space));
    EARSHOT_ASSIGN_OR_RETURN(auto set, catalog.load_embeddings(space));
    EARSHOT_ASSIGN_OR_RETURN(auto proj, layout == "umap"
                                            ? layout_knn_2d(set.vectors, Metric::kCosine)
                                            : project_pca_2d(set.vectors));
    out.xy = std::move(proj.xy);
    out.explained_variance_ratio = proj.explained_variance_ratio;
    out.fit_rows = proj.fit_rows;
    out.ids = std::move(set.ids);
    out.compute_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

fs::path map_file_path(const fs::path& index_dir,
                       const std::string& space,
                       const std::string& layout) {
    return index_dir / fmt::format("{}.{}.esmap", file_name_part(space), file_name_part(layout));
}

Status save_map_coords(const fs::path& file, const MapCoords& c) {
    if (c.xy.size() != c.ids.size() * 2 || c.space.size() > kMaxNameBytes ||
        c.layout.size() > kMaxNameBytes) {
        return make_error(ErrorCode::kInvalidArgument, "save_map_coords: inconsistent map");
    }
    std::string out;
    out.reserve(kHeaderBytes + c.space.size() + c.layout.size() + c.ids.size() * 16 + 8);
    out.append(kMagic, 4);
    put(out, kVersion);
    put(out, c.generation);
    put(out, static_cast<std::uint64_t>(c.ids.size()));
    put(out, static_cast<std::uint32_t>(c.space.size()));
    put(out, static_cast<std::uint32_t>(c.layout.size()));
    put(out, c.explained_variance_ratio[0]);
    put(out, c.explained_variance_ratio[1]);
    put(out, c.fit_rows);
    out += c.space;
    out += c.layout;
    out.append(reinterpret_cast<const char*>(c.ids.data()), c.ids.size() * sizeof(std::int64_t));
    out.append(reinterpret_cast<const char*>(c.xy.data()), c.xy.size() * sizeof(float));
    put(out, hash_bytes(out.data(), out.size()));
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) {
        return make_error(ErrorCode::kIoError,
                          fmt::format("'{}': cannot create the folder: {}",
                                      file.parent_path().string(), ec.message()));
    }
    return write_file_atomic(file, out);
}

Result<MapCoords> load_map_coords(const fs::path& file) {
    EARSHOT_ASSIGN_OR_RETURN(auto bytes, read_file_bytes(file));
    auto bad = [&](const std::string& what) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("map file '{}': {}", file.string(), what));
    };
    if (bytes.size() < kHeaderBytes + 8 || std::memcmp(bytes.data(), kMagic, 4) != 0)
        return bad("not a map file");
    const std::uint8_t* p = bytes.data();
    const auto version = get<std::uint32_t>(p + 4);
    if (version > kVersion) {
        return make_error(ErrorCode::kNotSupported,
                          fmt::format("map file '{}': version {} is newer than this program's {}",
                                      file.string(), version, kVersion));
    }
    if (version != kVersion)
        return bad("unknown version");
    MapCoords c;
    c.generation = get<std::int64_t>(p + 8);
    const auto n = get<std::uint64_t>(p + 16);
    const auto space_len = get<std::uint32_t>(p + 24);
    const auto layout_len = get<std::uint32_t>(p + 28);
    c.explained_variance_ratio[0] = get<double>(p + 32);
    c.explained_variance_ratio[1] = get<double>(p + 40);
    c.fit_rows = get<std::uint64_t>(p + 48);
    if (space_len > kMaxNameBytes || layout_len > kMaxNameBytes ||
        n > (bytes.size() - kHeaderBytes) / 16)
        return bad("sizes out of range");
    const std::size_t expected = kHeaderBytes + space_len + layout_len + n * 16 + 8;
    if (bytes.size() != expected)
        return bad(fmt::format("{} bytes, the header says {}", bytes.size(), expected));
    if (get<std::uint64_t>(p + expected - 8) != hash_bytes(p, expected - 8))
        return bad("checksum mismatch");
    std::size_t at = kHeaderBytes;
    c.space.assign(reinterpret_cast<const char*>(p + at), space_len);
    at += space_len;
    c.layout.assign(reinterpret_cast<const char*>(p + at), layout_len);
    at += layout_len;
    c.ids.resize(n);
    std::memcpy(c.ids.data(), p + at, n * sizeof(std::int64_t));
    at += n * sizeof(std::int64_t);
    c.xy.resize(n * 2);
    std::memcpy(c.xy.data(), p + at, n * 2 * sizeof(float));
    for (std::size_t i = 1; i < c.ids.size(); ++i) {
        if (c.ids[i] <= c.ids[i - 1])
            return bad("ids not ascending");
    }
    for (float v : c.xy) {
        if (!(std::abs(v) <= 1.0f))
            return bad("a coordinate outside [-1, 1]");
    }
    return c;
}

MapCache::MapCache(CatalogReader& catalog, fs::path index_dir)
    : catalog_(catalog), index_dir_(std::move(index_dir)) {}

std::string MapCache::last_source(const std::string& space, const std::string& layout) {
    std::lock_guard lock(mu_);
    auto it = slots_.find({space, layout});
    return it == slots_.end() ? std::string() : it->second->source;
}

Result<std::shared_ptr<const MapCoords>> MapCache::get(const std::string& space,
                                                       const std::string& layout,
                                                       bool allow_stale) {
    EARSHOT_RETURN_IF_ERROR(check_map_layout(layout));
    EARSHOT_ASSIGN_OR_RETURN(const std::int64_t generation, catalog_.space_generation(space));
    std::shared_ptr<Slot> slot;
    {
        std::lock_guard lock(mu_);
        auto& s = slots_[{space, layout}];
        if (!s)
            s = std::make_shared<Slot>();
        slot = s;
        if (slot->coords && slot->coords->generation >= generation)
            return slot->coords;
    }
    std::unique_lock build(slot->build_mu, std::defer_lock);
    if (!build.try_lock()) {
        if (allow_stale) {
            std::lock_guard lock(mu_);
            if (slot->coords)
                return slot->coords;
        }
        build.lock();
    }
    {  // another caller may have made it while this one waited
        std::lock_guard lock(mu_);
        if (slot->coords && slot->coords->generation >= generation)
            return slot->coords;
    }
    auto install = [&](MapCoords c, const char* source) {
        auto shared = std::make_shared<const MapCoords>(std::move(c));
        std::lock_guard lock(mu_);
        slot->coords = shared;
        slot->source = source;
        return shared;
    };
    const fs::path file =
        index_dir_.empty() ? fs::path() : map_file_path(index_dir_, space, layout);
    if (!file.empty()) {
        auto loaded = load_map_coords(file);
        if (loaded && loaded->space == space && loaded->layout == layout &&
            loaded->generation == generation) {
            // Same generation: the same vectors, unless the catalog was replaced by another one
            // that reached it; its ids must match the space's.
            auto live = catalog_.load_embeddings_since(space, -1, false);
            if (live && live->ids == loaded->ids)
                return install(std::move(*loaded), "file");
        } else if (!loaded && loaded.error().code() != ErrorCode::kNotFound) {
            log_warning("map: ignoring {} (computing it again)", loaded.error().message());
        }
    }
    EARSHOT_ASSIGN_OR_RETURN(auto computed, compute_map_coords(catalog_, space, layout));
    log_info("map: {} of '{}' ({} items, fitted on {}) in {:.2f} s", layout, space,
             computed.ids.size(), computed.fit_rows, computed.compute_s);
    if (!file.empty()) {
        if (auto saved = save_map_coords(file, computed); !saved)
            log_warning("map: not kept on disk: {}", saved.error().message());
    }
    return install(std::move(computed), "computed");
}

}  // namespace earshot
