// End-to-end tests of the `earshot` binary: index part of ../shared/datasets/gm_fluidr3, search
// it with every metric, the resume/skip behaviour, bad files, exit codes and the JSON formats
// documented in docs/cli.md.
#include <array>
#include <cstdio>
#include <fstream>
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
    std::string err;
};

// Runs the binary with args (a shell-quoted string); captures stdout and stderr.
RunResult run(const std::string& args) {
    static int counter = 0;
    fs::path err_file = fs::temp_directory_path() / ("earshot-e2e-err-" + std::to_string(getpid()) +
                                                     "-" + std::to_string(counter++));
    std::string cmd = std::string(EARSHOT_BIN) + " " + args + " 2>" + err_file.string();
    RunResult r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr)
        return r;
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream ef(err_file);
    r.err.assign(std::istreambuf_iterator<char>(ef), std::istreambuf_iterator<char>());
    fs::remove(err_file);
    return r;
}

std::string q(const fs::path& p) {
    return "'" + p.string() + "'";
}

fs::path gm() {
    return testing::datasets_dir() / "gm_fluidr3";
}

// One catalog shared by the tests of this suite. CTest runs each test in its own process, so the
// catalog lives in the build tree (EARSHOT_E2E_DB): the first test embeds the files, the others
// find them unchanged and skip them (which is itself the resume behaviour under test). The tests
// hold a CTest RESOURCE_LOCK so they never write it concurrently.
class CliTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new testing::TempDir();
        db_ = EARSHOT_E2E_DB;
        auto r = run("index " + q(gm() / "03_guitar") + " " + q(gm() / "00_piano") + " " +
                     q(gm() / "04_bass") + " " + q(gm() / "07_brass") + " " +
                     q(gm() / "drums_standard") + " --db " + q(db_) + " --json");
        index_result_ = new RunResult(r);
    }
    static void TearDownTestSuite() {
        delete index_result_;
        delete dir_;
    }
    void SetUp() override {
        EARSHOT_REQUIRE_SHARED();
        ASSERT_EQ(index_result_->exit_code, 0) << index_result_->err;
    }
    static std::string db() { return " --db " + q(db_); }
    static fs::path guitar_query() {
        return gm() / "03_guitar" / "p024_acoustic_guitar_nylon_n062_D4_v112.flac";
    }

    static testing::TempDir* dir_;
    static fs::path db_;
    static RunResult* index_result_;
};
testing::TempDir* CliTest::dir_ = nullptr;
fs::path CliTest::db_;
RunResult* CliTest::index_result_ = nullptr;

TEST_F(CliTest, IndexSummaryCountsEveryFile) {
    auto j = json::parse(index_result_->out);
    EXPECT_EQ(j["found"], 64 * 4 + 94);
    EXPECT_EQ(j["added"].get<int>() + j["unchanged"].get<int>(), 64 * 4 + 94);
    EXPECT_EQ(j["failed"], 0);
}

