// Shared ingest on PostgreSQL (label postgres): a `worker` with no paths of its own embeds the
// queued files only with the weights of the `index` run that queued them, so that a machine with
// another copy of a model (trained again under the same name) cannot mix two models' vectors
// into one space. The cluster is a throwaway one started by the test (tests/pg_cluster.h).
#include <filesystem>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "catalog/ingest_queue.h"
#include "engine/engine.h"
#include "pg_cluster.h"
#include "test_support.h"
#include "tiny_torchscript.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;
using testing::PgCluster;
using testing::TempDir;

constexpr const char* kSpace = "tiny-random-1";

struct SharedLibrary {
    TempDir dir;
    fs::path audio = dir / "audio";
    // Two copies of the model under the same name with other weights.
    fs::path pt_a = testing::write_tiny_torchscript(dir / "model_a", 1);
    fs::path pt_b = testing::write_tiny_torchscript(dir / "model_b", 2);
    std::string uri;
    std::unique_ptr<Engine> engine;

    SharedLibrary() {
        auto& pg = PgCluster::shared();
        EXPECT_TRUE(pg.ok()) << pg.error();
        static int counter = 0;
        const std::string db =
            "p" + std::to_string(getpid()) + "_weights_" + std::to_string(++counter);
        uri = pg.create_database(db);
        fs::create_directories(audio);
        for (int i = 0; i < 2; ++i) write_tone(i);
        EngineOptions eo;
        eo.db_path = uri;
        eo.create_if_missing = true;
        eo.threads = 1;
        auto e = Engine::open(eo);
        EXPECT_TRUE(e) << e.error().to_string();
        if (e)
            engine = std::move(*e);
    }

    fs::path write_tone(int i) {
        const fs::path f = audio / ("tone" + std::to_string(i) + ".wav");
        testing::write_wav16(f, testing::make_sine(220.0 * (i + 1), 1.0, 16000), 16000);
        return f;
    }

    // `earshot worker` (IndexOptions without paths) or `earshot index PATH` with one copy.
    Result<IndexReport> run(const fs::path& pt, std::vector<fs::path> paths = {}) {
        IndexOptions o;
        o.paths = std::move(paths);
        o.root = audio;
        o.model = "torchscript:" + pt.string();
        o.lease_s = 30;
        return engine->index(o);
    }

    // Queues a file as an `index` process that was stopped right after queuing leaves it.
    void queue_only(const fs::path& file) {
        auto c = open_catalog(uri, {});
        ASSERT_TRUE(c) << c.error().to_string();
        IngestQueue* q = ingest_queue(**c);
        ASSERT_NE(q, nullptr);
        IngestJob job{file.filename().string(), static_cast<std::int64_t>(fs::file_size(file)),
                      file_mtime_ns(file), 0};
        auto r = q->enqueue_jobs(kSpace, {job}, false);
        ASSERT_TRUE(r) << r.error().to_string();
        EXPECT_EQ(r->queued, 1);
    }

    std::size_t vectors() {
        auto set = engine->catalog().load_embeddings(kSpace);
        EXPECT_TRUE(set) << set.error().to_string();
        return set ? set->ids.size() : 0;
    }
};

TEST(ModelWeightsPgTest, AWorkerWithOtherWeightsRefusesAndLeavesTheQueuedFile) {
    SharedLibrary lib;
    ASSERT_TRUE(lib.engine);
    auto first = lib.run(lib.pt_a, {lib.audio});
    ASSERT_TRUE(first) << first.error().to_string();
    EXPECT_EQ(first->counts.added, 2u);
    EXPECT_EQ(lib.vectors(), 2u);

    lib.queue_only(lib.write_tone(2));
    // A worker whose copy of the model has other weights: a clear error naming both digests,
    // nothing embedded, the job still queued.
    auto wrong = lib.run(lib.pt_b);
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(wrong.error().message().find("digest"), std::string::npos) << wrong.error().message();
    EXPECT_NE(wrong.error().message().find(lib.pt_b.string()), std::string::npos)
        << wrong.error().message();
    EXPECT_EQ(lib.vectors(), 2u);
    // A worker with the same weights takes it.
    auto right = lib.run(lib.pt_a);
    ASSERT_TRUE(right) << right.error().to_string();
    EXPECT_EQ(right->counts.added, 1u);
    EXPECT_EQ(lib.vectors(), 3u);
}

TEST(ModelWeightsPgTest, AfterARunQueuesWithNewWeightsWorkersNeedTheNewOnes) {
    SharedLibrary lib;
    ASSERT_TRUE(lib.engine);
    ASSERT_TRUE(lib.run(lib.pt_a, {lib.audio}));
    // The model is trained again (copy b): `index` with it re-embeds the space and stores the
    // new digest; from then on a worker with the old copy is refused.
    auto again = lib.run(lib.pt_b, {lib.audio});
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_EQ(again->counts.added, 2u);
    lib.queue_only(lib.write_tone(2));
    auto old_copy = lib.run(lib.pt_a);
    ASSERT_FALSE(old_copy);
    EXPECT_NE(old_copy.error().message().find(lib.pt_a.string()), std::string::npos);
    auto new_copy = lib.run(lib.pt_b);
    ASSERT_TRUE(new_copy) << new_copy.error().to_string();
    EXPECT_EQ(new_copy->counts.added, 1u);
}

}  // namespace
}  // namespace earshot
