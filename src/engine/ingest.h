// Ingest for the engine: walking folders of audio, embedding new or changed files and storing
// them in the catalog (item, vector, segments, tags, fingerprint), either by this process alone
// (ingest_files) or as jobs shared by every process on a PostgreSQL catalog (ingest_shared); and
// filling the tags of stored items (fill_item_tags).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/ingest_queue.h"
#include "core/status.h"
#include "engine/embedding.h"
#include "models/embedding_model.h"

namespace earshot {

struct IndexProgress {
    std::size_t done = 0;       // files finished (any outcome)
    std::size_t total = 0;      // files found
    std::size_t added = 0;      // new or changed files embedded
    std::size_t unchanged = 0;  // skipped: same size + mtime and already embedded
    std::size_t failed = 0;
    double audio_s = 0.0;  // seconds of audio embedded so far
    std::string current;   // path of the last finished file
};

struct IndexFailure {
    std::string path;
    std::string reason;
};

struct IndexReport {
    IndexProgress counts;
    std::vector<IndexFailure> failures;
    double elapsed_s = 0.0;
    bool cancelled = false;  // should_stop said stop: the files finished before it are stored
};

struct IndexOptions {
    std::vector<std::filesystem::path> paths;               // files and/or folders (recursive)
    std::string model;                                      // empty = default model
    bool force = false;                                     // re-embed even unchanged files
    std::size_t batch_size = 32;                            // items per catalog transaction
    std::function<void(const IndexProgress&)> on_progress;  // called from the calling thread
    // Stored segments (for `search --by segments`): windows of segment_s seconds every
    // segment_hop_s, each embedded on its own and pooled as a whole file is. Unset: the model's
    // default (default_segmenting); segment_s == 0: the model's own segments.
    std::optional<double> segment_s;
    std::optional<double> segment_hop_s;
    // Polled from the calling thread about every 100 ms while files are embedded; true stops the
    // run (Ctrl-C in the Python module): files in flight are dropped, finished ones committed.
    std::function<bool()> should_stop;
    // Item keys relative to this folder (machines mounting a library at different paths share
    // items); empty = absolute paths. Files outside root are reported as failures.
    std::filesystem::path root;
    // PostgreSQL catalogs (distributed ingest, docs/scaling.md): files become jobs that every
    // `index`/`worker` process on the catalog claims in turn; a claim is leased for lease_s and
    // renewed while the process lives; a job whose worker was lost max_attempts times fails.
    double lease_s = 60.0;
    int max_attempts = 3;
};

struct TagFillReport {
    std::size_t total = 0;   // items considered
    std::size_t tagged = 0;  // items that got at least one tag
    std::size_t failed = 0;
    std::vector<IndexFailure> failures;
    double elapsed_s = 0.0;
};

struct FingerprintFillOptions {
    std::filesystem::path root;  // items stored relative to --root are read from root/key
    int threads = 0;             // 0 = all cores
    std::function<void(std::size_t done, std::size_t total)> on_progress;
};
struct FingerprintFillReport {
    std::size_t total = 0;               // items that had no fingerprint of the current version
    std::size_t filled = 0;              // now have one
    std::vector<IndexFailure> failures;  // could not be read (imported records, moved files)
    double elapsed_s = 0.0;
};

// The catalog key of a file: its absolute path (catalog_path), or its path relative to root
// ('/'-separated). kInvalidArgument for a file outside root.
Result<std::string> item_key(const std::filesystem::path& file, const std::filesystem::path& root);
// The local file of a key (inverse of item_key).
std::filesystem::path key_file(const std::string& key, const std::filesystem::path& root);
// A file's modification time in ns (std::filesystem::file_time_type ticks; 0 if it cannot be read).
std::int64_t file_mtime_ns(const std::filesystem::path& path);

// How ingest cuts stored segments for a model and IndexOptions::segment_s / segment_hop_s
// (default_segmenting if unset). kInvalidArgument for a negative length or a hop outside
// (0, length].
Result<Segmenting> ingest_segmenting(const ModelInfo& info, const IndexOptions& options);

// One file to embed for the catalog.
struct IngestFile {
    std::filesystem::path file;
    std::string key;  // catalog path (item_key)
    std::int64_t size_bytes = 0;
    std::int64_t mtime_ns = 0;
};
// Decodes the file once, fingerprints and embeds it: the catalog write of one item (labels and,
// for models with a classifier head, tags). kInvalidArgument for a file that is no longer regular.
Result<Catalog::PutRequest> embed_for_catalog(const IngestFile& file,
                                              const EmbeddingModel& model,
                                              const Segmenting& segmenting);

// What an ingest writes to.
struct IngestContext {
    Catalog& catalog;
    int threads = 0;           // embedding threads (0 = all cores)
    std::string catalog_name;  // for messages (a URI without its password)
};

// Walks options.paths, embeds new/changed audio with `model` and stores it (Engine::index for
// SQLite catalogs; options.model is not read).
Result<IndexReport> ingest_files(const IngestContext& ctx,
                                 const EmbeddingModel& model,
                                 const IndexOptions& options);
// Queues options.paths as jobs and embeds claimed jobs until none is left (Engine::index_shared).
Result<IndexReport> ingest_shared(const IngestContext& ctx,
                                  IngestQueue& queue,
                                  const EmbeddingModel& model,
                                  const IndexOptions& options);
// Fills the tags of items that have none (all with force) by embedding their files again with
// `model`, which must have a classifier head (Engine::fill_tags).
Result<TagFillReport> fill_item_tags(
    const IngestContext& ctx,
    const EmbeddingModel& model,
    bool force,
    const std::filesystem::path& root,
    const std::function<void(std::size_t, std::size_t)>& on_progress);

}  // namespace earshot
