#include "catalog/catalog.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "pg_cluster.h"
#include "test_support.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

ItemRecord make_item(const std::string& path, int n = 0) {
    ItemRecord r;
    r.path = path;
    r.name = fs::path(path).filename().string();
    r.duration_s = 1.5 + n;
    r.sample_rate_hz = 44100;
    r.channels = 2;
    r.codec = "flac";
    r.size_bytes = 1000 + n;
    r.mtime_ns = 1700000000123456789LL + n;
    r.content_hash = "0123456789abcdef";
    r.title = "Title " + std::to_string(n);
    r.artist = "Artist";
    r.labels = "dog,bark";
    return r;
}

std::vector<float> random_vector(std::mt19937& rng, std::size_t dim) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(dim);
    for (float& x : v) x = dist(rng);
    return v;
}

Matrix random_matrix(std::mt19937& rng, std::size_t rows, std::size_t cols) {
    Matrix m(rows, cols);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& x : m.data) x = dist(rng);
    return m;
}

std::vector<SegmentRecord> segment_times(std::size_t n) {
    std::vector<SegmentRecord> t;
    for (std::size_t i = 0; i < n; ++i) {
        t.push_back({static_cast<double>(i) * 0.5, static_cast<double>(i) * 0.5 + 1.0});
    }
    return t;
}

bool bit_equal(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void expect_same_item(const ItemRecord& a, const ItemRecord& b) {
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.duration_s, b.duration_s);
    EXPECT_EQ(a.sample_rate_hz, b.sample_rate_hz);
    EXPECT_EQ(a.channels, b.channels);
    EXPECT_EQ(a.codec, b.codec);
    EXPECT_EQ(a.size_bytes, b.size_bytes);
    EXPECT_EQ(a.mtime_ns, b.mtime_ns);
    EXPECT_EQ(a.content_hash, b.content_hash);
    EXPECT_EQ(a.title, b.title);
    EXPECT_EQ(a.artist, b.artist);
    EXPECT_EQ(a.labels, b.labels);
}

// Opens an SQLite file or a PostgreSQL URI (open_catalog).
std::unique_ptr<Catalog> open_ok(const std::string& path, const CatalogOptions& options = {}) {
    auto c = open_catalog(path, options);
    EXPECT_TRUE(c) << c.error().to_string();
    return c ? std::move(*c) : nullptr;
}

// Runs SQL directly on a file (used to forge old/new/foreign databases).
void raw_exec(const fs::path& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
}

std::int64_t raw_count(const fs::path& path, const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    std::int64_t v = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

std::string raw_text(const fs::path& path, const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    std::string v;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        v = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

// Everything observable about a catalog, for "nothing changed" checks.
struct Snapshot {
    std::vector<ItemRecord> items;
    std::vector<std::vector<float>> vectors;
    std::vector<std::vector<float>> segment_data;
    std::vector<SpaceInfo> spaces;
};

Snapshot take_snapshot(Catalog& c, const std::string& space) {
    Snapshot s;
    s.items = *c.list_items(0, -1);
    for (const auto& item : s.items) {
        auto v = c.get_embedding(item.id, space);
        s.vectors.push_back(v ? *v : std::vector<float>{});
        auto seg = c.get_segments(item.id, space);
        EXPECT_TRUE(seg);
        s.segment_data.push_back(seg->first.data);
    }
    s.spaces = *c.spaces();
    return s;
}

void expect_same_snapshot(const Snapshot& a, const Snapshot& b) {
    ASSERT_EQ(a.items.size(), b.items.size());
    for (std::size_t i = 0; i < a.items.size(); ++i) expect_same_item(a.items[i], b.items[i]);
    ASSERT_EQ(a.vectors.size(), b.vectors.size());
    for (std::size_t i = 0; i < a.vectors.size(); ++i) {
        EXPECT_TRUE(bit_equal(a.vectors[i], b.vectors[i])) << "item " << i;
        EXPECT_TRUE(bit_equal(a.segment_data[i], b.segment_data[i])) << "item " << i;
    }
    ASSERT_EQ(a.spaces.size(), b.spaces.size());
    for (std::size_t i = 0; i < a.spaces.size(); ++i) {
        EXPECT_EQ(a.spaces[i].space, b.spaces[i].space);
        EXPECT_EQ(a.spaces[i].dim, b.spaces[i].dim);
        EXPECT_EQ(a.spaces[i].n_items, b.spaces[i].n_items);
        EXPECT_EQ(a.spaces[i].n_segments, b.spaces[i].n_segments);
    }
}

// The tests that apply to every backend run once per backend: this binary's instantiation
// (end of file) picks SQLite, or PostgreSQL in earshot_catalog_pg_tests (label `postgres`),
// which starts a throwaway cluster (tests/pg_cluster.h) and gives each test a fresh database.
enum class Backend { kSqlite, kPostgres };

class CatalogBackendTest : public ::testing::TestWithParam<Backend> {
protected:
    bool pg() const { return GetParam() == Backend::kPostgres; }
    // A fresh catalog location for this test (the same for the same name).
    std::string loc(const std::string& name = "c") {
        auto it = locations_.find(name);
        if (it != locations_.end())
            return it->second;
        std::string l;
        if (pg()) {
            auto& cluster = testing::PgCluster::shared();
            EXPECT_TRUE(cluster.ok()) << cluster.error();
            static int counter = 0;
            const std::string db =
                "t" + std::to_string(getpid()) + "_" + std::to_string(++counter) + "_" + name;
            l = cluster.create_database(db);
            databases_[l] = db;
        } else {
            l = (dir_ / (name + ".db")).string();
        }
        locations_[name] = l;
        return l;
    }
    // A count(*) query run outside the catalog (sqlite3 or psql).
    std::int64_t count_sql(const std::string& location, const std::string& sql) {
        if (!pg())
            return raw_count(location, sql);
        const std::string out = testing::PgCluster::shared().psql(databases_[location], sql);
        try {
            return std::stoll(out);
        } catch (const std::exception&) {
            ADD_FAILURE() << sql << ": " << out;
            return -1;
        }
    }

    TempDir dir_;
    std::map<std::string, std::string> locations_;
    std::map<std::string, std::string> databases_;
};

TEST(CatalogTest, CreatesWalFileWithApplicationIdAndMeta) {
    TempDir dir;
    const fs::path path = dir / "sub" / "catalog.db";
    {
        auto c = open_ok(path);
        ASSERT_TRUE(c);
        EXPECT_EQ(c->path(), path);
        EXPECT_TRUE(fs::exists(path));
    }
    EXPECT_EQ(raw_count(path, "PRAGMA application_id"), 0x45415253);
    EXPECT_EQ(raw_count(path, "PRAGMA user_version"), kCatalogSchemaVersion);
    EXPECT_EQ(raw_text(path, "PRAGMA journal_mode"), "wal");
    EXPECT_EQ(raw_text(path, "SELECT value FROM meta WHERE key = 'magic'"), "earshot-catalog");
    EXPECT_EQ(raw_text(path, "SELECT value FROM meta WHERE key = 'schema_version'"),
              std::to_string(kCatalogSchemaVersion));
}

TEST(CatalogTest, Version2CatalogIsMigratedAndGetsFingerprints) {
    TempDir dir;
    const fs::path path = dir / "old.db";
    std::int64_t id = 0;
    {
        auto c = open_ok(path);
        std::mt19937 rng(1234);
        id = *c->put_item(make_item("/a.wav"), "s", random_vector(rng, 4), Matrix(), {});
    }
    {
        // Exactly the version 2 schema.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db,
                               "DROP TABLE fingerprints; DROP TABLE item_tags; "
                               "PRAGMA user_version = 2;",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    auto c = open_ok(path);
    ASSERT_TRUE(c);
    EXPECT_EQ(raw_count(path, "PRAGMA user_version"), kCatalogSchemaVersion);
    EXPECT_EQ(*c->items_without_fingerprint(1), std::vector<std::int64_t>{id});
    ASSERT_TRUE(c->put_fingerprints({{id, 1, {1, 2}}}));
    EXPECT_TRUE(c->items_without_fingerprint(1)->empty());
}

TEST(CatalogTest, MissingFileWithoutCreateIsNotFound) {
    TempDir dir;
    CatalogOptions options;
    options.create_if_missing = false;
    auto c = Catalog::open(dir / "nope.db", options);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kNotFound);
    EXPECT_FALSE(fs::exists(dir / "nope.db"));
}

TEST_P(CatalogBackendTest, ItemFieldsRoundTrip) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    ItemRecord item = make_item("/music/a.flac", 3);
    item.title = "Ünïcödé \"quotes\" 'and' ; DROP TABLE items;";
    auto v = random_vector(rng, 16);
    auto id = c->put_item(item, "yamnet", v, Matrix(), {});
    ASSERT_TRUE(id) << id.error().to_string();
    EXPECT_GT(*id, 0);
    item.id = *id;

    auto got = c->get_item(*id);
    ASSERT_TRUE(got);
    expect_same_item(*got, item);

    auto by_path = c->find_by_path("/music/a.flac");
    ASSERT_TRUE(by_path);
    ASSERT_TRUE(by_path->has_value());
    expect_same_item(**by_path, item);

    auto missing = c->find_by_path("/music/none.flac");
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->has_value());

    auto not_found = c->get_item(*id + 100);
    ASSERT_FALSE(not_found);
    EXPECT_EQ(not_found.error().code(), ErrorCode::kNotFound);
}

