// The library map's coordinates (GET /api/map): where each item of a space is drawn, how a layout
// is computed from the space's whole-item vectors, and where it is kept: in memory and in a small
// file beside the index files ("<index dir>/<space>.<layout>.esmap", docs/formats.md), both keyed
// by the space's catalog generation, so a restarted server or a second request does not compute
// it again and a catalog write (any item added, replaced or removed) makes it stale.
// Data layout: ids ascending (catalog order), xy ids.size() × 2 row-major, each axis in [-1, 1].
// Thread-safety: MapCache is thread-safe; the free functions are reentrant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"

namespace earshot {

struct MapCoords {
    std::string space;
    std::string layout;           // "pca" or "umap"
    std::int64_t generation = 0;  // the space's generation, read before its vectors were
    std::vector<std::int64_t> ids;
    std::vector<float> xy;
    std::array<double, 2> explained_variance_ratio{};  // pca: of the two axes; else 0
    std::uint64_t fit_rows = 0;                        // rows the layout was fitted on
    double compute_s = 0.0;                            // seconds the layout took (with loading)
};

// The layouts compute_map_coords knows ("pca": engine/projection.h; "umap": engine/map_layout.h),
// and the default.
const std::vector<std::string>& map_layouts();
inline constexpr const char* kDefaultMapLayout = "pca";
// kInvalidArgument naming the valid layouts if `layout` is not one of them.
Status check_map_layout(const std::string& layout);

// Reads the space's vectors (labelled with its generation read first) and computes the layout:
// the one place a layout is chosen. kNotFound (no such space or no vectors), kInvalidArgument
// (unknown layout).
Result<MapCoords> compute_map_coords(CatalogReader& catalog,
                                     const std::string& space,
                                     const std::string& layout);

// "<index_dir>/<space>.<layout>.esmap" (file_name_part of each).
std::filesystem::path map_file_path(const std::filesystem::path& index_dir,
                                    const std::string& space,
                                    const std::string& layout);
// Writes the file atomically (a temporary file renamed over it); creates the folder. kIoError.
Status save_map_coords(const std::filesystem::path& file, const MapCoords& coords);
// Reads and checks a whole file: kNotFound if missing; kCorruption if it is truncated, damaged
// (checksum), foreign, or holds ids not ascending or coordinates outside [-1, 1]; kNotSupported
// for a newer version.
Result<MapCoords> load_map_coords(const std::filesystem::path& file);

// The coordinates of (space, layout) current with the catalog: one entry per key in memory,
// backed by the file. Not copyable.
class MapCache {
public:
    // The catalog must outlive the cache. index_dir: where the files go (empty: none are
    // read or written).
    MapCache(CatalogReader& catalog, std::filesystem::path index_dir);
    MapCache(const MapCache&) = delete;
    MapCache& operator=(const MapCache&) = delete;

    // Coordinates reflecting at least the space's generation read on entry: the entry in memory,
    // else the file if it was written at that generation for the space's current ids, else
    // computed (and the file written; a write failure is logged, not returned). One computation
    // per key at a time: a second caller waits for it, or with allow_stale takes the key's
    // previous coordinates if there are any. Errors as compute_map_coords.
    Result<std::shared_ptr<const MapCoords>> get(const std::string& space,
                                                 const std::string& layout,
                                                 bool allow_stale = false);

    // How the last get() of a key that found no current entry in memory got its coordinates
    // ("file" or "computed"); "" if none did. For tests and logs.
    std::string last_source(const std::string& space, const std::string& layout);

private:
    struct Slot {
        std::mutex build_mu;                      // held while loading or computing
        std::shared_ptr<const MapCoords> coords;  // protected by MapCache::mu_
        std::string source;                       // protected by MapCache::mu_
    };
    CatalogReader& catalog_;
    std::filesystem::path index_dir_;
    std::mutex mu_;
    std::map<std::pair<std::string, std::string>, std::shared_ptr<Slot>> slots_;
};

}  // namespace earshot
