// PostgreSQL-only catalog tests (label `postgres`): schema creation and migration, foreign and
// newer databases, lost connections, and the ingest job queue. Each test gets a fresh database on
// the throwaway cluster of tests/pg_cluster.h.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <libpq-fe.h>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "catalog/catalog_copy.h"
#include "catalog/change_listener.h"
#include "catalog/ingest_queue.h"
#include "core/log.h"
#include "pg_cluster.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing::PgCluster;

std::string fresh_db(const std::string& name) {
    auto& cluster = PgCluster::shared();
    EXPECT_TRUE(cluster.ok()) << cluster.error();
    static int counter = 0;
    return "p" + std::to_string(getpid()) + "_" + std::to_string(++counter) + "_" + name;
}

std::unique_ptr<Catalog> open_pg(const std::string& db, const CatalogOptions& o = {}) {
    auto c = open_catalog(PgCluster::shared().uri(db), o);
    EXPECT_TRUE(c) << c.error().to_string();
    return c ? std::move(*c) : nullptr;
}

Catalog::PutRequest request(const std::string& path, float seed, std::size_t dim = 8) {
    Catalog::PutRequest r;
    r.item.path = path;
    r.item.name = path;
    r.item.duration_s = 1.0;
    for (std::size_t i = 0; i < dim; ++i) r.vector.push_back(seed + static_cast<float>(i));
    return r;
}

TEST(CatalogPgTest, CreatesVersionedSchemaOnFirstUse) {
    const std::string db = fresh_db("schema");
    auto& pg = PgCluster::shared();
    pg.create_database(db);
    {
        CatalogOptions no_create;
        no_create.create_if_missing = false;
        auto c = open_catalog(pg.uri(db), no_create);
        ASSERT_FALSE(c);
        EXPECT_EQ(c.error().code(), ErrorCode::kNotFound) << c.error().to_string();
    }
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->path().string(), pg.uri(db));
    EXPECT_EQ(pg.psql(db, "SELECT value FROM meta WHERE key = 'schema_version'"),
              std::to_string(kCatalogSchemaVersion));
    EXPECT_EQ(pg.psql(db, "SELECT value FROM meta WHERE key = 'magic'"), "earshot-catalog");
    EXPECT_EQ(pg.psql(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "9");
    // Opening again (and concurrently from two objects) leaves the schema as it is.
    auto c2 = open_pg(db);
    ASSERT_TRUE(c2);
    EXPECT_EQ(pg.psql(db, "SELECT count(*) FROM meta"), "3");
    EXPECT_TRUE(ingest_queue(*c) != nullptr);
}

TEST(CatalogPgTest, MissingDatabaseAndUnreachableServerAreClearErrors) {
    auto& pg = PgCluster::shared();
    ASSERT_TRUE(pg.ok()) << pg.error();
    auto missing = open_catalog(pg.uri("no_such_database"));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound) << missing.error().to_string();
    EXPECT_NE(missing.error().message().find("no_such_database"), std::string::npos);
    auto down = open_catalog("postgresql://postgres@/x?host=/nonexistent-socket-dir&port=1");
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable) << down.error().to_string();
    EXPECT_EQ(redact_uri("postgresql://me:secret@db.example:5432/lib"),
              "postgresql://me:***@db.example:5432/lib");
    EXPECT_EQ(redact_uri("postgresql://me@h/lib?password=secret&sslmode=require"),
              "postgresql://me@h/lib?password=***&sslmode=require");
    EXPECT_TRUE(is_postgres_uri("postgres://h/db"));
    EXPECT_FALSE(is_postgres_uri("lib.earshot"));
}

TEST(CatalogPgTest, ForeignDatabaseIsCorruptionAndUntouched) {
    const std::string db = fresh_db("foreign");
    auto& pg = PgCluster::shared();
    pg.create_database(db);
    pg.psql(db, "CREATE TABLE t(x int); INSERT INTO t VALUES (1)");
    auto c = open_catalog(pg.uri(db));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(c.error().message().find("not an earshot catalog"), std::string::npos);
    EXPECT_EQ(pg.psql(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "1");
}

TEST(CatalogPgTest, NewerSchemaVersionIsNotSupported) {
    const std::string db = fresh_db("newer");
    auto& pg = PgCluster::shared();
    pg.create_database(db);
    { ASSERT_TRUE(open_pg(db)); }
    pg.psql(db, "UPDATE meta SET value = '" + std::to_string(kCatalogSchemaVersion + 1) +
                    "' WHERE key = 'schema_version'");
    auto c = open_catalog(pg.uri(db));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kNotSupported);
    EXPECT_NE(c.error().message().find("newer"), std::string::npos) << c.error().message();
}

