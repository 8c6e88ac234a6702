// The parsers of `earshot import`'s file formats (engine/importer.h describes the formats), on a
// stream: import_embeddings opens the file and runs these, the fuzz target fuzz_import_parse
// runs them on bytes in memory (core/memory_stream.h). They touch no catalog: every record goes
// to `put`, which may stop the parse by returning an error (that error is returned as it is).
// Errors name `source` ("import '<source>' line N: ..."); kInvalidArgument for malformed input.
#pragma once

#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/matrix.h"
#include "core/npy.h"
#include "core/status.h"

namespace earshot {

// One item of an import file. `item` has path (never empty), name, labels and duration_s set
// when the file gives them; `vector` is non-empty and finite. AudioSet records with more than
// one per-second vector also carry them as segments with their times.
struct ImportRecord {
    ItemRecord item;
    std::vector<float> vector;
    Matrix segments;                   // segments.n_rows == times.size()
    std::vector<SegmentRecord> times;  // [start_s, end_s) of each segment
    bool dequantized = false;          // AudioSet 8-bit data was dequantised
};
using ImportRecordFn = std::function<Status(ImportRecord)>;

// CSV: an id column, then feature columns; a first row whose features are not numbers is a
// header. Every row has as many features as the first.
Status parse_import_csv(std::istream& in, const std::string& source, const ImportRecordFn& put);

// JSON lines, or one JSON array of records: earshot export records and AudioSet records.
// `quantized` is ImportOptions::quantized ("auto", "yes" or "no"; anything else is "no").
Status parse_import_jsonl(std::istream& in,
                          const std::string& source,
                          const std::string& quantized,
                          const ImportRecordFn& put);

// The rows of an .npy matrix (read_npy_matrix). Row r's metadata is line r + 1 of `metadata`
// (a JSON object per line, as `earshot export --format npy` writes) when given; rows without a
// path are named "<stem>#<row>". kInvalidArgument, naming `metadata_source`, if the metadata has
// fewer lines than the matrix has rows or a line is not a JSON object.
Status parse_import_npy(const NpyMatrix& matrix,
                        const std::string& source,
                        const std::string& stem,
                        std::istream* metadata,
                        const std::string& metadata_source,
                        const ImportRecordFn& put);

}  // namespace earshot
