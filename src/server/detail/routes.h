// Internal to server/: the state the route handlers share, and the helpers they use to answer.
// httplib types are only forward-declared here; the .cpp files include <httplib.h>.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/map_coords.h"
#include "engine/waveform.h"
#include "server/http_server.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace earshot::server {

// A serialised /api/map answer and its gzip encoding (compressed once, not per request: 7 MB
// of 50k points took ~0.2 s to gzip).
struct MapText {
    std::string json;
    std::string gzip;  // empty if compression failed
};

// The map of one (model, layout) as served: the coordinates (Engine::map_coords) joined with the
// items' names, folders and durations. Current while the engine hands out the same coordinates
// and the library root is unchanged.
struct MapEntry {
    std::shared_ptr<const MapCoords> coords;
    std::string root;  // library_root() the folders are relative to
    std::shared_ptr<const nlohmann::json> body;
    // The serialised answers by (max_points (0 = all), columns format): dumping 100k points
    // takes ~0.5 s.
    std::map<std::pair<std::int64_t, bool>, std::shared_ptr<const MapText>> dumps;
};

// Admission for uploads (decode + embed): at most `running` at once and `waiting` more in line;
// beyond that the request is refused (503 + Retry-After) before its body is read, so uploads
// can neither pile up memory nor take every worker, and searches by id keep answering.
class EmbedGate {
public:
    EmbedGate(int running, int waiting) : max_running_(running), max_line_(running + waiting) {}
    // Takes a place in line; false when the line is full.
    bool enter();
    // Gives back a place taken by enter().
    void leave();
    // Having entered: waits for a running slot until deadline; false on timeout.
    bool start(std::chrono::steady_clock::time_point deadline);
    void finish();
    int max_running() const { return max_running_; }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    const int max_running_;
    const int max_line_;
    int running_ = 0;
    int in_line_ = 0;  // running + waiting
};

// A place in an EmbedGate's line (RAII): left on destruction, finishing first if started.
class EmbedTicket {
public:
    explicit EmbedTicket(EmbedGate& gate)
        : gate_(gate), admitted_(std::chrono::steady_clock::now()) {}
    ~EmbedTicket();
    EmbedTicket(const EmbedTicket&) = delete;
    EmbedTicket& operator=(const EmbedTicket&) = delete;
    bool start(std::chrono::steady_clock::time_point deadline);
    std::chrono::steady_clock::time_point admitted() const { return admitted_; }

private:
    EmbedGate& gate_;
    std::chrono::steady_clock::time_point admitted_;
    bool started_ = false;
};

struct ServerContext {
    Engine& engine;
    ServerOptions options;

    // The caches below are protected by mu (each value is computed outside the lock and then
    // published; a race only computes the same value twice).
    std::mutex mu;
    std::map<std::pair<std::string, std::string>, MapEntry> maps;  // by (model, layout)
    std::mutex map_build_mu;  // held while joining coordinates with the items (current_map)
    std::shared_ptr<const nlohmann::json> models_body;  // GET /api/models (list_models is slow)
    std::map<std::pair<std::int64_t, std::size_t>, std::shared_ptr<const nlohmann::json>>
        waveforms;  // by (item id, points); bounded by kMaxCachedWaveforms
    static constexpr std::size_t kMaxCachedWaveforms = 4096;
    std::int64_t root_count = -1;  // item count when root was computed
    std::string root;              // the items' common folder (for "folder" fields)

    std::unique_ptr<EmbedGate> gate;  // uploads

    ServerContext(Engine& e, ServerOptions o) : engine(e), options(std::move(o)) {}
};

// The ticket the pre-routing check took for this thread's current upload (nullptr if none);
// the search handler takes it over.
std::unique_ptr<EmbedTicket> take_upload_ticket();
// Refuses a request with 503, Retry-After and a JSON body; the connection is closed afterwards
// (its body may be unread).
void send_busy(httplib::Response& res, const std::string& message, int retry_after_s);
// GET /api/items/<id>/audio|download whose Range header httplib rejected as unparsable although
// it is a single range with a huge end (e.g. bytes=0-18446744073709551615): serves it clamped to
// the file. False if the request is not such a case.
bool serve_clamped_range(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
// gzip (RFC 1952) of `data` at the default level; empty on failure.
std::string gzip_text(const std::string& data);

// The bodies of GET /api/stats and GET /api/models.
Result<nlohmann::json> stats_answer(ServerContext& ctx);
Result<nlohmann::json> models_answer(ServerContext& ctx);
// What the page needs before its first request, written into index.html (web/app.js reads it
// instead of asking): {"stats": GET /api/stats, "models": GET /api/models}.
Result<nlohmann::json> boot_answer(ServerContext& ctx);

// Makes httplib answer a client that accepts brotli with gzip instead: httplib compresses with
// brotli at quality 11, ~5 ms per KB (the 60 KB app.js: 0.3 s per load; a 7 MB map of 50k points:
// 54 s), gzip in a fraction of that (the map: 0.5 s).
void prefer_gzip(const httplib::Request& req);
// True when the request may pass (no token configured, or it carries the token).
bool authorized(const ServerContext& ctx, const httplib::Request& req);
// 401 with WWW-Authenticate.
void send_unauthorized(httplib::Response& res);

void register_search_routes(httplib::Server& server, ServerContext& ctx);
void register_library_routes(httplib::Server& server, ServerContext& ctx);
// GET /api/zip?ids= (zip_stream.cpp); before register_library_routes' /api/ catch-all.
void register_zip_routes(httplib::Server& server, ServerContext& ctx);

// Answers with a JSON body and status.
void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);
// Answers with the error's JSON and its mapped status (json_codec.h), or status if given.
void send_error(httplib::Response& res, const Error& error, int status = 0);

