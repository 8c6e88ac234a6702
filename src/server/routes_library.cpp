// Library routes: health, stats, models, items (list, one, audio, download, waveform), the map.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <fcntl.h>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <zlib.h>

#include <fmt/format.h>
#include <httplib.h>

#include "core/log.h"
#include "core/utf8.h"
#include "server/detail/routes.h"
#include "server/json_codec.h"

namespace earshot::server {
namespace {

namespace fs = std::filesystem;

// ---- items' folders ------------------------------------------------------------------------

}  // namespace

fs::path item_file_path(const ServerOptions& options, const std::string& key) {
    fs::path path(key);
    if (path.empty() || path.lexically_normal() != path)
        return {};
    if (path.is_absolute())
        return path;
    if (options.library_root.empty() || *path.begin() == "..")
        return {};
    return options.library_root / path;
}

std::string library_root(ServerContext& ctx) {
    auto count = ctx.engine.catalog().count_items();
    if (!count)
        return "";
    {
        std::lock_guard lock(ctx.mu);
        if (ctx.root_count == *count)
            return ctx.root;
    }
    auto paths = ctx.engine.catalog().list_paths({});
    if (!paths)
        return "";
    std::string root;
    bool first = true;
    for (const auto& path : *paths) {
        std::string dir = fs::path(path).parent_path().string();
        root = first ? dir : common_folder(root, dir);
        first = false;
    }
    std::lock_guard lock(ctx.mu);
    ctx.root_count = *count;
    ctx.root = root;
    return root;
}

namespace {

// ---- serving an item's file ----------------------------------------------------------------

struct FileHandle {
    int fd = -1;
    explicit FileHandle(int f) : fd(f) {}
    ~FileHandle() {
        if (fd >= 0)
            ::close(fd);
    }
    FileHandle(const FileHandle&) = delete;
    FileHandle& operator=(const FileHandle&) = delete;
};

struct OpenedItem {
    ItemRecord item;
    std::filesystem::path path;  // the file on this machine (item.path resolved under --root)
    std::shared_ptr<FileHandle> file;
    std::int64_t size = 0;
};

std::int64_t file_mtime_ns(const struct stat& st) {
    // The catalog stores std::filesystem::last_write_time (file_clock); convert the same way.
    auto sys = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(st.st_mtim.tv_sec) +
            std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    auto file_time = std::chrono::file_clock::from_sys(sys);
    return std::chrono::duration_cast<std::chrono::nanoseconds>(file_time.time_since_epoch())
        .count();
}

// Opens the file the catalog records for id. Only that file is ever served: the path comes from
// the catalog (never from the request), must be normalised and absolute or library-relative
// (item_file_path: under --root), must be a regular file
// (a FIFO or device is refused without blocking), and must still have the size and modification
// time recorded at indexing, so a file swapped since (e.g. for a symlink to something else) is
// refused with 409 until it is re-indexed. Sets the response itself on failure.
std::optional<OpenedItem> open_item(ServerContext& ctx,
                                    const std::string& id_text,
                                    httplib::Response& res) {
    auto id = parse_item_id(id_text);
    if (!id) {
        send_error(res, id.error());
        return std::nullopt;
    }
    auto item = ctx.engine.catalog().get_item(*id);
    if (!item) {
        send_error(res, item.error());
        return std::nullopt;
    }
    const fs::path path = item_file_path(ctx.options, item->path);
    if (path.empty()) {
        send_error(res, Error(ErrorCode::kNotFound,
                              fmt::format("item {} has no audio file on this machine{}", *id,
                                          fs::path(item->path).is_relative() &&
                                                  ctx.options.library_root.empty()
                                              ? " (its key is library-relative: start serve "
                                                "with --root DIR)"
                                              : "")));
        return std::nullopt;
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        send_error(res, Error(ErrorCode::kNotFound,
                              fmt::format("the audio file of item {} is gone (was '{}'); re-run "
                                          "earshot index",
                                          *id, item->name)));
        return std::nullopt;
    }
    auto handle = std::make_shared<FileHandle>(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != item->size_bytes ||
        (item->mtime_ns != 0 && file_mtime_ns(st) != item->mtime_ns)) {
        send_json(res,
                  error_json("Conflict",
                             fmt::format("the file of item {} ('{}') changed since it was indexed; "
                                         "re-run earshot index",
                                         *id, item->name)),
                  409);
        return std::nullopt;
    }
    OpenedItem out;
    out.item = std::move(*item);
    out.path = std::move(path);
    out.file = std::move(handle);
    out.size = static_cast<std::int64_t>(st.st_size);
    return out;
}

std::string audio_content_type(const std::string& name) {
    static const std::map<std::string, std::string> kTypes = {
        {".wav", "audio/wav"},   {".wave", "audio/wav"},  {".flac", "audio/flac"},
        {".ogg", "audio/ogg"},   {".oga", "audio/ogg"},   {".opus", "audio/ogg"},
        {".mp3", "audio/mpeg"},  {".m4a", "audio/mp4"},   {".aac", "audio/aac"},
        {".mp4", "audio/mp4"},   {".aif", "audio/aiff"},  {".aiff", "audio/aiff"},
        {".aifc", "audio/aiff"}, {".webm", "audio/webm"}, {".mka", "audio/x-matroska"},
        {".caf", "audio/x-caf"}, {".au", "audio/basic"},  {".wma", "audio/x-ms-wma"},
    };
    std::string ext = fs::path(name).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto it = kTypes.find(ext);
    return it == kTypes.end() ? "application/octet-stream" : it->second;
}

// RFC 6266 Content-Disposition keeping the original name: an ASCII fallback plus the UTF-8 name.
std::string content_disposition(const std::string& kind, const std::string& name) {
    std::string ascii;
    std::string encoded;
    for (unsigned char c : name) {
        bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '/';
        ascii += plain ? static_cast<char>(c) : '_';
        bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        encoded += unreserved ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
    }
    if (ascii.empty())
        ascii = "audio";
    return fmt::format("{}; filename=\"{}\"; filename*=UTF-8''{}", kind, ascii, encoded);
}

// One "bytes=a-b" / "bytes=a-" / "bytes=-n" range resolved against size, or nullopt when
// unsatisfiable or malformed.
std::optional<std::pair<std::int64_t, std::int64_t>> resolve_range(std::int64_t first,
                                                                   std::int64_t last,
                                                                   std::int64_t size) {
    if (size <= 0)
        return std::nullopt;
    if (first < 0) {  // suffix: the last `last` bytes
        if (last <= 0)
            return std::nullopt;
        return std::make_pair(std::max<std::int64_t>(0, size - last), size - 1);
    }
    if (first >= size)
        return std::nullopt;
    if (last < 0 || last >= size)
        last = size - 1;
    if (last < first)
        return std::nullopt;
    return std::make_pair(first, last);
}

void serve_file(const httplib::Request& req,
                httplib::Response& res,
                const OpenedItem& opened,
                const std::string& disposition) {
    std::int64_t begin = 0;
    std::int64_t end = opened.size;  // exclusive
    // httplib parses Range (syntax errors already got 416) and would slice the body itself,
    // without clamping an end beyond the file. We resolve a single range here and clear
    // req.ranges so httplib sends exactly our bytes; the Request object is httplib's own
    // non-const local, only passed to handlers as const.
    auto& ranges = const_cast<httplib::Request&>(req).ranges;
    bool partial = false;
    if (ranges.size() == 1) {
        auto r = resolve_range(ranges[0].first, ranges[0].second, opened.size);
        ranges.clear();
        if (!r) {
            res.set_header("Content-Range", fmt::format("bytes */{}", opened.size));
            send_json(
                res,
                error_json("RangeNotSatisfiable",
                           fmt::format("the range is outside the file ({} bytes)", opened.size)),
                416);
            return;
        }
        begin = r->first;
        end = r->second + 1;
        partial = true;
        res.status = 206;
        res.set_header("Content-Range",
                       fmt::format("bytes {}-{}/{}", r->first, r->second, opened.size));
    } else {
        ranges.clear();  // several ranges: answer with the whole file (RFC 9110 allows it)
        res.status = 200;
    }
    (void)partial;
    res.set_header("Accept-Ranges", "bytes");
    res.set_header("Content-Disposition", disposition);
    res.set_header("Cache-Control", "private, max-age=3600");
    res.set_header("X-Content-Type-Options", "nosniff");
    auto file = opened.file;
    std::int64_t length = end - begin;
    if (length == 0) {
        res.set_content("", audio_content_type(opened.item.name).c_str());
        return;
    }
    res.set_content_provider(
        static_cast<std::size_t>(length), audio_content_type(opened.item.name),
        [file, begin](std::size_t offset, std::size_t n, httplib::DataSink& sink) {
            std::vector<char> buf(std::min<std::size_t>(n, 64 * 1024));
            std::size_t done = 0;
            while (done < n) {
                std::size_t want = std::min(buf.size(), n - done);
                auto got = ::pread(file->fd, buf.data(), want,
                                   static_cast<off_t>(begin + static_cast<std::int64_t>(offset) +
                                                      static_cast<std::int64_t>(done)));
                if (got <= 0)
                    return false;  // file shrank under us: abort the response
                if (!sink.write(buf.data(), static_cast<std::size_t>(got)))
                    return false;
                done += static_cast<std::size_t>(got);
            }
            return true;
        });
}

// ---- handlers --------------------------------------------------------------------------------

void handle_items(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    std::int64_t offset = 0;
    std::int64_t limit = 50;
    if (req.has_param("offset")) {
        auto v = parse_int_param("offset", req.get_param_value("offset"), 0, 1'000'000'000);
        if (!v)
            return send_error(res, v.error());
        offset = *v;
    }
    if (req.has_param("limit")) {
        auto v = parse_int_param("limit", req.get_param_value("limit"), 1, 1000);
        if (!v)
            return send_error(res, v.error());
        limit = *v;
    }
    std::string root = library_root(ctx);
    auto filter = parse_item_filter(req, root, true);
    if (!filter)
        return send_error(res, filter.error());
    auto& cat = ctx.engine.catalog();
    auto items = cat.list_items(offset, limit, *filter);
    if (!items)
        return send_error(res, items.error());
    auto total = cat.count_items(*filter);
    if (!total)
        return send_error(res, total.error());
    std::vector<std::int64_t> ids;
    for (const auto& it : *items) ids.push_back(it.id);
    auto tags = cat.get_tags(ids);
    if (!tags)
        return send_error(res, tags.error());
    std::unordered_map<std::int64_t, const std::vector<TagScore>*> tags_of;
    for (const auto& t : *tags) tags_of[t.item_id] = &t.tags;
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& it : *items) {
        auto j = item_json(it, folder_of(it.path, root));
        auto t = tags_of.find(it.id);
        j["tags"] = tags_json(t == tags_of.end() ? std::vector<TagScore>{} : *t->second);
        arr.push_back(std::move(j));
    }
    nlohmann::json tag_filters = nlohmann::json::array();
    for (const auto& t : filter->tags) tag_filters.push_back(utf8_lossy(t));
    send_json(res, {{"total", *total},
                    {"offset", offset},
                    {"limit", limit},
                    {"q", utf8_lossy(filter->query)},
                    {"tag", std::move(tag_filters)},
                    {"items", std::move(arr)}});
}

// GET /api/tags: per tag, how many items (passing q/tag/folder) carry it.
void handle_tags(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    std::int64_t limit = 200;
    if (req.has_param("limit")) {
        auto v = parse_int_param("limit", req.get_param_value("limit"), 1, 10000);
        if (!v)
            return send_error(res, v.error());
        limit = *v;
    }
    auto filter = parse_item_filter(req, library_root(ctx), true);
    if (!filter)
        return send_error(res, filter.error());
    auto& cat = ctx.engine.catalog();
    auto counts = cat.tag_counts(*filter);
    if (!counts)
        return send_error(res, counts.error());
    auto total = cat.count_items(*filter);
    if (!total)
        return send_error(res, total.error());
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& c : *counts) {
        if (static_cast<std::int64_t>(arr.size()) >= limit)
            break;
        nlohmann::json row = nlohmann::json::object();
        put_bytes_field(row, "tag", c.name);
        row["count"] = c.count;
        arr.push_back(std::move(row));
    }
    send_json(res, {{"total", *total}, {"tags", std::move(arr)}});
}

// GET /api/folders: every folder under the library root holding items (passing q/tag/folder),
// with how many lie under it.
void handle_folders(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const std::string root = library_root(ctx);
    auto filter = parse_item_filter(req, root, true);
    if (!filter)
        return send_error(res, filter.error());
    auto& cat = ctx.engine.catalog();
    auto counts = cat.folder_counts(*filter);
    if (!counts)
        return send_error(res, counts.error());
    auto total = cat.count_items(*filter);
    if (!total)
        return send_error(res, total.error());
    const std::string prefix = root.empty() || root == "/" ? root : root + "/";
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& c : *counts) {
        if (c.name.size() <= prefix.size() || c.name.compare(0, prefix.size(), prefix) != 0)
            continue;  // the root itself and its ancestors
        nlohmann::json row = nlohmann::json::object();
        put_bytes_field(row, "folder", std::string_view(c.name).substr(prefix.size()));
        row["count"] = c.count;
        arr.push_back(std::move(row));
    }
    nlohmann::json j = nlohmann::json::object();
    put_bytes_field(j, "root", root);
    j["total"] = *total;
    j["folders"] = std::move(arr);
    send_json(res, j);
}

