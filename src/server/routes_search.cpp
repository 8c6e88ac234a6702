// POST /api/search: by uploaded audio (multipart field `file`) or by library item (`id`).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <span>

#include <fmt/format.h>
#include <httplib.h>

#include "index/metric.h"
#include "index/vector_index.h"
#include "server/detail/routes.h"
#include "server/json_codec.h"

namespace earshot::server {
namespace {

constexpr std::int64_t kMaxK = 1000;
constexpr std::size_t kMaxCentroidIds = 1000;

Result<SearchRequest> parse_search_request(const httplib::Request& req, ServerContext& ctx) {
    Engine& engine = ctx.engine;
    SearchRequest sr;
    EARSHOT_ASSIGN_OR_RETURN(sr.filter, parse_item_filter(req, library_root(ctx), true));
    sr.model = resolve_model(engine, request_param(req, "model"));
    if (auto metric = request_param(req, "metric"); metric && !metric->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(sr.metric, parse_metric(*metric));
    }
    if (auto k = request_param(req, "k"); k && !k->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(auto kv, parse_int_param("k", *k, 1, kMaxK));
        sr.k = static_cast<std::size_t>(kv);
    }
    if (auto v = request_param(req, "min_duration"); v && !v->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(sr.min_duration_s, parse_seconds_param("min_duration", *v));
    }
    if (auto v = request_param(req, "max_duration"); v && !v->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(sr.max_duration_s, parse_seconds_param("max_duration", *v));
    }
    if (auto v = request_param(req, "index"); v && !v->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(auto spec, parse_index_spec(*v));
        sr.index = spec.text;
    }
    if (auto v = request_param(req, "ef_search"); v && !v->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(auto ef, parse_int_param("ef_search", *v, 1, 100000));
        sr.ef_search = static_cast<std::size_t>(ef);
    }
    if (auto v = request_param(req, "nprobe"); v && !v->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(auto np, parse_int_param("nprobe", *v, 1, 1 << 20));
        sr.nprobe = static_cast<std::size_t>(np);
    }
    if (auto v = request_param(req, "by"); v && !v->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(sr.by, parse_search_by(*v));
    }
    if (auto v = request_param(req, "start"); v && !v->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(sr.query_start_s, parse_seconds_param("start", *v));
    }
    if (auto v = request_param(req, "end"); v && !v->empty()) {
        EARSHOT_ASSIGN_OR_RETURN(sr.query_end_s, parse_seconds_param("end", *v));
    }
    if (auto v = request_param(req, "allow_silent"); v && !v->empty()) {
        if (*v == "1" || *v == "true")
            sr.allow_silent = true;
        else if (*v != "0" && *v != "false")
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("'allow_silent' must be 1, 0, true or false, got '{}'",
                                          v->substr(0, 64)));
    }
    if (sr.min_duration_s && sr.max_duration_s && *sr.min_duration_s > *sr.max_duration_s) {
        return make_error(ErrorCode::kInvalidArgument, "min_duration is above max_duration");
    }
    return sr;
}

// ids=1,2,3: the mean of the items' L2-normalised whole-file vectors is the query ("search like
// these"); the given items are left out of the results.
Result<SearchResponse> search_centroid(Engine& engine, const std::string& text, SearchRequest sr) {
    EARSHOT_ASSIGN_OR_RETURN(auto ids, parse_item_id_list(text, kMaxCentroidIds));
    if (sr.by == SearchBy::kSegments) {
        return make_error(ErrorCode::kInvalidArgument,
                          "`ids` searches compare whole files (by=items)");
    }
    const std::string model = sr.model;  // resolved by parse_search_request
    std::vector<double> sum;
    for (auto id : ids) {
        EARSHOT_ASSIGN_OR_RETURN(auto v, engine.catalog().get_embedding(id, model));
        if (sum.empty())
            sum.assign(v.size(), 0.0);
        if (v.size() != sum.size())
            return make_error(ErrorCode::kInternal, "embeddings of different sizes");
        double norm = 0.0;
        for (float x : v) norm += static_cast<double>(x) * x;
        norm = norm > 0.0 ? std::sqrt(norm) : 1.0;
        for (std::size_t i = 0; i < v.size(); ++i) sum[i] += v[i] / norm;
    }
    std::vector<float> centroid(sum.size());
    for (std::size_t i = 0; i < sum.size(); ++i)
        centroid[i] = static_cast<float>(sum[i] / static_cast<double>(ids.size()));
    const std::size_t k = sr.k;
    sr.k = k + ids.size();
    EARSHOT_ASSIGN_OR_RETURN(
        auto resp, engine.search_vector(centroid, fmt::format("{} items", ids.size()), sr));
    std::erase_if(resp.results, [&](const SearchResultItem& r) {
        return std::binary_search(ids.begin(), ids.end(), r.id);
    });
    if (resp.results.size() > k)
        resp.results.resize(k);
    for (std::size_t i = 0; i < resp.results.size(); ++i)
        resp.results[i].rank = static_cast<int>(i + 1);
    return resp;
}

void handle_search(const httplib::Request& req, httplib::Response& res, ServerContext& ctx) {
    // The place in the uploads' line taken before the body was read (big multipart bodies).
    auto ticket = take_upload_ticket();
    auto sr = parse_search_request(req, ctx);
    if (!sr) {
        send_error(res, sr.error());
        return;
    }
    bool has_upload = req.has_file("file") && !req.get_file_value("file").filename.empty();
    auto id_text = request_param(req, "id");
    auto ids_text = request_param(req, "ids");
    if (ids_text && !ids_text->empty()) {
        ticket.reset();
        if (has_upload || (id_text && !id_text->empty())) {
            send_error(res, Error(ErrorCode::kInvalidArgument,
                                  "give one of an uploaded `file`, an `id` or `ids`"));
            return;
        }
        auto resp = search_centroid(ctx.engine, *ids_text, *sr);
        if (!resp) {
            send_error(res, resp.error());
            return;
        }
        send_json(res, search_response_json(*resp));
        return;
    }
    if (has_upload == (id_text && !id_text->empty())) {
        send_error(res, Error(ErrorCode::kInvalidArgument,
                              has_upload ? "give either an uploaded `file` or an `id`, not both"
                                         : "give an audio `file` (multipart upload) or the `id` "
                                           "of a library item"));
        return;
    }
    Result<SearchResponse> resp = make_error(ErrorCode::kInternal, "no search ran");
    if (has_upload) {
        auto file = req.get_file_value("file");
        if (file.content.empty()) {
            send_error(res, Error(ErrorCode::kNotSupported,
                                  fmt::format("'{}' is empty, not audio", file.filename)));
            return;
        }
        std::span<const std::uint8_t> bytes(
            reinterpret_cast<const std::uint8_t*>(file.content.data()), file.content.size());
        if (!ticket) {
            if (!ctx.gate->enter()) {
                send_busy(res, "too many audio searches in progress; retry shortly", 5);
                return;
            }
            ticket = std::make_unique<EmbedTicket>(*ctx.gate);
        }
        const double budget_s = ctx.options.request_budget_s;
        const auto deadline =
            ticket->admitted() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(budget_s));
        if (!ticket->start(deadline)) {
            send_busy(res,
                      fmt::format("the server is busy with other audio searches (waited the "
                                  "{:g} s budget, --request-budget); retry shortly",
                                  budget_s),
                      5);
            return;
        }
        const double max_s = ctx.options.max_query_seconds;
        bool too_long = false;
        bool over_budget = false;
        auto check = [&](double decoded_s) -> Status {
            if (decoded_s > max_s) {
                too_long = true;
                return make_error(
                    ErrorCode::kInvalidArgument,
                    fmt::format("'{}' is longer than the {:g} s limit for query audio (the "
                                "server's --max-query-seconds); upload a shorter excerpt",
                                file.filename, max_s));
            }
            if (std::chrono::steady_clock::now() > deadline) {
                over_budget = true;
                return make_error(ErrorCode::kUnavailable,
                                  fmt::format("'{}' took longer than the {:g} s time budget of "
                                              "a search (--request-budget) to decode",
                                              file.filename, budget_s));
            }
            return ok_status();
        };
        resp = ctx.engine.search_bytes(bytes, file.filename, *sr, check);
        if (!resp && too_long) {
            send_json(res, error_json("PayloadTooLarge", resp.error().message()), 413);
            return;
        }
        if (!resp && over_budget) {
            res.set_header("Retry-After", "30");
            send_error(res, resp.error(), 503);
            return;
        }
        if (!resp && resp.error().code() == ErrorCode::kCorruption) {
            // An upload that looks like a known format but does not decode is the client's
            // problem, not the server's.
            send_error(res, resp.error(), 415);
            return;
        }
    } else {
        ticket.reset();  // a search by id takes no place in the uploads' line
        auto id = ctx.engine.resolve_item(*id_text);  // an id, or an imported record's key
        if (!id) {
            send_error(res, id.error());
            return;
        }
        resp = ctx.engine.search_id(*id, *sr);
    }
    if (!resp && is_silent_query(resp.error())) {
        send_json(res, error_json("SilentQuery", resp.error().message()), 422);
        return;
    }
    if (!resp) {
        send_error(res, resp.error());
        return;
    }
    send_json(res, search_response_json(*resp));
}

}  // namespace

void register_search_routes(httplib::Server& server, ServerContext& ctx) {
    server.Post("/api/search", [&ctx](const httplib::Request& req, httplib::Response& res) {
        handle_search(req, res, ctx);
    });
    server.Get("/api/search", [](const httplib::Request&, httplib::Response& res) {
        res.set_header("Allow", "POST");
        send_json(res,
                  error_json("MethodNotAllowed",
                             "use POST /api/search with a multipart `file` or an `id` field"),
                  405);
    });
}

}  // namespace earshot::server
