// End-to-end tests of the `earshot` binary on a PostgreSQL catalog (labels postgres, e2e): three
// `index` processes dividing a folder with one of them killed -9, `worker` joining, `info --json`
// job counts, `migrate` both ways, and two `serve` replicas following an index and a remove.
// The cluster is a throwaway one started by the test (tests/pg_cluster.h).
#include <arpa/inet.h>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <netinet/in.h>
#include <random>
#include <signal.h>
#include <spawn.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "pg_cluster.h"
#include "test_support.h"

extern char** environ;

namespace earshot {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::PgCluster;

struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string q(const std::string& s) {
    return "'" + s + "'";
}

RunResult run(const std::string& args) {
    static int counter = 0;
    fs::path err_file =
        fs::temp_directory_path() /
        ("earshot-pg-e2e-err-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
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

// Starts the binary in the background (stdout/stderr to log); returns its pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
    std::vector<std::string> argv_s = {EARSHOT_BIN};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    if (posix_spawn(&pid, EARSHOT_BIN, &fa, nullptr, argv.data(), environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

// Waits for pid up to timeout_s; kills it (and returns -1) if it is still running then.
int wait_for(pid_t pid, double timeout_s) {
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >
            timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// n short generated WAVs (tones and noise bursts, every file different) in sub-folders of dir.
void write_library(const fs::path& dir, int n) {
    for (int i = 0; i < n; ++i) {
        const fs::path sub = dir / ("set" + std::to_string(i % 7));
        fs::create_directories(sub);
        auto x = testing::make_sine(110.0 * (1.0 + 0.05 * i), 1.0, 16000, 0.4f);
        auto noise = testing::make_noise(1.0, 16000, 0.05f, static_cast<unsigned>(i + 1));
        for (std::size_t k = 0; k < x.size(); ++k) x[k] += noise[k];
        char name[32];
        std::snprintf(name, sizeof name, "clip%04d.wav", i);
        testing::write_wav16(sub / name, x, 16000);
    }
}

std::int64_t sql_count(const std::string& db, const std::string& sql) {
    const std::string out = PgCluster::shared().psql(db, sql);
    try {
        return std::stoll(out);
    } catch (const std::exception&) {
        ADD_FAILURE() << sql << ": " << out;
        return -1;
    }
}

class PgCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        EARSHOT_REQUIRE_SHARED();
        ASSERT_TRUE(PgCluster::shared().ok()) << PgCluster::shared().error();
        static int counter = 0;
        db_ = "e" + std::to_string(getpid()) + "_" + std::to_string(++counter);
        uri_ = PgCluster::shared().create_database(db_);
        setenv("XDG_CACHE_HOME", (dir_ / "cache").c_str(), 1);
    }
    std::string db() const { return " --db " + q(uri_); }

    testing::TempDir dir_;
    std::string db_;
    std::string uri_;
};

TEST_F(PgCliTest, ThreeIndexProcessesOneKilledIndexEveryFileExactlyOnce) {
    constexpr int kFiles = 240;
    const fs::path lib = dir_ / "lib";
    write_library(lib, kFiles);
    // Two files that cannot be decoded: recorded failed once, with their reason.
    { std::ofstream(lib / "set0" / "bad1.wav") << "not audio at all"; }
    { std::ofstream(lib / "set1" / "bad2.mp3") << std::string(5000, 'x'); }

    std::vector<pid_t> pids;
    for (int w = 0; w < 3; ++w) {
        pids.push_back(spawn({"index", lib.string(), "--db", uri_, "--root", lib.string(),
                              "--lease", "2", "--threads", "1", "--json", "-q"},
                             dir_ / ("index" + std::to_string(w) + ".log")));
        ASSERT_GT(pids.back(), 0);
    }
    // Kill the second process -9 once some work is done (at a random moment after that).
    std::mt19937 rng(std::random_device{}());
    const std::int64_t kill_after = 20 + static_cast<std::int64_t>(rng() % 60);
    const auto t0 = std::chrono::steady_clock::now();
    // (The schema appears with the first process's catalog: until then the count is an error.)
    auto items_now = [&] {
        const std::string out = PgCluster::shared().psql(db_, "SELECT count(*) FROM items");
        return out.rfind("ERROR", 0) == 0 ? 0 : std::stoll(out);
    };
    while (items_now() < kill_after &&
           std::chrono::steady_clock::now() - t0 < std::chrono::minutes(5)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(kill(pids[1], SIGKILL), 0);
    EXPECT_EQ(wait_for(pids[1], 10), 128 + SIGKILL);
    const std::int64_t held = sql_count(
        db_, "SELECT count(*) FROM ingest_jobs WHERE state = 'running' AND worker LIKE '%:" +
                 std::to_string(pids[1]) + "'");
    EXPECT_EQ(wait_for(pids[0], 600), 0) << slurp(dir_ / "index0.log");
    EXPECT_EQ(wait_for(pids[2], 600), 0) << slurp(dir_ / "index2.log");

    // Every good file once, the bad ones failed once; the killed worker's claims were retaken.
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM items"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT count(DISTINCT path) FROM items"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM embeddings"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM items WHERE path LIKE '/%'"), 0)
        << "keys are relative to --root";
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'"), kFiles);
    // Tried once, or twice when the killed process (or, under load, a worker whose 2 s lease ran
    // out) had claimed it first: a claim counts an attempt. Never retried beyond that.
    EXPECT_EQ(sql_count(db_,
                        "SELECT count(*) FROM ingest_jobs WHERE state = 'failed' AND "
                        "error <> '' AND attempts BETWEEN 1 AND 2"),
              2);
    // The workers' done counts add up to the files: no file was embedded and stored twice (an
    // `index` process still queuing while another finished a batch used to queue that batch
    // again; IngestQueuePgTest.EnqueueDuringAConcurrentFinishDoesNotQueueTheFileAgain).
    EXPECT_EQ(sql_count(db_, "SELECT sum(done) FROM ingest_workers"), kFiles);
    std::cerr << "killed worker held " << held << " claimed file(s) when killed after "
              << kill_after << " items\n";

    auto info = run("info --json" + db());
    ASSERT_EQ(info.exit_code, 0) << info.err;
    auto j = json::parse(info.out);
    EXPECT_EQ(j["items"], kFiles);
    EXPECT_EQ(j["jobs"]["done"], kFiles);
    EXPECT_EQ(j["jobs"]["failed"], 2);
    EXPECT_EQ(j["jobs"]["queued"], 0);
    EXPECT_EQ(j["jobs"]["running"], 0);
    // The killed process may die before it registered as a worker (it was killed after the
    // others stored some items, which under load can come before its first heartbeat).
    EXPECT_GE(j["workers"].size(), 2u);
    EXPECT_LE(j["workers"].size(), 3u);
    auto text = run("info" + db());
    EXPECT_NE(text.out.find("bad1.wav"), std::string::npos) << text.out;

    // Running it again finds everything done; a worker with nothing to do exits at once.
    auto again = run("index " + q(lib.string()) + db() + " --root " + q(lib.string()) + " --json");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(json::parse(again.out)["added"], 0);
    auto worker = run("worker" + db() + " --root " + q(lib.string()) + " --json");
    EXPECT_EQ(worker.exit_code, 0) << worker.err;
    if (HasFailure()) {
        // The evidence of a failure (the temp dir is removed): each process's log, the jobs
        // that were claimed more than once or are not done, and the workers' counters.
        for (int w = 0; w < 3; ++w) {
            std::cerr << "--- index" << w << " (pid " << pids[static_cast<std::size_t>(w)]
                      << ") log:\n"
                      << slurp(dir_ / ("index" + std::to_string(w) + ".log"));
        }
        std::cerr << "--- jobs claimed more than once or not done:\n"
                  << PgCluster::shared().psql(
                         db_,
                         "SELECT key, state, worker, attempts, error FROM ingest_jobs "
                         "WHERE attempts <> 1 OR state <> 'done' ORDER BY key")
                  << "\n--- workers:\n"
                  << PgCluster::shared().psql(db_, "SELECT * FROM ingest_workers ORDER BY name")
                  << "\n--- paths stored more than once:\n"
                  << PgCluster::shared().psql(
                         db_, "SELECT path, count(*) FROM items GROUP BY path HAVING count(*) > 1")
                  << "\n--- server log:\n"
                  << slurp(PgCluster::shared().dir() / "server.log") << "\n";
    }
}

// The database server restarted during a whole `earshot index` run: the run either rides it out
// (the catalog reconnects and retries) or stops with a clear error; either way the catalog is never
// corrupt and has no half-written item, and running `index` again finishes the job with every
// file stored exactly once.
TEST_F(PgCliTest, DatabaseRestartDuringIndexResumesWithEveryFileOnce) {
    constexpr int kFiles = 120;
    const fs::path lib = dir_ / "lib";
    write_library(lib, kFiles);
    const pid_t p = spawn({"index", lib.string(), "--db", uri_, "--root", lib.string(), "--lease",
                           "2", "--threads", "1", "--json", "-q"},
                          dir_ / "index.log");
    ASSERT_GT(p, 0);
    auto items_now = [&] {
        const std::string out = PgCluster::shared().psql(db_, "SELECT count(*) FROM items");
        return out.rfind("ERROR", 0) == 0 ? std::int64_t{0} : std::stoll(out);
    };
    const auto t0 = std::chrono::steady_clock::now();
    while (items_now() < 10 && std::chrono::steady_clock::now() - t0 < std::chrono::minutes(5))
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::int64_t before = items_now();
    ASSERT_TRUE(PgCluster::shared().stop());
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_TRUE(PgCluster::shared().start()) << PgCluster::shared().error();
    const int rc = wait_for(p, 600);
    const std::string log = slurp(dir_ / "index.log");
    ASSERT_NE(rc, -1) << "index hung after the restart\n" << log;
    std::cerr << "restart after " << before << " items: index exit code " << rc << "\n";
    if (rc != 0) {
        // A clear error naming the cause, not a crash.
        EXPECT_LT(rc, 128) << log;
        EXPECT_TRUE(log.find("PostgreSQL") != std::string::npos ||
                    log.find("connection") != std::string::npos ||
                    log.find("server") != std::string::npos)
            << log;
    }
    // Never a half-written item: every item has its vector.
    EXPECT_EQ(sql_count(db_,
                        "SELECT count(*) FROM items i WHERE NOT EXISTS (SELECT 1 FROM embeddings "
                        "e WHERE e.item_id = i.id)"),
              0);
    // Running it again finishes the job: every file exactly once.
    auto again = run("index " + q(lib.string()) + db() + " --root " + q(lib.string()) +
                     " --lease 2 --threads 1 --json -q");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM items"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT count(DISTINCT path) FROM items"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM embeddings"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'"), kFiles);
    auto check = run("check" + db());
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(PgCliTest, WorkerJoinsQueuedJobsAndMigrateRoundTrips) {
    const fs::path lib = dir_ / "lib";
    write_library(lib, 12);
    // Queue only (a worker with a lease that never starts work is simulated by `index` killed
    // right after queuing: here the queue is filled by `index` and drained by `worker`).
    const pid_t p =
        spawn({"index", lib.string(), "--db", uri_, "--root", lib.string(), "--threads", "1", "-q"},
              dir_ / "index.log");
    // The worker joins once `index` has created the catalog and queued its files (a worker on a
    // database with no catalog refuses to start).
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
        const std::string out = PgCluster::shared().psql(db_, "SELECT count(*) FROM ingest_jobs");
        if (out.rfind("ERROR", 0) != 0 && !out.empty() && out != "0" && out != "0\n")
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto worker = run("worker" + db() + " --root " + q(lib.string()) + " --threads 1 --json");
    EXPECT_EQ(worker.exit_code, 0) << worker.err;
    EXPECT_EQ(wait_for(p, 300), 0) << slurp(dir_ / "index.log");
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM items"), 12);

    const fs::path file = dir_ / "copy.earshot";
    auto to_file = run("migrate --from " + q(uri_) + " --to " + q(file.string()) + " --json");
    ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
    EXPECT_EQ(json::parse(to_file.out)["items"], 12);
    auto again = run("migrate --from " + q(uri_) + " --to " + q(file.string()));
    EXPECT_NE(again.exit_code, 0) << "a non-empty destination needs --merge";

    const std::string db2 = db_ + "_back";
    const std::string uri2 = PgCluster::shared().create_database(db2);
    auto back = run("migrate --from " + q(file.string()) + " --to " + q(uri2) + " --json");
    ASSERT_EQ(back.exit_code, 0) << back.err;
    EXPECT_EQ(sql_count(db2, "SELECT count(*) FROM items"), 12);
    // Bit-identical vectors and equal ids: the id and bytea of every path match between the two
    // databases.
    const std::string sum =
        "SELECT md5(string_agg(i.id::text || i.path || encode(e.vector, 'hex'), ',' ORDER "
        "BY i.path)) FROM items i JOIN embeddings e ON e.item_id = i.id";
    EXPECT_EQ(PgCluster::shared().psql(db_, sum), PgCluster::shared().psql(db2, sum));
    auto search = run("search " + q((lib / "set0" / "clip0000.wav").string()) + " --db " +
                      q(file.string()) + " -k 3 --json");
    ASSERT_EQ(search.exit_code, 0) << search.err;
    EXPECT_EQ(json::parse(search.out)["results"].size(), 3u);
}

// A loopback port that was free a moment ago (bound to port 0, then closed).
int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

TEST_F(PgCliTest, TwoServeReplicasFollowAnIndexAndARemove) {
    const fs::path lib = dir_ / "lib";
    write_library(lib, 20);
    const fs::path extra = dir_ / "extra";
    fs::create_directories(extra);
    testing::write_wav16(extra / "new_item.wav", testing::make_sine(997.0, 1.5, 16000), 16000);
    auto indexed = run("index " + q(lib.string()) + db() + " --threads 1 -q");
    ASSERT_EQ(indexed.exit_code, 0) << indexed.err;

    std::vector<int> ports;
    std::vector<pid_t> pids;
    // The replicas are stopped however the test ends (an ASSERT returns early).
    struct Reaper {
        std::vector<pid_t>& pids;
        ~Reaper() {
            for (pid_t pid : pids) {
                if (pid > 0 && kill(pid, SIGTERM) == 0)
                    wait_for(pid, 20);
            }
        }
    } reaper{pids};
    for (int r = 0; r < 2; ++r) {
        ports.push_back(free_port());
        pids.push_back(
            spawn({"serve", "--db", uri_, "--port", std::to_string(ports.back()), "--threads", "1"},
                  dir_ / ("serve" + std::to_string(r) + ".log")));
    }
    std::string last_answer;
    auto search_paths = [&](int port) {
        std::vector<std::string> paths;
        httplib::Client cli("127.0.0.1", port);
        cli.set_read_timeout(30, 0);
        auto res = cli.Post("/api/search", "id=1&k=100", "application/x-www-form-urlencoded");
        last_answer = res ? std::to_string(res->status) + " " + res->body
                          : "no answer: " + httplib::to_string(res.error());
        if (!res || res->status != 200)
            return std::optional<std::vector<std::string>>{};
        const json answer = json::parse(res->body);
        for (const auto& hit : answer["results"]) paths.push_back(hit["path"].get<std::string>());
        return std::optional<std::vector<std::string>>(paths);
    };
    // Both replicas up and answering.
    for (int port : ports) {
        bool up = false;
        for (int i = 0; i < 600 && !up; ++i) {
            auto p = search_paths(port);
            up = p && !p->empty();
            if (!up)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        ASSERT_TRUE(up) << last_answer.size() << " "
                        << last_answer.substr(last_answer.size() > 300 ? last_answer.size() - 300
                                                                       : 0)
                        << "\n"
                        << slurp(dir_ / "serve0.log") << slurp(dir_ / "serve1.log");
    }
    const std::string key = (extra / "new_item.wav").string();
    auto contains = [&](int port) {
        auto p = search_paths(port);
        return p && std::find(p->begin(), p->end(), key) != p->end();
    };
    ASSERT_FALSE(contains(ports[0]));
    auto add = run("index " + q(extra.string()) + db() + " --threads 1 -q");
    ASSERT_EQ(add.exit_code, 0) << add.err;
    const auto t_add = std::chrono::steady_clock::now();
    for (int port : ports) {
        bool found = false;
        while (!found && std::chrono::steady_clock::now() - t_add < std::chrono::seconds(2)) {
            found = contains(port);
        }
        EXPECT_TRUE(found) << "replica on port " << port << " did not find the new item in 2 s";
        std::cerr << "replica on port " << port << ": new item found "
                  << std::chrono::duration<double>(std::chrono::steady_clock::now() - t_add).count()
                  << " s after the index command returned\n";
    }
    auto removed = run("remove " + q(key) + db());
    ASSERT_EQ(removed.exit_code, 0) << removed.err;
    const auto t_rm = std::chrono::steady_clock::now();
    for (int port : ports) {
        bool gone = false;
        while (!gone && std::chrono::steady_clock::now() - t_rm < std::chrono::seconds(2)) {
            gone = !contains(port);
        }
        EXPECT_TRUE(gone) << "replica on port " << port << " still returns the removed item";
        for (int i = 0; i < 5; ++i) EXPECT_FALSE(contains(port)) << "a removed item came back";
    }
    for (pid_t& pid : pids) {
        kill(pid, SIGTERM);
        EXPECT_GE(wait_for(pid, 20), 0);
        pid = -1;
    }
    // Both replicas followed the catalog through LISTEN/NOTIFY (no fallback warning).
    for (int r = 0; r < 2; ++r) {
        const std::string log = slurp(dir_ / ("serve" + std::to_string(r) + ".log"));
        EXPECT_EQ(log.find("not following catalog changes"), std::string::npos) << log;
        EXPECT_EQ(log.find("following catalog changes:"), std::string::npos) << log;
    }
}

// Optional (#10): two `index` workers in two network namespaces, each reaching the database over
// its own veth link (10.77.N.2 -> 10.77.N.1 in the test's namespace, PostgreSQL over TCP), on one
// shared folder: every file stored exactly once, the workers' done counts adding up to the files.
// Label slow; skipped with a message where `ip netns add` is not permitted (not root, no
// CAP_SYS_ADMIN).
class PgNetnsTest : public PgCliTest {};

int sh(const std::string& cmd) {
    const int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST_F(PgNetnsTest, TwoWorkersInNetworkNamespacesOverVethIndexEveryFileOnce) {
    const std::string tag = std::to_string(getpid() % 100000);
    const std::string probe = "esprobe" + tag;
    if (geteuid() != 0 || sh("ip netns add " + probe) != 0)
        GTEST_SKIP() << "`ip netns add` is not permitted here (needs root / CAP_SYS_ADMIN)";
    sh("ip netns del " + probe);
    std::vector<std::string> namespaces;
    std::vector<std::string> links;
    PgCluster& pg = PgCluster::shared();
    const fs::path hba = pg.dir() / "data" / "pg_hba.conf";
    const std::string hba_before = slurp(hba);
    struct Cleanup {
        std::vector<std::string>& ns;
        std::vector<std::string>& links;
        const fs::path& hba;
        const std::string& hba_before;
        ~Cleanup() {
            for (const auto& n : ns) sh("ip netns del " + n);  // takes the veth pairs with it
            for (const auto& l : links) sh("ip link del " + l);
            std::ofstream(hba, std::ios::trunc) << hba_before;
            PgCluster::shared().listen_on("");
        }
    } cleanup{namespaces, links, hba, hba_before};
    std::string addresses;
    for (int n = 1; n <= 2; ++n) {
        const std::string ns = "es" + tag + "n" + std::to_string(n);
        const std::string host_end = "esh" + tag + std::to_string(n);
        const std::string ns_end = "esn" + tag + std::to_string(n);
        const std::string net = "10.77." + std::to_string(n) + ".";
        ASSERT_EQ(sh("ip netns add " + ns), 0);
        namespaces.push_back(ns);
        ASSERT_EQ(sh("ip link add " + host_end + " type veth peer name " + ns_end), 0);
        links.push_back(host_end);
        ASSERT_EQ(sh("ip link set " + ns_end + " netns " + ns), 0);
        ASSERT_EQ(sh("ip addr add " + net + "1/24 dev " + host_end), 0);
        ASSERT_EQ(sh("ip link set " + host_end + " up"), 0);
        ASSERT_EQ(sh("ip netns exec " + ns + " ip addr add " + net + "2/24 dev " + ns_end), 0);
        ASSERT_EQ(sh("ip netns exec " + ns + " ip link set " + ns_end + " up"), 0);
        ASSERT_EQ(sh("ip netns exec " + ns + " ip link set lo up"), 0);
        addresses += (addresses.empty() ? "" : ",") + net + "1";
    }
    { std::ofstream(hba, std::ios::app) << "\nhost all all 10.77.0.0/16 trust\n"; }
    ASSERT_TRUE(pg.listen_on(addresses)) << pg.error();

    constexpr int kFiles = 60;
    const fs::path lib = dir_ / "lib";
    write_library(lib, kFiles);
    // Both start at once; each reaches the database through its own link only.
    std::string cmd;
    for (int n = 1; n <= 2; ++n) {
        const std::string uri = "postgresql://postgres@10.77." + std::to_string(n) +
                                ".1:" + std::to_string(pg.port()) + "/" + db_;
        const fs::path log = dir_ / ("netns" + std::to_string(n) + ".log");
        cmd += "(ip netns exec " + namespaces[static_cast<std::size_t>(n - 1)] + " " + EARSHOT_BIN +
               " index " + q(lib.string()) + " --db " + q(uri) + " --root " + q(lib.string()) +
               " --threads 1 -q >" + q(log.string()) + " 2>&1; echo $? >" +
               q(log.string() + ".rc") + ") & ";
    }
    cmd += "wait";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    for (int n = 1; n <= 2; ++n) {
        const fs::path log = dir_ / ("netns" + std::to_string(n) + ".log");
        EXPECT_EQ(slurp(log.string() + ".rc"), "0\n") << slurp(log);
    }
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM items"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM embeddings"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'"), kFiles);
    EXPECT_EQ(sql_count(db_, "SELECT coalesce(sum(done), 0) FROM ingest_workers"), kFiles);
    // Two workers (one per namespace) registered, each through its own link.
    EXPECT_EQ(sql_count(db_, "SELECT count(*) FROM ingest_workers"), 2);
    std::cerr << "workers' done counts: "
              << pg.psql(db_,
                         "SELECT string_agg(done::text, ',' ORDER BY name) FROM "
                         "ingest_workers")
              << "\n";
}

}  // namespace
}  // namespace earshot
