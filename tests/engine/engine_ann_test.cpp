// The engine with ANN indexes on a space of stored vectors: search with an index spec, the index
// file kept consistent with the catalog (current / updated / rebuilt), damaged files never used,
// eval --ann recall.
#include <fstream>
#include <random>
#include <type_traits>
#include <utility>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/evaluation.h"
#include "index/hnsw_index.h"
#include "index/index_file.h"
#include "synthetic_items.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing::TempDir;

constexpr int kDim = 24;

void put_random(Catalog& c, int first, int n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<Catalog::PutRequest> batch;
    Matrix centre(20, kDim);
    for (auto& x : centre.data) x = g(rng);
    for (int i = first; i < first + n; ++i) {
        Catalog::PutRequest r;
        r.item.path = "item" + std::to_string(i);
        r.item.name = r.item.path;
        r.item.duration_s = 1.0 + i % 10;
        r.vector.resize(kDim);
        const std::size_t cluster = static_cast<std::size_t>(i) % 20;
        for (int j = 0; j < kDim; ++j)
            r.vector[static_cast<std::size_t>(j)] =
                centre.at(cluster, static_cast<std::size_t>(j)) + 0.3f * g(rng);
        batch.push_back(std::move(r));
    }
    ASSERT_TRUE(c.put_items("syn", batch));
}

std::unique_ptr<Engine> open_engine(const TempDir& dir) {
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.create_if_missing = true;
    auto e = Engine::open(eo);
    EXPECT_TRUE(e);
    return std::move(*e);
}

TEST(EngineAnnTest, SearchByIdWithHnswMatchesFlatAndFileStaysConsistent) {
    TempDir dir;
    auto engine = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), 0, 3000, 1);
    SearchRequest req;
    req.model = "syn";
    req.k = 10;
    req.index = "HNSW16";
    // Leaving the query's own item out is the only condition: the index is searched unfiltered
    // (one more hit asked, the item dropped), not through a filtered walk.
    std::size_t walks = detail::hnsw_filtered_walks();
    auto ann = engine->search_id(5, req);
    ASSERT_TRUE(ann) << ann.error().to_string();
    EXPECT_EQ(ann->index, "HNSW16");
    EXPECT_EQ(ann->results.size(), 10u);
    EXPECT_EQ(detail::hnsw_filtered_walks(), walks);
    // With a duration bound as well, the walk is filtered, and the item is still left out.
    req.max_duration_s = 8.0;  // 80 % pass: a walk, not the exact scan
    walks = detail::hnsw_filtered_walks();
    auto bounded = engine->search_id(5, req);
    ASSERT_TRUE(bounded);
    EXPECT_EQ(detail::hnsw_filtered_walks(), walks + 1);
    EXPECT_EQ(bounded->results.size(), 10u);
    for (const auto& r : bounded->results) {
        EXPECT_NE(r.id, 5);
        EXPECT_LE(r.duration_s, 8.0);
    }
    req.max_duration_s.reset();
    req.index = "flat";
    auto exact = engine->search_id(5, req);
    ASSERT_TRUE(exact);
    EXPECT_EQ(exact->index, "flat");
    EXPECT_EQ(exact->results.size(), 10u);
    std::size_t same = 0;
    for (const auto& a : ann->results) {
        EXPECT_NE(a.id, 5);
        for (const auto& b : exact->results) same += a.id == b.id ? 1 : 0;
    }
    EXPECT_GE(same, 9u);
    // Auto: flat at this size.
    req.index = "";
    EXPECT_EQ(engine->search_id(5, req)->index, "flat");

    const auto file = index_file_path(dir / "lib.earshot", "syn", Metric::kCosine, "HNSW16");
    ASSERT_TRUE(std::filesystem::exists(file));
    ReindexOptions ro;
    ro.space = "syn";
    ro.index = "HNSW16";
    // A new engine finds the file current.
    {
        auto e2 = open_engine(dir);
        auto r = e2->reindex(ro);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->action, "current");
        EXPECT_EQ(r->items, 3000u);
    }
    // Catalog changes behind the file: the next engine updates it incrementally.
    put_random(*testing::catalog_writer(dir / "lib.earshot"), 3000, 100, 2);
    std::vector<std::int64_t> gone = {1, 2, 3};
    ASSERT_TRUE(testing::catalog_writer(dir / "lib.earshot")->remove_items(gone));
    {
        auto e2 = open_engine(dir);
        auto r = e2->reindex(ro);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->action, "updated");
        EXPECT_EQ(r->items, 3097u);
        auto h = read_index_header(file);
        ASSERT_TRUE(h);
        EXPECT_EQ(h->catalog_generation, e2->catalog().space_state("syn")->generation);
        SearchRequest q;
        q.model = "syn";
        q.index = "HNSW16";
        q.k = 50;
        auto res = e2->search_id(3050, q);
        ASSERT_TRUE(res);
        for (const auto& hit : res->results) EXPECT_GT(hit.id, 3);
    }
    // A damaged file is rebuilt, never used.
    {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(0);
        f.write("JUNK", 4);
    }
    {
        auto e2 = open_engine(dir);
        auto r = e2->reindex(ro);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->action, "rebuilt");
    }
    // A file of another dim under this name is rebuilt too.
    {
        auto other = make_index("HNSW16", kDim + 1, Metric::kCosine);
        IndexFileHeader h;
        h.space = "syn";
        h.catalog_generation = engine->catalog().space_state("syn")->generation;
        ASSERT_TRUE(save_index_file(file, **other, h));
        auto e2 = open_engine(dir);
        auto r = e2->reindex(ro);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->action, "rebuilt");
        ro.force = true;
        EXPECT_EQ(e2->reindex(ro)->action, "built");
    }
}

