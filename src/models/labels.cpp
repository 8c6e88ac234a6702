#include "models/labels.h"

#include <algorithm>
#include <charconv>
#include <string>

#include <nlohmann/json.hpp>

#include "core/csv.h"
#include "core/file_util.h"

namespace earshot {
namespace {

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
    EARSHOT_ASSIGN_OR_RETURN(auto table, parse_csv_table(text, src));
    if (table.header.empty()) {
        return make_error(ErrorCode::kCorruption, src + ": empty CSV (no header)");
    }
    std::vector<std::string> header = std::move(table.header);
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
    labels.reserve(table.rows.size());
    for (std::size_t r = 1; r <= table.rows.size(); ++r) {
        const std::vector<std::string>& row = table.rows[r - 1];
        const std::string line = src + " line " + std::to_string(table.lines[r - 1]);
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