TEST_P(CatalogBackendTest, GetItemsReadsManyInTheGivenOrderAndSkipsUnknownIds) {
    auto c = open_ok(loc());
    std::mt19937 rng(99);
    std::vector<ItemRecord> items;
    for (int i = 0; i < 5; ++i) {
        ItemRecord item = make_item("/lib/f" + std::to_string(i) + ".wav", i);
        item.title = i == 2 ? "Ünïcödé 'q'" : "";
        auto id = c->put_item(item, "s", random_vector(rng, 8), Matrix(), {});
        ASSERT_TRUE(id) << id.error().to_string();
        item.id = *id;
        items.push_back(item);
    }
    ASSERT_TRUE(c->remove_items({items[3].id}));
    // Any order, unknown and removed ids left out, a repeated id given once per occurrence.
    const std::vector<std::int64_t> ids = {items[4].id, 987654,      items[0].id,
                                           items[3].id, items[2].id, items[0].id};
    auto got = c->get_items(ids);
    ASSERT_TRUE(got) << got.error().to_string();
    ASSERT_EQ(got->size(), 4u);
    expect_same_item((*got)[0], items[4]);
    expect_same_item((*got)[1], items[0]);
    expect_same_item((*got)[2], items[2]);
    expect_same_item((*got)[3], items[0]);
    // The same as get_item, item by item.
    for (const auto& it : *got) expect_same_item(it, *c->get_item(it.id));
    auto none = c->get_items({});
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    // Many at once (more than one page of a statement's parameters would hold).
    std::vector<std::int64_t> many;
    for (int i = 0; i < 3000; ++i) many.push_back(items[static_cast<std::size_t>(i % 5)].id);
    auto lots = c->get_items(many);
    ASSERT_TRUE(lots);
    EXPECT_EQ(lots->size(), 2400u);
}

TEST_P(CatalogBackendTest, NonemptySpacesListsSpacesWithVectorsInSpacesOrder) {
    auto c = open_ok(loc());
    std::mt19937 rng(7);
    EXPECT_TRUE(c->nonempty_spaces()->empty());
    auto a = c->put_item(make_item("/a.wav"), "zeta", random_vector(rng, 4), Matrix(), {});
    ASSERT_TRUE(a) << a.error().to_string();
    auto b = c->put_item(make_item("/b.wav"), "alpha", random_vector(rng, 8), Matrix(), {});
    ASSERT_TRUE(b) << b.error().to_string();
    EXPECT_EQ(*c->nonempty_spaces(), (std::vector<std::string>{"alpha", "zeta"}));
    // Emptied spaces stay in spaces() (with 0 items) but leave nonempty_spaces().
    ASSERT_TRUE(c->remove_items({*b}));
    EXPECT_EQ(*c->nonempty_spaces(), (std::vector<std::string>{"zeta"}));
    std::vector<std::string> counted;
    auto spaces = c->spaces();
    ASSERT_TRUE(spaces);
    for (const auto& sp : *spaces) {
        if (sp.n_items > 0)
            counted.push_back(sp.space);
    }
    EXPECT_EQ(*c->nonempty_spaces(), counted);
}

TEST_P(CatalogBackendTest, VectorsRoundTripBitExact) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    std::vector<float> v = random_vector(rng, 37);
    v[0] = -0.0f;
    v[1] = std::numeric_limits<float>::denorm_min();
    v[2] = std::numeric_limits<float>::max();
    v[3] = std::numeric_limits<float>::lowest();
    v[4] = 1e-38f;
    auto id = c->put_item(make_item("/a.wav"), "s", v, Matrix(), {});
    ASSERT_TRUE(id);
    auto got = c->get_embedding(*id, "s");
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_TRUE(bit_equal(*got, v));
    EXPECT_TRUE(*c->has_embedding(*id, "s"));
    EXPECT_FALSE(*c->has_embedding(*id, "other"));

    auto set = c->load_embeddings("s");
    ASSERT_TRUE(set) << set.error().to_string();
    EXPECT_EQ(set->space, "s");
    EXPECT_EQ(set->dim, 37);
    ASSERT_EQ(set->ids.size(), 1u);
    EXPECT_EQ(set->ids[0], *id);
    EXPECT_EQ(set->durations_s[0], 1.5);
    EXPECT_TRUE(bit_equal(set->vectors.row_span(0), v));

    auto missing = c->get_embedding(*id, "other");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    auto no_space = c->load_embeddings("other");
    ASSERT_FALSE(no_space);
    EXPECT_EQ(no_space.error().code(), ErrorCode::kNotFound);
}

TEST_P(CatalogBackendTest, LoadEmbeddingsReturnsAllRowsOrderedById) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    std::vector<std::vector<float>> vectors;
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 50; ++i) {
        vectors.push_back(random_vector(rng, 64));
        auto id =
            c->put_item(make_item("/f" + std::to_string(i), i), "m", vectors.back(), Matrix(), {});
        ASSERT_TRUE(id);
        ids.push_back(*id);
    }
    // A second space must not leak into the first.
    ASSERT_TRUE(c->put_item(make_item("/f0", 0), "other", random_vector(rng, 8), Matrix(), {}));
    auto set = c->load_embeddings("m");
    ASSERT_TRUE(set);
    ASSERT_EQ(set->ids, ids);
    ASSERT_EQ(set->vectors.n_rows, 50u);
    ASSERT_EQ(set->vectors.n_cols, 64u);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        EXPECT_TRUE(bit_equal(set->vectors.row_span(i), vectors[i]));
        EXPECT_EQ(set->durations_s[i], 1.5 + static_cast<double>(i));
    }
    auto other = c->load_embeddings("other");
    ASSERT_TRUE(other);
    EXPECT_EQ(other->ids.size(), 1u);
    EXPECT_EQ(other->dim, 8);
}

