// Same recording over a catalog (docs/dedup.md): groups of items that are the same recording
// (another encode, bitrate, sample rate, channel count, gain, a few seconds trimmed) with the time
// offset of each member, from the fingerprints stored at index time (fingerprint/fingerprint.h).
// Grouping does not compare all pairs: candidate pairs come from the space's embedding nearest
// neighbours and from Chromaprint words two items share exactly; only those are compared.
// Thread-safety: as Engine (the functions only read the catalog, except fill_fingerprints).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "fingerprint/fingerprint.h"

namespace earshot {

struct DedupOptions {
    std::string space;  // embeddings for candidates and the short-sound check; empty: default
    SameRecordingOptions thresholds;
    std::size_t neighbours = 10;  // embedding nearest neighbours of each item made candidates
    double max_candidate_distance = 0.3;  // cosine distance bound of those neighbours
    int threads = 0;                      // 0 = all cores
};

struct DedupMember {
    std::int64_t id = 0;
    std::string path;
    std::string name;
    double duration_s = 0.0;
    // The reference's (first member's) time t corresponds to this member's time t - offset_s,
    // i.e. this member starts offset_s seconds into the reference (0 for the reference).
    double offset_s = 0.0;
    double similarity = 1.0;  // of the link that joined it (bit agreement or correlation)
    bool by_chromaprint = true;
};

struct DedupGroup {
    // The reference first: the longest member (ties: the lowest id); then by duration.
    std::vector<DedupMember> members;
};

struct DedupReport {
    std::string space;
    std::size_t items = 0;            // items with a fingerprint (and, for short ones, a vector)
    std::size_t unfingerprinted = 0;  // items without a fingerprint of the current version
    std::size_t candidate_pairs = 0;  // pairs compared
    std::size_t same_pairs = 0;       // pairs found to be the same recording
    std::vector<DedupGroup> groups;   // groups of 2 or more, largest first
    double elapsed_s = 0.0;
};

// Groups the catalog's items by recording. kNotFound if the catalog has no embeddings at all.
Result<DedupReport> find_duplicates(Engine& engine, const DedupOptions& options);

// Same recording of a query fingerprint with one item: the item's stored fingerprint (nullopt if
// it has none of the current version) against the query's, with the embedding distance the
// short-sound check needs (cosine distance of the query vector to the item's vector in `space`).
Result<std::optional<SameRecording>> same_recording_as_item(
    Engine& engine,
    const Fingerprint& query,
    std::span<const float> query_vector,
    const std::string& space,
    std::int64_t item_id,
    const SameRecordingOptions& options = {});

// `reindex --fingerprints` (Engine::fill_fingerprints): decodes every item without a current
// fingerprint and stores one (FingerprintFillOptions: ingest.h).
Result<FingerprintFillReport> fill_fingerprints(Catalog& catalog,
                                                const FingerprintFillOptions& options);

}  // namespace earshot
