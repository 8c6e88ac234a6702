// The catalog: one SQLite file (WAL, foreign keys, schema version + migrations) holding items
// (audio files and imported records), and per-space embeddings: one whole-item vector plus
// optional per-segment vectors with start/end times. A "space" is a model name ("yamnet") or a
// name given at import. Every write is one transaction: a crash or error leaves the previous
// state intact. Vectors are stored as little-endian float32 BLOBs (docs/formats.md).
// Thread-safety: a Catalog object serialises its own calls with a mutex; several processes may
// open the same file (SQLite locking, busy timeout 10 s).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"

namespace earshot {

inline constexpr int kCatalogSchemaVersion = 4;

struct ItemRecord {
    std::int64_t id = 0;  // assigned by the catalog (> 0)
    std::string path;     // absolute path as indexed, or an external id for imports
    std::string name;     // file name (or id) shown to people
    double duration_s = 0.0;
    int sample_rate_hz = 0;  // original rate
    int channels = 0;
    std::string codec;
    std::int64_t size_bytes = 0;
    std::int64_t mtime_ns = 0;  // file modification time, ns since epoch
    std::string content_hash;   // 16 hex digits (core/file_util.h hash_file)
    std::string title;          // tags, may be empty
    std::string artist;
    std::string labels;  // free text labels/tags, comma-separated (imports, models' top classes)
};

// A stored audio fingerprint (schema v3): opaque bytes written by the fingerprint module
// (fingerprint/fingerprint.h encode_fingerprint, docs/formats.md) and the version of the method
// that computed them. One per item; removed with the item.
struct FingerprintRecord {
    std::int64_t item_id = 0;
    int version = 0;
    std::vector<std::uint8_t> data;
};

// An item's tag (schema v4): a classifier label of the model that indexed it and its score (mean
// sigmoid output over the item's segments, 0..1). Tag names are the model's label names verbatim
// ("Violin, fiddle"): they may contain commas.
struct TagScore {
    std::string tag;
    float score = 0.0f;
};

struct ItemTags {
    std::int64_t item_id = 0;
    std::vector<TagScore> tags;  // best first
};

// How many (filtered) items carry a tag, or lie under a folder.
struct NameCount {
    std::string name;
    std::int64_t count = 0;
};

// Which items a listing, count or search keeps: every given condition must hold.
struct ItemFilter {
    ItemFilter() = default;
    // A filter on the text query alone (what list_items/count_items took before tags).
    ItemFilter(std::string q) : query(std::move(q)) {}  // NOLINT(google-explicit-constructor)
    ItemFilter(const char* q) : query(q) {}             // NOLINT(google-explicit-constructor)

    // Case-insensitive (ASCII) substring of the item's name, its path or one of its tags.
    std::string query;
    // The item has every one of these tags (whole tag name, ASCII case-insensitive).
    std::vector<std::string> tags;
    // The item's path lies under this folder (path starts with folder + "/"; a trailing "/" of
    // folder is ignored). Compared byte for byte with the stored path.
    std::string folder;

    bool empty() const { return query.empty() && tags.empty() && folder.empty(); }
};

struct SegmentRecord {
    double start_s = 0.0;
    double end_s = 0.0;
};

// All whole-item vectors of one space, loaded for search. Row i belongs to ids[i].
struct EmbeddingSet {
    std::string space;
    int dim = 0;
    std::vector<std::int64_t> ids;
    std::vector<double> durations_s;  // of the items, aligned with ids
    Matrix vectors;                   // ids.size() × dim
};

// The segments of many items (Catalog::load_segments): one row per segment, ordered by item id
// then seq.
struct SegmentBatch {
    std::vector<std::int64_t> item_ids;   // the item of each row
    std::vector<std::int64_t> seq;        // its index within the item (0, 1, ...)
    std::vector<SegmentRecord> times;     // aligned with the rows
    Matrix vectors;                       // rows × dim
    std::vector<std::int64_t> truncated;  // items that have more than max_per_item segments
};

struct SpaceInfo {
    std::string space;
    int dim = 0;
    std::int64_t n_items = 0;
    std::int64_t n_segments = 0;
};

// What an index file records to detect that it is stale (schema v2): the space's generation
// counter changes with every insert, update or delete of one of its whole-item vectors.
struct SpaceState {
    std::string space;
    int dim = 0;
    std::int64_t n_items = 0;     // items with a vector in the space
    std::int64_t max_id = 0;      // largest such item id (0 if none)
    std::int64_t generation = 0;  // bumped by every write to the space's vectors
};

struct CatalogStats {
    std::int64_t n_items = 0;
    std::int64_t total_bytes = 0;  // sum of items' size_bytes
    double total_duration_s = 0.0;
    std::int64_t file_bytes = 0;  // size of the catalog file itself (plus its -wal file)
    std::vector<SpaceInfo> spaces;
};

struct CatalogOptions {
    bool create_if_missing = true;
    bool read_only = false;
};

// Read access to a catalog: what searches, the index cache, the library map, `check`, the CLI's
// listings and the HTTP API's reads need. Engine::catalog() hands out only this, so code outside
// the engine cannot write rows behind its back; writes go through Engine (index, import, remove,
// tags, dedup fingerprints) and the units it owns (ingest, importer), which hold the Catalog.
class CatalogReader {
public:
    virtual ~CatalogReader() = default;