TEST_P(CatalogBackendTest, SegmentsRoundTrip) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    Matrix seg = random_matrix(rng, 5, 12);
    auto times = segment_times(5);
    auto id = c->put_item(make_item("/a.wav"), "s", random_vector(rng, 12), seg, times);
    ASSERT_TRUE(id) << id.error().to_string();
    auto got = c->get_segments(*id, "s");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->first.n_rows, 5u);
    EXPECT_EQ(got->first.n_cols, 12u);
    EXPECT_TRUE(bit_equal(got->first.data, seg.data));
    ASSERT_EQ(got->second.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(got->second[i].start_s, times[i].start_s);
        EXPECT_EQ(got->second[i].end_s, times[i].end_s);
    }
    auto none = c->get_segments(*id, "unknown-space");
    ASSERT_TRUE(none);
    EXPECT_EQ(none->first.n_rows, 0u);
    EXPECT_TRUE(none->second.empty());
}

// load_segments (the batched read behind segment indexes) gives exactly what get_segments gives
// item by item: ordered by item then seq, bit-identical, capped at max_per_item (the items over
// the cap listed), unknown ids and items without segments contributing nothing.
TEST_P(CatalogBackendTest, LoadSegmentsMatchesGetSegmentsItemByItem) {
    auto c = open_ok(loc());
    std::mt19937 rng(99);
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 30; ++i) {
        const std::size_t n = static_cast<std::size_t>(i % 5);  // 0..4 segments
        auto id = c->put_item(make_item("/seg" + std::to_string(i) + ".wav"), "s",
                              random_vector(rng, 12), random_matrix(rng, n, 12), segment_times(n));
        ASSERT_TRUE(id) << id.error().to_string();
        ids.push_back(*id);
    }
    std::vector<std::int64_t> ask(ids.rbegin(), ids.rend());  // any order, with an unknown id
    ask.push_back(ids.back() + 1000);
    auto batch = c->load_segments("s", ask, 3);
    ASSERT_TRUE(batch) << batch.error().to_string();
    EXPECT_EQ(batch->vectors.n_cols, 12u);
    std::size_t row = 0;
    std::vector<std::int64_t> over;
    for (std::int64_t id : ids) {
        auto one = c->get_segments(id, "s");
        ASSERT_TRUE(one);
        if (one->first.n_rows > 3)
            over.push_back(id);
        for (std::size_t k = 0; k < std::min<std::size_t>(one->first.n_rows, 3); ++k, ++row) {
            ASSERT_LT(row, batch->item_ids.size());
            EXPECT_EQ(batch->item_ids[row], id);
            EXPECT_EQ(batch->seq[row], static_cast<std::int64_t>(k));
            EXPECT_EQ(batch->times[row].start_s, one->second[k].start_s);
            EXPECT_EQ(batch->times[row].end_s, one->second[k].end_s);
            EXPECT_TRUE(bit_equal(batch->vectors.row_span(row), one->first.row_span(k)));
        }
    }
    EXPECT_EQ(row, batch->item_ids.size());
    EXPECT_EQ(batch->vectors.n_rows, row);
    EXPECT_EQ(batch->truncated, over);
    auto none = c->load_segments("unknown-space", ids, 3);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->item_ids.empty());
    auto empty = c->load_segments("s", {}, 3);
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->item_ids.empty());
}

// get_embeddings (the batched read behind a search's exact re-ranking) gives exactly what
// get_embedding gives item by item: ordered by id, each id once, bit-identical, with the items'
// durations; ids without a vector in the space (unknown, removed, other space) left out.
TEST_P(CatalogBackendTest, GetEmbeddingsMatchesGetEmbeddingItemByItem) {
    auto c = open_ok(loc());
    std::mt19937 rng(5);
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 12; ++i) {
        ItemRecord item = make_item("/emb" + std::to_string(i) + ".wav", i);
        item.duration_s = 1.5 + i;
        auto id =
            c->put_item(item, i % 4 == 3 ? "other" : "s", random_vector(rng, 6), Matrix(), {});
        ASSERT_TRUE(id) << id.error().to_string();
        ids.push_back(*id);
    }
    ASSERT_TRUE(c->remove_items({ids[5]}));
    // Any order, repeated, unknown and removed ids.
    std::vector<std::int64_t> ask(ids.rbegin(), ids.rend());
    ask.push_back(ids[0]);
    ask.push_back(ids.back() + 1000);
    auto set = c->get_embeddings("s", ask);
    ASSERT_TRUE(set) << set.error().to_string();
    EXPECT_EQ(set->space, "s");
    EXPECT_EQ(set->dim, 6);
    std::vector<std::int64_t> expected;
    for (int i = 0; i < 12; ++i) {
        if (i % 4 != 3 && i != 5)
            expected.push_back(ids[static_cast<std::size_t>(i)]);
    }
    ASSERT_EQ(set->ids, expected);
    ASSERT_EQ(set->durations_s.size(), expected.size());
    ASSERT_EQ(set->vectors.n_rows, expected.size());
    ASSERT_EQ(set->vectors.n_cols, 6u);
    for (std::size_t r = 0; r < expected.size(); ++r) {
        auto one = c->get_embedding(expected[r], "s");
        ASSERT_TRUE(one);
        EXPECT_TRUE(bit_equal(set->vectors.row_span(r), *one)) << "row " << r;
        EXPECT_EQ(set->durations_s[r], c->get_item(expected[r])->duration_s);
    }
    auto other = c->get_embeddings("other", ids);
    ASSERT_TRUE(other);
    EXPECT_EQ(other->ids.size(), 3u);
    auto none = c->get_embeddings("unknown-space", ids);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->ids.empty());
    EXPECT_EQ(none->dim, 0);
    auto empty = c->get_embeddings("s", {});
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->ids.empty());
    EXPECT_EQ(empty->vectors.n_rows, 0u);
}

TEST_P(CatalogBackendTest, UpsertKeepsIdAndReplacesVectorAndSegments) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    auto first = c->put_item(make_item("/a.wav", 1), "s", random_vector(rng, 8),
                             random_matrix(rng, 4, 8), segment_times(4));
    ASSERT_TRUE(first);
    auto other = c->put_item(make_item("/b.wav", 2), "s", random_vector(rng, 8), Matrix(), {});
    ASSERT_TRUE(other);

    ItemRecord updated = make_item("/a.wav", 7);
    updated.title = "new title";
    auto v2 = random_vector(rng, 8);
    Matrix seg2 = random_matrix(rng, 2, 8);
    auto second = c->put_item(updated, "s", v2, seg2, segment_times(2));
    ASSERT_TRUE(second);
    EXPECT_EQ(*first, *second);
    EXPECT_EQ(*c->count_items(), 2);

    auto got = c->get_item(*first);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->title, "new title");
    EXPECT_EQ(got->size_bytes, 1007);
    EXPECT_TRUE(bit_equal(*c->get_embedding(*first, "s"), v2));
    auto seg = c->get_segments(*first, "s");
    ASSERT_TRUE(seg);
    EXPECT_EQ(seg->first.n_rows, 2u);
    EXPECT_TRUE(bit_equal(seg->first.data, seg2.data));

    // A second space on the same item keeps the first space's data.
    auto third = c->put_item(updated, "t", random_vector(rng, 3), Matrix(), {});
    ASSERT_TRUE(third);
    EXPECT_EQ(*third, *first);
    EXPECT_TRUE(bit_equal(*c->get_embedding(*first, "s"), v2));
    EXPECT_EQ(c->get_segments(*first, "s")->first.n_rows, 2u);
}

