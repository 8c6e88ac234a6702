// The engine's search cache under concurrency: an index build runs without blocking searches on
// other keys, concurrent requests for one key share one build, writes by another connection
// (another process) are seen by the next search, and removed items never appear while an entry
// is being refreshed. Builds are observed through EngineOptions::on_index_build.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "synthetic_items.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing::TempDir;

// Synthetic items "<space>/<i>" with clustered random vectors.
void put_random(Catalog& c, const std::string& space, int first, int n, int dim, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    constexpr int kClusters = 32;
    std::vector<std::vector<float>> centres(kClusters,
                                            std::vector<float>(static_cast<std::size_t>(dim)));
    for (auto& centre : centres)
        for (auto& x : centre) x = g(rng);
    std::vector<Catalog::PutRequest> batch;
    for (int i = first; i < first + n; ++i) {
        Catalog::PutRequest r;
        r.item.path = space + "/" + std::to_string(i);
        r.item.name = r.item.path;
        r.item.duration_s = 1.0 + i % 10;
        const auto& centre = centres[static_cast<std::size_t>(i % kClusters)];
        r.vector.resize(static_cast<std::size_t>(dim));
        for (std::size_t j = 0; j < r.vector.size(); ++j) r.vector[j] = centre[j] + 0.3f * g(rng);
        batch.push_back(std::move(r));
        if (batch.size() == 5000 || i + 1 == first + n) {
            ASSERT_TRUE(c.put_items(space, batch));
            batch.clear();
        }
    }
}

// The index-build hook of every engine these tests open (EngineOptions::on_index_build): a
// BuildWatcher puts its callback here while it lives.
std::mutex g_build_hook_mu;
std::function<void(const std::string&)> g_build_hook;

void on_index_build(const std::string& space) {
    std::function<void(const std::string&)> f;
    {
        std::lock_guard lock(g_build_hook_mu);
        f = g_build_hook;
    }
    if (f)
        f(space);
}

// Calls on_build(space) on the building thread whenever an engine of these tests starts building
// an index (no engine or log lock held: it may block); removes itself when it dies.
class BuildWatcher {
public:
    explicit BuildWatcher(std::function<void(const std::string&)> on_build) {
        std::lock_guard lock(g_build_hook_mu);
        g_build_hook = std::move(on_build);
    }
    ~BuildWatcher() {
        std::lock_guard lock(g_build_hook_mu);
        g_build_hook = nullptr;
    }
    BuildWatcher(const BuildWatcher&) = delete;
    BuildWatcher& operator=(const BuildWatcher&) = delete;
};

std::unique_ptr<Engine> open_engine(const TempDir& dir) {
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.create_if_missing = true;
    eo.on_index_build = on_index_build;
    auto e = Engine::open(eo);
    EXPECT_TRUE(e);
    return std::move(*e);
}

// A one-shot event.
class Event {
public:
    void set() {
        {
            std::lock_guard lock(mu_);
            set_ = true;
        }
        cv_.notify_all();
    }
    // Waits until set (true) or a generous deadlock guard expires (false).
    bool wait() {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return set_; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool set_ = false;
};

std::set<std::int64_t> ids_of(const SearchResponse& r) {
    std::set<std::int64_t> out;
    for (const auto& hit : r.results) out.insert(hit.id);
    return out;
}

TEST(EngineConcurrencyTest, SearchesOnOtherKeysProceedDuringAnHnswBuild) {
    TempDir dir;
    auto engine = open_engine(dir);
    constexpr int kBig = 40000;
    put_random(*testing::catalog_writer(dir / "lib.earshot"), "big", 0, kBig, 128, 1);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), "small", 0, 500, 128, 2);
    auto small_item = engine->catalog().find_by_path("small/0");
    ASSERT_TRUE(small_item && small_item->has_value());
    const std::int64_t small_id = (*small_item)->id;

    Event big_build_started;
    BuildWatcher watcher([&](const std::string& space) {
        if (space == "big")
            big_build_started.set();
    });

    std::atomic<bool> big_build_returned{false};
    Result<ReindexReport> big = make_error(ErrorCode::kInternal, "not run");
    std::thread builder([&] {
        ReindexOptions ro;
        ro.space = "big";
        ro.index = "HNSW32";
        big = engine->reindex(ro);
        big_build_returned = true;
    });
    if (!big_build_started.wait()) {
        builder.join();
        FAIL() << "the build did not start";
    }

    // Another space (its flat entry is built meanwhile), then the big space with a flat index.
    SearchRequest req;
    req.model = "small";
    req.k = 5;
    auto small = engine->search_id(small_id, req);
    const bool returned_after_small = big_build_returned.load();
    req.model = "big";
    req.index = "flat";
    auto big_flat = engine->search_id(1, req);
    const bool returned_after_big_flat = big_build_returned.load();
    builder.join();

    ASSERT_TRUE(small) << small.error().to_string();
    EXPECT_EQ(small->results.size(), 5u);
    EXPECT_FALSE(returned_after_small) << "a search on another space waited for the HNSW build";
    ASSERT_TRUE(big_flat) << big_flat.error().to_string();
    EXPECT_EQ(big_flat->index, "flat");
    EXPECT_EQ(big_flat->results.size(), 5u);
    EXPECT_FALSE(returned_after_big_flat) << "a flat search waited for the HNSW build";
    ASSERT_TRUE(big) << big.error().to_string();
    EXPECT_EQ(big->action, "built");
    EXPECT_EQ(big->items, static_cast<std::size_t>(kBig));
}