TEST(EngineAnnTest, IvfPqResultsCarryExactDistancesAndSurviveReopen) {
    TempDir dir;
    auto engine = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), 0, 3000,
               3);  // above IVF16's training threshold (2048)
    for (Metric metric : {Metric::kCosine, Metric::kManhattan}) {
        SearchRequest req;
        req.model = "syn";
        req.k = 10;
        req.metric = metric;
        req.index = "flat";
        auto exact = engine->search_id(7, req);
        ASSERT_TRUE(exact);
        req.index = "IVF16,PQ8";
        auto ivf = engine->search_id(7, req);
        ASSERT_TRUE(ivf) << ivf.error().to_string();
        EXPECT_EQ(ivf->index, "IVF16,PQ8");
        ASSERT_EQ(ivf->results.size(), 10u);
        std::size_t same = 0;
        for (const auto& a : ivf->results) {
            for (const auto& b : exact->results) {
                if (a.id == b.id) {
                    ++same;
                    // Recomputed from the stored vector: the flat index's distance.
                    EXPECT_NEAR(a.distance, b.distance, 1e-5 * std::max(1.0f, b.distance));
                }
            }
        }
        EXPECT_GE(same, 9u) << metric_name(metric);
        for (std::size_t i = 0; i < ivf->results.size(); ++i) {
            EXPECT_EQ(ivf->results[i].rank, static_cast<int>(i) + 1);
            if (i > 0) {
                EXPECT_LE(ivf->results[i - 1].distance, ivf->results[i].distance);
            }
        }
        // The index file is reused by a second engine (another process).
        const auto file = index_file_path(dir / "lib.earshot", "syn", metric, "IVF16,PQ8");
        ASSERT_TRUE(std::filesystem::exists(file));
        auto e2 = open_engine(dir);
        ReindexOptions ro;
        ro.space = "syn";
        ro.metric = metric;
        ro.index = "IVF16,PQ8";
        auto rep = e2->reindex(ro);
        ASSERT_TRUE(rep);
        EXPECT_EQ(rep->action, "current");
        auto again = e2->search_id(7, req);
        ASSERT_TRUE(again);
        ASSERT_EQ(again->results.size(), ivf->results.size());
        for (std::size_t i = 0; i < again->results.size(); ++i)
            EXPECT_EQ(again->results[i].id, ivf->results[i].id);
    }
}

TEST(EngineAnnTest, HnswSqfp16ResultsAreReRankedExactlyFromTheCatalog) {
    TempDir dir;
    auto engine = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), 0, 2000, 3);
    SearchRequest req;
    req.model = "syn";
    req.k = 10;
    req.index = "flat";
    auto exact = engine->search_id(7, req);
    ASSERT_TRUE(exact);
    req.index = "HNSW16,SQfp16";
    req.ef_search = 2000;  // the walk reaches every item: the re-ranked 2k give flat's top k
    auto half = engine->search_id(7, req);
    ASSERT_TRUE(half) << half.error().to_string();
    EXPECT_EQ(half->index, "HNSW16,SQfp16");
    ASSERT_EQ(half->results.size(), exact->results.size());
    for (std::size_t i = 0; i < half->results.size(); ++i) {
        EXPECT_EQ(half->results[i].id, exact->results[i].id);
        EXPECT_EQ(half->results[i].rank, static_cast<int>(i) + 1);
        EXPECT_NEAR(half->results[i].distance, exact->results[i].distance,
                    1e-5 * std::max(1.0f, exact->results[i].distance));
    }
    // The index file is reused by a second engine.
    auto e2 = open_engine(dir);
    ReindexOptions ro;
    ro.space = "syn";
    ro.metric = req.metric;
    ro.index = "HNSW16,SQfp16";
    auto rep = e2->reindex(ro);
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->action, "current");
}

