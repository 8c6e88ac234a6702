// The small catalog-management subcommands: list, info, remove, models.
#include "cli/cmd_library.h"

#include <map>
#include <memory>

#include <fmt/format.h>

#include "catalog/ingest_queue.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "engine/json_shapes.h"

namespace earshot::cli {
namespace {

struct ListCliOptions {
    CommonOptions common;
    std::string query;
    std::vector<std::string> tags;
    std::string folder;
    std::int64_t offset = 0;
    std::int64_t limit = 100;
    bool json = false;
};

int run_list(const ListCliOptions& o) {
    auto engine = open_engine(o.common, false);
    if (!engine)
        return report_error("list", engine.error());
    auto& cat = (*engine)->catalog();
    ItemFilter filter(o.query);
    filter.tags = o.tags;
    filter.folder = folder_filter(o.folder);
    auto items = cat.list_items(o.offset, o.limit, filter);
    if (!items)
        return report_error("list", items.error());
    auto total = cat.count_items(filter);
    if (!total)
        return report_error("list", total.error());
    std::vector<std::int64_t> ids;
    for (const auto& it : *items) ids.push_back(it.id);
    auto tags = cat.get_tags(ids);
    if (!tags)
        return report_error("list", tags.error());
    std::map<std::int64_t, std::vector<TagScore>> tags_of;
    for (auto& t : *tags) tags_of[t.item_id] = std::move(t.tags);
    if (o.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& it : *items) {
            auto j = item_json(it);
            j["tags"] = tags_json(tags_of[it.id]);
            arr.push_back(std::move(j));
        }
        print_json({{"total", *total}, {"offset", o.offset}, {"items", arr}});
        return 0;
    }
    for (const auto& it : *items) {
        std::string t;
        for (const auto& tag : tags_of[it.id]) t += (t.empty() ? "" : ", ") + tag.tag;
        fmt::print("{:>6}  {:>7.2f}s  {:<24}  {}\n", it.id, it.duration_s, t.substr(0, 24),
                   it.path);
    }
    fmt::print("{} of {} item(s)\n", items->size(), *total);
    return 0;
}

struct TagsCliOptions {
    CommonOptions common;
    std::string query;
    std::vector<std::string> tags;
    std::string folder;
    bool json = false;
};

int run_tags(const TagsCliOptions& o) {
    auto engine = open_engine(o.common, false);
    if (!engine)
        return report_error("tags", engine.error());
    ItemFilter filter(o.query);
    filter.tags = o.tags;
    filter.folder = folder_filter(o.folder);
    auto counts = (*engine)->catalog().tag_counts(filter);
    if (!counts)
        return report_error("tags", counts.error());
    if (o.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& c : *counts) {
            nlohmann::json row = nlohmann::json::object();
            put_bytes_field(row, "tag", c.name);
            row["count"] = c.count;
            arr.push_back(std::move(row));
        }
        print_json({{"tags", arr}});
        return 0;
    }
    for (const auto& c : *counts) fmt::print("{:>7}  {}\n", c.count, c.name);
    if (counts->empty())
        fmt::print("no tags (earshot reindex --tags fills them for an existing catalog)\n");
    return 0;
}

struct InfoCliOptions {
    CommonOptions common;
    bool json = false;
};

int run_info(const InfoCliOptions& o) {
    auto engine = open_engine(o.common, false);
    if (!engine)
        return report_error("info", engine.error());
    auto st = (*engine)->catalog().stats();
    if (!st)
        return report_error("info", st.error());
    // PostgreSQL catalogs: the shared ingest queue and its workers.
    IngestQueue* queue = (*engine)->ingest_queue();
    JobCounts jobs;
    std::vector<WorkerStatus> workers;
    if (queue) {
        auto counts = queue->job_counts("");
        if (!counts)
            return report_error("info", counts.error());
        jobs = *counts;
        auto w = queue->workers();
        if (!w)
            return report_error("info", w.error());
        workers = std::move(*w);
    }
    if (o.json) {
        auto j = stats_json(*st, redact_uri(o.common.db));
        if (queue) {
            j["jobs"] = {{"queued", jobs.queued},
                         {"running", jobs.running},
                         {"done", jobs.done},
                         {"failed", jobs.failed}};
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& w : workers) {
                arr.push_back({{"name", w.name},
                               {"model", w.space},
                               {"state", w.state},
                               {"running", w.running},
                               {"done", w.done},
                               {"failed", w.failed},
                               {"seconds_since_heartbeat", w.seconds_since_heartbeat}});
            }
            j["workers"] = std::move(arr);
        }
        print_json(j);
        return 0;
    }
    fmt::print("catalog   {}\nitems     {}\naudio     {} in {:.1f} MB\ncatalog   {:.1f} MB\n",
               redact_uri(o.common.db), st->n_items, format_duration(st->total_duration_s),
               static_cast<double>(st->total_bytes) / 1e6,
               static_cast<double>(st->file_bytes) / 1e6);
    for (const auto& s : st->spaces) {
        fmt::print("model     {:<12} {:>5}-d  {} items, {} segments\n", s.space, s.dim, s.n_items,
                   s.n_segments);
    }
    if (queue) {
        fmt::print("jobs      {} queued, {} in progress, {} done, {} failed\n", jobs.queued,
                   jobs.running, jobs.done, jobs.failed);
        for (const auto& w : workers) {
            fmt::print(
                "worker    {:<24} {:<8} {:<10} {} in progress, {} done, {} failed, "
                "heartbeat {:.0f} s ago\n",
                w.name, w.space, w.state, w.running, w.done, w.failed, w.seconds_since_heartbeat);
        }
        if (jobs.failed > 0) {
            auto failed = queue->failed_jobs("", 20);
            if (failed) {
                for (const auto& f : *failed) fmt::print("failed    {}: {}\n", f.key, f.reason);
            }
        }
    }
    return 0;
}

