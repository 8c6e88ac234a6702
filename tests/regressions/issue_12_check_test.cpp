// Issue #12, catalog damage: 3 of 5 random 4 KiB overwrites of the SQLite file went unnoticed.
// `earshot check` (engine/catalog_check.h) runs the SQLite integrity check, reads every row and
// vector and checks the index files; opening a small catalog runs `PRAGMA quick_check`. Every
// one of a set of seeded random 4 KiB overwrites must be caught by open or by check.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "engine/catalog_check.h"
#include "engine/engine.h"
#include "index/index_file.h"
#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;

int run_cli_code(const std::string& args) {
    std::string cmd = std::string(EARSHOT_BIN) + " " + args + " >/dev/null 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A catalog of n items in space "s" (dim 128, 3 segments each), closed (WAL checkpointed).
void make_catalog(const fs::path& db, int n) {
    auto cat = Catalog::open(db);
    ASSERT_TRUE(cat) << cat.error().to_string();
    std::mt19937 rng(99);
    std::normal_distribution<float> g;
    std::vector<Catalog::PutRequest> batch;
    for (int i = 0; i < n; ++i) {
        Catalog::PutRequest r;
        r.item.path =
            "/lib/folder_" + std::to_string(i % 7) + "/item_" + std::to_string(i) + ".wav";
        r.item.name = "item_" + std::to_string(i) + ".wav";
        r.item.duration_s = 1.0 + i;
        r.item.content_hash = "0123456789abcdef";
        r.item.labels = "label " + std::to_string(i);
        r.vector.resize(128);
        for (auto& x : r.vector) x = g(rng);
        r.segments = Matrix(3, 128);
        for (auto& x : r.segments.data) x = g(rng);
        r.segment_times = {{0.0, 0.5}, {0.5, 1.0}, {1.0, 1.5}};
        batch.push_back(std::move(r));
    }
    ASSERT_TRUE((*cat)->put_items("s", batch));
}

// Everything a catalog holds, as one string: every item row, every whole vector and segment of
// every space (bit-exact). nullopt if any read fails.
std::optional<std::string> logical_dump(Catalog& cat) {
    std::string out;
    auto items = cat.list_items(0, -1);
    if (!items)
        return std::nullopt;
    for (const auto& it : *items) {
        out += std::to_string(it.id) + '|' + it.path + '|' + it.name + '|' +
               std::to_string(it.duration_s) + '|' + it.content_hash + '|' + it.labels + '|' +
               std::to_string(it.size_bytes) + '|' + std::to_string(it.mtime_ns) + '\n';
    }
    auto spaces = cat.spaces();
    if (!spaces)
        return std::nullopt;
    for (const auto& s : *spaces) {
        auto set = cat.load_embeddings(s.space);
        if (!set)
            return std::nullopt;
        auto raw = [&](const std::vector<float>& v) {
            out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
        };
        raw(set->vectors.data);
        for (auto id : set->ids) {
            auto seg = cat.get_segments(id, s.space);
            if (!seg)
                return std::nullopt;
            raw(seg->first.data);
            for (const auto& t : seg->second)
                out += std::to_string(t.start_s) + ',' + std::to_string(t.end_s) + ';';
        }
    }
    return out;
}

// Whether a damaged copy is noticed: open fails, or check reports a problem.
bool damage_detected(const fs::path& db, std::string* how) {
    auto cat = Catalog::open(db);
    if (!cat) {
        *how = "open: " + cat.error().message();
        return true;
    }
    auto rep = check_catalog(**cat, db);
    if (!rep) {
        *how = "check error: " + rep.error().message();
        return true;
    }
    if (!rep->ok()) {
        *how = "check: " + rep->problems.front();
        return true;
    }
    return false;
}

TEST(Issue12CheckTest, AFreshCatalogAndItsIndexFilePass) {
    testing::TempDir dir;
    const fs::path db = dir / "a.earshot";
    make_catalog(db, 60);
    EngineOptions eo;
    eo.db_path = db;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine);
    ReindexOptions ro;
    ro.space = "s";
    ro.index = "HNSW16";
    auto rr = (*engine)->reindex(ro);
    ASSERT_TRUE(rr) << rr.error().to_string();
    auto rep = check_catalog((*engine)->catalog(), db);
    ASSERT_TRUE(rep);
    EXPECT_TRUE(rep->ok()) << rep->problems.front();
    EXPECT_EQ(rep->items, 60u);
    EXPECT_EQ(rep->vectors, 60u);
    EXPECT_EQ(rep->segments, 180u);
    EXPECT_EQ(rep->index_files, 1u);
    engine->reset();
    EXPECT_EQ(run_cli_code("check --db '" + db.string() + "'"), 0);

    // A damaged index file is a problem too (searches would rebuild it).
    auto file = rr->file;
    {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
        f.put('\x5A');
        f.put('\xA5');
    }
    auto cat = Catalog::open(db);
    ASSERT_TRUE(cat);
    rep = check_catalog(**cat, db);
    ASSERT_TRUE(rep);
    ASSERT_FALSE(rep->ok());
    EXPECT_NE(rep->problems.front().find(file.filename().string()), std::string::npos)
        << rep->problems.front();
    cat->reset();
    EXPECT_EQ(run_cli_code("check --db '" + db.string() + "'"), 4);
}