TEST(EngineConcurrencyTest, ConcurrentRequestsForOneUncachedKeyShareOneBuild) {
    TempDir dir;
    auto engine = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), "syn", 0, 20000, 64, 3);

    std::atomic<int> builds{0};
    Event build_started;
    BuildWatcher watcher([&](const std::string& space) {
        if (space == "syn") {
            ++builds;
            build_started.set();
        }
    });
    ReindexOptions ro;
    ro.space = "syn";
    ro.index = "HNSW32";
    Result<ReindexReport> first = make_error(ErrorCode::kInternal, "not run");
    std::thread t1([&] { first = engine->reindex(ro); });
    if (!build_started.wait()) {
        t1.join();
        FAIL() << "the build did not start";
    }
    // Joins the build in flight (a search of the same key as well).
    Result<ReindexReport> second = make_error(ErrorCode::kInternal, "not run");
    std::thread t2([&] { second = engine->reindex(ro); });
    SearchRequest req;
    req.model = "syn";
    req.index = "HNSW32";
    req.k = 3;
    auto searched = engine->search_id(7, req);
    t1.join();
    t2.join();

    ASSERT_TRUE(first) << first.error().to_string();
    ASSERT_TRUE(second) << second.error().to_string();
    ASSERT_TRUE(searched) << searched.error().to_string();
    EXPECT_EQ(builds.load(), 1);
    EXPECT_EQ(first->action, "built");
    EXPECT_EQ(second->action, "built");  // the same entry, not a reload of the saved file
    EXPECT_EQ(first->seconds, second->seconds);
    EXPECT_EQ(searched->results.size(), 3u);

    // A forced rebuild still builds.
    ro.force = true;
    auto forced = engine->reindex(ro);
    ASSERT_TRUE(forced);
    EXPECT_EQ(forced->action, "built");
    EXPECT_EQ(builds.load(), 2);
    ro.force = false;
    EXPECT_EQ(engine->reindex(ro)->seconds, forced->seconds);  // the forced build is cached
}

// Engine 1 has an entry cached; another connection to the catalog file (standing for another
// process: no shared cache) adds and removes items; engine 1's next search reflects both.
void check_sees_other_engines_writes(const std::string& spec, const std::string& refreshed_action) {
    SCOPED_TRACE(spec);
    TempDir dir;
    auto engine1 = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), "syn", 0, 3000, 24, 4);
    SearchRequest req;
    req.model = "syn";
    req.index = spec;
    req.k = 10;
    auto before = engine1->search_id(5, req);
    ASSERT_TRUE(before) << before.error().to_string();
    ASSERT_EQ(before->results.size(), 10u);

    auto other = testing::catalog_writer(dir / "lib.earshot");
    auto vec = other->get_embedding(5, "syn");
    ASSERT_TRUE(vec);
    Catalog::PutRequest twin;
    twin.item.path = "twin-of-5";
    twin.item.name = twin.item.path;
    twin.item.duration_s = 1.0;
    twin.vector = *vec;
    auto twin_id = other->put_items("syn", {twin});
    ASSERT_TRUE(twin_id);
    std::vector<std::int64_t> removed = {before->results[0].id, before->results[1].id,
                                         before->results[2].id};
    ASSERT_TRUE(other->remove_items(removed));

    auto after = engine1->search_id(5, req);
    ASSERT_TRUE(after) << after.error().to_string();
    ASSERT_EQ(after->results.size(), 10u);
    EXPECT_EQ(after->results[0].id, (*twin_id)[0]);
    for (auto id : removed) EXPECT_EQ(ids_of(*after).count(id), 0u) << "removed item " << id;

    ReindexOptions ro;
    ro.space = "syn";
    ro.index = spec;
    auto rep = engine1->reindex(ro);
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->action, refreshed_action);
    EXPECT_EQ(rep->items, 2998u);
}