void handle_item(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    auto id = parse_item_id(req.matches[1].str());
    if (!id)
        return send_error(res, id.error());
    auto item = ctx.engine.catalog().get_item(*id);
    if (!item)
        return send_error(res, item.error());
    auto j = item_json(*item, folder_of(item->path, library_root(ctx)));
    auto tags = ctx.engine.catalog().tags_of(*id);
    if (!tags)
        return send_error(res, tags.error());
    j["tags"] = tags_json(*tags);
    nlohmann::json models = nlohmann::json::array();
    if (auto spaces = ctx.engine.catalog().spaces()) {
        for (const auto& s : *spaces) {
            auto has = ctx.engine.catalog().has_embedding(*id, s.space);
            if (has && *has)
                models.push_back(s.space);
        }
    }
    j["models"] = std::move(models);
    j["audio_url"] = fmt::format("/api/items/{}/audio", *id);
    j["download_url"] = fmt::format("/api/items/{}/download", *id);
    send_json(res, j);
}

void handle_waveform(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    std::int64_t points = 200;
    if (req.has_param("points")) {
        auto v = parse_int_param("points", req.get_param_value("points"), 1, 4096);
        if (!v)
            return send_error(res, v.error());
        points = *v;
    }
    auto opened = open_item(ctx, req.matches[1].str(), res);
    if (!opened)
        return;
    auto key = std::make_pair(opened->item.id, static_cast<std::size_t>(points));
    {
        std::lock_guard lock(ctx.mu);
        auto it = ctx.waveforms.find(key);
        if (it != ctx.waveforms.end())
            return send_json(res, *it->second);
    }
    auto w = compute_waveform(opened->path, static_cast<std::size_t>(points));
    if (!w)
        return send_error(res, w.error());
    auto body = std::make_shared<const nlohmann::json>(nlohmann::json{
        {"id", opened->item.id}, {"duration_s", w->duration_s}, {"peaks", w->peaks}});
    {
        std::lock_guard lock(ctx.mu);
        if (ctx.waveforms.size() >= ServerContext::kMaxCachedWaveforms)
            ctx.waveforms.clear();
        ctx.waveforms[key] = body;
    }
    send_json(res, *body);
}

