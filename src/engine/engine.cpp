#include "engine/engine.h"

#include <algorithm>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "engine/audio_files.h"
#include "engine/dedup.h"
#include "models/model_registry.h"

namespace earshot {
namespace fs = std::filesystem;

std::string default_model() {
    return default_model_name();
}

std::vector<ModelListing> list_models(const fs::path& models_dir) {
    std::vector<ModelListing> out;
    for (const auto& k : model_kinds()) {
        if (k.takes_path)
            continue;  // torchscript:PATH etc. name no model by themselves
        ModelListing l;
        l.name = k.name;
        l.description = k.description;
        l.license = k.license;
        if (*k.folder != '\0') {
            auto dir = find_model_dir(k, models_dir);
            l.weights_found = dir.has_value();
            l.location = dir ? dir->string() : dir.error().message();
        } else {
            l.weights_found = true;
            l.location = "(no weights needed)";
        }
        if (l.weights_found) {
            ModelOptions mo;
            mo.models_dir = models_dir;
            auto m = make_model(k.name, mo);
            if (m) {
                l.dim = (*m)->info().dim;
                l.sample_rate_hz = (*m)->info().sample_rate_hz;
                l.n_labels = (*m)->info().labels.size();
            } else {
                l.weights_found = false;
                l.location = m.error().message();
            }
        }
        out.push_back(std::move(l));
    }
    return out;
}

struct Engine::State {
    EngineOptions options;
    std::unique_ptr<Catalog> catalog;  // thread-safe (serialises its calls)
    std::unique_ptr<IndexCache> indexes;
    std::unique_ptr<MapCache> maps;

    std::mutex models_mu;
    std::map<std::string, std::unique_ptr<EmbeddingModel>> models;  // protected by models_mu

    SearchContext search() { return {*catalog, *indexes, options.threads}; }
    IngestContext ingest() {
        return {*catalog, options.threads, redact_uri(options.db_path.string())};
    }
};

Engine::Engine(std::unique_ptr<State> state) : s_(std::move(state)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& options) {
    auto state = std::make_unique<State>();
    state->options = options;
    CatalogOptions co;
    co.create_if_missing = options.create_if_missing;
    auto cat = open_catalog(options.db_path.string(), co);
    if (!cat)
        return tl::unexpected(cat.error());
    state->catalog = std::move(*cat);
    state->indexes = std::make_unique<IndexCache>(
        *state->catalog, IndexCacheOptions{options.db_path, options.index_dir, options.threads,
                                           options.on_index_build});
    state->maps = std::make_unique<MapCache>(
        *state->catalog, options.index_dir.empty() ? default_index_dir(options.db_path.string())
                                                   : options.index_dir);
    return std::unique_ptr<Engine>(new Engine(std::move(state)));
}

CatalogReader& Engine::catalog() {
    return *s_->catalog;
}

IngestQueue* Engine::ingest_queue() {
    return earshot::ingest_queue(*s_->catalog);
}

Result<ImportReport> Engine::import_embeddings(const ImportOptions& options) {
    return earshot::import_embeddings(*s_->catalog, options);
}

Result<ImportReport> Engine::import_vectors(const std::string& space,
                                            std::vector<VectorRecord> records,
                                            const std::string& source) {
    return earshot::import_vectors(*s_->catalog, space, std::move(records), source);
}

Result<FingerprintFillReport> Engine::fill_fingerprints(const FingerprintFillOptions& options) {
    return earshot::fill_fingerprints(*s_->catalog, options);
}

Result<std::shared_ptr<const MapCoords>> Engine::map_coords(const std::string& space,
                                                            const std::string& layout,
                                                            bool allow_stale) {
    return s_->maps->get(space, layout, allow_stale);
}

std::string Engine::default_space() {
    // Called by every search without a model: nonempty_spaces() probes an index per space where
    // spaces() would count every item (7-15 ms per search on PostgreSQL at 839 items).
    const std::string def = default_model_name();
    auto names = s_->catalog->nonempty_spaces();
    if (!names || names->empty() || std::find(names->begin(), names->end(), def) != names->end())
        return def;
    return names->front();
}

Result<const EmbeddingModel*> Engine::model(const std::string& name_in) {
    std::string name = name_in.empty() ? default_space() : name_in;
    std::lock_guard lock(s_->models_mu);
    auto it = s_->models.find(name);
    if (it != s_->models.end())
        return it->second.get();
    ModelOptions mo;
    mo.models_dir = s_->options.models_dir;
    mo.threads = s_->options.threads;
    EARSHOT_ASSIGN_OR_RETURN(auto m, make_model(name, mo));
    const EmbeddingModel* ptr = m.get();
    s_->models.emplace(name, std::move(m));
    return ptr;
}

Result<IndexReport> Engine::index(const IndexOptions& options) {
    if (earshot::ingest_queue(*s_->catalog) != nullptr)
        return index_shared(options);
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* m,
                             model(options.model.empty() ? default_model_name() : options.model));
    auto report = ingest_files(s_->ingest(), *m, options);
    s_->indexes->invalidate();
    return report;
}

