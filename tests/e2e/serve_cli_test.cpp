// `earshot serve` as a process: refusing to expose a library without a token, reading the token
// from --token-file or EARSHOT_TOKEN, and HTTPS with --tls-cert/--tls-key (a certificate made
// with `openssl req` in the test). Loopback only; each server is stopped with SIGTERM.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `earshot args` to completion; returns the exit code, stderr in err.
int run(const std::string& env, const std::string& args, const fs::path& dir, std::string& err) {
    const fs::path log = dir / "run.err";
    const std::string cmd =
        env + " " + EARSHOT_BIN + " " + args + " >/dev/null 2>'" + log.string() + "'";
    int status = std::system(cmd.c_str());
    err = slurp(log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A running `earshot serve`, stopped on destruction.
struct ServeProcess {
    int pid = -1;
    int port = -1;
    std::string scheme;
    std::string log;

    ServeProcess(const std::string& env, const std::string& args, const fs::path& dir) {
        const fs::path out = dir / "serve.log";
        const fs::path pidfile = dir / "serve.pid";
        const std::string cmd = env + " " + EARSHOT_BIN + " serve " + args +
                                " --host 127.0.0.1 --port 0 >'" + out.string() +
                                "' 2>&1 & echo $! >'" + pidfile.string() + "'";
        if (std::system(cmd.c_str()) != 0)
            return;
        pid = std::atoi(slurp(pidfile).c_str());
        const std::regex url(R"((https?)://127\.0\.0\.1:(\d+)/)");
        for (int i = 0; i < 400; ++i) {
            log = slurp(out);
            std::smatch m;
            if (std::regex_search(log, m, url)) {
                scheme = m[1].str();
                port = std::stoi(m[2].str());
                return;
            }
            if (pid > 0 && ::kill(pid, 0) != 0)
                return;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    ~ServeProcess() {
        if (pid <= 0)
            return;
        ::kill(pid, SIGTERM);
        for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
};

class ServeCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        testing::write_wav16(dir_ / "a.wav", testing::make_sine(440.0, 1.0, 16000), 16000);
        std::string err;
        ASSERT_EQ(run("",
                      "index '" + (dir_ / "a.wav").string() + "' --model mfcc -q --db '" +
                          db().string() + "'",
                      dir_.path(), err),
                  0)
            << err;
    }
    fs::path db() const { return dir_ / "lib.earshot"; }
    testing::TempDir dir_;
};

constexpr const char* kToken = "e2e-token-0123456789abcdef";

TEST_F(ServeCliTest, RefusesToExposeTheLibraryWithoutAToken) {
    std::string err;
    int code = run("env -u EARSHOT_TOKEN", "serve --db '" + db().string() + "' --host 0.0.0.0",
                   dir_.path(), err);
    EXPECT_NE(code, 0);
    EXPECT_NE(err.find("--token-file"), std::string::npos) << err;
    EXPECT_NE(err.find("--insecure-no-auth"), std::string::npos) << err;

    code = run("EARSHOT_TOKEN=short", "serve --db '" + db().string() + "'", dir_.path(), err);
    EXPECT_NE(code, 0);
    EXPECT_NE(err.find("at least 16"), std::string::npos) << err;

    code = run(
        "", "serve --db '" + db().string() + "' --token-file '" + (dir_ / "missing").string() + "'",
        dir_.path(), err);
    EXPECT_NE(code, 0);
    EXPECT_NE(err.find("missing"), std::string::npos) << err;
}

TEST_F(ServeCliTest, TokenFileGuardsTheApi) {
    { std::ofstream(dir_ / "token") << kToken << "\n"; }
    ServeProcess s("env -u EARSHOT_TOKEN",
                   "--db '" + db().string() + "' --token-file '" + (dir_ / "token").string() + "'",
                   dir_.path());
    ASSERT_GT(s.port, 0) << s.log;
    EXPECT_NE(s.log.find("token required"), std::string::npos) << s.log;
    httplib::Client c("127.0.0.1", s.port);
    c.set_read_timeout(10, 0);
    auto r = c.Get("/api/stats");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = c.Get("/api/stats", {{"Authorization", std::string("Bearer ") + kToken}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = c.Get("/health");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(ServeCliTest, ServesHttpsFromEnvTokenAndCertificate) {
    const fs::path cert = dir_ / "cert.pem";
    const fs::path key = dir_ / "key.pem";
    const std::string gen =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
        "-keyout '" +
        key.string() + "' -out '" + cert.string() + "' >/dev/null 2>&1";
    ASSERT_EQ(std::system(gen.c_str()), 0);
    ServeProcess s(std::string("EARSHOT_TOKEN=") + kToken,
                   "--db '" + db().string() + "' --tls-cert '" + cert.string() + "' --tls-key '" +
                       key.string() + "'",
                   dir_.path());
    ASSERT_GT(s.port, 0) << s.log;
    EXPECT_EQ(s.scheme, "https");
    httplib::SSLClient c("127.0.0.1", s.port);
    c.enable_server_certificate_verification(false);
    c.set_read_timeout(10, 0);
    auto r = c.Get("/api/stats", {{"Authorization", std::string("Bearer ") + kToken}});
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    r = c.Get("/api/stats");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
}

}  // namespace
}  // namespace earshot
