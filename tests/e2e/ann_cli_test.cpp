// End-to-end: `earshot import` (CSV), `search --id --index`, `reindex`, `eval --ann` and the
// export -> import round trip, on synthetic vectors in a temporary catalog (#4).
#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct RunResult {
    int exit_code = -1;
    std::string out;
};

RunResult run(const std::string& args) {
    std::string cmd = std::string(EARSHOT_BIN) + " " + args + " 2>/dev/null";
    RunResult r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr)
        return r;
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string q(const fs::path& p) {
    return "'" + p.string() + "'";
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(AnnCliTest, ImportSearchReindexEvalAndRoundTrip) {
    testing::TempDir dir;
    // 400 clustered 32-d vectors with ids "s<i>".
    std::mt19937 rng(1234);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<std::vector<float>> centres(10, std::vector<float>(32));
    for (auto& c : centres)
        for (auto& x : c) x = g(rng);
    {
        std::ofstream csv(dir / "x.csv");
        csv << "id";
        for (int j = 0; j < 32; ++j) csv << ",f" << j;
        csv << "\n";
        for (int i = 0; i < 400; ++i) {
            csv << "s" << i;
            for (float c : centres[static_cast<std::size_t>(i % 10)])
                csv << "," << c + 0.3f * g(rng);
            csv << "\n";
        }
    }
    const auto db = dir / "a.earshot";
    auto imp = run("import " + q(dir / "x.csv") + " --db " + q(db) + " --space syn --json");
    ASSERT_EQ(imp.exit_code, 0) << imp.out;
    auto ij = json::parse(imp.out);
    EXPECT_EQ(ij["rows"], 400);
    EXPECT_EQ(ij["dim"], 32);

    auto s = run("search --db " + q(db) + " --space syn --id 1 -k 5 --index HNSW16 --json");
    ASSERT_EQ(s.exit_code, 0);
    auto sj = json::parse(s.out);
    EXPECT_EQ(sj["model"], "syn");
    EXPECT_EQ(sj["index"], "HNSW16");
    ASSERT_EQ(sj["results"].size(), 5u);
    for (const auto& r : sj["results"]) {
        for (const char* key : {"rank", "id", "path", "name", "duration_s", "distance", "score"})
            EXPECT_TRUE(r.contains(key)) << key;
        EXPECT_NE(r["id"], 1);
    }

    // The CSV's own keys work as --id (#15), and give the same results as the catalog id.
    auto by_key = run("search --db " + q(db) + " --space syn --id s0 -k 5 --json");
    ASSERT_EQ(by_key.exit_code, 0) << by_key.out;
    auto kj = json::parse(by_key.out);
    ASSERT_EQ(kj["results"].size(), 5u);
    for (const auto& r : kj["results"]) EXPECT_NE(r["path"], "s0");
    auto no_key = run("search --db " + q(db) + " --space syn --id nosuchkey --json");
    EXPECT_EQ(no_key.exit_code, 3) << no_key.out;  // not found

    auto re = run("reindex --db " + q(db) + " --space syn --index HNSW16 --json");
    ASSERT_EQ(re.exit_code, 0);
    EXPECT_EQ(json::parse(re.out)["action"], "current");
    EXPECT_TRUE(fs::exists(json::parse(re.out)["file"].get<std::string>()));

    auto ev = run("eval --ann --db " + q(db) +
                  " --space syn --index HNSW16 -k 10 --queries 50 "
                  "--json");
    ASSERT_EQ(ev.exit_code, 0);
    auto ej = json::parse(ev.out);
    for (const char* key : {"index", "k", "queries", "recall_at_k", "p50_ms", "p99_ms"})
        EXPECT_TRUE(ej.contains(key)) << key;
    EXPECT_EQ(ej["queries"], 50);
    EXPECT_GE(ej["recall_at_k"].get<double>(), 0.95);

    // IVF-PQ: 400 items are below its training threshold (16 x nlist, at least 2048), so it
    // answers exactly; other IVF encodings are not built (exit 6); PQ must divide the dim (2).
    auto ivf = run("search --db " + q(db) + " --space syn --id 1 -k 5 --index IVF8,PQ8 --json");
    ASSERT_EQ(ivf.exit_code, 0) << ivf.out;
    auto ivfj = json::parse(ivf.out);
    EXPECT_EQ(ivfj["index"], "IVF8,PQ8");
    ASSERT_EQ(ivfj["results"].size(), 5u);
    for (std::size_t i = 0; i < 5; ++i)
        EXPECT_EQ(ivfj["results"][i]["id"], sj["results"][i]["id"]) << i;
    EXPECT_EQ(run("search --db " + q(db) + " --space syn --id 1 --index IVF64,Flat").exit_code, 6);
    EXPECT_EQ(run("search --db " + q(db) + " --space syn --id 1 --index IVF8,PQ5").exit_code, 2);
    EXPECT_EQ(run("search --db " + q(db) + " --space nope --id 1").exit_code, 3);

    // export -> import -> export is identical (jsonl and npy).
    for (const std::string fmt : {"jsonl", "npy"}) {
        const auto out1 = dir / ("e1." + fmt);
        const auto out2 = dir / ("e2." + fmt);
        const auto db2 = dir / ("b-" + fmt + ".earshot");
        ASSERT_EQ(run("export --db " + q(db) + " --space syn --format " + fmt + " --out " + q(out1))
                      .exit_code,
                  0);
        ASSERT_EQ(run("import " + q(out1) + " --db " + q(db2) + " --space syn").exit_code, 0);
        ASSERT_EQ(
            run("export --db " + q(db2) + " --space syn --format " + fmt + " --out " + q(out2))
                .exit_code,
            0);
        EXPECT_EQ(read_all(out1), read_all(out2)) << fmt;
    }
}

}  // namespace
}  // namespace earshot
