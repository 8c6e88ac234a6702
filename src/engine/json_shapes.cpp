#include "engine/json_shapes.h"

#include <algorithm>

#include "core/utf8.h"
#include "index/metric.h"

namespace earshot {

void put_bytes_field(nlohmann::json& j, const std::string& key, std::string_view bytes) {
    if (is_valid_utf8(bytes)) {
        j[key] = std::string(bytes);
    } else {
        j[key] = utf8_lossy(bytes);
        j[key + "_b64"] = base64_encode(bytes);
    }
}

nlohmann::json search_response_json(const SearchResponse& response) {
    nlohmann::json results = nlohmann::json::array();
    for (const auto& r : response.results) {
        nlohmann::json row = {{"rank", r.rank}, {"id", r.id}};
        put_bytes_field(row, "path", r.path);
        put_bytes_field(row, "name", r.name);
        row["duration_s"] = r.duration_s;
        row["distance"] = r.distance;
        row["score"] = r.score;
        row["same_recording"] = r.same_recording;
        row["tags"] = tags_json(r.tags);
        if (r.same_recording)
            row["same_recording_offset_s"] = r.same_recording_offset_s;
        if (r.match) {
            row["match"] = {{"query_start_s", r.match->query_start_s},
                            {"query_end_s", r.match->query_end_s},
                            {"item_start_s", r.match->item_start_s},
                            {"item_end_s", r.match->item_end_s}};
        }
        results.push_back(std::move(row));
    }
    nlohmann::json j = nlohmann::json::object();
    put_bytes_field(j, "query", response.query);
    j["model"] = utf8_lossy(response.model);
    j["metric"] = std::string(metric_name(response.metric));
    j["index"] = response.index;
    j["by"] = response.by == SearchBy::kSegments ? "segments" : "items";
    j["results"] = std::move(results);
    return j;
}

nlohmann::json tags_json(const std::vector<TagScore>& tags) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& t : tags) {
        nlohmann::json row = nlohmann::json::object();
        put_bytes_field(row, "tag", t.tag);
        row["score"] = t.score;
        arr.push_back(std::move(row));
    }
    return arr;
}

nlohmann::json item_json(const ItemRecord& it, std::string_view folder) {
    auto j = item_json(it);
    put_bytes_field(j, "folder", folder);
    return j;
}

nlohmann::json item_json(const ItemRecord& it) {
    nlohmann::json j = {{"id", it.id}};
    put_bytes_field(j, "path", it.path);
    put_bytes_field(j, "name", it.name);
    j["duration_s"] = it.duration_s;
    j["sample_rate_hz"] = it.sample_rate_hz;
    j["channels"] = it.channels;
    put_bytes_field(j, "codec", it.codec);
    j["size_bytes"] = it.size_bytes;
    put_bytes_field(j, "content_hash", it.content_hash);
    put_bytes_field(j, "title", it.title);
    put_bytes_field(j, "artist", it.artist);
    put_bytes_field(j, "labels", it.labels);
    return j;
}

nlohmann::json stats_json(const CatalogStats& stats, const std::string& db) {
    nlohmann::json spaces = nlohmann::json::array();
    for (const auto& s : stats.spaces) {
        spaces.push_back({{"model", utf8_lossy(s.space)},
                          {"dim", s.dim},
                          {"items", s.n_items},
                          {"segments", s.n_segments}});
    }
    return {{"db", utf8_lossy(db)},
            {"items", stats.n_items},
            {"audio_bytes", stats.total_bytes},
            {"audio_duration_s", stats.total_duration_s},
            {"catalog_bytes", stats.file_bytes},
            {"models", std::move(spaces)}};
}

std::string common_folder(std::string_view a, std::string_view b) {
    // Compare whole components: "/x/ab" and "/x/ac" share "/x", not "/x/a".
    std::size_t common = 0;  // length of the shared prefix ending at a component boundary
    std::size_t i = 0;
    while (true) {
        bool a_end = i == a.size() || a[i] == '/';
        bool b_end = i == b.size() || b[i] == '/';
        if (a_end && b_end)
            common = i;
        if (i == a.size() || i == b.size() || a[i] != b[i])
            break;
        ++i;
    }
    if (common == 0)
        return a.empty() || a.front() != '/' || b.empty() || b.front() != '/' ? "" : "/";
    return std::string(a.substr(0, common));
}

std::string folder_of(std::string_view item_path, std::string_view root) {
    std::string_view rest = item_path;
    if (!root.empty() && item_path.substr(0, root.size()) == root) {
        rest = item_path.substr(root.size());
    }
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos)
        return "";
    return std::string(rest.substr(0, slash));
}

}  // namespace earshot
