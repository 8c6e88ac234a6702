#include "engine/evaluation.h"

#include <fstream>

#include <gtest/gtest.h>

#include "test_support.h"

namespace earshot {
namespace {

TEST(EvaluationTest, CsvParsesQuotesAndEmbeddedCommas) {
    testing::TempDir dir;
    {
        std::ofstream f(dir / "m.csv");
        f << "path,label,note\r\na.wav,x,\"hello, \"\"world\"\"\"\nb.wav,y,\n";
    }
    auto t = read_csv(dir / "m.csv");
    ASSERT_TRUE(t) << t.error().to_string();
    ASSERT_EQ(t->rows.size(), 2u);
    EXPECT_EQ(t->rows[0][2], "hello, \"world\"");
    EXPECT_EQ(t->rows[1][2], "");
    EXPECT_EQ(t->column("label"), 1);
    EXPECT_EQ(t->column("nope"), -1);
}

TEST(EvaluationTest, SeparableLabelsGivePerfectScoresAndGroupsAreExcluded) {
    EARSHOT_REQUIRE_SHARED();
    testing::TempDir dir;
    // Two clearly different classes (low sines vs noise), three items each.
    std::ofstream m(dir / "manifest.csv");
    m << "path,label,group\n";
    for (int i = 0; i < 3; ++i) {
        auto s = "s" + std::to_string(i) + ".wav";
        testing::write_wav16(dir / s, testing::make_sine(200.0 + 10 * i, 1.0, 16000), 16000);
        m << s << ",sine,g" << i << "\n";
        auto n = "n" + std::to_string(i) + ".wav";
        testing::write_wav16(dir / n, testing::make_noise(1.0, 16000, 0.3f, 10 + i), 16000);
        m << n << ",noise,h" << i << "\n";
    }
    m.close();
    EngineOptions eo;
    eo.db_path = dir / "e.earshot";
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine);
    EvalOptions opts;
    opts.manifest = dir / "manifest.csv";
    opts.metrics = {Metric::kCosine};
    auto r = evaluate_manifest(**engine, opts);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->items, 6u);
    ASSERT_EQ(r->results.size(), 1u);
    EXPECT_DOUBLE_EQ(r->results[0].p_at_1, 1.0);
    EXPECT_DOUBLE_EQ(r->results[0].map, 1.0);
    EXPECT_EQ(r->results[0].queries, 6u);

    opts.label_column = "nolabel";
    auto bad = evaluate_manifest(**engine, opts);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace earshot