// The key/value meta table (model digests of spaces, ingest.cpp): set, replaced, read back by
// another connection; the catalog's own keys cannot be written.
TEST_P(CatalogBackendTest, MetaValuesRoundTripAndOwnKeysAreRefused) {
    const std::string path = loc();
    {
        auto c = open_ok(path);
        EXPECT_EQ(*c->get_meta("model_digest:x"), "");
        ASSERT_TRUE(c->put_meta("model_digest:x", "abc"));
        ASSERT_TRUE(c->put_meta("model_digest:x", "0123456789abcdef"));
        for (const std::string own : {"schema_version", "magic", "created_at", ""}) {
            auto r = c->put_meta(own, "99");
            ASSERT_FALSE(r) << own;
            EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        }
    }
    auto c = open_ok(path);  // still an earshot catalog of this version
    EXPECT_EQ(*c->get_meta("model_digest:x"), "0123456789abcdef");
    EXPECT_EQ(*c->get_meta("schema_version"), std::to_string(kCatalogSchemaVersion));
}

TEST_P(CatalogBackendTest, RemoveCascadesToEmbeddingsAndSegments) {
    const std::string path = loc();
    std::mt19937 rng(1234);
    std::int64_t a = 0;
    std::int64_t b = 0;
    {
        auto c = open_ok(path);
        a = *c->put_item(make_item("/a"), "s", random_vector(rng, 4), random_matrix(rng, 3, 4),
                         segment_times(3));
        b = *c->put_item(make_item("/b"), "s", random_vector(rng, 4), random_matrix(rng, 2, 4),
                         segment_times(2));
        ASSERT_TRUE(c->put_item(make_item("/a"), "t", random_vector(rng, 2),
                                random_matrix(rng, 1, 2), segment_times(1)));
        auto removed = c->remove_items({a, 999999, a});
        ASSERT_TRUE(removed);
        EXPECT_EQ(*removed, 1);
        EXPECT_EQ(c->get_item(a).error().code(), ErrorCode::kNotFound);
        EXPECT_FALSE(*c->has_embedding(a, "s"));
        EXPECT_EQ(c->get_segments(a, "s")->first.n_rows, 0u);
        EXPECT_EQ(c->load_embeddings("t").error().code(), ErrorCode::kNotFound);
        auto set = c->load_embeddings("s");
        ASSERT_TRUE(set);
        EXPECT_EQ(set->ids, std::vector<std::int64_t>{b});
        EXPECT_TRUE(c->check_integrity());
    }
    EXPECT_EQ(
        count_sql(path, "SELECT count(*) FROM embeddings WHERE item_id = " + std::to_string(a)), 0);
    EXPECT_EQ(count_sql(path, "SELECT count(*) FROM segments WHERE item_id = " + std::to_string(a)),
              0);
    EXPECT_EQ(count_sql(path, "SELECT count(*) FROM segments"), 2);
}

TEST_P(CatalogBackendTest, RemovedIdsAreNotReused) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    auto a = *c->put_item(make_item("/a"), "s", random_vector(rng, 4), Matrix(), {});
    ASSERT_TRUE(c->remove_items({a}));
    auto b = *c->put_item(make_item("/b"), "s", random_vector(rng, 4), Matrix(), {});
    EXPECT_GT(b, a);
}

TEST_P(CatalogBackendTest, DimMismatchIsRejectedAndNothingChanges) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    ASSERT_TRUE(c->put_item(make_item("/a", 1), "s", random_vector(rng, 8),
                            random_matrix(rng, 2, 8), segment_times(2)));
    const Snapshot before = take_snapshot(*c, "s");

    // Update of an existing item with a wrong dim.
    auto bad = c->put_item(make_item("/a", 9), "s", random_vector(rng, 9), Matrix(), {});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.error().message().find("dim 8"), std::string::npos) << bad.error().message();
    // A new item with a wrong dim.
    auto bad2 = c->put_item(make_item("/new"), "s", random_vector(rng, 7), Matrix(), {});
    ASSERT_FALSE(bad2);
    EXPECT_EQ(bad2.error().code(), ErrorCode::kInvalidArgument);
    expect_same_snapshot(before, take_snapshot(*c, "s"));
}

TEST_P(CatalogBackendTest, InvalidInputsAreRejected) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    auto code = [](const auto& r) { return r.error().code(); };
    auto v = random_vector(rng, 4);
    EXPECT_EQ(code(c->put_item(make_item("/a"), "s", {}, Matrix(), {})),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(code(c->put_item(make_item(""), "s", v, Matrix(), {})), ErrorCode::kInvalidArgument);
    EXPECT_EQ(code(c->put_item(make_item("/a"), "", v, Matrix(), {})), ErrorCode::kInvalidArgument);
    auto nan = v;
    nan[2] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(code(c->put_item(make_item("/a"), "s", nan, Matrix(), {})),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(
        code(c->put_item(make_item("/a"), "s", v, random_matrix(rng, 2, 4), segment_times(3))),
        ErrorCode::kInvalidArgument);
    EXPECT_EQ(
        code(c->put_item(make_item("/a"), "s", v, random_matrix(rng, 2, 5), segment_times(2))),
        ErrorCode::kInvalidArgument);
    EXPECT_EQ(*c->count_items(), 0);
    EXPECT_TRUE(c->spaces()->empty());
    auto neg = c->list_items(-1, 10);
    ASSERT_FALSE(neg);
    EXPECT_EQ(neg.error().code(), ErrorCode::kInvalidArgument);
}

TEST_P(CatalogBackendTest, PutItemsAssignsIdsInOrder) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    std::vector<Catalog::PutRequest> batch;
    for (int i = 0; i < 32; ++i) {
        batch.push_back({make_item("/x/" + std::to_string(i), i), random_vector(rng, 16),
                         random_matrix(rng, 2, 16), segment_times(2)});
    }
    auto ids = c->put_items("m", batch);
    ASSERT_TRUE(ids) << ids.error().to_string();
    ASSERT_EQ(ids->size(), 32u);
    for (std::size_t i = 0; i < 32; ++i) {
        auto item = c->get_item((*ids)[i]);
        ASSERT_TRUE(item);
        EXPECT_EQ(item->path, batch[i].item.path);
        EXPECT_TRUE(bit_equal(*c->get_embedding((*ids)[i], "m"), batch[i].vector));
        if (i > 0) {
            EXPECT_GT((*ids)[i], (*ids)[i - 1]);
        }
    }
    auto spaces = c->spaces();
    ASSERT_TRUE(spaces);
    ASSERT_EQ(spaces->size(), 1u);
    EXPECT_EQ((*spaces)[0].space, "m");
    EXPECT_EQ((*spaces)[0].dim, 16);
    EXPECT_EQ((*spaces)[0].n_items, 32);
    EXPECT_EQ((*spaces)[0].n_segments, 64);
}