// A request parameter from (in order) a multipart form field, the query string / urlencoded
// body, or a top-level member of a JSON body. nullopt if absent.
std::optional<std::string> request_param(const httplib::Request& req, const std::string& name);

// Every value of a repeatable parameter, in order: multipart form fields, then the query
// string / urlencoded body, then a JSON body member (a string, or an array of strings).
std::vector<std::string> request_params(const httplib::Request& req, const std::string& name);

// The file of an item's key on this machine: an absolute, normal key as it is; a library-relative
// key (indexed with --root) under ServerOptions::library_root, unless it climbs out of it ("..").
// Empty when the item has no usable file here (a relative key and no --root, or a bad key).
std::filesystem::path item_file_path(const ServerOptions& options, const std::string& key);

// The items' common folder (recomputed when the item count changes): what `folder` fields and
// the folder= filter are relative to.
std::string library_root(ServerContext& ctx);

// The map of (model, layout) current with the catalog (the one place the server caches maps):
// the coordinates from Engine::map_coords (allow_stale: the previous ones while another request
// computes new ones), joined with the items once per coordinates and library root. Errors as
// Engine::map_coords; kNotFound names the catalog's spaces.
Result<std::shared_ptr<const nlohmann::json>> current_map(ServerContext& ctx,
                                                          const std::string& model,
                                                          const std::string& layout,
                                                          bool allow_stale);
// Computes the default model's map and the answers the page asks for first (web/app.js:
// MAP_FIRST_POINTS, then MAP_MAX_POINTS points as columns), so the first visit does not wait;
// the same for layout=umap once a request has asked for that layout. Returns the space's
// generation the default map reflects.
Result<std::int64_t> warm_map(ServerContext& ctx);

// A thread that runs warm_map after the server starts, then again whenever the default model's
// catalog generation has moved and then stayed put for one poll (kPoll: one O(1) query), so a
// running ingest is mapped when it pauses, not after every batch. Stops (and joins) on
// destruction.
class MapWarmer {
public:
    static constexpr std::chrono::milliseconds kPoll{2000};
    explicit MapWarmer(ServerContext& ctx);
    ~MapWarmer();
    MapWarmer(const MapWarmer&) = delete;
    MapWarmer& operator=(const MapWarmer&) = delete;

private:
    void loop();
    ServerContext& ctx_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;  // protected by mu_
    std::thread thread_;
};

// The tag= (repeatable) and folder= filters of a request, and q= when with_query. folder= is
// relative to library_root (or absolute). kInvalidArgument for more than kMaxTagFilters tags, a
// value over 1000 bytes (q: 500) or a value with a NUL byte. Empty values are ignored.
inline constexpr std::size_t kMaxTagFilters = 16;
Result<ItemFilter> parse_item_filter(const httplib::Request& req,
                                     const std::string& root,
                                     bool with_query);

// Parses a strictly decimal, positive item id ("12"; not "+12", "12x", "1/..", "0").
Result<std::int64_t> parse_item_id(std::string_view text);
// "1,2,3" → the distinct ids in their first order; at most `max_ids` distinct ids.
Result<std::vector<std::int64_t>> parse_item_id_list(std::string_view text, std::size_t max_ids);
// Parses an integer in [min, max]; kInvalidArgument naming the parameter otherwise.
Result<std::int64_t> parse_int_param(std::string_view name,
                                     std::string_view text,
                                     std::int64_t min,
                                     std::int64_t max);
// Parses a finite number >= 0; kInvalidArgument naming the parameter otherwise.
Result<double> parse_seconds_param(std::string_view name, std::string_view text);

// The model a request means: the given name, else the default model if the catalog has it, else
// the catalog's first space, else the default model (whose search then reports kNotFound).
std::string resolve_model(Engine& engine, const std::optional<std::string>& given);

}  // namespace earshot::server
