#include "engine/importer.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/csv.h"
#include "core/utf8.h"

namespace earshot {
namespace fs = std::filesystem;

namespace {

using Json = nlohmann::json;

Error bad_row(const ImportOptions& o, std::size_t line, const std::string& what) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("import '{}' line {}: {}", o.file.string(), line, what));
}

bool parse_float(std::string_view s, float& out) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    if (!s.empty() && s.front() == '+')
        s.remove_prefix(1);
    if (s.empty())
        return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

// Collects records and writes them in batches.
class Sink {
public:
    Sink(Catalog& catalog, const ImportOptions& options, ImportReport& report)
        : catalog_(catalog), options_(options), report_(report) {}

    Status put(ItemRecord item,
               std::vector<float> vector,
               Matrix segments = {},
               std::vector<SegmentRecord> times = {}) {
        if (report_.dim == 0)
            report_.dim = static_cast<int>(vector.size());
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
        report_.segments += segments.n_rows;
        Catalog::PutRequest req;
        req.item = std::move(item);
        req.vector = std::move(vector);
        req.segments = std::move(segments);
        req.segment_times = std::move(times);
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

Status import_csv(const ImportOptions& o, Sink& sink) {
    std::ifstream in(o.file);
    if (!in)
        return make_error(ErrorCode::kIoError, fmt::format("cannot read '{}'", o.file.string()));
    CsvReader reader(in, "import '" + o.file.string() + "'");
    CsvRow row;
    std::size_t dim = 0;
    for (;;) {
        auto more = reader.next(row);
        if (!more)
            return tl::unexpected(Error(ErrorCode::kInvalidArgument, more.error().message()));
        if (!*more)
            break;
        const std::size_t line_no = row.line;
        auto& fields = row.fields;
        if (fields.size() < 2)
            return tl::unexpected(bad_row(o, line_no, "expected an id column and feature columns"));
        std::vector<float> v(fields.size() - 1);
        bool numeric = true;
        for (std::size_t j = 1; j < fields.size() && numeric; ++j) {
            numeric = parse_float(fields[j], v[j - 1]);
        }
        if (!numeric) {
            if (dim == 0 && line_no == 1)
                continue;  // header row
            return tl::unexpected(bad_row(o, line_no, "a feature value is not a finite number"));
        }
        if (dim == 0)
            dim = v.size();
        if (v.size() != dim) {
            return tl::unexpected(bad_row(
                o, line_no, fmt::format("{} features, earlier rows have {}", v.size(), dim)));
        }
        if (fields[0].empty())
            return tl::unexpected(bad_row(o, line_no, "empty id"));
        ItemRecord item;
        item.path = fields[0];
        item.name = fields[0];
        EARSHOT_RETURN_IF_ERROR(sink.put(std::move(item), std::move(v)));
    }
    return ok_status();
}

Result<std::vector<float>> json_vector(const Json& j) {
    if (!j.is_array() || j.empty())
        return make_error(ErrorCode::kInvalidArgument, "expected a non-empty array of numbers");
    std::vector<float> v;
    v.reserve(j.size());
    for (const auto& x : j) {
        if (!x.is_number())
            return make_error(ErrorCode::kInvalidArgument, "expected a non-empty array of numbers");
        const auto f = static_cast<float>(x.get<double>());
        if (!std::isfinite(f))
            return make_error(ErrorCode::kInvalidArgument, "non-finite value");
        v.push_back(f);
    }
    return v;
}

std::string labels_of(const Json& rec) {
    for (const char* key : {"labels", "label"}) {
        auto it = rec.find(key);
        if (it == rec.end())
            continue;
        if (it->is_string())
            return it->get<std::string>();
        if (it->is_array()) {
            std::string s;
            for (const auto& l : *it) {
                if (!s.empty())
                    s += ",";
                s += l.is_string() ? l.get<std::string>() : l.dump();
            }
            return s;
        }
        if (it->is_number())
            return it->dump();
    }
    return "";
}

double number_of(const Json& rec, std::initializer_list<const char*> keys, double fallback) {
    for (const char* key : keys) {
        auto it = rec.find(key);
        if (it != rec.end() && it->is_number())
            return it->get<double>();
    }
    return fallback;
}

std::string string_of(const Json& rec, std::initializer_list<const char*> keys) {
    for (const char* key : keys) {
        auto it = rec.find(key);
        if (it != rec.end() && it->is_string())
            return it->get<std::string>();
        if (it != rec.end() && it->is_number_integer())
            return it->dump();
    }
    return "";
}

// A byte-string field as written by earshot's JSON outputs: "<key>_b64" (exact bytes of a value
// that is not UTF-8, docs/formats.md) wins over the readable "<key>".
std::optional<std::string> exact_bytes_of(const Json& rec, const std::string& key) {
    auto it = rec.find(key + "_b64");
    if (it == rec.end() || !it->is_string())
        return std::nullopt;
    return base64_decode(it->get<std::string>());
}

Status import_record(const ImportOptions& o,
                     const Json& rec,
                     std::size_t line_no,
                     Sink& sink,
                     ImportReport& report) {
    if (!rec.is_object())
        return tl::unexpected(bad_row(o, line_no, "expected a JSON object"));
    ItemRecord item;
    // earshot export: "path" is the key ("id" is the old catalog's number); AudioSet: "id".
    item.path = exact_bytes_of(rec, "path")
                    .value_or(string_of(rec, {"path", "id", "video_id", "ytid", "YTID"}));
    if (item.path.empty())
        return tl::unexpected(bad_row(o, line_no, "no \"path\" or \"id\""));
    item.name = exact_bytes_of(rec, "name").value_or(string_of(rec, {"name"}));
    item.labels = exact_bytes_of(rec, "labels").value_or(labels_of(rec));
    if (auto it = rec.find("embedding"); it != rec.end()) {
        auto v = json_vector(*it);
        if (!v)
            return tl::unexpected(bad_row(o, line_no, "\"embedding\": " + v.error().message()));
        item.duration_s = number_of(rec, {"duration_s"}, 0.0);
        return sink.put(std::move(item), std::move(*v));
    }
    const Json* data = nullptr;
    for (const char* key : {"data", "audio_embedding", "embeddings"}) {
        if (auto it = rec.find(key); it != rec.end())
            data = &*it;
    }
    if (data == nullptr || !data->is_array() || data->empty())
        return tl::unexpected(bad_row(o, line_no, "no \"embedding\" or \"data\" array"));
    // AudioSet: data is a list of per-second vectors (or one flat vector).
    std::vector<std::vector<float>> rows;
    if ((*data)[0].is_array()) {
        for (const auto& r : *data) {
            auto v = json_vector(r);
            if (!v)
                return tl::unexpected(bad_row(o, line_no, "\"data\": " + v.error().message()));
            if (!rows.empty() && v->size() != rows[0].size())
                return tl::unexpected(bad_row(o, line_no, "per-second vectors differ in length"));
            rows.push_back(std::move(*v));
        }
    } else {
        auto v = json_vector(*data);
        if (!v)
            return tl::unexpected(bad_row(o, line_no, "\"data\": " + v.error().message()));
        rows.push_back(std::move(*v));
    }
    bool integral = true;
    for (const auto& r : rows) {
        for (float x : r) integral = integral && x >= 0.0f && x <= 255.0f && x == std::floor(x);
    }
    const bool dequantize = o.quantized == "yes" || (o.quantized == "auto" && integral);
    if (o.quantized == "yes" && !integral)
        return tl::unexpected(bad_row(o, line_no, "--quantized yes but values are not 0..255"));
    report.dequantized = report.dequantized || dequantize;
    const std::size_t d = rows[0].size();
    const double start = number_of(rec, {"start_time", "start_time_seconds", "start_s"}, 0.0);
    const double end = number_of(rec, {"end_time", "end_time_seconds", "end_s"},
                                 start + static_cast<double>(rows.size()));
    item.duration_s = std::max(0.0, end - start);
    Matrix segments(rows.size(), d);
    std::vector<SegmentRecord> times;
    std::vector<double> mean(d, 0.0);
    const double step = rows.empty() ? 0.0 : item.duration_s / static_cast<double>(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        for (std::size_t j = 0; j < d; ++j) {
            const float x = dequantize ? dequantize_audioset(rows[i][j]) : rows[i][j];
            segments.at(i, j) = x;
            mean[j] += x;
        }
        times.push_back({step * static_cast<double>(i), step * static_cast<double>(i + 1)});
    }
    std::vector<float> whole(d);
    for (std::size_t j = 0; j < d; ++j)
        whole[j] = static_cast<float>(mean[j] / static_cast<double>(rows.size()));
    if (rows.size() == 1) {
        segments = Matrix();
        times.clear();
    }
    return sink.put(std::move(item), std::move(whole), std::move(segments), std::move(times));
}

Status import_jsonl(const ImportOptions& o, Sink& sink, ImportReport& report) {
    std::ifstream in(o.file);
    if (!in)
        return make_error(ErrorCode::kIoError, fmt::format("cannot read '{}'", o.file.string()));
    // A JSON array (one document) or JSON lines.
    char first = 0;
    while (in.get(first) && std::isspace(static_cast<unsigned char>(first))) {
    }
    in.unget();
    if (first == '[') {
        Json doc = Json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded())
            return tl::unexpected(bad_row(o, 1, "not valid JSON"));
        std::size_t i = 0;
        for (const auto& rec : doc)
            EARSHOT_RETURN_IF_ERROR(import_record(o, rec, ++i, sink, report));
        return ok_status();
    }
    std::string line;
    std::size_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        Json rec = Json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (rec.is_discarded())
            return tl::unexpected(bad_row(o, line_no, "not valid JSON"));
        EARSHOT_RETURN_IF_ERROR(import_record(o, rec, line_no, sink, report));
    }
    return ok_status();
}

