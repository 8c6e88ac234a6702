// Copies one catalog into another (any backends): `earshot migrate`. Items keep their path and
// fields; vectors, segments and fingerprints are copied bit for bit; item ids are kept (keep_ids,
// into an empty destination) or assigned by the destination (in the source's id order per space).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"

namespace earshot {

struct CopyReport {
    std::int64_t items = 0;     // items copied (with at least one vector)
    std::int64_t vectors = 0;   // whole-item vectors copied (all spaces)
    std::int64_t segments = 0;  // segment vectors copied
    std::int64_t skipped = 0;   // items without any vector (nothing to copy them with)
    std::vector<std::string> spaces;
};

// Copies every space of `from` into `to` in batches (one transaction each; a failed copy can be
// run again: writes are upserts by path). Afterwards checks that `to` has at least the source's
// per-space item and segment counts (kInternal if not). progress(done, total) per batch.
// keep_ids: every new item gets its source id (ids in exports and links stay valid); an id already
// used by another path in `to` fails the copy, so use it only into an empty catalog.
Result<CopyReport> copy_catalog(
    Catalog& from,
    Catalog& to,
    const std::function<void(std::int64_t, std::int64_t)>& progress = {},
    bool keep_ids = false);

}  // namespace earshot