TEST(EngineConcurrencyTest, WritesByAnotherEngineAreSeenByTheNextSearch) {
    check_sees_other_engines_writes("flat", "in-memory");
    check_sees_other_engines_writes("HNSW16", "updated");
}

TEST(EngineConcurrencyTest, RemovedItemsNeverAppearWhileAnEntryIsRefreshed) {
    TempDir dir;
    auto engine1 = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), "syn", 0, 3000, 24, 5);
    SearchRequest req;
    req.model = "syn";
    req.index = "HNSW16";
    req.k = 10;
    auto before = engine1->search_id(5, req);
    ASSERT_TRUE(before) << before.error().to_string();
    ASSERT_EQ(before->results.size(), 10u);

    // Another connection removes the 5 best hits and adds an item; without the index file the
    // refresh is a full build, which waits (in the log sink) until the search below has run.
    auto other = testing::catalog_writer(dir / "lib.earshot");
    std::vector<std::int64_t> removed;
    for (int i = 0; i < 5; ++i) removed.push_back(before->results[static_cast<std::size_t>(i)].id);
    ASSERT_TRUE(other->remove_items(removed));
    auto vec = other->get_embedding(5, "syn");
    ASSERT_TRUE(vec);
    Catalog::PutRequest twin;
    twin.item.path = "twin-of-5";
    twin.item.name = twin.item.path;
    twin.vector = *vec;
    auto twin_id = other->put_items("syn", {twin});
    ASSERT_TRUE(twin_id);
    std::filesystem::remove(index_file_path(dir / "lib.earshot", "syn", Metric::kCosine, "HNSW16"));

    Event refresh_started;
    Event stale_search_done;
    bool stale_search_done_in_time = true;
    BuildWatcher watcher([&](const std::string&) {
        refresh_started.set();
        stale_search_done_in_time = stale_search_done.wait();
    });
    Result<SearchResponse> refreshed = make_error(ErrorCode::kInternal, "not run");
    std::thread refresher([&] { refreshed = engine1->search_id(5, req); });
    if (!refresh_started.wait()) {
        refresher.join();
        FAIL() << "the search did not refresh the entry";
    }
    auto stale = engine1->search_id(5, req);  // served by the previous entry
    stale_search_done.set();
    refresher.join();

    EXPECT_TRUE(stale_search_done_in_time) << "the search waited for the refresh";
    ASSERT_TRUE(stale) << stale.error().to_string();
    EXPECT_EQ(stale->results.size(), 10u);  // still k hits with 5 of the best ones gone
    for (auto id : removed) EXPECT_EQ(ids_of(*stale).count(id), 0u) << "removed item " << id;
    EXPECT_EQ(ids_of(*stale).count((*twin_id)[0]), 0u);  // not in the previous entry
    ASSERT_TRUE(refreshed) << refreshed.error().to_string();
    ASSERT_EQ(refreshed->results.size(), 10u);
    EXPECT_EQ(refreshed->results[0].id, (*twin_id)[0]);
    for (auto id : removed) EXPECT_EQ(ids_of(*refreshed).count(id), 0u) << "removed item " << id;
}

