// `earshot export` (docs/cli.md, docs/formats.md): the whole-item vectors of one space, in
// ascending item id order, as
//   jsonl: one object per item {id, path, name, duration_s, labels, model, embedding};
//   npy:   a float32 n×d matrix (C order, NumPy format 1.0) plus, beside it with ".jsonl", one
//          metadata line per row in the same order (the same object without the embedding).
// What it writes, `import` reads back bit for bit (tests/engine/exporter_test.cpp). It only reads
// the catalog. Thread-safety: as CatalogReader.
#pragma once

#include <cstddef>
#include <filesystem>
#include <ostream>
#include <string>

#include "catalog/catalog.h"
#include "core/status.h"

namespace earshot {

enum class ExportFormat { kJsonl, kNpy };
// "jsonl" or "npy"; kInvalidArgument naming the known ones otherwise.
Result<ExportFormat> parse_export_format(const std::string& name);

struct ExportOptions {
    std::string space;  // required
    ExportFormat format = ExportFormat::kJsonl;
    // jsonl: the file to write (empty: the stream given to export_embeddings). npy: the matrix
    // file (empty: "earshot-<space>.npy"); the metadata goes beside it with ".jsonl".
    std::filesystem::path out;
};

struct ExportReport {
    std::size_t items = 0;
    std::size_t dim = 0;
    std::filesystem::path path;           // empty when jsonl went to the stream
    std::filesystem::path metadata_path;  // npy only
};

// kNotFound (no vectors in the space), kIoError naming the file that could not be written.
// jsonl_stream: where jsonl goes when options.out is empty (e.g. std::cout).
Result<ExportReport> export_embeddings(CatalogReader& catalog,
                                       const ExportOptions& options,
                                       std::ostream* jsonl_stream = nullptr);

}  // namespace earshot
