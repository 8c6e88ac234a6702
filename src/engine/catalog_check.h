// `earshot check`: a full consistency check of a catalog and the index files next to it.
// Reads everything once (SQLite integrity check, every item row, every whole and segment vector,
// every index file); it changes nothing. Thread-safety: as Catalog (the catalog serialises calls).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"

namespace earshot {

struct CatalogCheckReport {
    std::vector<std::string> problems;  // empty: the catalog is consistent
    std::vector<std::string> notes;     // harmless findings (e.g. a stale index to be updated)
    std::size_t items = 0;
    std::size_t spaces = 0;
    std::size_t vectors = 0;   // whole-item vectors read and checked
    std::size_t segments = 0;  // segment vectors read and checked
    std::size_t index_files = 0;
    bool ok() const { return problems.empty(); }
};

// Checks catalog `catalog` whose file is db_path (index files live in "<db_path>.idx/"):
//   - SQLite `PRAGMA integrity_check` and foreign keys (Catalog::check_integrity);
//   - every item row reads back (path non-empty, duration finite and >= 0);
//   - per space: every whole vector and segment vector has the space's dim and finite values,
//     and the count matches the space's item count;
//   - every index file: its header and checksum (load_index_file), that its space exists with
//     the same dim, that it is not from the future (generation above the catalog's), and, if
//     current, that it holds exactly the space's ids.
// Problems are collected, not returned as errors; an Error only if nothing could be read.
Result<CatalogCheckReport> check_catalog(CatalogReader& catalog,
                                         const std::filesystem::path& db_path);

}  // namespace earshot