TEST_P(CatalogBackendTest, PutItemsFailingMidwayLeavesCatalogExactlyAsBefore) {
    const std::string path = loc();
    auto c = open_ok(path);
    std::mt19937 rng(1234);
    ASSERT_TRUE(c->put_item(make_item("/keep", 1), "m", random_vector(rng, 16),
                            random_matrix(rng, 3, 16), segment_times(3)));
    ASSERT_TRUE(c->put_item(make_item("/update", 2), "m", random_vector(rng, 16), Matrix(), {}));
    const Snapshot before = take_snapshot(*c, "m");

    std::vector<Catalog::PutRequest> batch;
    // 1: updates an existing item (must be rolled back), 2: a new item, 3: wrong dim.
    batch.push_back({make_item("/update", 50), random_vector(rng, 16), random_matrix(rng, 1, 16),
                     segment_times(1)});
    batch.push_back({make_item("/new", 51), random_vector(rng, 16), Matrix(), {}});
    batch.push_back({make_item("/bad", 52), random_vector(rng, 15), Matrix(), {}});
    batch.push_back({make_item("/after", 53), random_vector(rng, 16), Matrix(), {}});
    auto ids = c->put_items("m", batch);
    ASSERT_FALSE(ids);
    EXPECT_EQ(ids.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(ids.error().message().find("item 2 '/bad'"), std::string::npos)
        << ids.error().message();
    expect_same_snapshot(before, take_snapshot(*c, "m"));

    // A failure in a fresh space also leaves no trace of the space.
    std::vector<Catalog::PutRequest> batch2;
    batch2.push_back({make_item("/n1"), random_vector(rng, 4), Matrix(), {}});
    batch2.push_back({make_item("/n2"), random_vector(rng, 5), Matrix(), {}});
    ASSERT_FALSE(c->put_items("fresh", batch2));
    expect_same_snapshot(before, take_snapshot(*c, "m"));

    // The catalog is still usable afterwards, and the state is what was on disk.
    batch.pop_back();
    batch.pop_back();
    ASSERT_TRUE(c->put_items("m", batch));
    EXPECT_EQ(*c->count_items(), 3);
    c.reset();
    auto reopened = open_ok(path);
    EXPECT_EQ(*reopened->count_items(), 3);
}

TEST_P(CatalogBackendTest, ReopenPersistsEverything) {
    const std::string path = loc();
    std::mt19937 rng(1234);
    auto v = random_vector(rng, 32);
    Matrix seg = random_matrix(rng, 3, 32);
    std::int64_t id = 0;
    {
        auto c = open_ok(path);
        id = *c->put_item(make_item("/a", 4), "s", v, seg, segment_times(3));
    }
    auto c = open_ok(path);
    ItemRecord expected = make_item("/a", 4);
    expected.id = id;
    expect_same_item(*c->get_item(id), expected);
    EXPECT_TRUE(bit_equal(*c->get_embedding(id, "s"), v));
    EXPECT_TRUE(bit_equal(c->get_segments(id, "s")->first.data, seg.data));
    EXPECT_TRUE(c->check_integrity());
}

TEST_P(CatalogBackendTest, ReadOnlyOpenReadsButCannotWrite) {
    const std::string path = loc();
    std::mt19937 rng(1234);
    {
        auto c = open_ok(path);
        ASSERT_TRUE(c->put_item(make_item("/a"), "s", random_vector(rng, 4), Matrix(), {}));
    }
    CatalogOptions ro;
    ro.read_only = true;
    auto c = open_ok(path, ro);
    ASSERT_TRUE(c);
    EXPECT_EQ(*c->count_items(), 1);
    auto w = c->put_item(make_item("/b"), "s", random_vector(rng, 4), Matrix(), {});
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code(), ErrorCode::kIoError) << w.error().to_string();
}

TEST(CatalogTest, InMemoryCatalogWorks) {
    auto c = open_ok(":memory:");
    ASSERT_TRUE(c);
    std::mt19937 rng(1234);
    ASSERT_TRUE(c->put_item(make_item("/a"), "s", random_vector(rng, 4), Matrix(), {}));
    EXPECT_EQ(*c->count_items(), 1);
}

TEST(CatalogTest, GarbageFileIsCorruption) {
    TempDir dir;
    const fs::path path = dir / "garbage.db";
    {
        std::ofstream out(path, std::ios::binary);
        std::mt19937 rng(1234);
        for (int i = 0; i < 10000; ++i) out.put(static_cast<char>(rng() & 0xff));
    }
    auto c = Catalog::open(path);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(c.error().message().find("not an earshot catalog"), std::string::npos)
        << c.error().message();
    // A text file that is short.
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << "hello";
    }
    auto c2 = Catalog::open(path);
    ASSERT_FALSE(c2);
    EXPECT_EQ(c2.error().code(), ErrorCode::kCorruption);
}

TEST(CatalogTest, GarbageAfterValidSqliteHeaderIsCorruption) {
    TempDir dir;
    const fs::path path = dir / "c.db";
    {
        std::ofstream out(path, std::ios::binary);
        out.write("SQLite format 3\0", 16);
        std::mt19937 rng(1234);
        for (int i = 0; i < 20000; ++i) out.put(static_cast<char>(rng() & 0xff));
    }
    auto c = Catalog::open(path);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kCorruption) << c.error().to_string();
}

void write_sample_catalog(const std::string& path, int n_items) {
    auto c = open_ok(path);
    ASSERT_TRUE(c);
    std::mt19937 rng(1234);
    std::vector<Catalog::PutRequest> batch;
    for (int i = 0; i < n_items; ++i) {
        batch.push_back({make_item("/t/" + std::to_string(i), i), random_vector(rng, 256),
                         random_matrix(rng, 2, 256), segment_times(2)});
    }
    ASSERT_TRUE(c->put_items("s", batch));
}

TEST(CatalogTest, TruncatedCatalogIsCorruption) {
    TempDir dir;
    const fs::path path = dir / "c.db";
    write_sample_catalog(path, 300);
    ASSERT_FALSE(fs::exists(dir / "c.db-wal") && fs::file_size(dir / "c.db-wal") > 0);
    const auto size = fs::file_size(path);
    for (std::uintmax_t keep : {size / 2, size - 1000, std::uintmax_t{4096}, std::uintmax_t{50}}) {
        fs::path copy = dir / ("trunc_" + std::to_string(keep) + ".db");
        fs::copy_file(path, copy);
        fs::resize_file(copy, keep);
        auto c = Catalog::open(copy);
        ASSERT_FALSE(c) << "kept " << keep << " of " << size << " bytes";
        EXPECT_EQ(c.error().code(), ErrorCode::kCorruption) << c.error().to_string();
    }
}

TEST(CatalogTest, DamagedPagesGiveErrorsNotCrashes) {
    TempDir dir;
    const fs::path path = dir / "c.db";
    write_sample_catalog(path, 300);
    const auto size = fs::file_size(path);
    {
        // Overwrite the second half of the file (keeps page 1 and the schema intact).
        std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
        f.seekp(static_cast<std::streamoff>(size / 2));
        std::mt19937 rng(1234);
        for (std::uintmax_t i = size / 2; i < size; ++i) f.put(static_cast<char>(rng() & 0xff));
    }
    auto c = Catalog::open(path);
    if (!c) {
        EXPECT_EQ(c.error().code(), ErrorCode::kCorruption) << c.error().to_string();
        return;
    }
    auto integrity = (*c)->check_integrity();
    ASSERT_FALSE(integrity);
    EXPECT_EQ(integrity.error().code(), ErrorCode::kCorruption);
    // Reads either succeed or fail with an error; they never crash.
    auto set = (*c)->load_embeddings("s");
    if (!set) {
        EXPECT_EQ(set.error().code(), ErrorCode::kCorruption) << set.error().to_string();
    }
    auto items = (*c)->list_items(0, -1);
    if (!items) {
        EXPECT_EQ(items.error().code(), ErrorCode::kCorruption);
    }
}

