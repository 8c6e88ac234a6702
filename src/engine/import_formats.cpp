#include "engine/import_formats.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/csv.h"
#include "core/utf8.h"
#include "engine/importer.h"

namespace earshot {

namespace {

using Json = nlohmann::json;

Error bad_row(const std::string& source, std::size_t line, const std::string& what) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("import '{}' line {}: {}", source, line, what));
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

Status import_record(const std::string& source,
                     const std::string& quantized,
                     const Json& rec,
                     std::size_t line_no,
                     const ImportRecordFn& put) {
    if (!rec.is_object())
        return tl::unexpected(bad_row(source, line_no, "expected a JSON object"));
    ImportRecord out;
    ItemRecord& item = out.item;
    // earshot export: "path" is the key ("id" is the old catalog's number); AudioSet: "id".
    item.path = exact_bytes_of(rec, "path")
                    .value_or(string_of(rec, {"path", "id", "video_id", "ytid", "YTID"}));
    if (item.path.empty())
        return tl::unexpected(bad_row(source, line_no, "no \"path\" or \"id\""));
    item.name = exact_bytes_of(rec, "name").value_or(string_of(rec, {"name"}));
    item.labels = exact_bytes_of(rec, "labels").value_or(labels_of(rec));
    if (auto it = rec.find("embedding"); it != rec.end()) {
        auto v = json_vector(*it);
        if (!v)
            return tl::unexpected(
                bad_row(source, line_no, "\"embedding\": " + v.error().message()));
        item.duration_s = number_of(rec, {"duration_s"}, 0.0);
        out.vector = std::move(*v);
        return put(std::move(out));
    }
    const Json* data = nullptr;
    for (const char* key : {"data", "audio_embedding", "embeddings"}) {
        if (auto it = rec.find(key); it != rec.end())
            data = &*it;
    }
    if (data == nullptr || !data->is_array() || data->empty())
        return tl::unexpected(bad_row(source, line_no, "no \"embedding\" or \"data\" array"));
    // AudioSet: data is a list of per-second vectors (or one flat vector).
    std::vector<std::vector<float>> rows;
    if ((*data)[0].is_array()) {
        for (const auto& r : *data) {
            auto v = json_vector(r);
            if (!v)
                return tl::unexpected(bad_row(source, line_no, "\"data\": " + v.error().message()));
            if (!rows.empty() && v->size() != rows[0].size())
                return tl::unexpected(
                    bad_row(source, line_no, "per-second vectors differ in length"));
            rows.push_back(std::move(*v));
        }
    } else {
        auto v = json_vector(*data);
        if (!v)
            return tl::unexpected(bad_row(source, line_no, "\"data\": " + v.error().message()));
        rows.push_back(std::move(*v));
    }
    bool integral = true;
    for (const auto& r : rows) {
        for (float x : r) integral = integral && x >= 0.0f && x <= 255.0f && x == std::floor(x);
    }
    const bool dequantize = quantized == "yes" || (quantized == "auto" && integral);
    if (quantized == "yes" && !integral)
        return tl::unexpected(
            bad_row(source, line_no, "--quantized yes but values are not 0..255"));
    const std::size_t d = rows[0].size();
    const double start = number_of(rec, {"start_time", "start_time_seconds", "start_s"}, 0.0);
    const double end = number_of(rec, {"end_time", "end_time_seconds", "end_s"},
                                 start + static_cast<double>(rows.size()));
    item.duration_s = std::max(0.0, end - start);
    Matrix& segments = out.segments;
    std::vector<SegmentRecord>& times = out.times;
    segments = Matrix(rows.size(), d);
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
    out.vector.resize(d);
    for (std::size_t j = 0; j < d; ++j)
        out.vector[j] = static_cast<float>(mean[j] / static_cast<double>(rows.size()));
    if (rows.size() == 1) {
        segments = Matrix();
        times.clear();
    }
    out.dequantized = dequantize;
    return put(std::move(out));
}

}  // namespace

Status parse_import_csv(std::istream& in, const std::string& source, const ImportRecordFn& put) {
    CsvReader reader(in, "import '" + source + "'");
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
            return tl::unexpected(
                bad_row(source, line_no, "expected an id column and feature columns"));
        std::vector<float> v(fields.size() - 1);
        bool numeric = true;
        for (std::size_t j = 1; j < fields.size() && numeric; ++j) {
            numeric = parse_float(fields[j], v[j - 1]);
        }
        if (!numeric) {
            if (dim == 0 && line_no == 1)
                continue;  // header row
            return tl::unexpected(
                bad_row(source, line_no, "a feature value is not a finite number"));
        }
        if (dim == 0)
            dim = v.size();
        if (v.size() != dim) {
            return tl::unexpected(bad_row(
                source, line_no, fmt::format("{} features, earlier rows have {}", v.size(), dim)));
        }
        if (fields[0].empty())
            return tl::unexpected(bad_row(source, line_no, "empty id"));
        ImportRecord rec;
        rec.item.path = fields[0];
        rec.item.name = fields[0];
        rec.vector = std::move(v);
        EARSHOT_RETURN_IF_ERROR(put(std::move(rec)));
    }
    return ok_status();
}

Status parse_import_jsonl(std::istream& in,
                          const std::string& source,
                          const std::string& quantized,
                          const ImportRecordFn& put) {
    // A JSON array (one document) or JSON lines.
    char first = 0;
    while (in.get(first) && std::isspace(static_cast<unsigned char>(first))) {
    }
    in.unget();
    if (first == '[') {
        Json doc = Json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded())
            return tl::unexpected(bad_row(source, 1, "not valid JSON"));
        std::size_t i = 0;
        for (const auto& rec : doc)
            EARSHOT_RETURN_IF_ERROR(import_record(source, quantized, rec, ++i, put));
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
            return tl::unexpected(bad_row(source, line_no, "not valid JSON"));
        EARSHOT_RETURN_IF_ERROR(import_record(source, quantized, rec, line_no, put));
    }
    return ok_status();
}

Status parse_import_npy(const NpyMatrix& a,
                        const std::string& source,
                        const std::string& stem,
                        std::istream* metadata,
                        const std::string& metadata_source,
                        const ImportRecordFn& put) {
    for (std::size_t r = 0; r < a.rows; ++r) {
        ImportRecord out;
        ItemRecord& item = out.item;
        if (metadata != nullptr) {
            std::string line;
            if (!std::getline(*metadata, line)) {
                return make_error(ErrorCode::kInvalidArgument,
                                  fmt::format("metadata '{}' has fewer lines ({}) than the matrix "
                                              "has rows ({})",
                                              metadata_source, r, a.rows));
            }
            Json rec = Json::parse(line, nullptr, false);
            if (!rec.is_object()) {
                return make_error(ErrorCode::kInvalidArgument,
                                  fmt::format("metadata '{}' line {}: not a JSON object",
                                              metadata_source, r + 1));
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
                                  fmt::format("'{}' row {}: non-finite value", source, r));
            }
        }
        out.vector.assign(row, row + a.cols);
        EARSHOT_RETURN_IF_ERROR(put(std::move(out)));
    }
    return ok_status();
}

}  // namespace earshot