// The item's folder below the library root, all levels ("" at the root): the map's colours.
std::string dir_of(std::string_view item_path, std::string_view root) {
    std::string_view rest = item_path;
    if (!root.empty() && item_path.substr(0, root.size()) == root)
        rest = item_path.substr(root.size());
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    std::size_t slash = rest.rfind('/');
    return slash == std::string_view::npos ? std::string() : std::string(rest.substr(0, slash));
}

// The points as columns (format=columns): one array per field, folder and dir as indexes into
// "folders" / "dirs", coordinates to 5 decimals, durations to 0.01 s: a third of the bytes of the
// array of objects, and quicker to parse.
void dump_map_columns(const nlohmann::json& body,
                      const std::vector<std::size_t>& rows,
                      std::string& out) {
    constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
    const auto& points = body["points"];
    auto index_of = [](const nlohmann::json& names) {
        std::unordered_map<std::string, std::size_t> index;
        for (std::size_t i = 0; i < names.size(); ++i) index[names[i].get<std::string>()] = i;
        return index;
    };
    const auto folders = index_of(body["folders"]);
    const auto dirs = index_of(body["dirs"]);
    auto column = [&](const char* name, auto&& write) {
        out += '"';
        out += name;
        out += "\":[";
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (i > 0)
                out += ',';
            write(points[rows[i]]);
        }
        out += ']';
    };
    auto fixed = [&](double v, int decimals) {
        fmt::format_to(std::back_inserter(out), "{:.{}f}", std::isfinite(v) ? v : 0.0, decimals);
    };
    out += '{';
    column("id",
           [&](const nlohmann::json& p) { out += std::to_string(p["id"].get<std::int64_t>()); });
    out += ',';
    column("x", [&](const nlohmann::json& p) { fixed(p["x"].get<double>(), 5); });
    out += ',';
    column("y", [&](const nlohmann::json& p) { fixed(p["y"].get<double>(), 5); });
    out += ',';
    column("duration_s", [&](const nlohmann::json& p) { fixed(p["duration_s"].get<double>(), 2); });
    out += ',';
    column("folder", [&](const nlohmann::json& p) {
        auto it = folders.find(p["folder"].get<std::string>());
        out += std::to_string(it == folders.end() ? 0 : it->second);
    });
    out += ',';
    column("dir", [&](const nlohmann::json& p) {
        auto it = dirs.find(p["dir"].get<std::string>());
        out += std::to_string(it == dirs.end() ? 0 : it->second);
    });
    out += ',';
    column("name",
           [&](const nlohmann::json& p) { out += p["name"].dump(-1, ' ', false, kReplace); });
    out += '}';
}