TEST(Issue12CheckTest, EveryRandom4KiBOverwriteIsDetected) {
    testing::TempDir dir;
    const fs::path pristine = dir / "pristine.earshot";
    make_catalog(pristine, 120);
    const std::string bytes = [&] {
        std::ifstream in(pristine, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }();
    ASSERT_GT(bytes.size(), 64u * 1024) << "the catalog is too small for the test";
    ASSERT_FALSE(fs::exists(fs::path(pristine.string() + "-wal")) &&
                 fs::file_size(fs::path(pristine.string() + "-wal")) > 0);

    std::string pristine_dump;
    {
        auto cat = Catalog::open(pristine);
        ASSERT_TRUE(cat);
        auto d = logical_dump(**cat);
        ASSERT_TRUE(d);
        pristine_dump = *d;
    }

    // The catalog's pages are 32 KiB and partly empty: an overwrite of bytes SQLite does not use
    // (free space inside a page) changes nothing that can be read and is not a corruption. Every
    // overwrite that changed what the catalog holds must be detected.
    std::mt19937 rng(20261204);
    const int kTrials = 40;
    int detected = 0;
    int harmless = 0;
    fs::path first_detected;
    for (int t = 0; t < kTrials; ++t) {
        const fs::path db = dir / ("damaged_" + std::to_string(t) + ".earshot");
        std::string damaged = bytes;
        // Half of the overwrites page-aligned, half anywhere.
        std::uniform_int_distribution<std::size_t> pos(0, damaged.size() - 4096);
        std::size_t at = pos(rng);
        if (t % 2 == 0)
            at -= at % 4096;
        for (std::size_t i = 0; i < 4096; ++i) damaged[at + i] = static_cast<char>(rng() & 0xFF);
        {
            std::ofstream out(db, std::ios::binary);
            out.write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
        }
        std::string how;
        if (damage_detected(db, &how)) {
            if (detected++ == 0)
                first_detected = db;
            continue;
        }
        auto cat = Catalog::open(db);
        ASSERT_TRUE(cat);
        auto d = logical_dump(**cat);
        if (d && *d == pristine_dump) {
            ++harmless;  // unused bytes
            continue;
        }
        ADD_FAILURE() << "overwrite of 4 KiB at offset " << at << " (trial " << t
                      << ") changed the catalog and went unnoticed";
    }
    EXPECT_EQ(detected + harmless, kTrials);
    EXPECT_GE(detected, kTrials / 2) << "harmless: " << harmless;
    // The CLI reports it too (exit 4 for corruption; open failures map the same way).
    ASSERT_FALSE(first_detected.empty());
    EXPECT_EQ(run_cli_code("check --db '" + first_detected.string() + "'"), 4);
    std::printf("4 KiB overwrites: %d detected, %d in unused bytes (contents unchanged)\n",
                detected, harmless);
}

}  // namespace
}  // namespace earshot
