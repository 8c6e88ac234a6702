// Index files: a fixed header (magic "ESIX", version, spec, space, dim, metric, live count and
// the catalog fingerprint the index was built from), the kind's payload, and a checksum of the
// payload; byte layout in docs/formats.md ("Index files"). Readers check every field and size
// before allocating: a truncated, damaged or foreign file gives kCorruption, never a crash.
// Thread-safety: functions are reentrant; do not write one path from two threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/status.h"
#include "index/metric.h"
#include "index/vector_index.h"

namespace earshot {

inline constexpr char kIndexFileMagic[4] = {'E', 'S', 'I', 'X'};
inline constexpr std::uint32_t kIndexFileVersion = 1;

struct IndexFileHeader {
    std::string spec;   // canonical spec text, e.g. "HNSW32"
    std::string space;  // embedding space (model name or import name)
    int dim = 0;
    Metric metric = Metric::kCosine;
    std::uint64_t count = 0;              // live items
    std::int64_t catalog_generation = 0;  // catalog SpaceState the index reflects
    std::int64_t catalog_max_id = 0;
};

// Writes header + payload + checksum to "<path>.tmp", then renames it over path. The header's
// spec, dim, metric and count are taken from the index. kIoError.
Status save_index_file(const std::filesystem::path& path,
                       const VectorIndex& index,
                       IndexFileHeader header);

// Reads only the header. kNotFound if missing, kCorruption if it is not a valid index file,
// kNotSupported for a newer version.
Result<IndexFileHeader> read_index_header(const std::filesystem::path& path);

struct LoadedIndex {
    IndexFileHeader header;
    std::unique_ptr<VectorIndex> index;
};
// Reads and validates a whole index file (as read_index_header, plus kCorruption for a payload
// that does not match its header or checksum).
Result<LoadedIndex> load_index_file(const std::filesystem::path& path);
// The same on the `size` bytes of an index file that `in` holds from its position (the file, as
// load_index_file does, or bytes in memory: core/memory_stream.h); errors name `source`.
Result<LoadedIndex> load_index(std::istream& in, std::uint64_t size, const std::string& source);

namespace detail {

// Payload writer: appends bytes and keeps the checksum (XXH64 chained over 1 MiB blocks).
class IndexWriter {
public:
    explicit IndexWriter(std::ostream& out);
    void bytes(const void* data, std::size_t n);
    template <typename T>
    void pod(const T& v) {
        bytes(&v, sizeof v);
    }
    // Flushes the last block; returns the checksum. Call once.
    std::uint64_t finish();
    std::uint64_t written() const { return written_; }
    bool ok() const;

private:
    void flush_block();
    std::ostream& out_;
    std::vector<char> block_;
    std::uint64_t hash_ = 0;
    std::uint64_t written_ = 0;
};

// Payload reader over exactly `size` bytes of a stream; every read is bounds-checked.
class IndexReader {
public:
    IndexReader(std::istream& in, std::uint64_t size);
    // kCorruption if fewer than n bytes are left.
    Status bytes(void* data, std::size_t n);
    template <typename T>
    Status pod(T& v) {
        return bytes(&v, sizeof v);
    }
    std::uint64_t remaining() const { return size_ - consumed_; }
    // kCorruption unless everything was consumed and the checksum matches.
    Status finish(std::uint64_t expected_checksum);

private:
    Status fill();
    std::istream& in_;
    std::uint64_t size_;
    std::uint64_t consumed_ = 0;  // bytes handed out
    std::uint64_t loaded_ = 0;    // bytes read from the stream
    std::vector<char> block_;
    std::size_t pos_ = 0;
    std::uint64_t hash_ = 0;
};

// The `flat` payload (docs/formats.md), also the untrained state of IVF-PQ: u64 n, n × i64 ids,
// n × f32 aux, n × dim × f32 stored rows.
void write_flat_payload(const FlatIndex& flat, IndexWriter& out);
// Replaces flat's contents; kCorruption for an impossible count or invalid rows.
Status read_flat_payload(FlatIndex& flat, IndexReader& in);

}  // namespace detail
}  // namespace earshot