// The map as JSON text with at most max_points of its points (0 = all), evenly spread over the
// list (deterministic); "total" still counts all of them. With `only` (sorted item ids: the items
// passing a q/tag/folder filter), just those points, and "total" counts those. `columns`: the
// points as "columns" (dump_map_columns) instead of "points".
std::string dump_map(const nlohmann::json& body,
                     std::int64_t max_points,
                     const std::vector<std::int64_t>* only = nullptr,
                     bool columns = false) {
    constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
    const auto& all_points = body["points"];
    std::vector<std::size_t> rows;  // the points that may be shown, in map order
    rows.reserve(all_points.size());
    for (std::size_t i = 0; i < all_points.size(); ++i) {
        if (only == nullptr ||
            std::binary_search(only->begin(), only->end(), all_points[i]["id"].get<std::int64_t>()))
            rows.push_back(i);
    }
    const auto n = static_cast<std::int64_t>(rows.size());
    const std::int64_t kept = max_points <= 0 || n <= max_points ? n : max_points;
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : body.items()) {
        if (!first)
            out += ',';
        first = false;
        out += nlohmann::json(key).dump();
        out += ':';
        if (key == "total") {
            out += std::to_string(n);
            continue;
        }
        if (key != "points") {
            out += value.dump(-1, ' ', false, kReplace);
            continue;
        }
        if (columns) {
            std::vector<std::size_t> shown(static_cast<std::size_t>(kept));
            for (std::int64_t i = 0; i < kept; ++i)
                shown[static_cast<std::size_t>(i)] = rows[static_cast<std::size_t>(i * n / kept)];
            // '"points":' becomes '"columns":'
            out.resize(out.size() - std::string_view("\"points\":").size());
            out += "\"columns\":";
            dump_map_columns(body, shown, out);
            continue;
        }
        out += '[';
        for (std::int64_t i = 0; i < kept; ++i) {
            if (i > 0)
                out += ',';
            out += all_points[rows[static_cast<std::size_t>(i * n / kept)]].dump(-1, ' ', false,
                                                                                 kReplace);
        }
        out += ']';
    }
    out += '}';
    return out;
}

}  // namespace