TEST(CatalogTest, PlainSqliteDatabaseIsCorruption) {
    TempDir dir;
    const fs::path path = dir / "other.db";
    raw_exec(path, "CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1);");
    auto c = Catalog::open(path);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(c.error().message().find("not an earshot catalog"), std::string::npos);
    // The foreign file was not modified.
    EXPECT_EQ(raw_count(path, "SELECT count(*) FROM sqlite_schema"), 1);
    EXPECT_EQ(raw_text(path, "PRAGMA journal_mode"), "delete");

    // Our application id but the tables dropped.
    const fs::path path2 = dir / "broken.db";
    { ASSERT_TRUE(open_ok(path2)); }
    raw_exec(path2, "DROP TABLE segments;");
    auto c2 = Catalog::open(path2);
    ASSERT_FALSE(c2);
    EXPECT_EQ(c2.error().code(), ErrorCode::kCorruption);
}

TEST(CatalogTest, EmptyFileBecomesANewCatalog) {
    TempDir dir;
    const fs::path path = dir / "empty.db";
    { std::ofstream out(path); }
    auto c = open_ok(path);
    ASSERT_TRUE(c);
    EXPECT_EQ(*c->count_items(), 0);
}

TEST(CatalogTest, NewerSchemaVersionIsNotSupported) {
    TempDir dir;
    const fs::path path = dir / "c.db";
    { ASSERT_TRUE(open_ok(path)); }
    raw_exec(path, "PRAGMA user_version = " + std::to_string(kCatalogSchemaVersion + 1) +
                       "; UPDATE meta SET value = '" + std::to_string(kCatalogSchemaVersion + 1) +
                       "' WHERE key = 'schema_version';");
    auto c = Catalog::open(path);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::kNotSupported);
    EXPECT_NE(c.error().message().find("newer"), std::string::npos) << c.error().message();
    CatalogOptions ro;
    ro.read_only = true;
    auto c2 = Catalog::open(path, ro);
    ASSERT_FALSE(c2);
    EXPECT_EQ(c2.error().code(), ErrorCode::kNotSupported);
}

TEST_P(CatalogBackendTest, CheckIntegrityPassesOnHealthyCatalog) {
    write_sample_catalog(loc(), 20);
    auto c = open_ok(loc());
    auto st = c->check_integrity();
    EXPECT_TRUE(st) << st.error().to_string();
}

TEST_P(CatalogBackendTest, ListAndCountFilterCaseInsensitivelyAndEscapeWildcards) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    auto put = [&](const std::string& path, const std::string& title, const std::string& artist,
                   const std::string& labels) {
        ItemRecord r = make_item(path);
        r.title = title;
        r.artist = artist;
        r.labels = labels;
        ASSERT_TRUE(c->put_item(r, "s", random_vector(rng, 4), Matrix(), {}));
    };
    put("/m/100% pure.wav", "", "", "");
    put("/m/a_b.wav", "", "", "");
    put("/m/axb.wav", "", "", "");
    put("/m/song.wav", "Foo Bar", "", "");
    put("/m/other.wav", "", "The BEATLES", "");
    put("/m/dog.wav", "", "", "Dog,Bark");
    put("/m/back\\slash.wav", "", "", "");

    auto names = [&](const std::string& q) {
        std::vector<std::string> out;
        auto items = c->list_items(0, -1, q);
        EXPECT_TRUE(items);
        if (!items)
            return out;
        for (const auto& r : *items) out.push_back(r.name);
        return out;
    };
    EXPECT_EQ(*c->count_items(), 7);
    EXPECT_EQ(*c->count_items("%"), 1);
    EXPECT_EQ(names("%"), std::vector<std::string>{"100% pure.wav"});
    EXPECT_EQ(names("0% p"), std::vector<std::string>{"100% pure.wav"});
    EXPECT_EQ(names("_"), std::vector<std::string>{"a_b.wav"});
    EXPECT_EQ(*c->count_items("a_b"), 1);
    EXPECT_EQ(names("\\"), std::vector<std::string>{"back\\slash.wav"});
    // Only the name, the path and the tags are matched (#16): title, artist and the free-text
    // labels are not shown in lists, so hits on them looked random.
    EXPECT_TRUE(names("foo bar").empty());
    EXPECT_TRUE(names("beatles").empty());
    EXPECT_TRUE(names("BARK").empty());
    EXPECT_EQ(names("DOG"), std::vector<std::string>{"dog.wav"});
    EXPECT_EQ(*c->count_items("/M/"), 7);
    EXPECT_EQ(*c->count_items("nothing matches"), 0);

    // Paging, ordered by id.
    auto all = *c->list_items(0, -1);
    ASSERT_EQ(all.size(), 7u);
    auto page = *c->list_items(2, 3);
    ASSERT_EQ(page.size(), 3u);
    EXPECT_EQ(page[0].id, all[2].id);
    EXPECT_EQ(page[2].id, all[4].id);
    EXPECT_EQ(c->list_items(6, 10)->size(), 1u);
    EXPECT_TRUE(c->list_items(10, 10)->empty());
    EXPECT_EQ(c->list_items(0, 2, ".wav")->size(), 2u);
}

TEST_P(CatalogBackendTest, StatsSumItemsAndSpaces) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    auto empty = c->stats();
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->n_items, 0);
    EXPECT_TRUE(empty->spaces.empty());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(c->put_item(make_item("/s" + std::to_string(i), i), "a", random_vector(rng, 4),
                                random_matrix(rng, 2, 4), segment_times(2)));
    }
    ASSERT_TRUE(c->put_item(make_item("/s0", 0), "b", random_vector(rng, 6), Matrix(), {}));
    auto st = c->stats();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->n_items, 3);
    EXPECT_EQ(st->total_bytes, 1000 + 1001 + 1002);
    EXPECT_DOUBLE_EQ(st->total_duration_s, 1.5 + 2.5 + 3.5);
    EXPECT_GT(st->file_bytes, 0);
    ASSERT_EQ(st->spaces.size(), 2u);
    EXPECT_EQ(st->spaces[0].space, "a");
    EXPECT_EQ(st->spaces[0].dim, 4);
    EXPECT_EQ(st->spaces[0].n_items, 3);
    EXPECT_EQ(st->spaces[0].n_segments, 6);
    EXPECT_EQ(st->spaces[1].space, "b");
    EXPECT_EQ(st->spaces[1].dim, 6);
    EXPECT_EQ(st->spaces[1].n_items, 1);
    EXPECT_EQ(st->spaces[1].n_segments, 0);
}

TEST_P(CatalogBackendTest, ConcurrentReadersAndAWriterOnOneObject) {
    auto c = open_ok(loc());
    std::mt19937 rng(1234);
    std::vector<Catalog::PutRequest> batch;
    for (int i = 0; i < 100; ++i) {
        batch.push_back({make_item("/c/" + std::to_string(i), i), random_vector(rng, 32), {}, {}});
    }
    auto ids = *c->put_items("s", batch);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                std::int64_t id = ids[static_cast<std::size_t>((t * 50 + i) % 100)];
                auto item = c->get_item(id);
                auto v = c->get_embedding(id, "s");
                auto set = c->load_embeddings("s");
                if (!item || !v || !set || set->ids.size() < 100)
                    ++failures;
            }
        });
    }
    threads.emplace_back([&] {
        std::mt19937 wrng(99);
        for (int i = 0; i < 50; ++i) {
            if (!c->put_item(make_item("/w/" + std::to_string(i)), "s", random_vector(wrng, 32),
                             Matrix(), {})) {
                ++failures;
            }
        }
    });
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(*c->count_items(), 150);
}