Result<IndexReport> Engine::index_shared(const IndexOptions& options) {
    IngestQueue* queue = earshot::ingest_queue(*s_->catalog);
    if (queue == nullptr) {
        return make_error(ErrorCode::kNotSupported,
                          "shared (distributed) ingest needs a PostgreSQL catalog (--db "
                          "postgresql://...)");
    }
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* m,
                             model(options.model.empty() ? default_model_name() : options.model));
    auto report = ingest_shared(s_->ingest(), *queue, *m, options);
    s_->indexes->invalidate();
    return report;
}

Result<Engine::TagFillReport> Engine::fill_tags(
    const std::string& model_name,
    bool force,
    const fs::path& root,
    const std::function<void(std::size_t, std::size_t)>& on_progress) {
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* m, model(model_name));
    return fill_item_tags(s_->ingest(), *m, force, root, on_progress);
}

Result<SearchResponse> Engine::search_vector(std::span<const float> vector,
                                             const std::string& query_name,
                                             const SearchRequest& req,
                                             std::optional<std::int64_t> exclude_id,
                                             const std::string& exclude_hash) {
    SearchRequest r = req;
    if (r.model.empty())
        r.model = default_space();
    return search_by_vector(s_->search(), vector, query_name, r, exclude_id, exclude_hash);
}

Result<SearchResponse> Engine::search_segments(const Matrix& segments,
                                               const std::vector<SegmentRecord>& times,
                                               const std::string& query_name,
                                               const SearchRequest& req,
                                               std::optional<std::int64_t> exclude_id,
                                               const std::string& exclude_hash) {
    SearchRequest r = req;
    if (r.model.empty())
        r.model = default_model_name();
    return search_by_segments(s_->search(), segments, times, query_name, r, exclude_id,
                              exclude_hash);
}

Result<SearchResponse> Engine::search_file(const fs::path& query, const SearchRequest& req) {
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* m, model(req.model));
    return search_by_file(s_->search(), *m, query, req);
}

Result<SearchResponse> Engine::search_bytes(std::span<const std::uint8_t> bytes,
                                            const std::string& name,
                                            const SearchRequest& req,
                                            const std::function<Status(double)>& decode_check) {
    EARSHOT_ASSIGN_OR_RETURN(const EmbeddingModel* m, model(req.model));
    return search_by_bytes(s_->search(), *m, bytes, name, req, decode_check);
}

Result<SearchResponse> Engine::search_id(std::int64_t id, const SearchRequest& req) {
    SearchRequest r = req;
    if (r.model.empty())
        r.model = default_space();
    return search_by_item(s_->search(), id, r);
}

Result<std::vector<SearchHit>> Engine::nearest(std::span<const float> vector,
                                               const SearchRequest& req,
                                               const SearchOptions& options) {
    SearchRequest r = req;
    if (r.model.empty())
        r.model = default_space();
    return nearest_hits(s_->search(), vector, r, options);
}

Result<ReindexReport> Engine::reindex(const ReindexOptions& options) {
    std::string space = options.space.empty() ? default_space() : options.space;
    EARSHOT_ASSIGN_OR_RETURN(auto entry, s_->indexes->get(space, options.metric, options.index,
                                                          options.force, options.segments));
    return entry->report;
}

void Engine::invalidate_cache() {
    s_->indexes->invalidate();
}

Result<std::size_t> Engine::refresh_cached_indexes() {
    return s_->indexes->refresh();
}

Result<std::int64_t> Engine::find_item(const std::string& key) {
    for (const auto& k : {key, catalog_path(key)}) {
        EARSHOT_ASSIGN_OR_RETURN(auto item, s_->catalog->find_by_path(k));
        if (item)
            return item->id;
    }
    return make_error(ErrorCode::kNotFound,
                      fmt::format("no item with key or path '{}' in the catalog", key));
}

Result<std::int64_t> Engine::resolve_item(const std::string& id_or_key) {
    // A catalog id first; a record imported with a numeric key ("123") is then found by its key.
    std::optional<Error> id_error;
    if (!id_or_key.empty() && id_or_key.find_first_not_of("0123456789") == std::string::npos &&
        id_or_key.size() < 19) {
        const std::int64_t id = std::stoll(id_or_key);
        auto item = s_->catalog->get_item(id);
        if (item)
            return id;
        if (item.error().code() != ErrorCode::kNotFound)
            return tl::unexpected(item.error());
        id_error = item.error();
    }
    auto by_key = find_item(id_or_key);
    if (by_key || by_key.error().code() != ErrorCode::kNotFound)
        return by_key;
    if (id_error)  // the catalog's own message, the same as search_id's
        return tl::unexpected(*id_error);
    return make_error(ErrorCode::kNotFound,
                      fmt::format("no item with id, key or path '{}' in the catalog "
                                  "(ids are listed by `earshot list`)",
                                  id_or_key));
}

Result<std::int64_t> Engine::remove_paths(const std::vector<std::string>& paths) {
    std::vector<std::int64_t> ids;
    for (const auto& p : paths) {
        for (const auto& key : {p, catalog_path(p)}) {
            EARSHOT_ASSIGN_OR_RETURN(auto item, s_->catalog->find_by_path(key));
            if (item) {
                ids.push_back(item->id);
                break;
            }
        }
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (ids.empty())
        return std::int64_t{0};
    EARSHOT_ASSIGN_OR_RETURN(auto n, s_->catalog->remove_items(ids));
    s_->indexes->invalidate();
    return n;
}

}  // namespace earshot