std::string gzip_text(const std::string& data) {
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return {};
    std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return rc == Z_STREAM_END ? out : std::string();
}

namespace {

std::shared_ptr<const MapText> make_map_text(std::string json) {
    auto text = std::make_shared<MapText>();
    text->json = std::move(json);
    if (text->json.size() > 1024 && text->json.size() < (std::size_t{1} << 31))
        text->gzip = gzip_text(text->json);
    return text;
}

void send_map_text(const httplib::Request& req,
                   httplib::Response& res,
                   std::shared_ptr<const MapText> text) {
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    res.set_header("Vary", "Accept-Encoding");
    // The gzip made once: httplib compresses only the content types it knows, and
    // "application/json; charset=utf-8" is not one of them, so it does not compress again.
    if (!text->gzip.empty() &&
        req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos) {
        res.set_header("Content-Encoding", "gzip");
        res.set_content(text->gzip, "application/json; charset=utf-8");
        return;
    }
    res.set_content(text->json, "application/json");
}

// The answer of a map: one point per item of the coordinates that is still in the catalog.
Result<nlohmann::json> map_body(ServerContext& ctx,
                                const MapCoords& coords,
                                const std::string& root) {
    EARSHOT_ASSIGN_OR_RETURN(auto items, ctx.engine.catalog().get_items(coords.ids));
    std::set<std::string> folders;
    std::set<std::string> dirs;
    nlohmann::json points = nlohmann::json::array();
    std::size_t i = 0;  // items come in the order of coords.ids, removed ones left out
    for (const auto& item : items) {
        while (i < coords.ids.size() && coords.ids[i] != item.id) ++i;
        if (i == coords.ids.size())
            break;
        std::string folder = folder_of(item.path, root);
        folders.insert(folder);
        std::string dir = dir_of(item.path, root);
        dirs.insert(dir);
        nlohmann::json point = {
            {"id", item.id}, {"x", coords.xy[i * 2]}, {"y", coords.xy[i * 2 + 1]}};
        put_bytes_field(point, "name", item.name);
        put_bytes_field(point, "folder", folder);
        put_bytes_field(point, "dir", dir);
        point["duration_s"] = item.duration_s;
        points.push_back(std::move(point));
    }
    return nlohmann::json{
        {"model", coords.space},
        {"method", coords.layout},
        {"explained_variance_ratio",
         {coords.explained_variance_ratio[0], coords.explained_variance_ratio[1]}},
        {"generation", coords.generation},
        {"folders", folders},
        {"dirs", dirs},
        {"total", points.size()},
        {"points", std::move(points)}};
}

}  // namespace