TEST_F(CliTest, SecondIndexRunSkipsUnchangedFiles) {
    auto r = run("index " + q(gm() / "03_guitar") + db() + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = json::parse(r.out);
    EXPECT_EQ(j["unchanged"], 64);
    EXPECT_EQ(j["added"], 0);
}

TEST_F(CliTest, GuitarQueryReturnsMostlyGuitarsUnderEveryMetric) {
    ASSERT_TRUE(fs::exists(guitar_query()));
    for (const char* metric : {"cosine", "euclidean", "manhattan", "correlation"}) {
        auto r = run("search " + q(guitar_query()) + db() + " -k 10 --json --metric " + metric);
        ASSERT_EQ(r.exit_code, 0) << metric << ": " << r.err;
        auto j = json::parse(r.out);
        EXPECT_EQ(j["metric"], metric);
        EXPECT_EQ(j["model"], "mn04");  // the default model
        ASSERT_EQ(j["results"].size(), 10u);
        int guitars = 0;
        double last = -1e30;
        for (std::size_t i = 0; i < 10; ++i) {
            const auto& h = j["results"][i];
            EXPECT_EQ(h["rank"], i + 1);
            EXPECT_NE(h["path"], fs::absolute(guitar_query()).lexically_normal().string())
                << "the query itself must be left out";
            EXPECT_GE(h["distance"].get<double>(), last) << "sorted best first";
            last = h["distance"].get<double>();
            for (const char* key : {"name", "duration_s", "score"}) EXPECT_TRUE(h.contains(key));
            if (h["path"].get<std::string>().find("/03_guitar/") != std::string::npos)
                guitars++;
        }
        EXPECT_GE(guitars, 6) << metric;
    }
}

TEST_F(CliTest, SeedStylePositionalFormAndAliases) {
    auto r = run("search " + q(guitar_query()) + " euclidean_distance 5" + db() + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = json::parse(r.out);
    EXPECT_EQ(j["metric"], "euclidean");
    EXPECT_EQ(j["results"].size(), 5u);
}

TEST_F(CliTest, DurationFilterIsApplied) {
    // Every clip is 2.0 s: a range excluding 2 s gives nothing, one including it gives k.
    auto none = run("search " + q(guitar_query()) + db() + " --json --max-duration 1.5");
    ASSERT_EQ(none.exit_code, 0) << none.err;
    EXPECT_TRUE(json::parse(none.out)["results"].empty());
    auto some = run("search " + q(guitar_query()) + db() +
                    " --json --min-duration 1.9 --max-duration 2.1 -k 3");
    ASSERT_EQ(some.exit_code, 0) << some.err;
    EXPECT_EQ(json::parse(some.out)["results"].size(), 3u);
}

TEST_F(CliTest, ExitCodesAndOneLineErrors) {
    auto bad_metric = run("search " + q(guitar_query()) + db() + " --metric hamming");
    EXPECT_EQ(bad_metric.exit_code, 2);
    EXPECT_NE(bad_metric.err.find("cosine"), std::string::npos) << bad_metric.err;
    EXPECT_EQ(std::count(bad_metric.err.begin(), bad_metric.err.end(), '\n'), 1) << bad_metric.err;

    auto no_db = run("search " + q(guitar_query()) + " --db /nonexistent/x.earshot");
    EXPECT_EQ(no_db.exit_code, 3) << no_db.err;

    auto bad_query = run("search /nonexistent/query.wav" + db());
    EXPECT_NE(bad_query.exit_code, 0);
    EXPECT_NE(bad_query.err.find("/nonexistent/query.wav"), std::string::npos) << bad_query.err;

    auto bad_model = run("search " + q(guitar_query()) + db() + " --model nosuchmodel");
    EXPECT_EQ(bad_model.exit_code, 2);
    EXPECT_NE(bad_model.err.find("yamnet"), std::string::npos) << bad_model.err;

    auto bad_args = run("search");
    EXPECT_NE(bad_args.exit_code, 0);
}

TEST_F(CliTest, VerboseLogsWhatItDoesAndQuietByDefault) {
    // Default: warnings only, so a clean search writes nothing to stderr.
    auto plain = run("search " + q(guitar_query()) + db() + " -k 3");
    ASSERT_EQ(plain.exit_code, 0) << plain.err;
    EXPECT_EQ(plain.err, "");
    // -v after the subcommand (or before it): the model and where its weights came from.
    for (const std::string& args : {"search " + q(guitar_query()) + db() + " -k 3 -v",
                                    "--verbose search " + q(guitar_query()) + db() + " -k 3"}) {
        auto v = run(args);
        ASSERT_EQ(v.exit_code, 0) << v.err;
        EXPECT_NE(v.err.find("earshot: model 'mn04': 384-d, weights "), std::string::npos)
            << args << "\n"
            << v.err;
        EXPECT_EQ(v.out, plain.out) << args;
    }
}

TEST_F(CliTest, BadFilesAreSkippedAndReported) {
    testing::TempDir tmp;
    fs::copy_file(guitar_query(), tmp / "good.flac");
    {
        std::ofstream bad(tmp / "broken.wav");
        bad << "this is not audio at all";
    }
    auto local_db = tmp / "t.earshot";
    auto r = run("index " + q(tmp.path()) + " --db " + q(local_db) + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = json::parse(r.out);
    EXPECT_EQ(j["added"], 1);
    EXPECT_EQ(j["failed"], 1);
    ASSERT_EQ(j["failures"].size(), 1u);
    EXPECT_NE(j["failures"][0]["path"].get<std::string>().find("broken.wav"), std::string::npos);
    // Nothing already stored is lost.
    auto info = run("info --json --db " + q(local_db));
    EXPECT_EQ(json::parse(info.out)["items"], 1);
}

TEST_F(CliTest, EmbedJsonHasSegmentsInTimeOrderAndLabels) {
    auto r = run("embed " + q(guitar_query()) + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = json::parse(r.out);
    EXPECT_EQ(j["model"], "mn04");
    EXPECT_EQ(j["dim"], 384);
    EXPECT_EQ(j["embedding"].size(), 384u);
    ASSERT_GE(j["segments"].size(), 1u);
    double prev = -1;
    for (const auto& s : j["segments"]) {
        EXPECT_GT(s["start_s"].get<double>(), prev);
        prev = s["start_s"].get<double>();
        EXPECT_EQ(s["embedding"].size(), 384u);
    }
    ASSERT_FALSE(j["labels"].empty());
    EXPECT_GE(j["labels"][0]["score"].get<double>(), j["labels"][1]["score"].get<double>());
}

TEST_F(CliTest, ExportJsonlAndNpyAgree) {
    testing::TempDir tmp;
    auto jl = run("export --format jsonl --out " + q(tmp / "e.jsonl") + db());
    ASSERT_EQ(jl.exit_code, 0) << jl.err;
    auto np = run("export --format npy --out " + q(tmp / "m.npy") + db());
    ASSERT_EQ(np.exit_code, 0) << np.err;
    std::ifstream lines(tmp / "e.jsonl");
    std::vector<json> rows;
    for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
    ASSERT_EQ(rows.size(), 64u * 4 + 94);
    std::ifstream npy(tmp / "m.npy", std::ios::binary);
    std::string magic(6, '\0');
    npy.read(magic.data(), 6);
    EXPECT_EQ(magic, "\x93NUMPY");
    npy.seekg(8);
    unsigned char len[2];
    npy.read(reinterpret_cast<char*>(len), 2);
    std::string header(static_cast<std::size_t>(len[0] | (len[1] << 8)), '\0');
    npy.read(header.data(), static_cast<std::streamsize>(header.size()));
    EXPECT_NE(header.find("(350, 384)"), std::string::npos) << header;
    std::vector<float> row(384);
    for (std::size_t i = 0; i < rows.size(); i += 97) {
        npy.seekg(static_cast<std::streamoff>(10 + header.size() + i * 384 * 4));
        npy.read(reinterpret_cast<char*>(row.data()), 384 * 4);
        for (std::size_t d = 0; d < 384; d += 37) {
            EXPECT_FLOAT_EQ(row[d], rows[i]["embedding"][d].get<float>());
        }
    }
}

TEST_F(CliTest, ListInfoAndRemove) {
    auto list = run("list --json --limit 5 --query 03_GUITAR" + db());
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto lj = json::parse(list.out);
    EXPECT_EQ(lj["total"], 64);
    EXPECT_EQ(lj["items"].size(), 5u);
    auto info = run("info --json" + db());
    auto ij = json::parse(info.out);
    EXPECT_EQ(ij["models"][0]["model"], "mn04");
    EXPECT_EQ(ij["models"][0]["dim"], 384);

    // Remove one bass note from a copy of the catalog, and check it is gone from search.
    testing::TempDir tmp;
    fs::copy_file(db_, tmp / "copy.earshot");
    auto victim = gm() / "04_bass" / "p032_acoustic_bass_n040_E2_v064.flac";
    ASSERT_TRUE(fs::exists(victim)) << victim;
    auto rm = run("remove " + q(victim) + " --db " + q(tmp / "copy.earshot"));
    ASSERT_EQ(rm.exit_code, 0) << rm.err;
    auto info2 = run("info --json --db " + q(tmp / "copy.earshot"));
    EXPECT_EQ(json::parse(info2.out)["items"], ij["items"].get<int>() - 1);
    auto again = run("remove " + q(victim) + " --db " + q(tmp / "copy.earshot"));
    EXPECT_EQ(again.exit_code, 3);
}

TEST_F(CliTest, TagsFacetsTagFilterInsideSearchAndSilentQuery) {
    // Tags for the items without any (all of them in a catalog made before tags existed; the
    // suite's catalog persists in the build tree).
    auto fill = run("reindex --tags --json" + db());
    ASSERT_EQ(fill.exit_code, 0) << fill.err;
    EXPECT_TRUE(json::parse(fill.out)["tags"]["failures"].empty()) << fill.out;
    // Facets: the catalog was indexed with a model that has a classifier head.
    auto t = run("tags --json" + db());
    ASSERT_EQ(t.exit_code, 0) << t.err;
    auto facets = json::parse(t.out);
    ASSERT_FALSE(facets["tags"].empty()) << t.out;
    // The rarest tag (without a quote, for the shell) that is on at least 2 items.
    std::string tag;
    int count = 0;
    for (const auto& f : facets["tags"]) {
        const std::string name = f["tag"];
        if (name.find('\'') == std::string::npos && f["count"].get<int>() >= 2) {
            tag = name;
            count = f["count"];
        }
    }
    ASSERT_FALSE(tag.empty()) << t.out;
    auto l = run("list --json --limit 1000 --tag " + q(tag) + db());
    ASSERT_EQ(l.exit_code, 0) << l.err;
    auto listed = json::parse(l.out);
    EXPECT_EQ(listed["total"], count);
    for (const auto& it : listed["items"]) {
        bool has = false;
        for (const auto& x : it["tags"]) has = has || x["tag"] == tag;
        EXPECT_TRUE(has) << it.dump();
    }
    // Search with the tag: every item carrying it comes back (but the query itself), although
    // most are not among the query's unfiltered nearest neighbours.
    auto s = run("search " + q(guitar_query()) + " -k 1000 --json --tag " + q(tag) + db());
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto found = json::parse(s.out);
    EXPECT_GE(static_cast<int>(found["results"].size()), count - 1);
    for (const auto& r : found["results"]) {
        bool has = false;
        for (const auto& x : r["tags"]) has = has || x["tag"] == tag;
        EXPECT_TRUE(has) << r.dump();
    }
    // A silent query is refused with exit code 8 unless --allow-silent.
    testing::TempDir tmp;
    testing::write_wav16(tmp / "silent.wav", std::vector<float>(16000, 0.0f), 16000);
    auto silent = run("search " + q(tmp / "silent.wav") + db());
    EXPECT_EQ(silent.exit_code, 8) << silent.out << silent.err;
    EXPECT_NE(silent.err.find("silent"), std::string::npos) << silent.err;
    EXPECT_NE(silent.err.find("--allow-silent"), std::string::npos) << silent.err;
    auto allowed = run("search " + q(tmp / "silent.wav") + " --allow-silent" + db());
    EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
}

TEST_F(CliTest, HelpForEverySubcommand) {
    for (const char* sub :
         {"index", "search", "embed", "list", "info", "remove", "export", "models", "eval", "bench",
          "import", "reindex", "serve", "train", "similarity"}) {
        auto r = run(std::string(sub) + " --help");
        EXPECT_EQ(r.exit_code, 0) << sub;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub;
    }
}

}  // namespace
}  // namespace earshot
