#include "cli/cmd_search.h"

#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "engine/json_shapes.h"

namespace earshot::cli {
namespace {

struct SearchCliOptions {
    CommonOptions common;
    std::string query;
    std::string metric_pos;
    std::string k_pos;
    std::string metric;
    std::size_t k = 10;
    bool k_given = false;
    std::string model;
    std::optional<double> min_duration;
    std::optional<double> max_duration;
    std::string id;  // catalog id, or an imported record's key / a stored path
    std::string index;
    std::size_t ef_search = 0;
    std::size_t nprobe = 0;
    std::string by;
    std::vector<std::string> tags;
    std::string folder;
    bool allow_silent = false;
    bool json = false;
};

Result<SearchRequest> make_request(const SearchCliOptions& o) {
    SearchRequest req;
    req.model = o.model;
    std::string metric_name_in = o.metric.empty() ? o.metric_pos : o.metric;
    if (!o.metric.empty() && !o.metric_pos.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "give the metric either as a positional argument or with --metric");
    }
    if (!metric_name_in.empty()) {
        EARSHOT_ASSIGN_OR_RETURN(req.metric, parse_metric(metric_name_in));
    }
    req.k = o.k;
    if (!o.k_pos.empty()) {
        if (o.k_given) {
            return make_error(ErrorCode::kInvalidArgument,
                              "give k either as a positional argument or with -k");
        }
        try {
            std::size_t used = 0;
            long long v = std::stoll(o.k_pos, &used);
            if (used != o.k_pos.size() || v <= 0)
                throw std::invalid_argument("k");
            req.k = static_cast<std::size_t>(v);
        } catch (const std::exception&) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("K must be a positive integer, got '{}'", o.k_pos));
        }
    }
    if (req.k == 0)
        return make_error(ErrorCode::kInvalidArgument, "-k must be at least 1");
    req.index = o.index;
    req.ef_search = o.ef_search;
    req.nprobe = o.nprobe;
    EARSHOT_ASSIGN_OR_RETURN(req.by, parse_search_by(o.by));
    req.filter.tags = o.tags;
    req.filter.folder = folder_filter(o.folder);
    req.allow_silent = o.allow_silent;
    req.min_duration_s = o.min_duration;
    req.max_duration_s = o.max_duration;
    if (o.min_duration && o.max_duration && *o.min_duration > *o.max_duration) {
        return make_error(ErrorCode::kInvalidArgument, "--min-duration is above --max-duration");
    }
    return req;
}

int run_search(const SearchCliOptions& o) {
    auto req = make_request(o);
    if (!req)
        return report_error("search", req.error());
    if (o.query.empty() == o.id.empty()) {
        return report_error(
            "search", Error(ErrorCode::kInvalidArgument,
                            o.id.empty() ? "give a query audio file or --id ID"
                                         : "give either a query audio file or --id, not both"));
    }
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("search", engine.error());
    Result<SearchResponse> resp = make_error(ErrorCode::kInternal, "no search ran");
    if (!o.id.empty()) {
        auto id = (*engine)->resolve_item(o.id);
        if (!id)
            return report_error("search", id.error());
        resp = (*engine)->search_id(*id, *req);
    } else {
        resp = (*engine)->search_file(o.query, *req);
    }
    if (!resp)
        return report_error("search", resp.error());
    if (o.json) {
        print_json(search_response_json(*resp));
        return 0;
    }
    fmt::print("query: {}  (model {}, metric {})\n", resp->query, resp->model,
               metric_name(resp->metric));
    if (resp->results.empty()) {
        fmt::print("no results\n");
        return 0;
    }
    const bool spans = resp->by == SearchBy::kSegments;
    fmt::print("{:>4}  {:>7}  {:>9}  {:>7}  {}{}\n", "rank", "score", "distance", "dur(s)",
               spans ? "query span -> item span (s)  " : "", "path");
    for (const auto& r : resp->results) {
        std::string where;
        if (r.match) {
            where = fmt::format("{:6.2f}-{:<6.2f} -> {:7.2f}-{:<7.2f} ", r.match->query_start_s,
                                r.match->query_end_s, r.match->item_start_s, r.match->item_end_s);
        }
        std::string tags;
        for (const auto& t : r.tags) tags += (tags.empty() ? "  [" : ", ") + t.tag;
        if (!tags.empty())
            tags += "]";
        fmt::print("{:>4}  {:>7.4f}  {:>9.4f}  {:>7.2f}  {}{}{}{}\n", r.rank, r.score, r.distance,
                   r.duration_s, where, r.path, r.same_recording ? "  [same recording]" : "", tags);
    }
    return 0;
}

}  // namespace

void setup_search(CLI::App& app) {
    auto opts = std::make_shared<SearchCliOptions>();
    auto* cmd = app.add_subcommand("search", "Find the catalog items that sound most like a file");
    cmd->add_option("query", opts->query, "Query audio file (indexed or not)");
    cmd->add_option("metric_pos", opts->metric_pos,
                    "Metric, seed-style positional form (same as --metric)");
    cmd->add_option("k_pos", opts->k_pos, "Number of results, positional form (same as -k)");
    add_common_options(*cmd, opts->common);
    cmd->add_option("-k", opts->k, "Number of results")
        ->capture_default_str()
        ->each([opts](const std::string&) { opts->k_given = true; });
    cmd->add_option("--metric", opts->metric,
                    "cosine (default), euclidean, manhattan or correlation; the aliases "
                    "cosine_similarity, euclidean_distance, manhattan_distance, "
                    "correlation_distance are accepted");
    cmd->add_option("--model,--space", opts->model, model_help())->envname("EARSHOT_MODEL");
    cmd->add_option("--index", opts->index, index_spec_help());
    cmd->add_option("--ef-search", opts->ef_search, index_ef_search_help());
    cmd->add_option("--nprobe", opts->nprobe, index_nprobe_help());
    cmd->add_option("--min-duration", opts->min_duration, "Only items at least this long (s)");
    cmd->add_option("--max-duration", opts->max_duration, "Only items at most this long (s)");
    cmd->add_option("--id", opts->id,
                    "Search with a catalog item's stored vector instead of a file: its id (as "
                    "`earshot list` shows), an imported record's key, or its stored path");
    cmd->add_option("--by", opts->by,
                    "items (default): whole-item vectors; segments: the query's segments "
                    "against every stored segment, each result says where it matched");
    cmd->add_option("--tag", opts->tags,
                    "Only items with this tag (repeatable: every tag must match; whole tag "
                    "name, case-insensitive; `earshot tags` lists them)");
    cmd->add_option("--folder", opts->folder, "Only items under this folder");
    cmd->add_flag("--allow-silent", opts->allow_silent,
                  "Search even if the query is silent (peak below -50 dBFS; refused otherwise, "
                  "exit code 8)");
    cmd->add_flag("--json", opts->json, "JSON output (format in docs/cli.md)");
    cmd->footer(
        "Examples:\n  earshot search kick.wav --db lib.earshot -k 5\n"
        "  earshot search kick.wav euclidean_distance 5 --db lib.earshot\n"
        "The query file itself (same path or identical bytes) is left out of the results.");
    cmd->callback([opts] { throw CLI::RuntimeError(run_search(*opts)); });
}

}  // namespace earshot::cli