TEST(CatalogPgTest, MigratesAVersion1Catalog) {
    const std::string db = fresh_db("v1");
    auto& pg = PgCluster::shared();
    pg.create_database(db);
    std::int64_t id = 0;
    {
        auto c = open_pg(db);
        ASSERT_TRUE(c);
        auto r = request("/a.wav", 1.0f);
        id = *c->put_item(r.item, "s", r.vector, Matrix(), {});
    }
    // Turn it into exactly the version 1 schema.
    ASSERT_EQ(pg.psql(db,
                      "DROP TRIGGER embeddings_stamp ON embeddings; "
                      "DROP TRIGGER embeddings_deleted ON embeddings; "
                      "DROP FUNCTION earshot_embeddings_stamp(); "
                      "DROP FUNCTION earshot_embeddings_deleted(); "
                      "ALTER TABLE spaces DROP COLUMN generation; "
                      "ALTER TABLE embeddings DROP COLUMN generation; "
                      "DROP TABLE ingest_jobs; DROP TABLE ingest_workers; DROP TABLE fingerprints; "
                      "DROP TABLE item_tags; "
                      "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
                  .rfind("ERROR", 0),
              std::string::npos);
    CatalogOptions ro;
    ro.read_only = true;
    auto old = open_catalog(pg.uri(db), ro);
    ASSERT_FALSE(old);
    EXPECT_EQ(old.error().code(), ErrorCode::kNotSupported);

    auto c = open_pg(db);
    ASSERT_TRUE(c);
    EXPECT_EQ(pg.psql(db, "SELECT value FROM meta WHERE key = 'schema_version'"),
              std::to_string(kCatalogSchemaVersion));
    auto v = c->get_embedding(id, "s");
    ASSERT_TRUE(v);
    EXPECT_EQ((*v)[0], 1.0f);
    const std::int64_t g0 = *c->space_generation("s");
    auto r = request("/b.wav", 2.0f);
    ASSERT_TRUE(c->put_item(r.item, "s", r.vector, Matrix(), {}));
    EXPECT_GT(*c->space_generation("s"), g0);
    EXPECT_EQ(c->load_embeddings_since("s", g0, false)->ids.size(), 1u);
}

TEST(CatalogPgTest, ReconnectsAfterTheServerRestarts) {
    const std::string db = fresh_db("restart");
    auto& pg = PgCluster::shared();
    pg.create_database(db);
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    auto r = request("/before.wav", 1.0f);
    ASSERT_TRUE(c->put_item(r.item, "s", r.vector, Matrix(), {}));
    ASSERT_TRUE(pg.stop());
    // The server comes back while the next call waits for it.
    std::thread restarter([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
        pg.start();
    });
    std::vector<Catalog::PutRequest> batch = {request("/after1.wav", 2.0f),
                                              request("/after2.wav", 3.0f)};
    auto ids = c->put_items("s", batch);
    restarter.join();
    ASSERT_TRUE(ids) << ids.error().to_string();
    EXPECT_EQ(*c->count_items(), 3);
    EXPECT_EQ(c->load_embeddings("s")->ids.size(), 3u);
}

TEST(CatalogPgTest, ServerDownGivesUnavailableAndNoHalfWrittenItem) {
    const std::string db = fresh_db("down");
    auto& pg = PgCluster::shared();
    pg.create_database(db);
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    auto r = request("/a.wav", 1.0f);
    ASSERT_TRUE(c->put_item(r.item, "s", r.vector, Matrix(), {}));
    ASSERT_TRUE(pg.stop());
    setenv("EARSHOT_PG_RECONNECT_S", "1", 1);
    auto big = request("/b.wav", 2.0f);
    big.segments = Matrix(3, 8);
    big.segment_times = {{0, 1}, {1, 2}, {2, 3}};
    auto w = c->put_item(big.item, "s", big.vector, big.segments, big.segment_times);
    unsetenv("EARSHOT_PG_RECONNECT_S");
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code(), ErrorCode::kUnavailable) << w.error().to_string();
    EXPECT_NE(w.error().message().find("reconnect"), std::string::npos) << w.error().message();
    ASSERT_TRUE(pg.start());
    EXPECT_EQ(*c->count_items(), 1);
    EXPECT_EQ(pg.psql(db, "SELECT count(*) FROM segments"), "0");
}

// --- migrate (copy_catalog) ------------------------------------------------------------------

