// Import of precomputed embeddings into a catalog space (`earshot import`, docs/cli.md):
//   csv    one row per item: an id/path column, then the feature columns (a VGGish-style dump);
//          a header row is detected (its feature cells are not numbers) and skipped.
//   jsonl  one JSON object per line (or a JSON array of them):
//          - earshot export records {"path"|"id", "name", "duration_s", "labels", "embedding"};
//          - AudioSet-style records {"id"|"video_id", "label"|"labels", "start_time"|
//            "start_time_seconds", "end_time"|"end_time_seconds", "data"|"audio_embedding":
//            [[128 values] per second]}: the per-second vectors become the item's segments and
//            their mean its whole vector. 8-bit quantised data (all values integers in [0, 255])
//            is dequantised as q * 4 / 255 - 2 (VGGish postprocessor, QUANTIZE_MIN/MAX_VAL = ∓2).
//   npy    float32/float64 (n, d) C-order .npy, with row metadata from the .jsonl next to it
//          (as written by `earshot export --format npy`) or rows named "<file stem>#<row>".
// Items are keyed by path: re-importing updates vectors; items already in the catalog (e.g.
// indexed audio) keep their metadata. Not thread-safe with respect to the same catalog writer.
// The parsers themselves, on a stream and without a catalog, are in engine/import_formats.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"

namespace earshot {

struct ImportOptions {
    std::filesystem::path file;
    std::string space;   // required
    std::string format;  // "csv", "jsonl", "npy"; empty = from the extension (.json = jsonl)
    std::string quantized = "auto";  // AudioSet data: "auto", "yes" (dequantise), "no"
    std::filesystem::path metadata;  // npy: row metadata (default: FILE with .jsonl)
    std::size_t batch_size = 1000;   // rows per catalog transaction
};

struct ImportReport {
    std::string space;
    std::string format;
    int dim = 0;
    std::size_t rows = 0;      // records read
    std::size_t added = 0;     // new items
    std::size_t updated = 0;   // items that already existed (by path)
    std::size_t segments = 0;  // per-segment vectors stored (AudioSet-style data)
    bool dequantized = false;
    double seconds = 0.0;
};

// kInvalidArgument (unknown format, malformed rows with their line number, dim mismatch with the
// space), kNotFound (missing file), kIoError; rows of a failed batch are not written (earlier
// batches are).
Result<ImportReport> import_embeddings(Catalog& catalog, const ImportOptions& options);

// In-memory form of an import (the Python module's add_vectors): one record per item, keyed by
// item.path exactly as a file import (existing items keep their metadata; empty name = path,
// empty codec = "import"). `source` names the caller in error messages. kInvalidArgument for an
// empty space or record list, an empty key, vectors of different lengths or a non-finite value
// (with the record's index), a dim mismatch with the space; kIoError.
struct VectorRecord {
    ItemRecord item;
    std::vector<float> vector;
};
Result<ImportReport> import_vectors(Catalog& catalog,
                                    const std::string& space,
                                    std::vector<VectorRecord> records,
                                    const std::string& source = "add_vectors");

// AudioSet 8-bit dequantisation: q * (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL) / 255 + MIN, MIN=-2,
// MAX=2. Ref:
// https://github.com/tensorflow/models/blob/master/research/audioset/vggish/vggish_params.py
inline float dequantize_audioset(float q) {
    return q * (4.0f / 255.0f) - 2.0f;
}

}  // namespace earshot