Result<std::shared_ptr<const nlohmann::json>> current_map(ServerContext& ctx,
                                                          const std::string& model,
                                                          const std::string& layout,
                                                          bool allow_stale) {
    auto coords = ctx.engine.map_coords(model, layout, allow_stale);
    if (!coords) {
        if (coords.error().code() != ErrorCode::kNotFound)
            return tl::unexpected(coords.error());
        std::string known;
        if (auto spaces = ctx.engine.catalog().spaces()) {
            for (const auto& s : *spaces) known += (known.empty() ? "" : ", ") + s.space;
        }
        return make_error(ErrorCode::kNotFound,
                          fmt::format("the catalog has no items embedded with model '{}' (it "
                                      "has: {})",
                                      model, known.empty() ? "none" : known));
    }
    const std::string root = library_root(ctx);
    auto cached = [&]() -> std::shared_ptr<const nlohmann::json> {
        std::lock_guard lock(ctx.mu);
        auto it = ctx.maps.find({model, layout});
        if (it != ctx.maps.end() && it->second.coords == *coords && it->second.root == root)
            return it->second.body;
        return nullptr;
    };
    if (auto body = cached())
        return body;
    // One join at a time (0.5-1 s at 100k items): the warmer and a page's first request do not
    // both make it, and the second finds the first's.
    std::lock_guard building(ctx.map_build_mu);
    if (auto body = cached())
        return body;
    EARSHOT_ASSIGN_OR_RETURN(auto body, map_body(ctx, **coords, root));
    auto shared = std::make_shared<const nlohmann::json>(std::move(body));
    std::lock_guard lock(ctx.mu);
    auto& entry = ctx.maps[{model, layout}];
    // A slower request with older coordinates does not replace newer ones.
    if (!entry.coords || entry.coords->generation <= (*coords)->generation)
        entry = MapEntry{*coords, root, shared, {}};
    return shared;
}

namespace {

// The unfiltered answer of (model, layout, max_points, columns), serialised and gzipped once.
Result<std::shared_ptr<const MapText>> map_text(ServerContext& ctx,
                                                const std::string& model,
                                                const std::string& layout,
                                                std::int64_t max_points,
                                                bool columns,
                                                bool allow_stale = true) {
    EARSHOT_ASSIGN_OR_RETURN(auto body, current_map(ctx, model, layout, allow_stale));
    {
        std::lock_guard lock(ctx.mu);
        auto it = ctx.maps.find({model, layout});
        if (it != ctx.maps.end() && it->second.body == body) {
            auto dump = it->second.dumps.find({max_points, columns});
            if (dump != it->second.dumps.end())
                return dump->second;
        }
    }
    auto text = make_map_text(dump_map(*body, max_points, nullptr, columns));
    std::lock_guard lock(ctx.mu);
    auto it = ctx.maps.find({model, layout});
    if (it != ctx.maps.end() && it->second.body == body) {
        if (it->second.dumps.size() >= 8)  // a few max_points values in use at once
            it->second.dumps.clear();
        it->second.dumps[{max_points, columns}] = text;
    }
    return text;
}

void handle_map(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    std::optional<std::string> given;
    if (req.has_param("model"))
        given = req.get_param_value("model");
    std::string model = resolve_model(ctx.engine, given);
    std::string layout = kDefaultMapLayout;
    if (req.has_param("layout")) {
        layout = req.get_param_value("layout");
        if (auto ok = check_map_layout(layout); !ok)
            return send_error(res, ok.error());
    }
    std::int64_t max_points = 0;
    if (req.has_param("max_points")) {
        auto v = parse_int_param("max_points", req.get_param_value("max_points"), 1, 10'000'000);
        if (!v)
            return send_error(res, v.error());
        max_points = *v;
    }
    bool columns = false;
    if (req.has_param("format")) {
        const std::string format = req.get_param_value("format");
        if (format != "points" && format != "columns")
            return send_error(res, Error(ErrorCode::kInvalidArgument,
                                         fmt::format("format must be points or columns, got '{}'",
                                                     format.substr(0, 64))));
        columns = format == "columns";
    }
    auto filter = parse_item_filter(req, library_root(ctx), true);
    if (!filter)
        return send_error(res, filter.error());
    if (filter->empty()) {
        auto text = map_text(ctx, model, layout, max_points, columns);
        if (!text)
            return send_error(res, text.error());
        return send_map_text(req, res, *text);
    }
    // Filtered answers are made per request (not kept: too many filters), from the cached map.
    auto body = current_map(ctx, model, layout, true);
    if (!body)
        return send_error(res, body.error());
    auto only = ctx.engine.catalog().filter_ids(*filter);  // ascending
    if (!only)
        return send_error(res, only.error());
    send_map_text(req, res, make_map_text(dump_map(**body, max_points, &*only, columns)));
}

}  // namespace