struct RemoveCliOptions {
    CommonOptions common;
    std::vector<std::string> paths;
};

int run_remove(const RemoveCliOptions& o) {
    auto engine = open_engine(o.common, false);
    if (!engine)
        return report_error("remove", engine.error());
    auto n = (*engine)->remove_paths(o.paths);
    if (!n)
        return report_error("remove", n.error());
    fmt::print("removed {} item(s)\n", *n);
    if (*n < static_cast<std::int64_t>(o.paths.size())) {
        fmt::print(stderr, "earshot remove: {} path(s) were not in the catalog\n",
                   static_cast<std::int64_t>(o.paths.size()) - *n);
        return static_cast<int>(ExitCode::kNotFound);
    }
    return 0;
}

struct ModelsCliOptions {
    CommonOptions common;
    bool json = false;
};

int run_models(const ModelsCliOptions& o) {
    auto models = list_models(o.common.models_dir);
    if (o.json) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& m : models) {
            arr.push_back({{"name", m.name},
                           {"description", m.description},
                           {"license", m.license},
                           {"dim", m.dim},
                           {"sample_rate_hz", m.sample_rate_hz},
                           {"labels", m.n_labels},
                           {"weights_found", m.weights_found},
                           {"location", m.location},
                           {"default", m.name == default_model()}});
        }
        print_json({{"models", arr}});
        return 0;
    }
    fmt::print("{:<12} {:>5} {:>6} {:<11} {:<7} {}\n", "name", "dim", "rate", "licence", "weights",
               "location");
    for (const auto& m : models) {
        fmt::print("{:<12} {:>5} {:>6} {:<11} {:<7} {}\n",
                   m.name + (m.name == default_model() ? "*" : ""), m.dim, m.sample_rate_hz,
                   m.license, m.weights_found ? "found" : "MISSING", m.location);
    }
    fmt::print(
        "* default model. Also: torchscript:PATH for an exported TorchScript model with a "
        "model card (docs/models.md).\n");
    return 0;
}

}  // namespace

void setup_list(CLI::App& app) {
    auto opts = std::make_shared<ListCliOptions>();
    auto* cmd = app.add_subcommand("list", "List catalog items");
    add_common_options(*cmd, opts->common);
    cmd->add_option("--query", opts->query, "Case-insensitive text filter on path/name/tags");
    cmd->add_option("--tag", opts->tags,
                    "Only items with this tag (repeatable: every tag must match; whole tag "
                    "name, case-insensitive)");
    cmd->add_option("--folder", opts->folder, "Only items under this folder");
    cmd->add_option("--offset", opts->offset, "Skip this many items")->capture_default_str();
    cmd->add_option("--limit", opts->limit, "At most this many items")->capture_default_str();
    cmd->add_flag("--json", opts->json, "JSON output");
    cmd->callback([opts] { throw CLI::RuntimeError(run_list(*opts)); });
}

void setup_tags(CLI::App& app) {
    auto opts = std::make_shared<TagsCliOptions>();
    auto* cmd = app.add_subcommand("tags", "Tags with how many items carry each (facets)");
    add_common_options(*cmd, opts->common);
    cmd->add_option("--query", opts->query, "Only items matching this text (path/name/tags)");
    cmd->add_option("--tag", opts->tags, "Only items with this tag (repeatable)");
    cmd->add_option("--folder", opts->folder, "Only items under this folder");
    cmd->add_flag("--json", opts->json, "JSON output");
    cmd->callback([opts] { throw CLI::RuntimeError(run_tags(*opts)); });
}

void setup_info(CLI::App& app) {
    auto opts = std::make_shared<InfoCliOptions>();
    auto* cmd = app.add_subcommand("info", "Catalog statistics: items, models, sizes");
    add_common_options(*cmd, opts->common);
    cmd->add_flag("--json", opts->json, "JSON output");
    cmd->callback([opts] { throw CLI::RuntimeError(run_info(*opts)); });
}

void setup_remove(CLI::App& app) {
    auto opts = std::make_shared<RemoveCliOptions>();
    auto* cmd = app.add_subcommand("remove", "Remove items (by path) from the catalog");
    cmd->add_option("paths", opts->paths, "Paths as indexed (relative paths are made absolute)")
        ->required();
    add_common_options(*cmd, opts->common);
    cmd->callback([opts] { throw CLI::RuntimeError(run_remove(*opts)); });
}

void setup_models(CLI::App& app) {
    auto opts = std::make_shared<ModelsCliOptions>();
    auto* cmd = app.add_subcommand("models", "List embedding models and where their weights are");
    add_common_options(*cmd, opts->common, /*with_db=*/false);
    cmd->add_flag("--json", opts->json, "JSON output");
    cmd->callback([opts] { throw CLI::RuntimeError(run_models(*opts)); });
}

}  // namespace earshot::cli