    virtual const std::filesystem::path& path() const = 0;

    virtual Result<std::optional<ItemRecord>> find_by_path(const std::string& path) = 0;
    // kNotFound for an unknown id.
    virtual Result<ItemRecord> get_item(std::int64_t id) = 0;
    // Many items at once, in one read transaction (on PostgreSQL one query, `= ANY($1)`, instead
    // of a round trip per item: a search resolves its hits with it). In the order of ids; unknown
    // ids (removed items) are left out, a repeated id gives its item once per occurrence.
    virtual Result<std::vector<ItemRecord>> get_items(std::span<const std::int64_t> ids) = 0;
    // Items passing the filter (ItemFilter: text query on name/path/tags, tags, folder), ordered
    // by id. limit < 0 means no limit; kInvalidArgument if offset < 0.
    virtual Result<std::vector<ItemRecord>> list_items(std::int64_t offset,
                                                       std::int64_t limit,
                                                       const ItemFilter& filter = {}) = 0;
    virtual Result<std::int64_t> count_items(const ItemFilter& filter = {}) = 0;
    // Ids of the items passing the filter, ascending.
    virtual Result<std::vector<std::int64_t>> filter_ids(const ItemFilter& filter) = 0;

    // The tags of these items (best first); items without tags are left out, unknown ids ignored.
    virtual Result<std::vector<ItemTags>> get_tags(const std::vector<std::int64_t>& ids) = 0;
    // For each tag, how many items passing the filter carry it; most frequent first, then by
    // name.
    virtual Result<std::vector<NameCount>> tag_counts(const ItemFilter& filter = {}) = 0;
    // Ids of items with no tags at all, ascending.
    virtual Result<std::vector<std::int64_t>> items_without_tags() = 0;
    // One item's tags (empty if none).
    Result<std::vector<TagScore>> tags_of(std::int64_t id);
    // For each folder holding items that pass the filter, how many of them lie under it
    // (recursively); every ancestor folder of an item's path is counted, up to "/" excluded.
    // Ordered by folder path.
    Result<std::vector<NameCount>> folder_counts(const ItemFilter& filter = {});
    // The paths of the items passing the filter, in id order (what folder_counts reads). The
    // default reads whole items; the SQLite catalog reads the paths alone.
    virtual Result<std::vector<std::string>> list_paths(const ItemFilter& filter);
    // Whether the item has a vector in this space.
    virtual Result<bool> has_embedding(std::int64_t id, const std::string& space) = 0;

    // Whole-item vectors of a space (kNotFound if the space has no vectors).
    virtual Result<EmbeddingSet> load_embeddings(const std::string& space) = 0;
    // Rows of a space whose vector was written after generation `since` (all rows for since < 0),
    // ordered by id. with_vectors = false leaves `vectors` empty (ids and durations only).
    // Unlike load_embeddings, an existing space with no matching rows gives an empty set;
    // kNotFound only if the space does not exist.
    virtual Result<EmbeddingSet> load_embeddings_since(const std::string& space,
                                                       std::int64_t since,
                                                       bool with_vectors) = 0;
    // The space's size and generation (kNotFound if the space does not exist).
    virtual Result<SpaceState> space_state(const std::string& space) = 0;
    // The space's generation alone: one row, O(1) (space_state counts the items). kNotFound if the
    // space does not exist.
    virtual Result<std::int64_t> space_generation(const std::string& space) = 0;
    // One item's whole vector (kNotFound if it has none in that space).
    virtual Result<std::vector<float>> get_embedding(std::int64_t id, const std::string& space) = 0;
    // The whole vectors of many items at once, in one read transaction (on PostgreSQL one
    // `= ANY($1)` query instead of a round trip per item: a search re-ranks its hits with it).
    // Rows ordered by id, each id once; ids without a vector in the space (unknown or removed
    // items, an unknown space) are left out. dim is the space's (0 when no row matched).
    virtual Result<EmbeddingSet> get_embeddings(const std::string& space,
                                                std::span<const std::int64_t> ids) = 0;
    // One item's segments (n × dim) and times; empty if none stored.
    virtual Result<std::pair<Matrix, std::vector<SegmentRecord>>> get_segments(
        std::int64_t id, const std::string& space) = 0;
    // The segments of many items at once (the first max_per_item of each), in one read
    // transaction: on PostgreSQL one query per page of items instead of one round trip per item
    // (an index load; docs/scaling.md). Unknown ids and items without segments give no rows.
    virtual Result<SegmentBatch> load_segments(const std::string& space,
                                               const std::vector<std::int64_t>& ids,
                                               std::int64_t max_per_item) = 0;