TEST(CatalogPgTest, MigrateSqliteToPostgresAndBackLosesNothing) {
    testing::TempDir dir;
    const std::string sqlite_path = (dir / "lib.earshot").string();
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    auto vec = [&](std::size_t n) {
        std::vector<float> v(n);
        for (float& x : v) x = dist(rng);
        return v;
    };
    {
        auto src = open_catalog(sqlite_path);
        ASSERT_TRUE(src);
        // Items removed before the copy leave holes in the ids: the copies must keep the ids
        // (not renumber from 1), so ids in exports and links stay valid.
        std::vector<std::int64_t> gone;
        for (int i = 0; i < 5; ++i) {
            ItemRecord item;
            item.path = "/lib/gone" + std::to_string(i) + ".wav";
            auto id = (*src)->put_item(item, "mn04", vec(16), Matrix(), {});
            ASSERT_TRUE(id);
            gone.push_back(*id);
        }
        for (int i = 0; i < 300; ++i) {
            if (i == 150) {
                ASSERT_EQ(*(*src)->remove_items(gone), 5);
            }
            ItemRecord item;
            item.path = "/lib/f" + std::to_string(i) + ".wav";
            item.name = "f" + std::to_string(i) + ".wav";
            item.duration_s = 0.1 * i + 1.0 / 3.0;
            item.size_bytes = 1000 + i;
            item.mtime_ns = 1700000000123456789LL + i;
            item.title = "Ünïcödé " + std::to_string(i);
            item.labels = "dog,bark";
            const std::size_t n_seg = static_cast<std::size_t>(i % 4);
            Matrix seg(n_seg, 16);
            for (float& x : seg.data) x = dist(rng);
            std::vector<SegmentRecord> times;
            for (std::size_t k = 0; k < n_seg; ++k) {
                const double t = 0.5 * static_cast<double>(k);
                times.push_back({t, t + 0.96});
            }
            ASSERT_TRUE((*src)->put_item(item, "mn04", vec(16), seg, times));
            if (i % 3 == 0) {
                ASSERT_TRUE((*src)->put_item(item, "yamnet", vec(24), Matrix(), {}));
            }
        }
        auto v = vec(16);
        v[0] = -0.0f;
        v[1] = std::numeric_limits<float>::denorm_min();
        ItemRecord odd;
        odd.path = "/lib/odd.wav";
        ASSERT_TRUE((*src)->put_item(odd, "mn04", v, Matrix(), {}));
    }
    const std::string db = fresh_db("migrate");
    PgCluster::shared().create_database(db);
    auto src = open_catalog(sqlite_path);
    auto pg = open_pg(db);
    ASSERT_TRUE(src && pg);
    auto rep = copy_catalog(**src, *pg, {}, /*keep_ids=*/true);
    ASSERT_TRUE(rep) << rep.error().to_string();
    EXPECT_EQ(rep->items, 301);
    EXPECT_EQ(rep->vectors, 301 + 100);
    EXPECT_EQ(rep->segments, 75 * (1 + 2 + 3));
    EXPECT_EQ(rep->skipped, 0);

    // And back into a fresh SQLite file.
    const std::string back_path = (dir / "back.earshot").string();
    auto back = open_catalog(back_path);
    ASSERT_TRUE(back);
    ASSERT_TRUE(copy_catalog(*pg, **back, {}, /*keep_ids=*/true));

    for (Catalog* c : {pg.get(), back->get()}) {
        EXPECT_EQ(*c->count_items(), 301);
        auto a = (*src)->spaces();
        auto b = c->spaces();
        ASSERT_EQ(a->size(), b->size());
        for (std::size_t i = 0; i < a->size(); ++i) {
            EXPECT_EQ((*a)[i].space, (*b)[i].space);
            EXPECT_EQ((*a)[i].dim, (*b)[i].dim);
            EXPECT_EQ((*a)[i].n_items, (*b)[i].n_items);
            EXPECT_EQ((*a)[i].n_segments, (*b)[i].n_segments);
        }
        const std::vector<ItemRecord> src_items = (*src)->list_items(0, -1).value();
        for (const auto& item : src_items) {
            auto other = c->find_by_path(item.path);
            ASSERT_TRUE(other && other->has_value()) << item.path;
            const ItemRecord& o = **other;
            EXPECT_EQ(o.id, item.id) << item.path;
            EXPECT_EQ(o.name, item.name);
            EXPECT_EQ(o.duration_s, item.duration_s);
            EXPECT_EQ(o.size_bytes, item.size_bytes);
            EXPECT_EQ(o.mtime_ns, item.mtime_ns);
            EXPECT_EQ(o.title, item.title);
            EXPECT_EQ(o.labels, item.labels);
            for (const std::string space : {"mn04", "yamnet"}) {
                auto va = (*src)->get_embedding(item.id, space);
                auto vb = c->get_embedding(o.id, space);
                ASSERT_EQ(va.has_value(), vb.has_value());
                if (va) {
                    ASSERT_EQ(va->size(), vb->size());
                    EXPECT_EQ(std::memcmp(va->data(), vb->data(), va->size() * 4), 0);
                }
                auto sa = (*src)->get_segments(item.id, space);
                auto sb = c->get_segments(o.id, space);
                ASSERT_EQ(sa->first.data.size(), sb->first.data.size());
                if (!sa->first.data.empty()) {
                    EXPECT_EQ(std::memcmp(sa->first.data.data(), sb->first.data.data(),
                                          sa->first.data.size() * 4),
                              0);
                }
                ASSERT_EQ(sa->second.size(), sb->second.size());
                for (std::size_t k = 0; k < sa->second.size(); ++k) {
                    EXPECT_EQ(sa->second[k].start_s, sb->second[k].start_s);
                    EXPECT_EQ(sa->second[k].end_s, sb->second[k].end_s);
                }
            }
        }
    }
    // A new item after a copy with kept ids gets a fresh id past them (no collision), in both.
    const std::int64_t max_id = (*src)->list_items(0, -1).value().back().id;
    for (Catalog* c : {pg.get(), back->get()}) {
        ItemRecord fresh;
        fresh.path = "/lib/after-migrate.wav";
        auto id = c->put_item(fresh, "mn04", vec(16), Matrix(), {});
        ASSERT_TRUE(id) << id.error().to_string();
        EXPECT_GT(*id, max_id);
    }
    // Kept ids into a catalog where an id is taken by another path: an error, nothing renumbered.
    ItemRecord clash;
    clash.id = max_id;
    clash.path = "/lib/clash.wav";
    Catalog::PutRequest req;
    req.item = clash;
    req.vector = vec(16);
    req.keep_id = true;
    EXPECT_FALSE(pg->put_items("mn04", {req}));
    EXPECT_FALSE((*back)->put_items("mn04", {req}));
}