struct NpyArray {
    std::size_t rows = 0, cols = 0;
    std::vector<float> data;
};

Result<NpyArray> read_npy(const fs::path& path) {
    auto fail = [&](const std::string& what) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("'{}' is not a supported .npy file: {}", path.string(), what));
    };
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(ErrorCode::kIoError, fmt::format("cannot read '{}'", path.string()));
    char magic[8] = {};
    in.read(magic, 8);
    if (in.gcount() != 8 || std::memcmp(magic, "\x93NUMPY", 6) != 0)
        return fail("bad magic");
    std::uint32_t header_len = 0;
    if (magic[6] == 1) {
        std::uint16_t h = 0;
        in.read(reinterpret_cast<char*>(&h), 2);
        header_len = h;
    } else {
        in.read(reinterpret_cast<char*>(&header_len), 4);
    }
    if (!in || header_len > 65536)
        return fail("bad header length");
    std::string header(header_len, '\0');
    in.read(header.data(), header_len);
    if (static_cast<std::uint32_t>(in.gcount()) != header_len)
        return fail("truncated header");
    auto value_of = [&](const std::string& key) -> std::string {
        auto k = header.find("'" + key + "'");
        if (k == std::string::npos)
            return "";
        auto colon = header.find(':', k);
        if (colon == std::string::npos)
            return "";
        auto start = header.find_first_not_of(' ', colon + 1);
        if (start == std::string::npos)
            return "";
        const char open = header[start];
        const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
        auto end = header.find(close, start + 1);
        if (end == std::string::npos)
            return "";
        return header.substr(start, end - start + 1);
    };
    const std::string descr = value_of("descr");
    const bool f4 = descr == "'<f4'";
    const bool f8 = descr == "'<f8'";
    if (!f4 && !f8)
        return fail("dtype " + descr + " (supported: '<f4', '<f8')");
    if (value_of("fortran_order").rfind("False", 0) != 0)
        return fail("fortran_order must be False");
    const std::string shape = value_of("shape");
    std::size_t dims[2] = {0, 0};
    int n_dims = 0;
    for (std::size_t i = 0; i < shape.size() && n_dims <= 2;) {
        if (std::isdigit(static_cast<unsigned char>(shape[i]))) {
            std::size_t v = 0;
            auto [p, ec] = std::from_chars(shape.data() + i, shape.data() + shape.size(), v);
            if (ec != std::errc() || n_dims == 2)
                return fail("shape " + shape);
            dims[n_dims++] = v;
            i = static_cast<std::size_t>(p - shape.data());
        } else {
            ++i;
        }
    }
    if (n_dims != 2 || dims[0] == 0 || dims[1] == 0 || dims[1] > 65536)
        return fail("shape " + shape + " (expected (n, d))");
    NpyArray a;
    a.rows = dims[0];
    a.cols = dims[1];
    const std::size_t n = a.rows * a.cols;
    std::error_code ec;
    const auto file_size = fs::file_size(path, ec);
    const std::size_t elem = f4 ? 4 : 8;
    if (ec || file_size < n * elem)
        return fail("truncated data");
    a.data.resize(n);
    if (f4) {
        in.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(n * 4));
    } else {
        std::vector<double> tmp(n);
        in.read(reinterpret_cast<char*>(tmp.data()), static_cast<std::streamsize>(n * 8));
        for (std::size_t i = 0; i < n; ++i) a.data[i] = static_cast<float>(tmp[i]);
    }
    if (!in)
        return fail("truncated data");
    return a;
}