// refresh_cached_indexes (what `serve` calls when PostgreSQL announces a write) does the refresh
// the next search would have done: after it, the search finds another process's write without
// building anything. Indexes never searched (or dropped by invalidate_cache) are left alone.
TEST(EngineConcurrencyTest, RefreshCachedIndexesTakesTheRefreshOffTheSearchPath) {
    TempDir dir;
    auto engine1 = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), "syn", 0, 2000, 24, 8);
    auto none = engine1->refresh_cached_indexes();
    ASSERT_TRUE(none) << none.error().to_string();
    EXPECT_EQ(*none, 0u);
    SearchRequest req;
    req.model = "syn";
    req.index = "HNSW16";
    req.k = 10;
    ASSERT_TRUE(engine1->search_id(5, req));

    auto other = testing::catalog_writer(dir / "lib.earshot");
    auto vec = other->get_embedding(5, "syn");
    ASSERT_TRUE(vec);
    Catalog::PutRequest twin;
    twin.item.path = "twin-of-5";
    twin.item.name = twin.item.path;
    twin.vector = *vec;
    auto twin_id = other->put_items("syn", {twin});
    ASSERT_TRUE(twin_id);
    // Without the index file the refresh is a full build, which the log shows.
    std::filesystem::remove(index_file_path(dir / "lib.earshot", "syn", Metric::kCosine, "HNSW16"));
    std::atomic<int> builds{0};
    BuildWatcher watcher([&](const std::string&) { ++builds; });

    auto n = engine1->refresh_cached_indexes();
    ASSERT_TRUE(n) << n.error().to_string();
    EXPECT_EQ(*n, 1u);
    EXPECT_EQ(builds.load(), 1);
    auto after = engine1->search_id(5, req);
    ASSERT_TRUE(after) << after.error().to_string();
    ASSERT_FALSE(after->results.empty());
    EXPECT_EQ(after->results[0].id, (*twin_id)[0]);
    EXPECT_EQ(builds.load(), 1) << "the search refreshed the index again";
    auto current = engine1->refresh_cached_indexes();
    ASSERT_TRUE(current);
    EXPECT_EQ(*current, 1u);
    EXPECT_EQ(builds.load(), 1);  // already current: nothing built

    engine1->invalidate_cache();
    auto dropped = engine1->refresh_cached_indexes();
    ASSERT_TRUE(dropped);
    EXPECT_EQ(*dropped, 0u);
}

TEST(EngineConcurrencyTest, SearchersKeepWorkingWhileAnotherEngineWrites) {
    TempDir dir;
    auto engine1 = open_engine(dir);
    put_random(*testing::catalog_writer(dir / "lib.earshot"), "syn", 0, 2000, 24, 6);
    auto other = testing::catalog_writer(dir / "lib.earshot");
    std::atomic<bool> stop{false};
    std::atomic<int> searches{0};
    std::vector<std::string> errors(4);
    std::vector<std::thread> searchers;
    for (std::size_t t = 0; t < errors.size(); ++t) {
        searchers.emplace_back([&, t] {
            SearchRequest req;
            req.model = "syn";
            req.index = t % 2 == 0 ? "flat" : "HNSW16";
            req.k = 10;
            std::int64_t id = 1 + static_cast<std::int64_t>(t);
            while (!stop && errors[t].empty()) {
                auto r = engine1->search_id(id, req);  // ids <= 1000 are never removed
                if (!r)
                    errors[t] = r.error().to_string();
                else if (r->results.size() != 10u)
                    errors[t] = "got " + std::to_string(r->results.size()) + " results";
                id = id % 1000 + 1;
                ++searches;
            }
        });
    }
    // Rounds of: add 50 items, remove 50 of the originals; engine1's cache invalidated sometimes.
    for (int round = 0; round < 10; ++round) {
        put_random(*other, "syn", 2000 + 50 * round, 50, 24, 7u + static_cast<unsigned>(round));
        std::vector<std::int64_t> gone;
        for (int i = 0; i < 50; ++i) gone.push_back(1001 + 50 * round + i);
        ASSERT_TRUE(other->remove_items(gone));
        if (round % 3 == 2)
            engine1->invalidate_cache();
    }
    stop = true;
    for (auto& t : searchers) t.join();
    for (const auto& e : errors) EXPECT_EQ(e, "");
    EXPECT_GT(searches.load(), 0);

    // Quiet now: the next search reflects every write.
    SearchRequest req;
    req.model = "syn";
    req.index = "HNSW16";
    req.k = 3000;
    auto all = engine1->search_id(1, req);
    ASSERT_TRUE(all);
    EXPECT_EQ(all->results.size(), 1999u);  // 2000 + 500 added - 500 removed - the query
    for (const auto& hit : all->results) EXPECT_TRUE(hit.id <= 1000 || hit.id > 1500) << hit.id;
}

}  // namespace
}  // namespace earshot