TEST_P(CatalogBackendTest, TwoObjectsOnTheSameFileSeeEachOthersWrites) {
    const std::string path = loc();
    auto a = open_ok(path);
    auto b = open_ok(path);
    ASSERT_TRUE(a && b);
    std::mt19937 rng(1234);
    auto id = a->put_item(make_item("/from-a"), "s", random_vector(rng, 8), Matrix(), {});
    ASSERT_TRUE(id);
    auto seen = b->get_item(*id);
    ASSERT_TRUE(seen) << seen.error().to_string();
    EXPECT_EQ(seen->path, "/from-a");
    ASSERT_TRUE(b->put_item(make_item("/from-b"), "s", random_vector(rng, 8), Matrix(), {}));
    EXPECT_EQ(*a->count_items(), 2);
    // b's dim for the space is enforced for a too.
    EXPECT_EQ(a->put_item(make_item("/x"), "s", random_vector(rng, 3), Matrix(), {}).error().code(),
              ErrorCode::kInvalidArgument);

    // Concurrent writers through both objects: all writes land.
    std::atomic<int> failures{0};
    auto writer = [&](Catalog* c, const std::string& prefix, unsigned seed) {
        std::mt19937 wrng(seed);
        for (int i = 0; i < 40; ++i) {
            std::vector<Catalog::PutRequest> batch;
            batch.push_back(
                {make_item(prefix + std::to_string(i)), random_vector(wrng, 8), {}, {}});
            auto r = c->put_items("s", batch);
            if (!r) {
                ADD_FAILURE() << r.error().to_string();
                ++failures;
            }
        }
    };
    std::thread ta(writer, a.get(), "/ta/", 1u);
    std::thread tb(writer, b.get(), "/tb/", 2u);
    ta.join();
    tb.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(*a->count_items(), 82);
    EXPECT_EQ(*b->count_items(), 82);
    EXPECT_EQ(b->load_embeddings("s")->ids.size(), 82u);
}

}  // namespace
}  // namespace earshot

namespace earshot {
namespace {

// Schema v2 (#4): every write to a space's vectors bumps its generation; rows remember theirs.
TEST_P(CatalogBackendTest, WritesBumpGenerationAndChangedRowsAreListed) {
    auto cat = open_ok(loc());
    ASSERT_TRUE(cat);
    auto& c = *cat;
    EXPECT_EQ(c.space_state("s").error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(c.space_generation("s").error().code(), ErrorCode::kNotFound);
    std::mt19937 rng(1234);
    auto a = c.put_item(make_item("/a"), "s", random_vector(rng, 4), Matrix(), {});
    auto b = c.put_item(make_item("/b"), "s", random_vector(rng, 4), Matrix(), {});
    ASSERT_TRUE(a && b);
    auto st = c.space_state("s");
    ASSERT_TRUE(st);
    EXPECT_EQ(st->dim, 4);
    EXPECT_EQ(st->n_items, 2);
    EXPECT_EQ(st->max_id, *b);
    const std::int64_t g0 = st->generation;
    EXPECT_GE(g0, 2);
    // Update a's vector: generation moves, only a is listed as changed since g0.
    ASSERT_TRUE(c.put_item(make_item("/a"), "s", random_vector(rng, 4), Matrix(), {}));
    auto changed = c.load_embeddings_since("s", g0, true);
    ASSERT_TRUE(changed);
    ASSERT_EQ(changed->ids.size(), 1u);
    EXPECT_EQ(changed->ids[0], *a);
    EXPECT_EQ(changed->vectors.n_rows, 1u);
    const std::int64_t g1 = c.space_state("s")->generation;
    EXPECT_GT(g1, g0);
    EXPECT_EQ(c.space_generation("s").value(), g1);
    // Removing an item (cascade) bumps it again; nothing is listed as changed.
    std::vector<std::int64_t> gone = {*b};
    ASSERT_TRUE(c.remove_items(gone));
    auto st2 = c.space_state("s");
    EXPECT_GT(st2->generation, g1);
    EXPECT_EQ(c.space_generation("s").value(), st2->generation);
    EXPECT_EQ(st2->n_items, 1);
    auto none = c.load_embeddings_since("s", st2->generation, false);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->ids.empty());
    auto all = c.load_embeddings_since("s", -1, false);
    ASSERT_TRUE(all);
    EXPECT_EQ(all->ids.size(), 1u);
    EXPECT_TRUE(all->vectors.data.empty());
    EXPECT_EQ(c.load_embeddings_since("nope", -1, false).error().code(), ErrorCode::kNotFound);
}

TEST_P(CatalogBackendTest, FingerprintsRoundTripAndFollowTheirItem) {
    const std::string path = loc();
    std::mt19937 rng(1234);
    auto c = open_ok(path);
    // Stored with the item in put_items (one transaction), or on their own.
    std::vector<Catalog::PutRequest> batch(2);
    batch[0].item = make_item("/a.wav", 1);
    batch[0].vector = random_vector(rng, 4);
    batch[0].fingerprint = {0x45, 0x00, 0xff, 0x10, 0x00};  // bytes as they are, zeros too
    batch[0].fingerprint_version = 7;
    batch[1].item = make_item("/b.wav", 2);
    batch[1].vector = random_vector(rng, 4);
    auto ids = c->put_items("s", batch);
    ASSERT_TRUE(ids) << ids.error().to_string();
    const std::int64_t a = (*ids)[0];
    const std::int64_t b = (*ids)[1];

    auto fa = c->get_fingerprint(a);
    ASSERT_TRUE(fa) << fa.error().to_string();
    ASSERT_TRUE(fa->has_value());
    EXPECT_EQ((*fa)->item_id, a);
    EXPECT_EQ((*fa)->version, 7);
    EXPECT_EQ((*fa)->data, batch[0].fingerprint);
    EXPECT_FALSE(c->get_fingerprint(b)->has_value());
    EXPECT_EQ(*c->items_without_fingerprint(7), std::vector<std::int64_t>{b});
    EXPECT_EQ(*c->items_without_fingerprint(8), (std::vector<std::int64_t>{a, b}));

    // A put without a fingerprint keeps the stored one; put_fingerprints replaces.
    batch[0].fingerprint.clear();
    ASSERT_TRUE(c->put_items("s", {batch[0]}));
    EXPECT_EQ((*c->get_fingerprint(a))->data.size(), 5u);
    std::vector<std::uint8_t> big(20000);
    for (auto& x : big) x = static_cast<std::uint8_t>(rng());
    ASSERT_TRUE(c->put_fingerprints({{b, 7, big}, {a, 7, {1, 2, 3}}}));
    auto all = c->load_fingerprints();
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 2u);
    EXPECT_EQ((*all)[0].item_id, a);
    EXPECT_EQ((*all)[0].data, (std::vector<std::uint8_t>{1, 2, 3}));
    EXPECT_EQ((*all)[1].data, big);
    auto some = c->load_fingerprints({b, 999999});
    ASSERT_TRUE(some);
    ASSERT_EQ(some->size(), 1u);
    EXPECT_EQ((*some)[0].item_id, b);
    EXPECT_TRUE(c->items_without_fingerprint(7)->empty());