Status import_npy(const ImportOptions& o, Sink& sink) {
    EARSHOT_ASSIGN_OR_RETURN(auto a, read_npy(o.file));
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
    const std::string stem = o.file.stem().string();
    for (std::size_t r = 0; r < a.rows; ++r) {
        ItemRecord item;
        if (meta.is_open()) {
            std::string line;
            if (!std::getline(meta, line)) {
                return make_error(ErrorCode::kInvalidArgument,
                                  fmt::format("metadata '{}' has fewer lines ({}) than the matrix "
                                              "has rows ({})",
                                              meta_path.string(), r, a.rows));
            }
            Json rec = Json::parse(line, nullptr, false);
            if (!rec.is_object()) {
                return make_error(ErrorCode::kInvalidArgument,
                                  fmt::format("metadata '{}' line {}: not a JSON object",
                                              meta_path.string(), r + 1));
            }
            item.path = exact_bytes_of(rec, "path").value_or(string_of(rec, {"path", "id"}));
            item.name = exact_bytes_of(rec, "name").value_or(string_of(rec, {"name"}));
            item.labels = exact_bytes_of(rec, "labels").value_or(labels_of(rec));
            item.duration_s = number_of(rec, {"duration_s"}, 0.0);
        }
        if (item.path.empty())
            item.path = fmt::format("{}#{}", stem, r);
        const float* row = a.data.data() + r * a.cols;
        for (std::size_t j = 0; j < a.cols; ++j) {
            if (!std::isfinite(row[j])) {
                return make_error(ErrorCode::kInvalidArgument,
                                  fmt::format("'{}' row {}: non-finite value", o.file.string(), r));
            }
        }
        EARSHOT_RETURN_IF_ERROR(sink.put(std::move(item), std::vector<float>(row, row + a.cols)));
    }
    return ok_status();
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
        st = import_jsonl(options, sink, report);
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
    for (auto& rec : records)
        EARSHOT_RETURN_IF_ERROR(sink.put(std::move(rec.item), std::move(rec.vector)));
    EARSHOT_RETURN_IF_ERROR(sink.flush());
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

}  // namespace earshot