Result<std::int64_t> warm_map(ServerContext& ctx) {
    const std::string model = resolve_model(ctx.engine, std::nullopt);
    for (std::int64_t max_points : {10'000, 50'000}) {  // web/app.js MAP_FIRST/MAX_POINTS
        auto text = map_text(ctx, model, kDefaultMapLayout, max_points, true, false);
        if (!text)
            return tl::unexpected(text.error());
    }
    // The neighbour layout too once a client of this server has asked for it: it costs tens of
    // seconds at 100k items (docs/performance.md "Library map layout"), too much to spend on
    // every catalog change of a server whose users never pick it, and it keeps the picked map
    // current without a wait after each ingest.
    bool umap_used = false;
    {
        std::lock_guard lock(ctx.mu);
        umap_used = ctx.maps.count({model, "umap"}) != 0;
    }
    if (umap_used) {
        for (std::int64_t max_points : {10'000, 50'000}) {
            auto text = map_text(ctx, model, "umap", max_points, true, false);
            if (!text)
                return tl::unexpected(text.error());
        }
    }
    std::lock_guard lock(ctx.mu);
    auto it = ctx.maps.find({model, kDefaultMapLayout});
    return it == ctx.maps.end() || !it->second.coords ? 0 : it->second.coords->generation;
}

MapWarmer::MapWarmer(ServerContext& ctx) : ctx_(ctx), thread_([this] { loop(); }) {}

MapWarmer::~MapWarmer() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void MapWarmer::loop() {
    std::int64_t mapped = -1;  // generation of the map made last
    std::int64_t seen = -1;    // generation at the previous poll
    bool first = true;
    for (;;) {
        if (!first) {
            std::unique_lock lock(mu_);
            if (cv_.wait_for(lock, kPoll, [this] { return stopping_; }))
                return;
        } else {
            std::lock_guard lock(mu_);
            if (stopping_)
                return;
        }
        const std::string model = resolve_model(ctx_.engine, std::nullopt);
        auto generation = ctx_.engine.catalog().space_generation(model);
        if (!generation) {  // no such space (yet): look again at the next poll
            first = false;
            continue;
        }
        const bool settled = first || *generation == seen;
        seen = *generation;
        first = false;
        if (*generation == mapped || !settled)
            continue;
        auto warmed = warm_map(ctx_);
        if (!warmed) {
            log_warning("serve: computing the library map: {}", warmed.error().to_string());
            mapped = *generation;  // not again until the catalog changes
            continue;
        }
        mapped = std::max(*warmed, *generation);
    }
}

namespace {}  // namespace

Result<nlohmann::json> models_answer(ServerContext& ctx) {
    std::shared_ptr<const nlohmann::json> listing;
    {
        std::lock_guard lock(ctx.mu);
        listing = ctx.models_body;
    }
    if (!listing) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& m : list_models(ctx.options.models_dir)) {
            arr.push_back({{"name", m.name},
                           {"description", m.description},
                           {"license", m.license},
                           {"weights_found", m.weights_found},
                           {"dim", m.dim},
                           {"sample_rate_hz", m.sample_rate_hz},
                           {"n_labels", m.n_labels}});
        }
        listing = std::make_shared<const nlohmann::json>(std::move(arr));
        std::lock_guard lock(ctx.mu);
        ctx.models_body = listing;
    }
    EARSHOT_ASSIGN_OR_RETURN(auto spaces, ctx.engine.catalog().spaces());
    std::map<std::string, std::int64_t> in_catalog;
    for (const auto& s : spaces) in_catalog[s.space] = s.n_items;
    nlohmann::json models = nlohmann::json::array();
    for (auto m : *listing) {
        auto it = in_catalog.find(m["name"].get<std::string>());
        m["items"] = it == in_catalog.end() ? 0 : it->second;
        if (it != in_catalog.end())
            in_catalog.erase(it);
        models.push_back(std::move(m));
    }
    for (const auto& s : spaces) {  // spaces without a model (imported vectors): search by id
        if (in_catalog.count(s.space) == 0)
            continue;
        models.push_back({{"name", s.space},
                          {"description", "imported vectors (search by item only)"},
                          {"license", ""},
                          {"weights_found", false},
                          {"dim", s.dim},
                          {"sample_rate_hz", 0},
                          {"n_labels", 0},
                          {"items", s.n_items}});
    }
    return nlohmann::json{{"default", resolve_model(ctx.engine, std::nullopt)},
                          {"models", std::move(models)}};
}

Result<nlohmann::json> stats_answer(ServerContext& ctx) {
    EARSHOT_ASSIGN_OR_RETURN(auto st, ctx.engine.catalog().stats());
    auto j = stats_json(st, ctx.engine.catalog().path().string());
    j["max_upload_bytes"] = ctx.options.max_upload_bytes;  // the page checks before sending
    return j;
}

