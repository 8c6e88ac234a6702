#include "models/labels.h"

#include <algorithm>
#include <charconv>
#include <string>

#include <nlohmann/json.hpp>

#include "core/file_util.h"

namespace earshot {
namespace {

using Row = std::vector<std::string>;

// Splits CSV text into rows of fields (RFC 4180). Returns false on an unterminated quote.
bool split_csv(std::string_view text, std::vector<Row>& rows) {
    Row row;
    std::string field;
    bool in_quotes = false;
    bool row_has_content = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_quotes) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    field.push_back('"');
                    ++i;
                } else {
                    in_quotes = false;
                }
            } else {
                field.push_back(c);
            }
            continue;
        }
        switch (c) {
            case '"':
                in_quotes = true;
                row_has_content = true;
                break;
            case ',':
                row.push_back(std::move(field));
                field.clear();
                row_has_content = true;
                break;
            case '\r':
                break;
            case '\n':
                if (row_has_content || !field.empty()) {
                    row.push_back(std::move(field));
                    rows.push_back(std::move(row));
                }
                field.clear();
                row.clear();
                row_has_content = false;
                break;
            default:
                field.push_back(c);
                row_has_content = true;
        }
    }
    if (in_quotes) {
        return false;
    }
    if (row_has_content || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
    }
    return true;
}

std::string trim(std::string s) {
    const auto not_space = [](unsigned char ch) { return ch != ' ' && ch != '\t'; };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

}  // namespace

Result<std::vector<std::string>> parse_labels_csv(std::string_view text,
                                                  std::string_view column,
                                                  std::string_view source) {
    const std::string src(source);
    // Skip a UTF-8 byte-order mark.
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") {
        text.remove_prefix(3);
    }
    std::vector<Row> rows;
    if (!split_csv(text, rows)) {
        return make_error(ErrorCode::kCorruption, src + ": unterminated quote in CSV");
    }
    if (rows.empty()) {
        return make_error(ErrorCode::kCorruption, src + ": empty CSV (no header)");
    }
    Row header = rows.front();
    for (auto& h : header) {
        h = trim(h);
    }

    auto find_col = [&](std::string_view name) -> std::ptrdiff_t {
        auto it = std::find(header.begin(), header.end(), name);
        return it == header.end() ? -1 : it - header.begin();
    };
    std::ptrdiff_t label_col = -1;
    if (!column.empty()) {
        label_col = find_col(column);
        if (label_col < 0) {
            std::string known;
            for (const auto& h : header) {
                known += (known.empty() ? "" : ", ") + h;
            }
            return make_error(
                ErrorCode::kInvalidArgument,
                src + ": no column '" + std::string(column) + "' (columns: " + known + ")");
        }
    } else {
        label_col = find_col("display_name");
        if (label_col < 0) {
            label_col = find_col("name");
        }
        if (label_col < 0) {
            label_col = static_cast<std::ptrdiff_t>(header.size()) - 1;
        }
    }
    const std::ptrdiff_t index_col = find_col("index");

    std::vector<std::string> labels;
    labels.reserve(rows.size() - 1);
    for (std::size_t r = 1; r < rows.size(); ++r) {
        const Row& row = rows[r];
        const std::string line = src + " row " + std::to_string(r + 1);
        if (row.size() != header.size()) {
            return make_error(ErrorCode::kCorruption, line + ": " + std::to_string(row.size()) +
                                                          " fields, header has " +
                                                          std::to_string(header.size()));
        }
        if (index_col >= 0) {
            const std::string idx = trim(row[static_cast<std::size_t>(index_col)]);
            std::size_t value = 0;
            auto [ptr, ec] = std::from_chars(idx.data(), idx.data() + idx.size(), value);
            if (ec != std::errc() || ptr != idx.data() + idx.size() || value != r - 1) {
                return make_error(
                    ErrorCode::kCorruption,
                    line + ": index '" + idx + "', expected " + std::to_string(r - 1));
            }
        }
        labels.push_back(row[static_cast<std::size_t>(label_col)]);
    }
    return labels;
}

Result<std::vector<std::string>> read_labels_csv(const std::filesystem::path& path,
                                                 std::string_view column) {
    auto text = read_file_text(path);
    if (!text) {
        return tl::unexpected(text.error().with_context("read labels"));
    }
    return parse_labels_csv(*text, column, path.string());
}

Result<std::vector<std::string>> parse_labels_json(std::string_view json, std::string_view source) {
    const std::string src(source);
    auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_array()) {
        return make_error(ErrorCode::kCorruption, src + ": not a JSON array of strings");
    }
    std::vector<std::string> labels;
    labels.reserve(parsed.size());
    for (const auto& item : parsed) {
        if (!item.is_string()) {
            return make_error(ErrorCode::kCorruption, src + ": non-string entry in label list");
        }
        labels.push_back(item.get<std::string>());
    }
    return labels;
}

}  // namespace earshot