    // One item's fingerprint, or nullopt if it has none.
    virtual Result<std::optional<FingerprintRecord>> get_fingerprint(std::int64_t id) = 0;
    // The fingerprints of these items (all stored ones when ids is empty), ordered by item id;
    // items without one are left out.
    virtual Result<std::vector<FingerprintRecord>> load_fingerprints(
        const std::vector<std::int64_t>& ids = {}) = 0;
    // Ids of items with no fingerprint or one of another version than `version`, ordered.
    virtual Result<std::vector<std::int64_t>> items_without_fingerprint(int version) = 0;

    virtual Result<std::vector<SpaceInfo>> spaces() = 0;
    // Names of the spaces holding at least one whole-item vector, in spaces()' order. Unlike
    // spaces() it counts nothing (one index probe per space), so a search may call it every time.
    virtual Result<std::vector<std::string>> nonempty_spaces() = 0;
    virtual Result<CatalogStats> stats() = 0;
    // Runs SQLite's integrity check; kCorruption with its message if it fails.
    virtual Status check_integrity() = 0;
};

// A catalog that can also be written: the object open()/open_catalog() return. Every write is one
// transaction.
class Catalog : public CatalogReader {
public:
    // Opens or creates a catalog file. kNotFound if missing and !create_if_missing;
    // kCorruption if the file is not an earshot catalog (or is damaged); kNotSupported if its
    // schema version is newer than this build; older versions are migrated in a transaction.
    static Result<std::unique_ptr<Catalog>> open(const std::filesystem::path& path,
                                                 const CatalogOptions& options = {});

    // Inserts a new item, or updates the row with the same path (keeping its id), and replaces
    // its embedding for `space` (whole vector + segments), all in one transaction.
    // segments.n_rows must equal segment_times.size(); segments may be empty.
    // Returns the item id. kInvalidArgument on a dim mismatch with the space's existing dim, an
    // empty path/space/vector, a non-finite value, or segments whose shape does not match.
    virtual Result<std::int64_t> put_item(const ItemRecord& item,
                                          const std::string& space,
                                          std::span<const float> vector,
                                          const Matrix& segments,
                                          const std::vector<SegmentRecord>& segment_times) = 0;

    // Many put_item calls in a single transaction (all or nothing). Returns the ids in order.
    struct PutRequest {
        ItemRecord item;
        std::vector<float> vector;
        Matrix segments;
        std::vector<SegmentRecord> segment_times;
        // Stored with the item (same transaction) when not empty; empty leaves the item's
        // stored fingerprint, if any, as it is.
        std::vector<std::uint8_t> fingerprint{};
        int fingerprint_version = 0;
        // Insert a new item under item.id (> 0) instead of a fresh id (`migrate`, so ids in
        // exports and links stay valid). An existing item with the same path keeps its own id;
        // item.id already taken by another path fails (kAlreadyExists / constraint error).
        bool keep_id = false;
        // Replaces the item's tags (same transaction) when set; unset leaves them as they are.
        std::optional<std::vector<TagScore>> tags{};
    };
    virtual Result<std::vector<std::int64_t>> put_items(const std::string& space,
                                                        const std::vector<PutRequest>& items) = 0;

    // Replaces the tags of these items, all in one transaction (an empty list removes an item's
    // tags). kNotFound if an item does not exist; kInvalidArgument for an empty tag name or a
    // non-finite score.
    virtual Status set_tags(const std::vector<ItemTags>& items) = 0;

    // Removes items (and their embeddings) by id; returns how many existed.
    virtual Result<std::int64_t> remove_items(const std::vector<std::int64_t>& ids) = 0;

    // Stores (replaces) fingerprints, all in one transaction. kNotFound if an item does not
    // exist; kInvalidArgument for empty data.
    virtual Status put_fingerprints(const std::vector<FingerprintRecord>& records) = 0;
};

// True for a libpq connection URI ("postgresql://..." or "postgres://..."): such a catalog lives
// in a PostgreSQL database (src/catalog/pg_catalog.cpp, docs/scaling.md) instead of a file.
bool is_postgres_uri(std::string_view uri_or_path);

// Opens a catalog by location: a PostgreSQL URI (is_postgres_uri) or an SQLite file path
// (Catalog::open). For PostgreSQL the database must exist; its earshot schema is created and
// migrated on first use (kNotFound for a database without one when !create_if_missing or
// read_only; kUnavailable when the server cannot be reached). path() of such a catalog is the URI
// with any password removed.
Result<std::unique_ptr<Catalog>> open_catalog(const std::string& uri_or_path,
                                              const CatalogOptions& options = {});

// A URI with its password (user:PASSWORD@ or password=...) replaced by "***", for messages.
std::string redact_uri(const std::string& uri);

}  // namespace earshot
