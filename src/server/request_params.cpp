// Request-parameter parsing of the HTTP server (declared in server/detail/routes.h). Kept apart
// from the routes so that fuzz/fuzz_http_params.cpp can exercise it without the engine.
#include <charconv>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <httplib.h>

#include "server/detail/routes.h"

namespace earshot::server {

std::optional<std::string> request_param(const httplib::Request& req, const std::string& name) {
    if (req.has_file(name)) {
        auto f = req.get_file_value(name);
        if (f.filename.empty())
            return f.content;
    }
    if (req.has_param(name.c_str()))
        return req.get_param_value(name.c_str());
    auto type = req.get_header_value("Content-Type");
    if (type.rfind("application/json", 0) == 0 && !req.body.empty()) {
        auto j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.contains(name)) {
            const auto& v = j[name];
            if (v.is_string())
                return v.get<std::string>();
            if (v.is_number() || v.is_boolean())
                return v.dump();
        }
    }
    return std::nullopt;
}

std::vector<std::string> request_params(const httplib::Request& req, const std::string& name) {
    std::vector<std::string> out;
    auto files = req.files.equal_range(name);
    for (auto it = files.first; it != files.second; ++it) {
        if (it->second.filename.empty())
            out.push_back(it->second.content);
    }
    auto params = req.params.equal_range(name);
    for (auto it = params.first; it != params.second; ++it) out.push_back(it->second);
    auto type = req.get_header_value("Content-Type");
    if (out.empty() && type.rfind("application/json", 0) == 0 && !req.body.empty()) {
        auto j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.contains(name)) {
            const auto& v = j[name];
            if (v.is_string())
                out.push_back(v.get<std::string>());
            if (v.is_array()) {
                for (const auto& e : v) {
                    if (e.is_string())
                        out.push_back(e.get<std::string>());
                }
            }
        }
    }
    return out;
}

Result<ItemFilter> parse_item_filter(const httplib::Request& req,
                                     const std::string& root,
                                     bool with_query) {
    auto check = [](std::string_view name, const std::string& v, std::size_t max) -> Status {
        if (v.size() > max || v.find('\0') != std::string::npos) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("'{}' must be at most {} bytes without NUL", name, max));
        }
        return ok_status();
    };
    ItemFilter f;
    for (auto& t : request_params(req, "tag")) {
        EARSHOT_RETURN_IF_ERROR(check("tag", t, 1000));
        if (!t.empty())
            f.tags.push_back(std::move(t));
    }
    if (f.tags.size() > kMaxTagFilters) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("at most {} 'tag' filters, got {}", kMaxTagFilters, f.tags.size()));
    }
    if (auto folder = request_param(req, "folder"); folder && !folder->empty()) {
        EARSHOT_RETURN_IF_ERROR(check("folder", *folder, 1000));
        if (folder->front() == '/' || root.empty())
            f.folder = *folder;
        else
            f.folder = root + (root.back() == '/' ? "" : "/") + *folder;
    }
    if (with_query) {
        if (auto q = request_param(req, "q"); q && !q->empty()) {
            if (q->size() > 500)
                return make_error(ErrorCode::kInvalidArgument, "q is longer than 500 bytes");
            EARSHOT_RETURN_IF_ERROR(check("q", *q, 500));
            f.query = *q;
        }
    }
    return f;
}

Result<std::int64_t> parse_item_id(std::string_view text) {
    std::int64_t id = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || id <= 0 ||
        text.front() == '+' || text.front() == '-') {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("item id must be a positive integer, got '{}'", text.substr(0, 64)));
    }
    return id;
}

Result<std::vector<std::int64_t>> parse_item_id_list(std::string_view text, std::size_t max_ids) {
    std::vector<std::int64_t> ids;
    std::set<std::int64_t> seen;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        if (comma == std::string_view::npos)
            comma = text.size();
        EARSHOT_ASSIGN_OR_RETURN(auto id, parse_item_id(text.substr(start, comma - start)));
        if (seen.insert(id).second)
            ids.push_back(id);
        if (ids.size() > max_ids) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("`ids` takes at most {} items", max_ids));
        }
        start = comma + 1;
    }
    return ids;
}

Result<std::int64_t> parse_int_param(std::string_view name,
                                     std::string_view text,
                                     std::int64_t min,
                                     std::int64_t max) {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < min ||
        v > max) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' must be an integer from {} to {}, got '{}'", name, min,
                                      max, text.substr(0, 64)));
    }
    return v;
}

Result<double> parse_seconds_param(std::string_view name, std::string_view text) {
    double v = 0.0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
        !std::isfinite(v) || v < 0.0) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' must be a number of seconds >= 0, got '{}'", name,
                                      text.substr(0, 64)));
    }
    return v;
}

}  // namespace earshot::server