TEST(EngineAnnTest, DurationFilterAppliesWithAnn) {
    TempDir dir;
    auto engine = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), 0, 2000, 3);
    SearchRequest req;
    req.model = "syn";
    req.index = "HNSW16";
    req.k = 10;
    req.min_duration_s = 4.0;
    req.max_duration_s = 5.0;
    auto r = engine->search_id(10, req);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->results.size(), 10u);
    for (const auto& hit : r->results) {
        EXPECT_GE(hit.duration_s, 4.0);
        EXPECT_LE(hit.duration_s, 5.0);
    }
}

// Imported records are found by their own key (regression, #15: `search --id v123` failed
// with "Could not convert"); a decimal catalog id still wins; unknown keys are kNotFound.
TEST(EngineAnnTest, ResolveItemAcceptsIdsAndImportedKeys) {
    TempDir dir;
    auto engine = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), 0, 50, 5);
    auto by_key = engine->resolve_item("item7");
    ASSERT_TRUE(by_key) << by_key.error().to_string();
    auto item = engine->catalog().get_item(*by_key);
    ASSERT_TRUE(item);
    EXPECT_EQ(item->path, "item7");
    auto by_id = engine->resolve_item(std::to_string(*by_key));
    ASSERT_TRUE(by_id);
    EXPECT_EQ(*by_id, *by_key);
    auto missing = engine->resolve_item("yt0000");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(missing.error().message().find("yt0000"), std::string::npos);
    SearchRequest req;
    req.model = "syn";
    req.k = 3;
    auto r = engine->search_id(*by_key, req);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->results.size(), 3u);
    // No model given: the catalog's only space is searched (#15: the CLI used the default model
    // and failed where the server used the catalog's space). One rule, Engine::default_space.
    EXPECT_EQ(engine->default_space(), "syn");
    req.model.clear();
    auto d = engine->search_id(*by_key, req);
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->model, "syn");
}

// #15: code outside the engine reads the catalog (Engine::catalog() is a CatalogReader, which has
// no write methods: checked at compile time) and writes through the engine, whose cached index
// then follows the write on the next search.
template <class C>
concept CanPutItems = requires(C& c) {
    c.put_items(std::string(), {});
};
template <class C>
concept CanRemoveItems = requires(C& c) {
    c.remove_items(std::vector<std::int64_t>{});
};
static_assert(std::is_same_v<decltype(std::declval<Engine&>().catalog()), CatalogReader&>);
static_assert(!CanPutItems<CatalogReader> && !CanRemoveItems<CatalogReader>);
static_assert(CanPutItems<Catalog> && CanRemoveItems<Catalog>);

TEST(EngineFacadeTest, WritesThroughTheEngineAreSeenByItsCachedIndex) {
    TempDir dir;
    auto engine = open_engine(dir);
    std::vector<VectorRecord> first;
    for (int i = 0; i < 40; ++i) {
        VectorRecord r;
        r.item.path = "item" + std::to_string(i);
        r.vector.assign(kDim, 0.0f);
        r.vector[static_cast<std::size_t>(i % kDim)] = 1.0f;
        r.vector[static_cast<std::size_t>((i + 1) % kDim)] = 0.01f * float(i);
        first.push_back(std::move(r));
    }
    auto imported = engine->import_vectors("syn", first, "test");
    ASSERT_TRUE(imported) << imported.error().to_string();
    EXPECT_EQ(imported->added, 40u);
    SearchRequest req;
    req.model = "syn";
    req.index = "HNSW16";
    req.k = 1;
    std::vector<float> q(kDim, 0.0f);
    q[3] = 1.0f;
    q[4] = -1.0f;
    auto before = engine->search_vector(q, "q", req);
    ASSERT_TRUE(before) << before.error().to_string();
    ASSERT_EQ(before->results.size(), 1u);
    VectorRecord twin;
    twin.item.path = "twin";
    twin.vector = q;
    ASSERT_TRUE(engine->import_vectors("syn", {twin}, "test"));
    auto after = engine->search_vector(q, "q", req);
    ASSERT_TRUE(after) << after.error().to_string();
    ASSERT_EQ(after->results.size(), 1u);
    EXPECT_EQ(after->results[0].path, "twin");
    EXPECT_NEAR(after->results[0].distance, 0.0, 1e-6);
    EXPECT_EQ(engine->ingest_queue(), nullptr);  // SQLite catalogs have no job queue
}

TEST(EngineAnnTest, EvalAnnReportsRecall) {
    TempDir dir;
    auto engine = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), 0, 2000, 4);
    AnnEvalOptions o;
    o.space = "syn";
    o.index = "HNSW16";
    o.queries = 50;
    auto r = evaluate_ann(*engine, o);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->index, "HNSW16");
    EXPECT_EQ(r->queries, 50u);
    EXPECT_GE(r->recall_at_k, 0.95);
    EXPECT_GT(r->p50_ms, 0.0);
    o.index = "flat";
    EXPECT_DOUBLE_EQ(evaluate_ann(*engine, o)->recall_at_k, 1.0);
    o.space = "nope";
    EXPECT_EQ(evaluate_ann(*engine, o).error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace earshot
