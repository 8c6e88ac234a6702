#include "engine/importer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "core/npy.h"
#include "engine/import_formats.h"

namespace earshot {
namespace fs = std::filesystem;

namespace {

// Collects records and writes them in batches.
class Sink {
public:
    Sink(Catalog& catalog, const ImportOptions& options, ImportReport& report)
        : catalog_(catalog), options_(options), report_(report) {}

    Status put(ImportRecord rec) {
        ItemRecord& item = rec.item;
        if (report_.dim == 0)
            report_.dim = static_cast<int>(rec.vector.size());
        report_.dequantized = report_.dequantized || rec.dequantized;
        EARSHOT_ASSIGN_OR_RETURN(auto existing, catalog_.find_by_path(item.path));
        if (existing) {
            // Keep what the catalog knows (e.g. an indexed audio file's metadata).
            if (existing->labels.empty())
                existing->labels = item.labels;
            item = std::move(*existing);
            report_.updated++;
        } else {
            report_.added++;
        }
        if (item.name.empty())
            item.name = item.path;
        if (item.codec.empty())
            item.codec = "import";
        report_.rows++;
        report_.segments += rec.segments.n_rows;
        Catalog::PutRequest req;
        req.item = std::move(item);
        req.vector = std::move(rec.vector);
        req.segments = std::move(rec.segments);
        req.segment_times = std::move(rec.times);
        batch_.push_back(std::move(req));
        if (batch_.size() >= options_.batch_size)
            return flush();
        return ok_status();
    }

    Status flush() {
        if (batch_.empty())
            return ok_status();
        auto ids = catalog_.put_items(options_.space, batch_);
        batch_.clear();
        if (!ids)
            return tl::unexpected(
                ids.error().with_context("import '" + options_.file.string() + "'"));
        return ok_status();
    }

private:
    Catalog& catalog_;
    const ImportOptions& options_;
    ImportReport& report_;
    std::vector<Catalog::PutRequest> batch_;
};

ImportRecordFn to(Sink& sink) {
    return [&sink](ImportRecord rec) { return sink.put(std::move(rec)); };
}

Status import_csv(const ImportOptions& o, Sink& sink) {
    std::ifstream in(o.file);
    if (!in)
        return make_error(ErrorCode::kIoError, fmt::format("cannot read '{}'", o.file.string()));
    return parse_import_csv(in, o.file.string(), to(sink));
}

Status import_jsonl(const ImportOptions& o, Sink& sink) {
    std::ifstream in(o.file);
    if (!in)
        return make_error(ErrorCode::kIoError, fmt::format("cannot read '{}'", o.file.string()));
    return parse_import_jsonl(in, o.file.string(), o.quantized, to(sink));
}

Status import_npy(const ImportOptions& o, Sink& sink) {
    EARSHOT_ASSIGN_OR_RETURN(auto a, read_npy_matrix(o.file));
    fs::path meta_path = o.metadata;
    if (meta_path.empty()) {
        meta_path = fs::path(o.file).replace_extension(".jsonl");
        std::error_code ec;
        if (!fs::exists(meta_path, ec))
            meta_path.clear();
    }
    std::ifstream meta;
    if (!meta_path.empty()) {
        meta.open(meta_path);
        if (!meta) {
            return make_error(ErrorCode::kIoError,
                              fmt::format("cannot read metadata '{}'", meta_path.string()));
        }
    }
    return parse_import_npy(a, o.file.string(), o.file.stem().string(),
                            meta.is_open() ? &meta : nullptr, meta_path.string(), to(sink));
}

}  // namespace

Result<ImportReport> import_embeddings(Catalog& catalog, const ImportOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    if (options.space.empty())
        return make_error(ErrorCode::kInvalidArgument, "import needs a space name (--space)");
    if (options.quantized != "auto" && options.quantized != "yes" && options.quantized != "no") {
        return make_error(ErrorCode::kInvalidArgument,
                          "--quantized must be auto, yes or no, got '" + options.quantized + "'");
    }
    std::error_code ec;
    if (!fs::exists(options.file, ec)) {
        return make_error(ErrorCode::kNotFound,
                          fmt::format("'{}': no such file", options.file.string()));
    }
    std::string format = options.format;
    if (format.empty()) {
        std::string ext = options.file.extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        format = ext == ".csv"                                             ? "csv"
                 : ext == ".npy"                                           ? "npy"
                 : (ext == ".jsonl" || ext == ".json" || ext == ".ndjson") ? "jsonl"
                                                                           : "";
        if (format.empty()) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("cannot tell the format of '{}' from its extension; "
                                          "give --format csv|jsonl|npy",
                                          options.file.string()));
        }
    }
    ImportReport report;
    report.space = options.space;
    report.format = format;
    Sink sink(catalog, options, report);
    Status st = ok_status();
    if (format == "csv") {
        st = import_csv(options, sink);
    } else if (format == "jsonl" || format == "json") {
        report.format = "jsonl";
        st = import_jsonl(options, sink);
    } else if (format == "npy") {
        st = import_npy(options, sink);
    } else {
        return make_error(ErrorCode::kInvalidArgument,
                          "unknown import format '" + format + "' (known: csv, jsonl, npy)");
    }
    if (st)
        st = sink.flush();
    if (!st)
        return tl::unexpected(st.error());
    if (report.rows == 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' has no records", options.file.string()));
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

Result<ImportReport> import_vectors(Catalog& catalog,
                                    const std::string& space,
                                    std::vector<VectorRecord> records,
                                    const std::string& source) {
    const auto t0 = std::chrono::steady_clock::now();
    if (space.empty())
        return make_error(ErrorCode::kInvalidArgument, source + ": needs a space name");
    if (records.empty())
        return make_error(ErrorCode::kInvalidArgument, source + ": no vectors");
    ImportOptions options;
    options.file = source;
    options.space = space;
    ImportReport report;
    report.space = space;
    report.format = "memory";
    Sink sink(catalog, options, report);
    const std::size_t dim = records[0].vector.size();
    for (std::size_t r = 0; r < records.size(); ++r) {
        const auto& rec = records[r];
        if (rec.item.path.empty())
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}: key {} is empty", source, r));
        if (rec.vector.empty() || rec.vector.size() != dim) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}: vector {} has {} values, the first has {}", source,
                                          r, rec.vector.size(), dim));
        }
        if (!std::all_of(rec.vector.begin(), rec.vector.end(),
                         [](float x) { return std::isfinite(x); })) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}: vector {} ('{}') has a non-finite value", source, r,
                                          rec.item.path));
        }
    }
    // Every record was checked before any is written.
    for (auto& rec : records) {
        ImportRecord r;
        r.item = std::move(rec.item);
        r.vector = std::move(rec.vector);
        EARSHOT_RETURN_IF_ERROR(sink.put(std::move(r)));
    }
    EARSHOT_RETURN_IF_ERROR(sink.flush());
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

}  // namespace earshot
