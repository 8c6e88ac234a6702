#include "engine/exporter.h"

#include <algorithm>
#include <fstream>
#include <numeric>
#include <span>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/npy.h"
#include "engine/json_shapes.h"

namespace earshot {
namespace {

// Items are read this many at a time (one get_items call: one query on PostgreSQL).
constexpr std::size_t kItemBatch = 1024;

std::string record_line(const ItemRecord& it,
                        const std::string& space,
                        const float* vec,
                        std::size_t dim) {
    nlohmann::json j = {{"id", it.id}};
    put_bytes_field(j, "path", it.path);  // + path_b64 if not UTF-8 (formats.md)
    put_bytes_field(j, "name", it.name);
    j["duration_s"] = it.duration_s;
    put_bytes_field(j, "labels", it.labels);
    j["model"] = space;
    if (vec != nullptr)
        j["embedding"] = std::vector<float>(vec, vec + dim);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Result<ExportFormat> parse_export_format(const std::string& name) {
    if (name == "jsonl")
        return ExportFormat::kJsonl;
    if (name == "npy")
        return ExportFormat::kNpy;
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unknown format '{}' (known: npy, jsonl)", name));
}

Result<ExportReport> export_embeddings(CatalogReader& catalog,
                                       const ExportOptions& options,
                                       std::ostream* jsonl_stream) {
    if (options.space.empty())
        return make_error(ErrorCode::kInvalidArgument, "export: no space given");
    EARSHOT_ASSIGN_OR_RETURN(auto set, catalog.load_embeddings(options.space));
    const std::size_t dim = set.vectors.n_cols;
    std::vector<std::size_t> order(set.ids.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return set.ids[a] < set.ids[b]; });

    ExportReport report;
    report.dim = dim;
    const bool npy = options.format == ExportFormat::kNpy;
    std::ofstream file;
    std::ofstream matrix;
    std::ostream* lines = jsonl_stream;
    if (npy) {
        report.path = options.out.empty()
                          ? std::filesystem::path(fmt::format("earshot-{}.npy", options.space))
                          : options.out;
        report.metadata_path = std::filesystem::path(report.path).replace_extension(".jsonl");
        matrix.open(report.path, std::ios::binary | std::ios::trunc);
        if (!matrix)
            return make_error(ErrorCode::kIoError,
                              fmt::format("cannot write '{}'", report.path.string()));
        file.open(report.metadata_path, std::ios::trunc);
        if (!file)
            return make_error(ErrorCode::kIoError,
                              fmt::format("cannot write '{}'", report.metadata_path.string()));
        lines = &file;
        matrix << npy_f32_header(order.size(), dim);
    } else if (!options.out.empty()) {
        report.path = options.out;
        file.open(report.path, std::ios::trunc);
        if (!file)
            return make_error(ErrorCode::kIoError,
                              fmt::format("cannot write '{}'", report.path.string()));
        lines = &file;
    }
    if (lines == nullptr)
        return make_error(ErrorCode::kInvalidArgument, "export: no output file or stream");

    std::vector<std::int64_t> ids;
    for (std::size_t at = 0; at < order.size(); at += kItemBatch) {
        const std::size_t n = std::min(kItemBatch, order.size() - at);
        ids.clear();
        for (std::size_t i = 0; i < n; ++i) ids.push_back(set.ids[order[at + i]]);
        EARSHOT_ASSIGN_OR_RETURN(auto items, catalog.get_items(ids));
        if (items.size() != n) {
            // An item removed between the two reads: the rows would no longer match.
            return make_error(ErrorCode::kUnavailable,
                              "export: the catalog changed while exporting; run it again");
        }
        for (std::size_t i = 0; i < n; ++i) {
            const float* vec = set.vectors.row(order[at + i]);
            if (npy) {
                matrix.write(reinterpret_cast<const char*>(vec),
                             static_cast<std::streamsize>(dim * sizeof(float)));
            }
            *lines << record_line(items[i], options.space, npy ? nullptr : vec, dim) << "\n";
        }
    }
    lines->flush();
    if (npy)
        matrix.flush();
    if (!*lines || (npy && !matrix)) {
        const auto& failed = npy && matrix ? report.metadata_path : report.path;
        return make_error(ErrorCode::kIoError,
                          failed.empty() ? std::string("export: write failed")
                                         : fmt::format("write failed: '{}'", failed.string()));
    }
    report.items = order.size();
    return report;
}

}  // namespace earshot