// --- change notifications ---------------------------------------------------------------------

// A listener (what `serve` replicas follow) is woken by the commit of a write on another
// connection — a put, a batch, a remove — and not by reads; the wake-up latency is printed and
// bounded well under the documented 2 s.
TEST(CatalogPgTest, ChangeListenerWakesOnCommittedWritesOfOtherConnections) {
    const std::string db = fresh_db("listen");
    PgCluster::shared().create_database(db);
    auto writer = open_pg(db);
    ASSERT_TRUE(writer);
    auto listener = listen_catalog_changes(PgCluster::shared().uri(db));
    ASSERT_TRUE(listener) << listener.error().to_string();
    auto& l = **listener;
    using Clock = std::chrono::steady_clock;
    using std::chrono::milliseconds;
    // Nothing written: a timeout.
    auto quiet = l.wait(milliseconds(200));
    ASSERT_TRUE(quiet) << quiet.error().to_string();
    EXPECT_FALSE(*quiet);

    auto expect_wake = [&](const char* what) {
        const auto t0 = Clock::now();
        auto woke = l.wait(milliseconds(5000));
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        ASSERT_TRUE(woke) << woke.error().to_string();
        EXPECT_TRUE(*woke) << what;
        EXPECT_LT(s, 2.0) << what;
        std::cerr << what << ": listener woken after " << s * 1000.0 << " ms\n";
    };
    std::mt19937 rng(5);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    auto v = [&] {
        std::vector<float> out(16);
        for (float& x : out) x = dist(rng);
        return out;
    };
    ItemRecord item;
    item.path = "/n/one.wav";
    auto id = writer->put_item(item, "s", v(), Matrix(), {});
    ASSERT_TRUE(id);
    expect_wake("put_item");
    // Several writes before the listener looks: one wake-up, then quiet again.
    std::vector<Catalog::PutRequest> batch;
    for (int i = 0; i < 3; ++i)
        batch.push_back(request("/n/b" + std::to_string(i) + ".wav", 0.0f, 16));
    ASSERT_TRUE(writer->put_items("s", batch));
    ASSERT_TRUE(writer->put_items("s", batch));
    expect_wake("put_items");
    // (the second commit's notification may arrive a moment after the first)
    int extra = 0;
    for (;;) {
        auto after = l.wait(milliseconds(300));
        ASSERT_TRUE(after);
        if (!*after)
            break;
        ++extra;
    }
    EXPECT_LE(extra, 1);
    // Reads do not wake it.
    ASSERT_TRUE(writer->load_embeddings("s"));
    ASSERT_TRUE(writer->count_items());
    auto read_only = l.wait(milliseconds(200));
    ASSERT_TRUE(read_only);
    EXPECT_FALSE(*read_only);
    // A write from another thread while the listener waits.
    std::thread remover([&] {
        std::this_thread::sleep_for(milliseconds(100));
        EXPECT_EQ(*writer->remove_items({*id}), 1);
    });
    expect_wake("remove_items");
    remover.join();
    // A URI that is not PostgreSQL is refused.
    EXPECT_FALSE(listen_catalog_changes("/tmp/lib.earshot"));
}

// --- batched segment reads --------------------------------------------------------------------