Result<nlohmann::json> boot_answer(ServerContext& ctx) {
    EARSHOT_ASSIGN_OR_RETURN(auto stats, stats_answer(ctx));
    EARSHOT_ASSIGN_OR_RETURN(auto models, models_answer(ctx));
    return nlohmann::json{{"stats", std::move(stats)}, {"models", std::move(models)}};
}

namespace {

// Digits to int64, saturating at INT64_MAX; -1 for "".
std::int64_t saturating_int(const std::string& digits) {
    if (digits.empty())
        return -1;
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec == std::errc::result_out_of_range)
        return std::numeric_limits<std::int64_t>::max();
    return ptr == digits.data() + digits.size() ? v : -1;
}

}  // namespace

bool serve_clamped_range(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    static const std::regex path_re(R"(/api/items/([^/]+)/(audio|download))");
    static const std::regex range_re(R"(bytes=\s*(\d*)-(\d*)\s*)");
    std::smatch pm, rm;
    const std::string range = req.get_header_value("Range");
    if (req.method != "GET" || !std::regex_match(req.path, pm, path_re) ||
        !std::regex_match(range, rm, range_re) || (rm[1].length() == 0 && rm[2].length() == 0))
        return false;
    auto& ranges = const_cast<httplib::Request&>(req).ranges;
    ranges.clear();
    std::int64_t first = saturating_int(rm[1].str());
    std::int64_t last = saturating_int(rm[2].str());
    if (first >= 0 && last >= 0 && first > last)
        return false;
    res.status = 200;
    auto opened = open_item(ctx, pm[1].str(), res);
    if (!opened)
        return true;
    httplib::Request clamped = req;
    clamped.ranges = {{first, last}};
    const bool inline_ = pm[2].str() == "audio";
    serve_file(clamped, res, *opened,
               content_disposition(inline_ ? "inline" : "attachment", opened->item.name));
    return true;
}

void register_library_routes(httplib::Server& server, ServerContext& ctx) {
    server.Get("/health", [&ctx](const httplib::Request&, httplib::Response& res) {
        auto n = ctx.engine.catalog().count_items();
        if (!n)
            return send_json(res, {{"status", "error"}, {"message", n.error().message()}}, 503);
        send_json(res, {{"status", "ok"}, {"items", *n}});
    });
    server.Get("/api/stats", [&ctx](const httplib::Request&, httplib::Response& res) {
        auto j = stats_answer(ctx);
        if (!j)
            return send_error(res, j.error());
        send_json(res, *j);
    });
    server.Get("/api/models", [&ctx](const httplib::Request&, httplib::Response& res) {
        auto j = models_answer(ctx);
        if (!j)
            return send_error(res, j.error());
        send_json(res, *j);
    });
    server.Get("/api/map", [&ctx](const httplib::Request& req, httplib::Response& res) {
        handle_map(ctx, req, res);
    });
    server.Get("/api/items", [&ctx](const httplib::Request& req, httplib::Response& res) {
        handle_items(ctx, req, res);
    });
    server.Get("/api/tags", [&ctx](const httplib::Request& req, httplib::Response& res) {
        handle_tags(ctx, req, res);
    });
    server.Get("/api/folders", [&ctx](const httplib::Request& req, httplib::Response& res) {
        handle_folders(ctx, req, res);
    });
    server.Get(R"(/api/items/([^/]+))",
               [&ctx](const httplib::Request& req, httplib::Response& res) {
                   handle_item(ctx, req, res);
               });
    server.Get(
        R"(/api/items/([^/]+)/audio)", [&ctx](const httplib::Request& req, httplib::Response& res) {
            auto opened = open_item(ctx, req.matches[1].str(), res);
            if (opened)
                serve_file(req, res, *opened, content_disposition("inline", opened->item.name));
        });
    server.Get(R"(/api/items/([^/]+)/download)", [&ctx](const httplib::Request& req,
                                                        httplib::Response& res) {
        auto opened = open_item(ctx, req.matches[1].str(), res);
        if (opened)
            serve_file(req, res, *opened, content_disposition("attachment", opened->item.name));
    });
    server.Get(R"(/api/items/([^/]+)/waveform)",
               [&ctx](const httplib::Request& req, httplib::Response& res) {
                   handle_waveform(ctx, req, res);
               });
    // Anything else under /api/ is a JSON 404 (the static route below excludes /api/).
    server.Get(R"(/api/.*)", [](const httplib::Request& req, httplib::Response& res) {
        send_json(
            res,
            error_json("NotFound", fmt::format("no API endpoint GET {}", req.path.substr(0, 200))),
            404);
    });
}

}  // namespace earshot::server