    // Unknown items and empty data are rejected, and nothing of the call is stored.
    auto bad = c->put_fingerprints({{a, 9, {9}}, {999999, 7, {1}}});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ((*c->get_fingerprint(a))->version, 7);
    EXPECT_EQ(c->put_fingerprints({{a, 7, {}}}).error().code(), ErrorCode::kInvalidArgument);

    // Removing the item removes its fingerprint.
    ASSERT_EQ(*c->remove_items({a}), 1);
    EXPECT_FALSE(c->get_fingerprint(a)->has_value());
    c.reset();
    EXPECT_EQ(count_sql(path, "SELECT count(*) FROM fingerprints"), 1);
}

TEST_P(CatalogBackendTest, TagsFiltersAndFacets) {
    const std::string path = loc();
    std::mt19937 rng(99);
    auto c = open_ok(path);
    // Four items in two folders; the first two get tags with put_items, the third with set_tags.
    std::vector<Catalog::PutRequest> batch(4);
    const char* paths[] = {"/lib/strings/violin.wav", "/lib/strings/cello_100%.wav",
                           "/lib/winds/flute.wav", "/lib/winds_extra/oboe.wav"};
    for (int i = 0; i < 4; ++i) {
        batch[i].item = make_item(paths[i], i);
        batch[i].item.labels = "Flute";  // hidden free-text labels: not matched by the query
        batch[i].vector = random_vector(rng, 4);
    }
    batch[0].tags = std::vector<TagScore>{{"Violin, fiddle", 0.8f}, {"Music", 0.5f}};
    batch[1].tags = std::vector<TagScore>{{"Music", 0.9f}, {"Cello", 0.4f}};
    auto ids = c->put_items("s", batch);
    ASSERT_TRUE(ids) << ids.error().to_string();
    const std::int64_t violin = (*ids)[0], cello = (*ids)[1], flute = (*ids)[2], oboe = (*ids)[3];
    ASSERT_TRUE(c->set_tags({{flute, {{"Flute", 0.7f}, {"Music", 0.3f}}}}));

    // Round trip, best first; a put without tags keeps them.
    ASSERT_TRUE(c->put_items("s", {batch[2]}));
    auto t = c->tags_of(flute);
    ASSERT_TRUE(t) << t.error().to_string();
    ASSERT_EQ(t->size(), 2u);
    EXPECT_EQ((*t)[0].tag, "Flute");
    EXPECT_FLOAT_EQ((*t)[0].score, 0.7f);
    auto many = c->get_tags({oboe, cello, violin, 999999});
    ASSERT_TRUE(many);
    ASSERT_EQ(many->size(), 2u);
    EXPECT_EQ((*many)[0].item_id, cello);
    EXPECT_EQ((*many)[0].tags[0].tag, "Music");
    EXPECT_EQ((*many)[1].tags[0].tag, "Violin, fiddle");
    EXPECT_EQ(*c->items_without_tags(), std::vector<std::int64_t>{oboe});

    // Tag filter: whole names, case-insensitive, every tag must match.
    ItemFilter music;
    music.tags = {"music"};
    EXPECT_EQ(*c->filter_ids(music), (std::vector<std::int64_t>{violin, cello, flute}));
    EXPECT_EQ(*c->count_items(music), 3);
    ItemFilter both;
    both.tags = {"Music", "VIOLIN, FIDDLE"};
    EXPECT_EQ(*c->filter_ids(both), std::vector<std::int64_t>{violin});
    ItemFilter part;
    part.tags = {"Violin"};
    EXPECT_TRUE(c->filter_ids(part)->empty());

    // Folder filter: under the folder (not a sibling with the same prefix), trailing / ignored.
    ItemFilter winds;
    winds.folder = "/lib/winds/";
    EXPECT_EQ(*c->filter_ids(winds), std::vector<std::int64_t>{flute});
    ItemFilter lib;
    lib.folder = "/lib";
    EXPECT_EQ(*c->count_items(lib), 4);
    auto listed = c->list_items(1, 2, lib);
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 2u);
    EXPECT_EQ((*listed)[0].id, cello);

    // Text query: name, path or a tag; never the hidden labels; % is literal.
    EXPECT_EQ(*c->filter_ids(ItemFilter("flute")), std::vector<std::int64_t>{flute});
    EXPECT_EQ(*c->filter_ids(ItemFilter("FIDDLE")), std::vector<std::int64_t>{violin});
    EXPECT_EQ(*c->filter_ids(ItemFilter("100%")), std::vector<std::int64_t>{cello});
    EXPECT_EQ(*c->count_items("strings"), 2);
    ItemFilter combined("o");
    combined.tags = {"Music"};
    combined.folder = "/lib/strings";
    EXPECT_EQ(*c->filter_ids(combined), (std::vector<std::int64_t>{violin, cello}));

    // Facets.
    auto tc = c->tag_counts();
    ASSERT_TRUE(tc) << tc.error().to_string();
    ASSERT_EQ(tc->size(), 4u);
    EXPECT_EQ((*tc)[0].name, "Music");
    EXPECT_EQ((*tc)[0].count, 3);
    EXPECT_EQ((*tc)[1].name, "Cello");  // ties by name
    EXPECT_EQ((*tc)[1].count, 1);
    auto tw = c->tag_counts(winds);
    ASSERT_TRUE(tw);
    ASSERT_EQ(tw->size(), 2u);
    EXPECT_EQ((*tw)[0].name, "Flute");
    auto fc = c->folder_counts();
    ASSERT_TRUE(fc) << fc.error().to_string();
    std::map<std::string, std::int64_t> folders;
    for (const auto& f : *fc) folders[f.name] = f.count;
    EXPECT_EQ(folders,
              (std::map<std::string, std::int64_t>{
                  {"/lib", 4}, {"/lib/strings", 2}, {"/lib/winds", 1}, {"/lib/winds_extra", 1}}));
    auto fm = c->folder_counts(music);
    ASSERT_TRUE(fm);
    EXPECT_EQ(fm->size(), 3u);  // /lib, /lib/strings, /lib/winds

    // Bad input; the failed call changes nothing.
    EXPECT_EQ(c->set_tags({{violin, {{"x", 1.0f}}}, {999999, {{"y", 1.0f}}}}).error().code(),
              ErrorCode::kNotFound);
    EXPECT_EQ(c->tags_of(violin)->size(), 2u);
    EXPECT_EQ(c->set_tags({{violin, {{"", 1.0f}}}}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(c->set_tags({{violin, {{"a", std::nanf("")}}}}).error().code(),
              ErrorCode::kInvalidArgument);
    // An empty list clears; removing the item removes its tags.
    ASSERT_TRUE(c->set_tags({{cello, {}}}));
    EXPECT_TRUE(c->tags_of(cello)->empty());
    ASSERT_EQ(*c->remove_items({violin}), 1);
    c.reset();
    EXPECT_EQ(count_sql(path, "SELECT count(*) FROM item_tags"), 2);
}

#ifdef EARSHOT_TEST_POSTGRES
INSTANTIATE_TEST_SUITE_P(Postgres,
                         CatalogBackendTest,
                         ::testing::Values(Backend::kPostgres),
                         [](const auto&) { return std::string("pg"); });
#else
INSTANTIATE_TEST_SUITE_P(Sqlite,
                         CatalogBackendTest,
                         ::testing::Values(Backend::kSqlite),
                         [](const auto&) { return std::string("sqlite"); });
#endif

}  // namespace
}  // namespace earshot