// load_segments (one query per page of items) against get_segments item by item, on the same
// PostgreSQL catalog: same rows bit for bit, and the time of both printed (docs/scaling.md has the
// figures at 5000 items: EARSHOT_SEGMENT_BENCH_ITEMS=5000). Default 600 items, to stay fast.
TEST(CatalogPgTest, LoadSegmentsInOneReadMatchesPerItemReads) {
    const char* env = std::getenv("EARSHOT_SEGMENT_BENCH_ITEMS");
    const int n_items = env ? std::max(1, std::atoi(env)) : 600;
    constexpr std::size_t kDim = 128;
    constexpr std::size_t kSegs = 6;
    const std::string db = fresh_db("segments");
    PgCluster::shared().create_database(db);
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<std::int64_t> ids;
    for (int begin = 0; begin < n_items; begin += 250) {
        std::vector<Catalog::PutRequest> batch;
        for (int i = begin; i < std::min(n_items, begin + 250); ++i) {
            auto r = request("/s/" + std::to_string(i) + ".wav", 0.0f, kDim);
            for (float& x : r.vector) x = dist(rng);
            r.segments = Matrix(kSegs, kDim);
            for (float& x : r.segments.data) x = dist(rng);
            for (std::size_t k = 0; k < kSegs; ++k)
                r.segment_times.push_back({0.5 * double(k), 0.5 * double(k) + 0.96});
            batch.push_back(std::move(r));
        }
        auto got = c->put_items("s", batch);
        ASSERT_TRUE(got) << got.error().to_string();
        ids.insert(ids.end(), got->begin(), got->end());
    }
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    std::vector<float> per_item;
    per_item.reserve(ids.size() * kSegs * kDim);
    for (std::int64_t id : ids) {
        auto seg = c->get_segments(id, "s");
        ASSERT_TRUE(seg) << seg.error().to_string();
        per_item.insert(per_item.end(), seg->first.data.begin(), seg->first.data.end());
    }
    const double t_items = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto t1 = Clock::now();
    auto batch = c->load_segments("s", ids, 1 << 20);
    const double t_batch = std::chrono::duration<double>(Clock::now() - t1).count();
    ASSERT_TRUE(batch) << batch.error().to_string();
    ASSERT_EQ(batch->vectors.n_rows, ids.size() * kSegs);
    ASSERT_EQ(batch->vectors.data.size(), per_item.size());
    EXPECT_EQ(std::memcmp(batch->vectors.data.data(), per_item.data(), per_item.size() * 4), 0);
    std::cerr << n_items << " items x " << kSegs << " segments (dim " << kDim
              << "): get_segments per item " << t_items << " s, load_segments " << t_batch << " s ("
              << (t_batch > 0 ? t_items / t_batch : 0.0) << "x)\n";
}

// --- ingest queue ------------------------------------------------------------------------------

std::vector<IngestJob> jobs_for(int n) {
    std::vector<IngestJob> jobs;
    for (int i = 0; i < n; ++i) {
        char key[32];
        std::snprintf(key, sizeof key, "dir/f%04d.wav", i);
        jobs.push_back({key, 100 + i, 1000 + i, 0});
    }
    return jobs;
}

TEST(IngestQueuePgTest, ConcurrentWorkersClaimDisjointJobsAndFinishEachOnce) {
    const std::string db = fresh_db("claims");
    PgCluster::shared().create_database(db);
    auto setup = open_pg(db);
    ASSERT_TRUE(setup);
    auto* q = ingest_queue(*setup);
    ASSERT_TRUE(q);
    auto rep = q->enqueue_jobs("s", jobs_for(200), false);
    ASSERT_TRUE(rep) << rep.error().to_string();
    EXPECT_EQ(rep->queued, 200);
    // Enqueuing again (another `index` process on the same folder) adds nothing.
    EXPECT_EQ(q->enqueue_jobs("s", jobs_for(200), false)->skipped, 200);

    std::mutex mu;
    std::multiset<std::string> claimed;
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w) {
        threads.emplace_back([&, w] {
            auto c = open_pg(db);
            if (!c) {
                ++errors;
                return;
            }
            auto* wq = ingest_queue(*c);
            const std::string name = "worker" + std::to_string(w);
            for (;;) {
                auto jobs = wq->claim_jobs("s", name, 7, 60, 3);
                if (!jobs) {
                    ++errors;
                    return;
                }
                if (jobs->empty())
                    return;
                std::vector<Catalog::PutRequest> done;
                for (const auto& j : *jobs) {
                    done.push_back(request(j.key, static_cast<float>(j.size_bytes)));
                    std::lock_guard lock(mu);
                    claimed.insert(j.key);
                }
                if (!wq->finish_jobs("s", name, done, {}))
                    ++errors;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(claimed.size(), 200u);
    EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), 200u);
    auto counts = q->job_counts("s");
    ASSERT_TRUE(counts);
    EXPECT_EQ(counts->done, 200);
    EXPECT_EQ(counts->queued + counts->running + counts->failed, 0);
    EXPECT_EQ(*setup->count_items(), 200);
    EXPECT_TRUE(q->pending_spaces()->empty());
}

TEST(IngestQueuePgTest, ExpiredLeasesAreClaimedAgainAndLostJobsFailAfterMaxAttempts) {
    const std::string db = fresh_db("lease");
    PgCluster::shared().create_database(db);
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    auto* q = ingest_queue(*c);
    ASSERT_TRUE(q->enqueue_jobs("s", jobs_for(3), false));
    auto first = q->claim_jobs("s", "dead", 10, 0.3, 2);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->size(), 3u);
    // Leased: nobody else gets them.
    EXPECT_TRUE(q->claim_jobs("s", "other", 10, 0.3, 2)->empty());
    EXPECT_EQ(q->job_counts("s")->running, 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto second = q->claim_jobs("s", "other", 10, 0.3, 2);
    ASSERT_TRUE(second);
    ASSERT_EQ(second->size(), 3u);
    EXPECT_EQ((*second)[0].attempts, 2);
    // A live worker's heartbeat keeps its lease.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_TRUE(q->heartbeat("other", "s", "working", 0.3));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(q->claim_jobs("s", "third", 10, 0.3, 2)->empty());
    // Lost again: with max_attempts 2 they are failed, not retried forever.
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_TRUE(q->claim_jobs("s", "third", 10, 0.3, 2)->empty());
    auto counts = q->job_counts("s");
    EXPECT_EQ(counts->failed, 3);
    auto failed = q->failed_jobs("s", 10);
    ASSERT_EQ(failed->size(), 3u);
    EXPECT_NE((*failed)[0].reason.find("lost 2 times"), std::string::npos) << (*failed)[0].reason;
    auto workers = q->workers();
    ASSERT_TRUE(workers);
    ASSERT_EQ(workers->size(), 1u);
    EXPECT_EQ((*workers)[0].name, "other");
    EXPECT_EQ((*workers)[0].state, "working");
}

TEST(IngestQueuePgTest, FailedFileIsRecordedOnceAndQueuedAgainOnlyWhenChanged) {
    const std::string db = fresh_db("failed");
    PgCluster::shared().create_database(db);
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    auto* q = ingest_queue(*c);
    auto jobs = jobs_for(2);
    ASSERT_TRUE(q->enqueue_jobs("s", jobs, false));
    auto claimed = q->claim_jobs("s", "w", 10, 60, 3);
    ASSERT_EQ(claimed->size(), 2u);
    ASSERT_TRUE(q->heartbeat("w", "s", "working", 60));
    auto ids = q->finish_jobs("s", "w", {request(jobs[0].key, 1.0f)},
                              {{jobs[1].key, "cannot decode: invalid data"}});
    ASSERT_TRUE(ids) << ids.error().to_string();
    EXPECT_EQ(ids->size(), 1u);
    auto failed = q->failed_jobs("", 10);
    ASSERT_EQ(failed->size(), 1u);
    EXPECT_EQ((*failed)[0].key, jobs[1].key);
    EXPECT_EQ((*failed)[0].reason, "cannot decode: invalid data");
    EXPECT_EQ((*q->workers())[0].done, 1);
    EXPECT_EQ((*q->workers())[0].failed, 1);

    // Same files again: nothing to do.
    auto again = q->enqueue_jobs("s", jobs, false);
    EXPECT_EQ(again->queued, 0);
    EXPECT_TRUE(q->claim_jobs("s", "w", 10, 60, 3)->empty());
    // The bad file changed: queued again. A removed item's done job is queued again too.
    jobs[1].mtime_ns += 1;
    ASSERT_TRUE(c->remove_items(*ids));
    again = q->enqueue_jobs("s", jobs, false);
    EXPECT_EQ(again->queued, 2);
    EXPECT_EQ(q->job_counts("s")->queued, 2);
    // force re-queues everything not running.
    auto forced = q->enqueue_jobs("s", jobs, true);
    EXPECT_EQ(forced->queued, 0);  // both still queued
    EXPECT_EQ(q->job_counts("")->queued, 2);
}

// The done-count overcount of the 3-process e2e test: an `index` process queuing its files while
// another worker's finish_jobs transaction (job done + item stored) commits. The enqueue statement
// waited on the job's row lock, then saw the job done (latest row version) but checked "is the
// item stored?" against its older snapshot, so it queued the file again: embedded and counted
// twice. Here the finishing transaction is held open by psql while the enqueue runs.
TEST(IngestQueuePgTest, EnqueueDuringAConcurrentFinishDoesNotQueueTheFileAgain) {
    const std::string db = fresh_db("enqrace");
    PgCluster::shared().create_database(db);
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    auto* q = ingest_queue(*c);
    ASSERT_TRUE(
        c->put_item(request("other.wav", 0.5f).item, "s", request("x", 0.5f).vector, Matrix{}, {}));
    const auto jobs = jobs_for(1);
    ASSERT_TRUE(q->enqueue_jobs("s", jobs, false));
    ASSERT_EQ(q->claim_jobs("s", "w1", 10, 60, 3)->size(), 1u);
    // w1's finish, as finish_jobs writes it, committed 1.5 s after it took the row lock.
    std::string finish_out;
    std::thread finisher([&] {
        finish_out = PgCluster::shared().psql(
            db, "BEGIN; UPDATE ingest_jobs SET state = 'done', lease_until = NULL WHERE key = '" +
                    jobs[0].key + "'; INSERT INTO items(path, name) VALUES ('" + jobs[0].key +
                    "', 'f'); INSERT INTO embeddings(item_id, space, vector) SELECT id, 's', "
                    "decode(repeat('00', 32), 'hex') FROM items WHERE path = '" +
                    jobs[0].key + "'; SELECT pg_sleep(1.5); COMMIT;");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto other = open_pg(db);
    ASSERT_TRUE(other);
    auto rep = ingest_queue(*other)->enqueue_jobs("s", jobs, false);
    finisher.join();
    EXPECT_EQ(finish_out.rfind("ERROR", 0), std::string::npos) << finish_out;
    ASSERT_TRUE(rep) << rep.error().to_string();
    EXPECT_EQ(rep->queued, 0) << "a job finished meanwhile was queued again";
    EXPECT_EQ(rep->skipped, 1);
    auto counts = q->job_counts("s");
    EXPECT_EQ(counts->done, 1);
    EXPECT_EQ(counts->queued, 0);
    // Removing the item still queues its done job again.
    auto item = c->find_by_path(jobs[0].key);
    ASSERT_TRUE(item && item->has_value());
    ASSERT_TRUE(c->remove_items({(*item)->id}));
    EXPECT_EQ(q->enqueue_jobs("s", jobs, false)->queued, 1);
}

// A plain libpq session of the test itself (to hold locks and watch the catalog's sessions).
class RawSession {
public:
    explicit RawSession(const std::string& uri) : c_(PQconnectdb(uri.c_str())) {}
    ~RawSession() { PQfinish(c_); }
    RawSession(const RawSession&) = delete;
    RawSession& operator=(const RawSession&) = delete;
    bool ok() const { return PQstatus(c_) == CONNECTION_OK; }
    // Runs SQL; returns the first column of the first row ("" if none), or "ERROR: ...".
    std::string exec(const std::string& sql) {
        PGresult* r = PQexec(c_, sql.c_str());
        const ExecStatusType st = PQresultStatus(r);
        std::string out;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            out = std::string("ERROR: ") + PQresultErrorMessage(r);
        else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0)
            out = PQgetvalue(r, 0, 0);
        PQclear(r);
        return out;
    }
    // Waits (up to 20 s) until the session with this application_name waits for a lock of this
    // kind ('' = any): pg_stat_activity's wait_event_type 'Lock', wait_event e.g. 'advisory'.
    bool wait_until_blocked(const std::string& app, const std::string& event) {
        const auto t0 = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
            const std::string n =
                exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app +
                     "' AND wait_event_type = 'Lock'" +
                     (event.empty() ? "" : " AND wait_event = '" + event + "'"));
            if (n == "1")
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

private:
    PGconn* c_;
};

// The flake of PgCliTest.ThreeIndexProcessesOneKilled...: the first batch a worker claims there is
// [set0/bad1.wav, set0/clip0000.wav]; finish_jobs locked the done job (clip0000) and then the
// failed one (bad1), while an `index` process that started later queued its files, locking every
// job row in key order (bad1, then clip0000). Each held the row the other wanted: PostgreSQL
// aborted one with "deadlock detected" and that `index` process failed. Here the finishing
// transaction is paused (a test trigger waiting on an advisory lock) after its first job row
// update, until the enqueue is waiting for a row lock; then both must succeed, with no deadlock
// (and no retry: the catalog retries a transaction aborted by a deadlock, logging it).
TEST(IngestQueuePgTest, FinishAndEnqueueOfTheSameJobsLockRowsInOneOrder) {
    const std::string db = fresh_db("lockorder");
    PgCluster::shared().create_database(db);
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    auto* q = ingest_queue(*c);
    const auto jobs = jobs_for(2);  // keys[0] < keys[1]
    ASSERT_TRUE(q->enqueue_jobs("s", jobs, false));
    ASSERT_EQ(q->claim_jobs("s", "w", 10, 60, 3)->size(), 2u);

    RawSession control(PgCluster::shared().uri(db));
    ASSERT_TRUE(control.ok());
    ASSERT_EQ(
        control.exec("CREATE FUNCTION test_pause() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "IF current_setting('application_name') = 'test_finisher' THEN "
                     "PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN NEW; END $$; "
                     "CREATE TRIGGER test_pause BEFORE UPDATE ON ingest_jobs FOR EACH ROW "
                     "EXECUTE FUNCTION test_pause()"),
        "");
    ASSERT_EQ(control.exec("SELECT pg_advisory_lock(4242)::text"), "");

    std::mutex log_mu;
    std::vector<std::string> warnings;
    set_log_sink([&](LogLevel level, std::string_view m) {
        std::lock_guard lock(log_mu);
        if (level >= LogLevel::kWarning)
            warnings.emplace_back(m);
    });
    const std::string base = PgCluster::shared().uri(db);
    auto finisher_cat = open_catalog(base + "&application_name=test_finisher");
    auto enqueuer_cat = open_catalog(base + "&application_name=test_enqueuer");
    ASSERT_TRUE(finisher_cat && enqueuer_cat);
    // The worker embedded jobs[1] and failed on jobs[0] (as clip0000 and bad1 in the e2e test).
    std::optional<Result<std::vector<std::int64_t>>> finished;
    std::thread finisher([&] {
        finished = ingest_queue(**finisher_cat)
                       ->finish_jobs("s", "w", {request(jobs[1].key, 1.0f)},
                                     {{jobs[0].key, "cannot decode"}});
    });
    const bool finisher_paused = control.wait_until_blocked("test_finisher", "advisory");
    std::optional<Result<EnqueueReport>> enqueued;
    std::thread enqueuer(
        [&] { enqueued = ingest_queue(**enqueuer_cat)->enqueue_jobs("s", jobs, false); });
    const bool enqueuer_waits = control.wait_until_blocked("test_enqueuer", "");
    EXPECT_EQ(control.exec("SELECT pg_advisory_unlock(4242)::text"), "true");
    finisher.join();
    enqueuer.join();
    set_log_sink(nullptr);
    ASSERT_TRUE(finisher_paused) << "the finishing transaction never reached the test trigger";
    EXPECT_TRUE(enqueuer_waits) << "the enqueue did not wait for the finishing transaction";
    ASSERT_TRUE(finished && enqueued);
    EXPECT_TRUE(*finished) << finished->error().to_string();
    EXPECT_TRUE(*enqueued) << enqueued->error().to_string();
    for (const auto& w : warnings) ADD_FAILURE() << "logged: " << w;
    // The outcome is the finish's, and the enqueue queued nothing again.
    if (*enqueued) {
        EXPECT_EQ((*enqueued)->queued, 0);
    }
    auto counts = q->job_counts("s");
    ASSERT_TRUE(counts);
    EXPECT_EQ(counts->done, 1);
    EXPECT_EQ(counts->failed, 1);
    EXPECT_EQ(*c->count_items(), 1);
}

// A transaction PostgreSQL aborts to break a deadlock (here with a session of the test that locks
// the job rows in the opposite order) is run again by the catalog, which logs it, instead of
// failing the call.
TEST(IngestQueuePgTest, TransactionAbortedByADeadlockIsRunAgain) {
    const std::string db = fresh_db("retry");
    PgCluster::shared().create_database(db);
    auto c = open_pg(db);
    ASSERT_TRUE(c);
    auto* q = ingest_queue(*c);
    const auto jobs = jobs_for(2);
    ASSERT_TRUE(q->enqueue_jobs("s", jobs, false));
    ASSERT_EQ(q->claim_jobs("s", "w", 10, 60, 3)->size(), 2u);

    RawSession other(PgCluster::shared().uri(db));
    ASSERT_TRUE(other.ok());
    // The test's session waits long before checking for a deadlock, so the catalog's session
    // (1 s, the default) finds it and is the one aborted.
    ASSERT_EQ(other.exec("BEGIN; SET LOCAL deadlock_timeout = '30s'"), "");
    ASSERT_EQ(
        other.exec("SELECT key FROM ingest_jobs WHERE key = '" + jobs[1].key + "' FOR UPDATE"),
        jobs[1].key);

    std::mutex log_mu;
    std::vector<std::string> warnings;
    set_log_sink([&](LogLevel level, std::string_view m) {
        std::lock_guard lock(log_mu);
        if (level >= LogLevel::kWarning)
            warnings.emplace_back(m);
    });
    auto finisher_cat = open_catalog(PgCluster::shared().uri(db) + "&application_name=test_retry");
    ASSERT_TRUE(finisher_cat);
    std::optional<Result<std::vector<std::int64_t>>> finished;
    std::thread finisher([&] {
        finished = ingest_queue(**finisher_cat)
                       ->finish_jobs("s", "w",
                                     {request(jobs[0].key, 1.0f), request(jobs[1].key, 2.0f)}, {});
    });
    // The finish holds jobs[0] and waits for jobs[1]; taking jobs[0] now closes the cycle.
    RawSession watch(PgCluster::shared().uri(db));
    const bool finisher_waits = watch.wait_until_blocked("test_retry", "");
    const std::string took =
        finisher_waits
            ? other.exec("SELECT key FROM ingest_jobs WHERE key = '" + jobs[0].key + "' FOR UPDATE")
            : "";
    EXPECT_EQ(other.exec("COMMIT"), "");
    finisher.join();
    set_log_sink(nullptr);
    ASSERT_TRUE(finisher_waits) << "the finish did not wait for the test's row lock";
    EXPECT_EQ(took, jobs[0].key);
    ASSERT_TRUE(finished);
    ASSERT_TRUE(*finished) << finished->error().to_string();
    EXPECT_EQ((*finished)->size(), 2u);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("deadlock detected"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[0].find("running it again (1 of"), std::string::npos) << warnings[0];
    EXPECT_EQ(q->job_counts("s")->done, 2);
    EXPECT_EQ(*c->count_items(), 2);
    EXPECT_EQ((*q->workers()).size(), 0u);  // no heartbeat in this test: no worker row
}

}  // namespace
}  // namespace earshot
